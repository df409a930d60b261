package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// reqSummary is one proxy's figures of a closed-loop HTTP workload over
// the rounds.
type reqSummary struct {
	Rate          stat   `json:"req_per_s"`
	P99           stat   `json:"p99_us"`
	ProxyUsPerReq stat   `json:"proxy_cpu_us_per_req"`
	CoreUsPerReq  stat   `json:"proxy_core_us_per_req"`
	ProxyBusy     stat   `json:"proxy_cpu_busy_pct"`
	GenBusy       stat   `json:"gen_cpu_busy_pct"`
	Saturated     string `json:"saturated"` // the most frequent verdict
}

// openSummary is one proxy's figures of the open loop over the rounds.
type openSummary struct {
	Achieved      stat   `json:"req_per_s"`
	P50           stat   `json:"p50_us"`
	P99           stat   `json:"p99_us"`
	P999          stat   `json:"p999_us"`
	Late          stat   `json:"late"`
	ProxyUsPerReq stat   `json:"proxy_cpu_us_per_req"`
	CoreUsPerReq  stat   `json:"proxy_core_us_per_req"`
	ProxyBusy     stat   `json:"proxy_cpu_busy_pct"`
	GenBusy       stat   `json:"gen_cpu_busy_pct"`
	Saturated     string `json:"saturated"`
}

// httpSummary is one proxy's figures in HTTP mode.
type httpSummary struct {
	Proxy     string      `json:"proxy"`
	KeepAlive reqSummary  `json:"keepalive"`
	Close     reqSummary  `json:"close"`
	Open      openSummary `json:"open"`
}

// httpRatio is pollstack's medians over another proxy's, or over the
// better of the others' figure by figure (Other "better": the higher
// rate, the lower latency and CPU time).
type httpRatio struct {
	Other          string  `json:"other"`
	KARate         float64 `json:"keepalive_req_per_s"`
	KAP99          float64 `json:"keepalive_p99"`
	KAProxyUs      float64 `json:"keepalive_proxy_cpu_us_per_req"`
	KACoreUs       float64 `json:"keepalive_proxy_core_us_per_req"`
	CloseRate      float64 `json:"close_req_per_s"`
	CloseP99       float64 `json:"close_p99"`
	CloseProxyUs   float64 `json:"close_proxy_cpu_us_per_req"`
	CloseCoreUs    float64 `json:"close_proxy_core_us_per_req"`
	OpenP99        float64 `json:"open_p99"`
	OpenP999       float64 `json:"open_p999"`
	OpenProxyUs    float64 `json:"open_proxy_cpu_us_per_req"`
	OpenCoreUsPerR float64 `json:"open_proxy_core_us_per_req"`
}

// target is one of the HTTP mode's targets, judged on the medians.
type target struct {
	What   string  `json:"what"`
	Target string  `json:"target"`
	Value  float64 `json:"value"` // pollstack over the better of the others
	Met    bool    `json:"met"`
	Note   string  `json:"note,omitempty"`
}

func reqSummaryOf(runs []*reqRun) reqSummary {
	var rate, p99, us, core, pb, gb []float64
	var sat []string
	for _, c := range runs {
		rate, p99, us, core = append(rate, c.Rate), append(p99, c.P99), append(us, c.ProxyUsPerReq), append(core, c.CoreUsPerReq)
		pb, gb, sat = append(pb, c.Window.ProxyCPU.Busy), append(gb, c.Window.GenCPU.Busy), append(sat, c.Window.Saturated)
	}
	return reqSummary{Rate: statOf(rate), P99: statOf(p99), ProxyUsPerReq: statOf(us), CoreUsPerReq: statOf(core),
		ProxyBusy: statOf(pb), GenBusy: statOf(gb), Saturated: mostFrequent(sat)}
}

func openSummaryOf(runs []*openRun) openSummary {
	var ach, p50, p99, p999, late, us, core, pb, gb []float64
	var sat []string
	for _, o := range runs {
		ach, p50, p99, p999, late = append(ach, o.Achieved), append(p50, o.P50), append(p99, o.P99), append(p999, o.P999), append(late, float64(o.Late))
		us, core = append(us, o.ProxyUsPerReq), append(core, o.CoreUsPerReq)
		pb, gb, sat = append(pb, o.Window.ProxyCPU.Busy), append(gb, o.Window.GenCPU.Busy), append(sat, o.Window.Saturated)
	}
	return openSummary{Achieved: statOf(ach), P50: statOf(p50), P99: statOf(p99), P999: statOf(p999), Late: statOf(late),
		ProxyUsPerReq: statOf(us), CoreUsPerReq: statOf(core), ProxyBusy: statOf(pb), GenBusy: statOf(gb), Saturated: mostFrequent(sat)}
}

// summarizeHTTP fills in the HTTP mode's per-proxy figures (of turns
// without error, workload by workload), pollstack's ratios and the
// targets.
func summarizeHTTP(r *report) {
	r.HTTP, r.HTTPRatios, r.Targets = nil, nil, nil
	for _, px := range r.Options.Proxies {
		var ka, cl []*reqRun
		var op []*openRun
		for _, t := range r.Turns {
			if t.Proxy != px {
				continue
			}
			if t.kaOK() {
				ka = append(ka, t.KeepAlive)
			}
			if t.closeOK() {
				cl = append(cl, t.Close)
			}
			if t.openOK() {
				op = append(op, t.Open)
			}
		}
		r.HTTP = append(r.HTTP, httpSummary{Proxy: px, KeepAlive: reqSummaryOf(ka), Close: reqSummaryOf(cl), Open: openSummaryOf(op)})
	}
	var ps *httpSummary
	var others []httpSummary
	for i := range r.HTTP {
		if r.HTTP[i].Proxy == pxPollstack {
			ps = &r.HTTP[i]
		} else {
			others = append(others, r.HTTP[i])
		}
	}
	if ps == nil || len(others) == 0 {
		return
	}
	ratioTo := func(name string, o httpSummary) httpRatio {
		return httpRatio{Other: name,
			KARate: harness.Ratio(ps.KeepAlive.Rate.Median, o.KeepAlive.Rate.Median), KAP99: harness.Ratio(ps.KeepAlive.P99.Median, o.KeepAlive.P99.Median),
			KAProxyUs: harness.Ratio(ps.KeepAlive.ProxyUsPerReq.Median, o.KeepAlive.ProxyUsPerReq.Median), KACoreUs: harness.Ratio(ps.KeepAlive.CoreUsPerReq.Median, o.KeepAlive.CoreUsPerReq.Median),
			CloseRate: harness.Ratio(ps.Close.Rate.Median, o.Close.Rate.Median), CloseP99: harness.Ratio(ps.Close.P99.Median, o.Close.P99.Median),
			CloseProxyUs: harness.Ratio(ps.Close.ProxyUsPerReq.Median, o.Close.ProxyUsPerReq.Median), CloseCoreUs: harness.Ratio(ps.Close.CoreUsPerReq.Median, o.Close.CoreUsPerReq.Median),
			OpenP99: harness.Ratio(ps.Open.P99.Median, o.Open.P99.Median), OpenP999: harness.Ratio(ps.Open.P999.Median, o.Open.P999.Median),
			OpenProxyUs: harness.Ratio(ps.Open.ProxyUsPerReq.Median, o.Open.ProxyUsPerReq.Median), OpenCoreUsPerR: harness.Ratio(ps.Open.CoreUsPerReq.Median, o.Open.CoreUsPerReq.Median)}
	}
	for _, o := range others {
		r.HTTPRatios = append(r.HTTPRatios, ratioTo(o.Proxy, o))
	}
	// The better of the others, figure by figure.
	best := others[0]
	for _, o := range others[1:] {
		best.KeepAlive = betterReq(best.KeepAlive, o.KeepAlive)
		best.Close = betterReq(best.Close, o.Close)
		best.Open.P99 = lower(best.Open.P99, o.Open.P99)
		best.Open.P999 = lower(best.Open.P999, o.Open.P999)
		best.Open.ProxyUsPerReq = lower(best.Open.ProxyUsPerReq, o.Open.ProxyUsPerReq)
		best.Open.CoreUsPerReq = lower(best.Open.CoreUsPerReq, o.Open.CoreUsPerReq)
	}
	if len(others) > 1 {
		r.HTTPRatios = append(r.HTTPRatios, ratioTo("better", best))
	}
	q := ratioTo("better", best)
	for _, w := range []struct {
		name         string
		s            reqSummary
		rate, us, cu float64
	}{{wlKeepAlive, ps.KeepAlive, q.KARate, q.KAProxyUs, q.KACoreUs}, {wlClose, ps.Close, q.CloseRate, q.CloseProxyUs, q.CloseCoreUs}} {
		genLimited := strings.HasPrefix(w.s.Saturated, satGen) || strings.HasPrefix(w.s.Saturated, satBoth)
		note := ""
		if genLimited {
			note = "pollstack's windows saturated " + w.s.Saturated + ": its rate is what the generator side could drive, so the CPU-time target applies"
		}
		r.Targets = append(r.Targets,
			target{What: w.name + " requests/s", Target: ">= 2x the better peer", Value: w.rate, Met: w.rate >= 2, Note: note},
			target{What: w.name + " CPU time per request", Target: "<= 0.5x the better peer (proxy's CPU time, and its CPU's busy time)", Value: math.Max(w.us, w.cu), Met: w.us > 0 && w.us <= 0.5 && w.cu <= 0.5,
				Note: fmt.Sprintf("proxy CPU time %.2fx, its CPU's busy time %.2fx", w.us, w.cu)})
	}
	r.Targets = append(r.Targets, target{What: fmt.Sprintf("p99 at %.0f requests/s (open loop)", r.Options.Rate), Target: "lower than the better peer's",
		Value: q.OpenP99, Met: q.OpenP99 > 0 && q.OpenP99 < 1})
}

// betterReq keeps the better of two closed-loop summaries figure by
// figure.
func betterReq(a, b reqSummary) reqSummary {
	if b.Rate.N > 0 && (a.Rate.N == 0 || b.Rate.Median > a.Rate.Median) {
		a.Rate = b.Rate
	}
	a.P99 = lower(a.P99, b.P99)
	a.ProxyUsPerReq = lower(a.ProxyUsPerReq, b.ProxyUsPerReq)
	a.CoreUsPerReq = lower(a.CoreUsPerReq, b.CoreUsPerReq)
	return a
}

func lower(a, b stat) stat {
	if b.N > 0 && (a.N == 0 || b.Median < a.Median) {
		return b
	}
	return a
}

// printHTTPReport writes the HTTP mode's table.
func printHTTPReport(w io.Writer, r *report) {
	o := r.Options
	fmt.Fprintf(w, "proxycmp --mode http: bed %s, kernel %s, %d round(s), proxies on CPU %d, generator and backends on CPU %d, %s windows after %s warm-up, %d connections, open loop at %.0f requests/s, load average %.2f at the start\n",
		r.Bed, r.Kernel, o.Rounds, o.ProxyCPU, o.GenCPU, secs(o.Duration), secs(o.Warmup), o.Connections, o.Rate, r.LoadAvg)
	for _, k := range append(append([]string(nil), o.Proxies...), "backends", wlKeepAlive, wlClose, wlOpen) {
		fmt.Fprintf(w, "%-10s %s\n", k+":", r.Commands[k])
	}
	fmt.Fprintf(w, "\nrequests/s: keepalive and close closed loop (wrk), open at a fixed rate; p99 from wrk, or from the open loop's scheduled times; CPU%d = proxy's CPU, CPU%d = generator's;\n", o.ProxyCPU, o.GenCPU)
	fmt.Fprintf(w, "busy = all but idle and iowait (u/s/si = user, system, irq+softirq); proxy = its processes' utime+stime; other = CPU%d's busy share that was not the proxy's\n", o.ProxyCPU)
	fmt.Fprintf(w, "%-5s %-9s %-9s %9s %8s %18s %18s %6s %6s %8s %8s %-9s %8s\n", "round", "proxy", "workload", "req/s", "p99 ms",
		cpuHead(o.ProxyCPU), cpuHead(o.GenCPU), "proxy", "other", "µs/req", "CPU µs/r", "saturated", "abnormal")
	for _, t := range r.Turns {
		rows := []struct {
			name string
			rate float64
			p99  float64
			win  *window
			us   float64
			cu   float64
			err  string
		}{{name: wlKeepAlive, err: t.KAError}, {name: wlClose, err: t.CloseError}, {name: wlOpen, err: t.OpenError}}
		if c := t.KeepAlive; c != nil {
			rows[0].rate, rows[0].p99, rows[0].win, rows[0].us, rows[0].cu = c.Rate, c.P99, &c.Window, c.ProxyUsPerReq, c.CoreUsPerReq
		}
		if c := t.Close; c != nil {
			rows[1].rate, rows[1].p99, rows[1].win, rows[1].us, rows[1].cu = c.Rate, c.P99, &c.Window, c.ProxyUsPerReq, c.CoreUsPerReq
		}
		if c := t.Open; c != nil {
			rows[2].rate, rows[2].p99, rows[2].win, rows[2].us, rows[2].cu = c.Achieved, c.P99, &c.Window, c.ProxyUsPerReq, c.CoreUsPerReq
		}
		for i, row := range rows {
			fmt.Fprintf(w, "%-5d %-9s %-9s ", t.Round, t.Proxy, row.name)
			if row.win != nil {
				fmt.Fprintf(w, "%9.0f %8.2f %18s %18s %5.0f%% %5.0f%% %8.1f %8.1f %-9s", row.rate, row.p99/1e3, cpuCell(row.win.ProxyCPU), cpuCell(row.win.GenCPU),
					row.win.ProxyPct, row.win.OthersPct, row.us, row.cu, row.win.Saturated)
			} else {
				fmt.Fprintf(w, "%9s %8s %18s %18s %6s %6s %8s %8s %-9s", "-", "-", "-", "-", "-", "-", "-", "-", "-")
			}
			if i == 0 {
				fmt.Fprintf(w, " %8d", t.Abnormal)
			} else {
				fmt.Fprintf(w, " %8s", "")
			}
			errs := nonEmpty(row.err)
			if i == 0 {
				errs = nonEmpty(t.Error, row.err)
			}
			if e := strings.Join(errs, "; "); e != "" {
				fmt.Fprintf(w, "  FAILED: %s", firstLine(e))
			}
			if i == 0 {
				for _, n := range t.Notes {
					fmt.Fprintf(w, "  note: %s", n)
				}
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\nopen loop at %.0f requests/s: latency from each request's scheduled time to its response's end; late = started more than 1 ms after its time (no free connection, or the generator behind)\n", o.Rate)
	fmt.Fprintf(w, "%-5s %-9s %9s %9s %9s %9s %9s %9s %8s\n", "round", "proxy", "requests", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "late")
	for _, t := range r.Turns {
		if c := t.Open; c != nil {
			fmt.Fprintf(w, "%-5d %-9s %9d %9.3f %9.3f %9.3f %9.3f %9.3f %8d\n", t.Round, t.Proxy, c.Requests, c.P50/1e3, c.P90/1e3, c.P99/1e3, c.P999/1e3, c.Max/1e3, c.Late)
		}
	}
	for _, t := range r.Turns {
		if t.Proxy != pxPollstack {
			continue
		}
		fmt.Fprintf(w, "\npollstack round %d: polls that found work: keepalive %.1f%%, close %.1f%%, open %.1f%%; XDP program detached on exit: %s\n",
			t.Round, pollWorkReq(t.KeepAlive), pollWorkReq(t.Close), pollWorkOpen(t.Open), yesNo(t.XDPDetached))
		if req := t.Counters["pollstack_proxy_server_http_requests_total"]; req > 0 {
			fmt.Fprintf(w, "  backend connections reused for %.2f%% of the requests sent to the backends\n", 100*t.Counters["pollstack_proxy_server_pool_reused_total"]/req)
		}
		var parts []string
		for _, k := range sortedKeys(t.Counters) {
			if strings.HasPrefix(k, "pollstack_proxy_") || isTCPAnomaly(k) {
				parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimSuffix(strings.TrimPrefix(k, "pollstack_"), "_total"), t.Counters[k]))
			}
		}
		if len(parts) == 0 {
			parts = []string{"(not read)"}
		}
		fmt.Fprintf(w, "  counters: %s\n", strings.Join(parts, ", "))
	}

	fmt.Fprintf(w, "\nmedian [min..max] over the turns without error; proxy = its processes' CPU time, CPU = CPU%d's busy time, per request\n", o.ProxyCPU)
	for _, wl := range []string{wlKeepAlive, wlClose} {
		fmt.Fprintf(w, "%-9s %2s %-24s %-24s %-22s %-22s %-9s %-9s %s\n", wl, "n", "req/s", "p99 ms", "proxy µs/req", "CPU µs/req",
			fmt.Sprintf("CPU%d busy", o.ProxyCPU), fmt.Sprintf("CPU%d busy", o.GenCPU), "saturated")
		for _, h := range r.HTTP {
			s := h.KeepAlive
			if wl == wlClose {
				s = h.Close
			}
			fmt.Fprintf(w, "%-9s %2d %-24s %-24s %-22s %-22s %8.0f%% %8.0f%% %s\n", h.Proxy, s.Rate.N,
				statCell(s.Rate, 1, "%.0f"), statCell(s.P99, 1e3, "%.2f"), statCell(s.ProxyUsPerReq, 1, "%.1f"), statCell(s.CoreUsPerReq, 1, "%.1f"),
				s.ProxyBusy.Median, s.GenBusy.Median, s.Saturated)
		}
	}
	fmt.Fprintf(w, "%-9s %2s %-24s %-24s %-22s %-22s %-9s %-9s %s\n", wlOpen, "n", "p50 ms", "p99 ms", "p99.9 ms", "proxy µs/req", "CPU µs/req",
		fmt.Sprintf("CPU%d busy", o.ProxyCPU), fmt.Sprintf("CPU%d busy", o.GenCPU))
	for _, h := range r.HTTP {
		s := h.Open
		fmt.Fprintf(w, "%-9s %2d %-24s %-24s %-24s %-22s %-22s %8.0f%% %8.0f%%\n", h.Proxy, s.P99.N,
			statCell(s.P50, 1e3, "%.3f"), statCell(s.P99, 1e3, "%.3f"), statCell(s.P999, 1e3, "%.3f"), statCell(s.ProxyUsPerReq, 1, "%.1f"),
			statCell(s.CoreUsPerReq, 1, "%.1f"), s.ProxyBusy.Median, s.GenBusy.Median)
	}
	fmt.Fprintln(w)
	for _, q := range r.HTTPRatios {
		name := q.Other
		if name == "better" {
			name = "better of the others (figure by figure)"
		}
		fmt.Fprintf(w, "pollstack / %s: keepalive req/s %.2f, p99 %.2f, proxy µs/req %.2f, CPU µs/req %.2f; close req/s %.2f, p99 %.2f, proxy µs/req %.2f, CPU µs/req %.2f; open p99 %.2f, p99.9 %.2f, proxy µs/req %.2f, CPU µs/req %.2f\n",
			name, q.KARate, q.KAP99, q.KAProxyUs, q.KACoreUs, q.CloseRate, q.CloseP99, q.CloseProxyUs, q.CloseCoreUs, q.OpenP99, q.OpenP999, q.OpenProxyUs, q.OpenCoreUsPerR)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (pollstack's median over the better peer's):")
		for _, g := range r.Targets {
			verdict := "NOT MET"
			if g.Met {
				verdict = "met"
			}
			fmt.Fprintf(w, "  %-45s %-30s %5.2fx  %s", g.What, g.Target, g.Value, verdict)
			if g.Note != "" {
				fmt.Fprintf(w, " (%s)", g.Note)
			}
			fmt.Fprintln(w)
		}
	}
	printHTTPNotes(w, r)
}

// printHTTPNotes says which side saturated and how to read the figures.
func printHTTPNotes(w io.Writer, r *report) {
	fmt.Fprintln(w)
	for _, h := range r.HTTP {
		for _, v := range []struct{ what, sat string }{{wlKeepAlive, h.KeepAlive.Saturated}, {wlClose, h.Close.Saturated}} {
			if v.sat == "" {
				continue
			}
			fmt.Fprintf(w, "%s %s: saturated %s", h.Proxy, v.what, v.sat)
			switch {
			case strings.HasPrefix(v.sat, satGen):
				fmt.Fprintf(w, " -- the generator and backends' CPU was the limit, not the proxy: compare CPU time per request, not rates\n")
			case strings.HasPrefix(v.sat, satBoth):
				fmt.Fprintf(w, " -- both CPUs were busy; on veth the proxy's CPU also does the kernel's receive work for what the proxy sends: compare CPU time per request\n")
			case strings.HasPrefix(v.sat, satProxy):
				fmt.Fprintf(w, " -- the proxy's CPU was the limit\n")
			default:
				fmt.Fprintf(w, " -- neither CPU was at %d%%: latency was the limit\n", saturatedPct)
			}
		}
	}
	shared, all := 0, 0
	for _, t := range r.Turns {
		for _, win := range []*window{winOf(t.KeepAlive), winOf(t.Close), winOfOpen(t.Open)} {
			if win != nil {
				all++
				if win.OthersPct >= sharedPct {
					shared++
				}
			}
		}
	}
	if shared > 0 {
		fmt.Fprintf(w, "In %d of %d windows %d%% or more of CPU%d's time was not the proxy's (\"other\": other tenants of the machine, or softirq work outside the proxy's system calls): there a \"saturated\" CPU%d was shared, the rates and latencies show the share of the CPU the proxy got, and CPU time per request is the figure to compare.\n",
			shared, all, sharedPct, r.Options.ProxyCPU, r.Options.ProxyCPU)
	}
	fmt.Fprintf(w, "pollstack busy-polls: its CPU time counts every poll, also those that find nothing; with --idle-sleep-after %d its core sleeps in poll(2) after that many empty polls, so idle time is not counted, but under load it rarely sleeps and its CPU time is an upper bound of the work. \"polls that found work\" says how much of it was spinning.\n", r.Options.SleepAt)
	fmt.Fprintf(w, "proxy µs/req counts its processes' utime+stime, which includes the kernel work in their syscalls (on veth also the receiving namespace's input of what they send) but not softirq work on their CPU outside them; CPU µs/req counts everything that ran on CPU%d.\n", r.Options.ProxyCPU)
	fmt.Fprintf(w, "abnormal: sessions each proxy saw end abnormally (pollstack: client_resets and its failure counters; HAProxy: httplog lines with dontlog-normal; nginx: error.log lines of level error and above); wrk's stop cuts up to --connections per wrk run (%d a turn).\n", expectedAbnormalOf(r.Options))
}

func pollWorkReq(c *reqRun) float64 {
	if c == nil {
		return math.NaN()
	}
	return c.Window.PollWorkPct
}

func pollWorkOpen(c *openRun) float64 {
	if c == nil {
		return math.NaN()
	}
	return c.Window.PollWorkPct
}

func winOf(c *reqRun) *window {
	if c == nil {
		return nil
	}
	return &c.Window
}

func winOfOpen(c *openRun) *window {
	if c == nil {
		return nil
	}
	return &c.Window
}
