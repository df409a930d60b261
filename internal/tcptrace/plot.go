package tcptrace

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/tcp"
)

// Conn is one connection's records, in time order.
type Conn struct {
	Tuple   flow.Tuple
	Records []Record
}

// Conns groups records by 4-tuple, in the order each first appears, each
// connection's records sorted by time (a 4-tuple used again later is one
// connection here).
func Conns(recs []Record) []Conn {
	idx := map[flow.Tuple]int{}
	var out []Conn
	for _, r := range recs {
		i, ok := idx[r.Tuple]
		if !ok {
			i = len(out)
			idx[r.Tuple] = i
			out = append(out, Conn{Tuple: r.Tuple})
		}
		out[i].Records = append(out[i].Records, r)
	}
	for i := range out {
		slices.SortStableFunc(out[i].Records, func(a, b Record) int {
			switch {
			case a.Time < b.Time:
				return -1
			case a.Time > b.Time:
				return 1
			}
			return 0
		})
	}
	return out
}

// The plot's geometry, in SVG user units.
const (
	plotWidth   = 960
	plotLeft    = 80  // room for the bytes axis
	plotRight   = 70  // room for the srtt axis
	panelHeight = 290 // one connection
	panelTop    = 34  // its title
	areaHeight  = 210 // its plot area
	legendH     = 44
)

// Series colours.
const (
	colCwnd     = "#1f77b4"
	colPipe     = "#ff7f0e"
	colSRTT     = "#2ca02c"
	colRecovery = "#f4c7c3"
	colLoss     = "#d9d9d9"
	colCWR      = "#fff2cc"
)

// Plot draws cwnd and the bytes in flight (left axis, bytes) and srtt
// (right axis, ms) over time as an SVG, one panel (a <g class="panel">)
// per connection, with the spans in recovery, loss and CWR shaded. It
// returns the number of panels.
func Plot(out io.Writer, recs []Record) (int, error) {
	conns := Conns(recs)
	w := bufio.NewWriter(out)
	height := legendH + max(len(conns), 1)*panelHeight
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		plotWidth, height, plotWidth, height)
	fmt.Fprintf(w, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", plotWidth, height)
	legend(w)
	if len(conns) == 0 {
		fmt.Fprintf(w, `<text x="%d" y="%d">no records</text>`+"\n", plotLeft, legendH+40)
	}
	for i := range conns {
		panel(w, i, &conns[i], float64(legendH+i*panelHeight))
	}
	fmt.Fprintln(w, "</svg>")
	return len(conns), w.Flush()
}

func legend(w *bufio.Writer) {
	x := float64(plotLeft)
	item := func(kind, col, label string) {
		switch kind {
		case "line", "dash":
			dash := ""
			if kind == "dash" {
				dash = ` stroke-dasharray="5,3"`
			}
			fmt.Fprintf(w, `<line x1="%.0f" y1="18" x2="%.0f" y2="18" stroke="%s" stroke-width="2"%s/>`, x, x+24, col, dash)
		default:
			fmt.Fprintf(w, `<rect x="%.0f" y="12" width="24" height="12" fill="%s"/>`, x, col)
		}
		fmt.Fprintf(w, `<text x="%.0f" y="22">%s</text>`+"\n", x+30, label)
		x += 30 + 7*float64(len(label)) + 24
	}
	fmt.Fprintln(w, `<g class="legend">`)
	item("line", colCwnd, "cwnd (bytes)")
	item("line", colPipe, "in flight (bytes)")
	item("dash", colSRTT, "srtt (ms, right axis)")
	item("box", colRecovery, "recovery")
	item("box", colLoss, "loss (RTO)")
	item("box", colCWR, "cwr (ECN)")
	fmt.Fprintln(w, `</g>`)
}

// panel draws one connection at vertical offset top.
func panel(w *bufio.Writer, i int, c *Conn, top float64) {
	recs := c.Records
	t0 := recs[0].Time
	span := niceCeil(max(float64(recs[len(recs)-1].Time-t0)/1e9, 1e-6))
	var ymax, smax float64
	for _, r := range recs {
		ymax = max(ymax, float64(r.Cwnd), float64(r.Pipe))
		smax = max(smax, float64(r.SRTT.Microseconds())/1000)
	}
	ymax, smax = niceCeil(max(ymax, 1)), niceCeil(max(smax, 0.001))
	x0, x1 := float64(plotLeft), float64(plotWidth-plotRight)
	y0 := top + panelTop
	y1 := y0 + areaHeight
	tx := func(t float64) float64 { return x0 + (x1-x0)*t/span }
	by := func(v float64) float64 { return y1 - (y1-y0)*v/ymax }
	sy := func(v float64) float64 { return y1 - (y1-y0)*v/smax }

	fmt.Fprintf(w, `<g class="panel" id="conn-%d">`+"\n", i)
	var title strings.Builder
	_ = xml.EscapeText(&title, []byte(fmt.Sprintf("%s (core %d, %d records, %d recovery, %d loss)",
		ConnName(c.Tuple), recs[0].Core, len(recs), countCC(recs, tcp.CCRecovery), countCC(recs, tcp.CCLoss)))) // a strings.Builder does not fail
	fmt.Fprintf(w, `<text class="title" x="%.0f" y="%.0f" font-size="13">%s</text>`+"\n", x0, top+20, title.String())

	// Shaded spans of recovery, loss and CWR.
	for j := 0; j < len(recs); j++ {
		col := ""
		switch recs[j].CC {
		case tcp.CCRecovery:
			col = colRecovery
		case tcp.CCLoss:
			col = colLoss
		case tcp.CCCWR:
			col = colCWR
		}
		if col == "" {
			continue
		}
		k := j
		for k+1 < len(recs) && recs[k+1].CC == recs[j].CC {
			k++
		}
		end := recs[k].Time
		if k+1 < len(recs) {
			end = recs[k+1].Time
		}
		xa, xb := tx(float64(recs[j].Time-t0)/1e9), tx(float64(end-t0)/1e9)
		fmt.Fprintf(w, `<rect class="%s" x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="%s"/>`+"\n",
			recs[j].CC, xa, y0, max(xb-xa, 0.5), y1-y0, col)
		j = k
	}

	// Axes, grid and ticks.
	fmt.Fprintf(w, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", x0, y0, x1-x0, y1-y0)
	for k := 0; k <= 4; k++ {
		f := float64(k) / 4
		y := y1 - (y1-y0)*f
		fmt.Fprintf(w, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`, x0, y, x1, y)
		fmt.Fprintf(w, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, x0-4, y+4, bytesLabel(ymax*f))
		fmt.Fprintf(w, `<text x="%.0f" y="%.1f" fill="%s">%s</text>`+"\n", x1+4, y+4, colSRTT, trim(smax*f)+"ms")
		x := x0 + (x1-x0)*f
		fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, y1+14, timeLabel(span*f, span))
	}

	// The series.
	n := len(recs)
	xs, cw, pp, sr := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for j, r := range recs {
		xs[j] = tx(float64(r.Time-t0) / 1e9)
		cw[j] = by(float64(r.Cwnd))
		pp[j] = by(float64(r.Pipe))
		sr[j] = sy(float64(r.SRTT.Microseconds()) / 1000)
	}
	polyline(w, "cwnd", colCwnd, "", xs, cw)
	polyline(w, "inflight", colPipe, "", xs, pp)
	polyline(w, "srtt", colSRTT, ` stroke-dasharray="5,3"`, xs, sr)
	fmt.Fprintln(w, "</g>")
}

func countCC(recs []Record, s tcp.CCState) int {
	n := 0
	for i, r := range recs {
		if r.CC == s && (i == 0 || recs[i-1].CC != s) {
			n++
		}
	}
	return n
}

// polyline draws a series as a step-free line; past two points per pixel
// column it keeps each column's first, lowest, highest and last points,
// so a sawtooth keeps its teeth.
func polyline(w *bufio.Writer, class, col, extra string, xs, ys []float64) {
	fmt.Fprintf(w, `<polyline class="%s" fill="none" stroke="%s" stroke-width="1.3"%s points="`, class, col, extra)
	pt := func(j int) { fmt.Fprintf(w, "%.1f,%.1f ", xs[j], ys[j]) }
	if len(xs) <= 2*(plotWidth-plotLeft-plotRight) {
		for j := range xs {
			pt(j)
		}
	} else {
		for j := 0; j < len(xs); {
			col := math.Floor(xs[j])
			first, lo, hi, last := j, j, j, j
			for last+1 < len(xs) && math.Floor(xs[last+1]) == col {
				last++
				if ys[last] < ys[lo] {
					lo = last
				}
				if ys[last] > ys[hi] {
					hi = last
				}
			}
			pt(first)
			a, b := min(lo, hi), max(lo, hi)
			if a != first {
				pt(a)
			}
			if b != a && b != first {
				pt(b)
			}
			if last != b && last != first {
				pt(last)
			}
			j = last + 1
		}
	}
	fmt.Fprintln(w, `"/>`)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.4g", v), ".0") }

// bytesLabel writes a byte count with a decimal prefix (the axis is cut
// in decimal steps).
func bytesLabel(v float64) string {
	switch {
	case v >= 1e9:
		return trim(v/1e9) + "G"
	case v >= 1e6:
		return trim(v/1e6) + "M"
	case v >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

// timeLabel writes seconds in s, ms or µs as the span asks.
func timeLabel(v, span float64) string {
	switch {
	case span >= 1:
		return trim(v) + "s"
	case span >= 1e-3:
		return trim(v*1e3) + "ms"
	}
	return trim(v*1e6) + "µs"
}
