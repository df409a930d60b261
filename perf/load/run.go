package load

import (
	"context"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/mono"
)

// RunConfig shapes Run.
type RunConfig struct {
	Warmup   time.Duration // run before the window opens; not counted
	Duration time.Duration // the measured window
	// Timeout bounds the drain at the end (the generators' Timeout plus a
	// second is a good value).
	Timeout time.Duration
	// Second, when not nil, is called from Run's goroutine once a second
	// (warm-up included) with the second's figures.
	Second func(Second)
}

// Second is what all the generators did in one second of the run.
type Second struct {
	At       time.Duration `json:"at_ns"`    // end of the second, since Start
	Measured bool          `json:"measured"` // inside the measured window
	Rate     float64       `json:"rate"`     // requests (rps) or connections (cps) per second
	Requests uint64        `json:"requests"`
	Conns    uint64        `json:"connections"`
	Errors   uint64        `json:"errors"`
	Late     uint64        `json:"late"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	// P99SoFar is the p99 of the measured window so far (of the run so
	// far during warm-up); ErrorsSoFar counts the whole run.
	P99SoFar    time.Duration `json:"-"`
	ErrorsSoFar uint64        `json:"-"`
}

// Latency holds a histogram's summary.
type Latency struct {
	Percentiles
	Mean time.Duration `json:"mean_ns"`
}

// Percentiles are a histogram's percentiles and its largest value.
type Percentiles struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// LatencyOf summarises h.
func LatencyOf(h *hist.Histogram) Latency {
	return Latency{Percentiles: PercentilesOf(h), Mean: time.Duration(h.Mean())}
}

// PercentilesOf returns h's percentiles.
func PercentilesOf(h *hist.Histogram) Percentiles {
	return Percentiles{
		P50:  time.Duration(h.Quantile(0.5)),
		P90:  time.Duration(h.Quantile(0.9)),
		P99:  time.Duration(h.Quantile(0.99)),
		P999: time.Duration(h.Quantile(0.999)),
		Max:  time.Duration(h.Max()),
	}
}

// Report is what Run measured.
type Report struct {
	Mode     string        `json:"mode"`
	Cores    int           `json:"cores"`
	Duration time.Duration `json:"duration_ns"` // the measured window
	// Requests: responses read whole in the window; Connections:
	// connections closed cleanly in it (cps).
	Requests       uint64    `json:"requests"`
	Connections    uint64    `json:"connections"`
	Rate           float64   `json:"rate"` // requests (rps) or connections (cps) per second
	PerCore        []float64 `json:"rate_per_core"`
	RequestsPerSec float64   `json:"requests_per_sec"`
	ConnsPerSec    float64   `json:"connections_per_sec"`
	Errors         Errors    `json:"errors"` // whole run, warm-up and drain included
	ErrorTotal     uint64    `json:"errors_total"`
	Latency        Latency   `json:"latency"`
	// Open loop: starts scheduled in the window and made (however late),
	// those of them more than LateSlack behind schedule, and those due but
	// not made when the window closed. Sent+Behind is the schedule's
	// points in the window: the rate times Duration, give or take one.
	Sent    uint64   `json:"sent,omitempty"`
	Late    uint64   `json:"late,omitempty"`
	Behind  uint64   `json:"behind_at_end,omitempty"`
	Seconds []Second `json:"seconds"`

	Hist hist.Histogram `json:"-"`
}

// Run runs gens, gens[i] on loops[i]: warm-up, the measured window, then a
// drain that lets the connections finish (resetting them after
// cfg.Timeout). It returns early when ctx ends, with what was measured.
func Run(ctx context.Context, loops []*cores.Loop, gens []*Gen, cfg RunConfig) (Report, error) {
	r := Report{Cores: len(gens)}
	if len(gens) == 0 {
		return r, nil
	}
	r.Mode = gens[0].mode.String()
	began := time.Now()
	for i, g := range gens {
		if err := loops[i].Call(func(now mono.Time) { g.Start(now) }); err != nil {
			return r, err
		}
	}
	ivs := make([]Interval, len(gens))
	var sofar hist.Histogram
	var errs uint64
	second := func(measured bool) error {
		var sum Interval
		for i, g := range gens {
			iv := &ivs[i]
			if err := loops[i].Call(func(mono.Time) { g.TakeInterval(iv) }); err != nil {
				return err
			}
			sum.Add(iv)
		}
		errs += sum.Errors
		if !measured && len(r.Seconds) > 0 && r.Seconds[len(r.Seconds)-1].Measured {
			measured = true // the second the window closed in
		}
		sofar.Merge(&sum.Hist)
		s := Second{At: time.Since(began).Round(time.Millisecond), Measured: measured, Requests: sum.Requests, Conns: sum.Conns,
			Errors: sum.Errors, Late: sum.Late, P50: time.Duration(sum.Hist.Quantile(0.5)), P99: time.Duration(sum.Hist.Quantile(0.99)),
			P99SoFar: time.Duration(sofar.Quantile(0.99)), ErrorsSoFar: errs}
		s.Rate = float64(sum.Requests)
		if gens[0].mode == CPS {
			s.Rate = float64(sum.Conns)
		}
		r.Seconds = append(r.Seconds, s)
		if cfg.Second != nil {
			cfg.Second(s)
		}
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	wait := func(d time.Duration, measured bool) (bool, error) {
		end := time.NewTimer(d)
		defer end.Stop()
		for {
			select {
			case <-ctx.Done():
				return false, nil
			case <-end.C:
				return true, nil
			case <-tick.C:
				if err := second(measured); err != nil {
					return false, err
				}
			}
		}
	}
	ok, err := wait(cfg.Warmup, false)
	if err != nil {
		return r, err
	}
	starts := make([]mono.Time, len(gens))
	stops := make([]mono.Time, len(gens))
	if ok {
		sofar.Reset()
		for i, g := range gens {
			if err := loops[i].Call(func(now mono.Time) { g.Measure(true, now); starts[i] = now }); err != nil {
				return r, err
			}
		}
		if _, err := wait(cfg.Duration, true); err != nil {
			return r, err
		}
	}
	for i, g := range gens {
		if err := loops[i].Call(func(now mono.Time) {
			g.Measure(false, now)
			r.Behind += g.Behind(now)
			g.Stop(now)
			stops[i] = now
		}); err != nil {
			return r, err
		}
	}
	// The tail of the last second.
	if err := second(false); err != nil {
		return r, err
	}
	drainBy := time.Now().Add(cfg.Timeout)
	for {
		busy := 0
		for i, g := range gens {
			if err := loops[i].Call(func(mono.Time) { busy += g.Busy() }); err != nil {
				return r, err
			}
		}
		if busy == 0 {
			break
		}
		if time.Now().After(drainBy) {
			for i, g := range gens {
				// A loop that has stopped has no connection left to reset.
				_ = loops[i].Call(func(now mono.Time) { g.AbortAll(now) })
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, g := range gens {
		var t Totals
		if err := loops[i].Call(func(mono.Time) { t = g.Totals(); r.Hist.Merge(t.Hist) }); err != nil {
			return r, err
		}
		r.Requests += t.Requests
		r.Connections += t.Conns
		r.Sent += t.Sent
		r.Late += t.Late
		r.Errors.Add(&t.Errors)
		d := stops[i].Sub(starts[i])
		rate := 0.0
		if starts[i] != 0 && d > 0 {
			if d > r.Duration {
				r.Duration = d
			}
			n := t.Requests
			if g.mode == CPS {
				n = t.Conns
			}
			rate = float64(n) / d.Seconds()
			r.RequestsPerSec += float64(t.Requests) / d.Seconds()
			r.ConnsPerSec += float64(t.Conns) / d.Seconds()
		}
		r.PerCore = append(r.PerCore, rate)
		r.Rate += rate
	}
	r.ErrorTotal = r.Errors.Total()
	r.Latency = LatencyOf(&r.Hist)
	return r, ctx.Err()
}
