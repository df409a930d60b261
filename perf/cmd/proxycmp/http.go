package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// reqRun is one closed-loop wrk run through an HTTP proxy: keep-alive, or
// Connection: close.
type reqRun struct {
	Rate          float64     `json:"req_per_s"` // wrk's Requests/sec
	P99           float64     `json:"p99_us"`    // wrk --latency's 99%
	Wrk           harness.Wrk `json:"wrk"`
	Window        window      `json:"window"`
	ProxyUsPerReq float64     `json:"proxy_cpu_us_per_req"`  // the proxy's processes' CPU time / requests
	CoreUsPerReq  float64     `json:"proxy_core_us_per_req"` // the proxy CPU's busy time (anything on it) / requests
}

// openRun is one open-loop run through an HTTP proxy.
type openRun struct {
	Rate          float64 `json:"rate"`      // asked for, requests/s
	Requests      uint64  `json:"requests"`  // scheduled in the window, all answered
	Achieved      float64 `json:"req_per_s"` // answered / window
	Late          uint64  `json:"late"`      // started more than 1 ms after their time
	P50           float64 `json:"p50_us"`
	P90           float64 `json:"p90_us"`
	P99           float64 `json:"p99_us"`
	P999          float64 `json:"p999_us"`
	Max           float64 `json:"max_us"`
	Window        window  `json:"window"`
	ProxyUsPerReq float64 `json:"proxy_cpu_us_per_req"`
	CoreUsPerReq  float64 `json:"proxy_core_us_per_req"`
}

// The HTTP mode's workloads.
const (
	wlKeepAlive = "keepalive"
	wlClose     = "close"
	wlOpen      = "open"
)

// httpWorkloads measures p on the HTTP mode's three workloads into t. It
// returns false when ctx ended.
func (b *bench) httpWorkloads(ctx context.Context, round int, p *proc, t *turn) bool {
	t.KeepAlive, t.KAError = b.requests(ctx, p, false)
	if ctx.Err() != nil {
		return false
	}
	b.httpProgress(round, p.name, wlKeepAlive, t.KeepAlive, nil, t.KAError)
	t.Close, t.CloseError = b.requests(ctx, p, true)
	if ctx.Err() != nil {
		return false
	}
	b.httpProgress(round, p.name, wlClose, t.Close, nil, t.CloseError)
	t.Open, t.OpenError = b.open(ctx, p)
	if ctx.Err() != nil {
		return false
	}
	b.httpProgress(round, p.name, wlOpen, nil, t.Open, t.OpenError)
	return true
}

// requests is a closed-loop wrk run through p, keep-alive or with
// Connection: close.
func (b *bench) requests(ctx context.Context, p *proc, closing bool) (*reqRun, string) {
	w, p99, win, err := b.wrk(ctx, p, closing)
	if w == nil {
		return nil, err.Error()
	}
	r := &reqRun{Rate: w.Rate, P99: p99, Wrk: *w, Window: win}
	if w.Requests > 0 {
		r.ProxyUsPerReq = 1e6 * win.ProxySeconds / float64(w.Requests)
		r.CoreUsPerReq = 1e6 * win.Seconds * win.ProxyCPU.Busy / 100 / float64(w.Requests)
	}
	if err != nil {
		return r, err.Error()
	}
	return r, ""
}

// open runs the open loop through p and reads the CPUs at the window's
// edges.
func (b *bench) open(ctx context.Context, p *proc) (*openRun, string) {
	var samples [2]sample
	var serr [2]error
	spec := openSpec{ns: b.bed.NsB, addr: portsOf(p.name).cpsAddr(), rate: b.o.Rate, conns: b.o.Connections, warmup: b.o.Warmup, d: b.o.Duration}
	res, err := openLoop(ctx, spec, func(edge int) { samples[edge], serr[edge] = b.sample(ctx, p) })
	if serr[0] != nil || serr[1] != nil {
		if err == nil {
			err = fmt.Errorf("sample: %w", firstErr(serr[:]...))
		}
	}
	if samples[0].at.IsZero() || samples[1].at.IsZero() {
		if err == nil {
			err = fmt.Errorf("open loop: the window was not sampled")
		}
		return nil, err.Error()
	}
	us := func(q float64) float64 { return float64(quantile(res.Latencies, q)) / float64(time.Microsecond) }
	r := &openRun{Rate: b.o.Rate, Requests: res.Done, Late: res.Late, Window: b.window(samples[0], samples[1]),
		P50: us(0.50), P90: us(0.90), P99: us(0.99), P999: us(0.999), Max: us(1)}
	r.Achieved = float64(res.Done) / b.o.Duration.Seconds()
	if res.Done > 0 {
		r.ProxyUsPerReq = 1e6 * r.Window.ProxySeconds / float64(res.Done)
		r.CoreUsPerReq = 1e6 * r.Window.Seconds * r.Window.ProxyCPU.Busy / 100 / float64(res.Done)
	}
	if err != nil {
		return r, err.Error()
	}
	return r, ""
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (b *bench) httpProgress(round int, px, what string, c *reqRun, o *openRun, errText string) {
	line := fmt.Sprintf("round %d %-9s %-9s", round, px, what)
	var w window
	switch {
	case c != nil:
		w = c.Window
		line += fmt.Sprintf(" %9.0f req/s  p99 %8.2f ms  proxy %6.1f µs/req", c.Rate, c.P99/1e3, c.ProxyUsPerReq)
	case o != nil:
		w = o.Window
		line += fmt.Sprintf(" %9.0f req/s  p99 %8.2f ms  proxy %6.1f µs/req  p50 %.2f ms p99.9 %.2f ms late %d", o.Achieved, o.P99/1e3, o.ProxyUsPerReq, o.P50/1e3, o.P999/1e3, o.Late)
	}
	if c != nil || o != nil {
		line += fmt.Sprintf("  CPU%d %3.0f%% (proxy %3.0f%%, other %3.0f%%) CPU%d %3.0f%%  saturated: %s",
			w.ProxyCPU.CPU, w.ProxyCPU.Busy, w.ProxyPct, w.OthersPct, w.GenCPU.CPU, w.GenCPU.Busy, w.Saturated)
	}
	if errText != "" {
		line += "  FAILED: " + firstLine(errText)
	}
	fmt.Fprintln(b.log, line)
}
