package load

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Plot geometry, in SVG user units.
const (
	plotW     = 800
	plotPanel = 220
	plotLeft  = 80
	plotRight = 20
	plotTop   = 40
	plotGap   = 60
	plotH     = plotTop + 2*plotPanel + plotGap + 50
)

// WritePlot writes an SVG of r's seconds: the rate on top, the p50 and p99
// latency below, the measured window shaded.
func WritePlot(w io.Writer, r *Report, title string) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotW, plotH, plotW, plotH)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="20" font-size="14">%s</text>`+"\n", plotLeft, xmlEscape(title))
	secs := r.Seconds
	tmax := 1.0
	if n := len(secs); n > 0 {
		tmax = math.Max(tmax, secs[n-1].At.Seconds())
	}
	x := func(t float64) float64 { return plotLeft + (plotW-plotLeft-plotRight)*t/tmax }

	unit := "requests/s"
	if r.Mode == "cps" {
		unit = "connections/s"
	}
	rateMax, latMax := 0.0, 0.0
	for _, s := range secs {
		rateMax = math.Max(rateMax, s.Rate)
		latMax = math.Max(latMax, math.Max(s.P50.Seconds(), s.P99.Seconds())*1e3)
	}
	panels := []struct {
		top    float64
		label  string
		max    float64
		series []struct {
			name, color string
			v           func(Second) float64
		}
	}{
		{plotTop, unit, niceCeil(rateMax), []struct {
			name, color string
			v           func(Second) float64
		}{{"rate", "#1f77b4", func(s Second) float64 { return s.Rate }}}},
		{plotTop + plotPanel + plotGap, "latency, ms", niceCeil(latMax), []struct {
			name, color string
			v           func(Second) float64
		}{
			{"p50", "#2ca02c", func(s Second) float64 { return s.P50.Seconds() * 1e3 }},
			{"p99", "#d62728", func(s Second) float64 { return s.P99.Seconds() * 1e3 }},
		}},
	}
	for _, pn := range panels {
		y := func(v float64) float64 { return pn.top + plotPanel - plotPanel*v/pn.max }
		// The measured window.
		var w0, w1 float64 = -1, -1
		prev := 0.0
		for _, s := range secs {
			if s.Measured {
				if w0 < 0 {
					w0 = prev
				}
				w1 = s.At.Seconds()
			}
			prev = s.At.Seconds()
		}
		if w0 >= 0 {
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#f0f0f0"/>`+"\n", x(w0), pn.top, x(w1)-x(w0), plotPanel)
		}
		// Axes and ticks.
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", plotLeft, pn.top, plotLeft, pn.top+plotPanel)
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", plotLeft, pn.top+plotPanel, plotW-plotRight, pn.top+plotPanel)
		for i := 0; i <= 4; i++ {
			v := pn.max * float64(i) / 4
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotLeft, y(v), plotW-plotRight, y(v))
			p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y(v)+4, fmtTick(v))
		}
		step := math.Max(1, niceCeil(tmax/10))
		for t := 0.0; t <= tmax+1e-9; t += step {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle">%gs</text>`+"\n", x(t), pn.top+plotPanel+16, t)
		}
		p(`<text x="%d" y="%.1f" transform="rotate(-90 %d %.1f)" text-anchor="middle">%s</text>`+"\n",
			16, pn.top+plotPanel/2, 16, pn.top+plotPanel/2, pn.label)
		for k, sr := range pn.series {
			var pts []string
			for _, s := range secs {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At.Seconds()), y(sr.v(s))))
			}
			p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", sr.color, strings.Join(pts, " "))
			p(`<text x="%d" y="%.1f" fill="%s">%s</text>`+"\n", plotW-plotRight-60+k*30-30*(len(pn.series)-1), pn.top-6, sr.color, sr.name)
		}
	}
	p(`<text x="%d" y="%d" fill="#666">shaded: measured window (%v)</text>`+"\n", plotLeft, plotH-10, r.Duration.Round(time.Millisecond))
	p("</svg>\n")
	return bw.Flush()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func fmtTick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
