package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

// Servers, in the order of the first round.
const (
	srvPollstack = "pollstack"
	srvNginx     = "nginx"
	srvGvisor    = "gvisor"
)

var servers = []string{srvPollstack, srvNginx, srvGvisor}

// Tests each server's turn runs.
const (
	testCPS = "cps"
	testRPS = "rps"
)

// turnTests are a turn's tests in order (see turn for why rps goes first).
var turnTests = []string{testRPS, testCPS}

// order returns the servers' order in round r (1-based): the list rotated
// by r-1, so that each server goes first, second and third once in three
// rounds.
func order(r int, list []string) []string {
	n := len(list)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, list[(r-1+i)%n])
	}
	return out
}

// run is one bench run against one server.
type benchRun struct {
	Round       int     `json:"round"`
	Server      string  `json:"server"`
	Test        string  `json:"test"` // cps or rps
	Rate        float64 `json:"rate"` // connections/s or requests/s over the window
	P99         float64 `json:"p99_us"`
	Requests    uint64  `json:"requests"`
	Connections uint64  `json:"connections"`
	Errors      uint64  `json:"errors"`
	LoadAvg     float64 `json:"loadavg"` // 1-minute load average at the run's end
	Error       string  `json:"error,omitempty"`
}

// cell is one server's figure in one row: the median of its good runs, or
// why there is none.
type cell struct {
	Value float64 `json:"value"`
	Runs  int     `json:"runs"` // good runs; 0: no figure
	Error string  `json:"error,omitempty"`
}

func (c cell) ok() bool { return c.Runs > 0 }

// Target statuses.
const (
	pass = "PASS"
	miss = "MISS"
	na   = "n/a"
)

// target is one of the scoreboard's targets for a row.
type target struct {
	Text   string  `json:"text"`  // e.g. "≥ 2.0× nginx"
	Ratio  float64 `json:"ratio"` // pollstack over the other, 0 when either is missing
	Status string  `json:"status"`
}

// row is one line of the scoreboard.
type row struct {
	Name        string   `json:"name"` // cps, cps p99, rps, rps p99, sink
	Unit        string   `json:"unit"`
	LowerBetter bool     `json:"lower_is_better"`
	RefName     string   `json:"ref_name"` // nginx, or testpmd for the sink
	Pollstack   cell     `json:"pollstack"`
	Ref         cell     `json:"ref"`
	Gvisor      *cell    `json:"gvisor,omitempty"` // nil: no gVisor figure for this row
	VsRef       float64  `json:"ratio_pollstack_over_ref"`
	VsGvisor    float64  `json:"ratio_pollstack_over_gvisor"`
	Targets     []target `json:"targets"`
}

// medianCell makes the cell of server's figure in test from its runs;
// value picks the figure. down is why the server has no runs at all, if
// it has none.
func medianCell(runs []benchRun, server, test string, value func(benchRun) float64, down string) cell {
	var v []float64
	var firstErr string
	for _, r := range runs {
		if r.Server != server || r.Test != test {
			continue
		}
		if r.Error != "" {
			if firstErr == "" {
				firstErr = fmt.Sprintf("round %d: %s", r.Round, r.Error)
			}
			continue
		}
		v = append(v, value(r))
	}
	if len(v) == 0 {
		switch {
		case down != "":
			return cell{Error: down}
		case firstErr != "":
			return cell{Error: firstErr}
		}
		return cell{Error: "not measured"}
	}
	return cell{Value: harness.Median(v), Runs: len(v)}
}

// ratioTarget is the target "pollstack at least want times other" (or,
// lower being better, "pollstack below other" with want 1).
func ratioTarget(text string, ps, other cell, want float64, lowerBetter, strict bool) target {
	t := target{Text: text, Status: na}
	if !ps.ok() || !other.ok() || other.Value == 0 {
		return t
	}
	t.Ratio = ps.Value / other.Value
	var ok bool
	switch {
	case lowerBetter && strict:
		ok = t.Ratio < want
	case lowerBetter:
		ok = t.Ratio <= want
	default:
		ok = t.Ratio >= want
	}
	t.Status = miss
	if ok {
		t.Status = pass
	}
	return t
}

// down says why each server has no runs at all ("" for those that ran).
type down map[string]string

// makeRows computes the scoreboard from the runs and the sink's report
// (nil when the sink row did not run; sinkErr is then why).
func makeRows(runs []benchRun, dn down, sink *sinkcmp.Report, sinkErr string, withSink bool) []row {
	rate := func(r benchRun) float64 { return r.Rate }
	p99 := func(r benchRun) float64 { return r.P99 }
	var rows []row
	for _, spec := range []struct {
		name, test, unit string
		value            func(benchRun) float64
		lower            bool
		want             float64
	}{
		{"cps", testCPS, "conn/s", rate, false, 2.0},
		{"cps p99", testCPS, "µs", p99, true, 1},
		{"rps", testRPS, "req/s", rate, false, 1.5},
		{"rps p99", testRPS, "µs", p99, true, 1},
	} {
		r := row{Name: spec.name, Unit: spec.unit, LowerBetter: spec.lower, RefName: srvNginx,
			Pollstack: medianCell(runs, srvPollstack, spec.test, spec.value, dn[srvPollstack]),
			Ref:       medianCell(runs, srvNginx, spec.test, spec.value, dn[srvNginx])}
		g := medianCell(runs, srvGvisor, spec.test, spec.value, dn[srvGvisor])
		r.Gvisor = &g
		var tn, tg target
		if spec.lower {
			tn = ratioTarget("< nginx", r.Pollstack, r.Ref, 1, true, true)
			tg = ratioTarget("≤ gVisor", r.Pollstack, g, 1, true, false)
		} else {
			tn = ratioTarget(fmt.Sprintf("≥ %.1f× nginx", spec.want), r.Pollstack, r.Ref, spec.want, false, false)
			tg = ratioTarget("≥ gVisor", r.Pollstack, g, 1, false, false)
		}
		r.VsRef, r.VsGvisor = tn.Ratio, tg.Ratio
		r.Targets = []target{tn, tg}
		rows = append(rows, r)
	}
	if withSink {
		r := row{Name: "sink", Unit: "Mpps", RefName: "testpmd"}
		r.Pollstack, r.Ref = sinkCells(sink, sinkErr)
		t := ratioTarget("≥ 1.0× testpmd", r.Pollstack, r.Ref, 1, false, false)
		r.VsRef, r.Targets = t.Ratio, []target{t}
		rows = append(rows, r)
	}
	return rows
}

// sinkCells are the sink row's pollstack and testpmd cells, in Mpps.
func sinkCells(rep *sinkcmp.Report, sinkErr string) (ps, tp cell) {
	if sinkErr == "" {
		sinkErr = "not measured"
	}
	ps, tp = cell{Error: sinkErr}, cell{Error: sinkErr}
	if rep == nil {
		return ps, tp
	}
	count := map[string]int{}
	for _, w := range rep.Windows {
		count[w.Receiver]++
	}
	for name, c := range map[string]*cell{sinkcmp.ReceiverSink: &ps, sinkcmp.ReceiverTestpmd: &tp} {
		if count[name] > 0 {
			*c = cell{Value: rep.Median[name].RxPPS / 1e6, Runs: count[name]}
		}
	}
	return ps, tp
}

// failed lists the rows whose pollstack or reference (nginx, testpmd)
// figure is missing: those make the command fail. gVisor's do not.
func failed(rows []row) []string {
	var out []string
	for _, r := range rows {
		if !r.Pollstack.ok() {
			out = append(out, fmt.Sprintf("%s: pollstack: %s", r.Name, firstLine(r.Pollstack.Error)))
		}
		if !r.Ref.ok() {
			out = append(out, fmt.Sprintf("%s: %s: %s", r.Name, r.RefName, firstLine(r.Ref.Error)))
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func (c cell) format(unit string) string {
	if !c.ok() {
		if strings.HasPrefix(c.Error, "skipped") {
			return "skipped"
		}
		return "FAILED"
	}
	switch unit {
	case "Mpps":
		return fmt.Sprintf("%.3f", c.Value)
	case "µs":
		return fmt.Sprintf("%.1f", c.Value)
	}
	return fmt.Sprintf("%.0f", c.Value)
}

func formatRatio(x float64) string {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

// printTable writes the scoreboard: one line per row, then why a figure
// is missing.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintf(w, "%-15s %11s %15s %11s %10s %10s  %s\n", "row", "pollstack", "nginx|testpmd", "gVisor", "ps/ref", "ps/gVisor", "targets")
	notes := map[string]bool{}
	var noteList []string
	note := func(who string, c cell) {
		if c.ok() {
			return
		}
		s := fmt.Sprintf("FAILED %s: %s", who, firstLine(c.Error))
		if strings.HasPrefix(c.Error, "skipped") {
			s = fmt.Sprintf("%s: %s", who, c.Error)
		}
		if !notes[s] {
			notes[s] = true
			noteList = append(noteList, s)
		}
	}
	for _, r := range rows {
		g := "—"
		if r.Gvisor != nil {
			g = r.Gvisor.format(r.Unit)
			note("gVisor", *r.Gvisor)
		}
		note("pollstack "+r.Name, r.Pollstack)
		note(r.RefName+" "+r.Name, r.Ref)
		ref := r.Ref.format(r.Unit)
		if r.RefName != srvNginx {
			ref += " (" + r.RefName + ")"
		}
		var ts []string
		for _, t := range r.Targets {
			ts = append(ts, t.Text+" "+t.Status)
		}
		fmt.Fprintf(w, "%-15s %11s %15s %11s %10s %10s  %s\n", r.Name+" "+r.Unit, r.Pollstack.format(r.Unit), ref, g,
			formatRatio(r.VsRef), formatRatio(r.VsGvisor), strings.Join(ts, ", "))
	}
	for _, n := range noteList {
		fmt.Fprintln(w, n)
	}
}

// printRuns writes every bench run.
func printRuns(w io.Writer, runs []benchRun) {
	fmt.Fprintf(w, "%-6s %-10s %-5s %12s %10s %8s  %s\n", "round", "server", "test", "rate", "p99 µs", "loadavg", "")
	for _, r := range runs {
		fmt.Fprintf(w, "%-6d %-10s %-5s %12.0f %10.1f %8.2f", r.Round, r.Server, r.Test, r.Rate, r.P99, r.LoadAvg)
		if r.Error != "" {
			fmt.Fprintf(w, "  FAILED: %s", firstLine(r.Error))
		}
		fmt.Fprintln(w)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

// printSinkWindows writes the sink row's windows as sinkcmp prints them.
func printSinkWindows(w io.Writer, r *sinkcmp.Report) {
	fmt.Fprintf(w, "%-6s %-10s %12s %12s %8s %12s %8s\n", "round", "receiver", "rx Mpps", "gen Mpps", "rx/gen", "dropped", "loadavg")
	for _, x := range r.Windows {
		fmt.Fprintf(w, "%-6d %-10s %12.3f %12.3f %7.1f%% %12d %8.2f\n", x.Round, x.Receiver, x.RxPPS/1e6, x.GenPPS/1e6,
			100*harness.Ratio(x.RxPPS, x.GenPPS), x.RxDropped, x.LoadAvg)
	}
}
