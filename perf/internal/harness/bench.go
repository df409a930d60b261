package harness

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Bench is the part of 'pollstack bench rps|cps --json' the tools read.
type Bench struct {
	Mode        string            `json:"mode"`
	Cores       int               `json:"cores"`
	Rate        float64           `json:"rate"` // requests/s (rps) or connections/s (cps) over the window
	PerCore     []float64         `json:"rate_per_core"`
	Requests    uint64            `json:"requests"`
	Connections uint64            `json:"connections"`
	ErrorsTotal uint64            `json:"errors_total"`
	Errors      map[string]uint64 `json:"errors"` // by kind; the whole run
	Latency     struct {
		P50 time.Duration `json:"p50_ns"`
		P99 time.Duration `json:"p99_ns"`
	} `json:"latency"`
	Interrupted bool `json:"interrupted"`
}

// ParseBench reads bench's JSON object from its output; anything before
// the first '{' (a stray line on the same stream) is skipped.
func ParseBench(out []byte) (Bench, error) {
	var r Bench
	i := strings.IndexByte(string(out), '{')
	if i < 0 {
		return r, fmt.Errorf("bench: no JSON in its output:\n%s", strings.TrimSpace(string(out)))
	}
	if err := json.Unmarshal(out[i:], &r); err != nil {
		return r, fmt.Errorf("bench: %w:\n%s", err, out)
	}
	if r.Cores < 1 {
		r.Cores = 1
	}
	return r, nil
}

// Check fails a run with errors, an interrupted run, and one that did nothing.
func (b Bench) Check() error {
	switch {
	case b.ErrorsTotal > 0:
		var kinds []string
		for k, n := range b.Errors {
			if n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
		}
		return fmt.Errorf("bench %s: %d errors (%s)", b.Mode, b.ErrorsTotal, strings.Join(kinds, ", "))
	case b.Interrupted:
		return fmt.Errorf("bench %s: interrupted", b.Mode)
	case b.Rate <= 0:
		return fmt.Errorf("bench %s: rate 0", b.Mode)
	}
	return nil
}
