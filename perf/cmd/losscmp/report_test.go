package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lossyCell is a cell with one median per stack.
func lossyCell(loss float64, delay time.Duration, mbit map[string]float64) *cell {
	c := &cell{Loss: loss, Delay: delay, Direction: "send", Median: map[string]result{}, order: []string{"pollstack", "kernel"}}
	for name, v := range mbit {
		c.Median[name] = result{MbitPerSec: v, Stall: -1}
	}
	return c
}

// row is the report's line for loss, delay and stack, its fields split.
func row(t *testing.T, out, loss, delay, stack string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[0] == loss && f[1] == delay && f[3] == stack {
			return f
		}
	}
	t.Fatalf("no row for loss %s delay %s %s in\n%s", loss, delay, stack, out)
	return nil
}

func TestReportKeptShareAgainstEachStacksCleanPath(t *testing.T) {
	r := &report{Cells: []*cell{
		lossyCell(0, 0, map[string]float64{"pollstack": 4000, "kernel": 10000}),
		lossyCell(0.001, 0, map[string]float64{"pollstack": 3000, "kernel": 5000}),
		lossyCell(0.01, 10*time.Millisecond, map[string]float64{"pollstack": 12, "kernel": 10}),
	}}
	var out bytes.Buffer
	printReport(&out, r)
	s := out.String()
	if !strings.Contains(s, "of its clean") || !strings.Contains(s, "kept vs kernel") {
		t.Fatalf("no kept columns with a loss-0 cell:\n%s", s)
	}
	// 3000/4000 = 75% against the kernel's 5000/10000 = 50%: 1.50x.
	p := row(t, s, "0.001", "0s", "pollstack")
	if got := strings.Join(p[len(p)-3:], " "); got != "0.60x 75.0% 1.50x" {
		t.Errorf("pollstack at 0.1%%: %q, want vs kernel 0.60x, 75.0%% of its clean, 1.50x kept", got)
	}
	k := row(t, s, "0.001", "0s", "kernel")
	if got := k[len(k)-1]; got != "50.0%" {
		t.Errorf("kernel at 0.1%%: last field %q, want 50.0%%", got)
	}
	// The 10 ms cell has no clean cell of its own delay: no share.
	d := row(t, s, "0.01", "10ms", "pollstack")
	if got := d[len(d)-1]; got != "1.20x" {
		t.Errorf("10 ms cell: last field %q, want only vs kernel 1.20x", got)
	}

	// Without a loss-0 cell the table keeps its old columns.
	out.Reset()
	printReport(&out, &report{Cells: r.Cells[1:]})
	if strings.Contains(out.String(), "of its clean") || regexp.MustCompile(`%`).MatchString(out.String()) {
		t.Errorf("kept columns without a loss-0 cell:\n%s", out.String())
	}
}
