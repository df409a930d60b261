package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// saturatedPct is the busy share from which a CPU counts as saturated.
const saturatedPct = 95

// The verdicts of a window.
const (
	satGen     = "generator"
	satProxy   = "proxy"
	satBoth    = "both"
	satNeither = "neither"
)

// saturated says which CPU was the limit: the generator's (wrk, the
// backends, the kernel's work for them), the proxy's, both, or neither.
func saturated(proxyBusy, genBusy float64) string {
	p, g := proxyBusy >= saturatedPct, genBusy >= saturatedPct
	switch {
	case p && g:
		return satBoth
	case p:
		return satProxy
	case g:
		return satGen
	}
	return satNeither
}

// window is what the CPUs did during a measured window.
type window struct {
	Seconds      float64 `json:"seconds"`
	ProxyCPU     cpuUse  `json:"proxy_cpu"`               // the proxy's CPU (--proxy-cpu)
	GenCPU       cpuUse  `json:"gen_cpu"`                 // the generator's (--gen-cpu)
	ProxySeconds float64 `json:"proxy_cpu_seconds"`       // utime+stime of the proxy's processes
	ProxyPct     float64 `json:"proxy_process_pct"`       // the same, in percent of the window
	Saturated    string  `json:"saturated"`               // generator, proxy, both, neither
	PollWorkPct  float64 `json:"poll_work_pct,omitempty"` // pollstack: polls that found work
	// OthersPct is the proxy CPU's busy share that was not the proxy's
	// processes' time: softirq work outside their system calls, and other
	// tenants of the machine.
	OthersPct float64 `json:"others_pct"`
}

// sharedPct is the OthersPct from which a window's proxy CPU counts as
// shared with other work: on a quiet machine it is a few percent.
const sharedPct = 15

// cpsRun is one wrk run with Connection: close through a proxy.
type cpsRun struct {
	Rate           float64     `json:"conn_per_s"` // wrk's Requests/sec: one request per connection
	P99            float64     `json:"p99_us"`     // wrk --latency's 99%
	Wrk            harness.Wrk `json:"wrk"`
	Window         window      `json:"window"`
	ProxyUsPerConn float64     `json:"proxy_cpu_us_per_conn"`  // the proxy's processes' CPU time / connections
	CoreUsPerConn  float64     `json:"proxy_core_us_per_conn"` // the proxy CPU's busy time (anything on it) / connections
	// pollstack only: TCP segments sent and received, both legs, per
	// client connection accepted, over the workload (warm-up included).
	SegsOut float64 `json:"pollstack_segments_out_per_conn,omitempty"`
	SegsIn  float64 `json:"pollstack_segments_in_per_conn,omitempty"`
}

// bulkRun is one bulk stream through a proxy.
type bulkRun struct {
	Gbps        float64 `json:"gbit_per_s"`
	Bytes       uint64  `json:"bytes"`       // reaching the sink in the window
	Total       uint64  `json:"bytes_total"` // the whole stream, sent and received
	Window      window  `json:"window"`
	ProxySPerGB float64 `json:"proxy_cpu_s_per_gb"`  // the proxy's CPU seconds per 10^9 bytes
	CoreSPerGB  float64 `json:"proxy_core_s_per_gb"` // the proxy CPU's busy seconds (anything on it) per 10^9 bytes
}

// turn is one proxy's turn in a round.
type turn struct {
	Round       int                `json:"round"`
	Proxy       string             `json:"proxy"`
	CPS         *cpsRun            `json:"cps,omitempty"`
	CPSError    string             `json:"cps_error,omitempty"`
	Bulk        *bulkRun           `json:"bulk,omitempty"`
	BulkError   string             `json:"bulk_error,omitempty"`
	KeepAlive   *reqRun            `json:"keepalive,omitempty"` // --mode http
	KAError     string             `json:"keepalive_error,omitempty"`
	Close       *reqRun            `json:"close,omitempty"`
	CloseError  string             `json:"close_error,omitempty"`
	Open        *openRun           `json:"open,omitempty"`
	OpenError   string             `json:"open_error,omitempty"`
	Abnormal    uint64             `json:"abnormal"`    // sessions the proxy saw end abnormally
	AbnormalBy  string             `json:"abnormal_by"` // where that count comes from
	Counters    map[string]float64 `json:"pollstack_counters,omitempty"`
	XDPDetached *bool              `json:"xdp_detached_on_exit,omitempty"`
	LoadAvg     float64            `json:"loadavg"` // at the turn's end
	Error       string             `json:"error,omitempty"`
	Notes       []string           `json:"notes,omitempty"`
}

func (t turn) cpsOK() bool  { return t.CPS != nil && t.CPSError == "" && t.Error == "" }
func (t turn) bulkOK() bool { return t.Bulk != nil && t.BulkError == "" && t.Error == "" }
func (t turn) kaOK() bool   { return t.KeepAlive != nil && t.KAError == "" && t.Error == "" }
func (t turn) closeOK() bool {
	return t.Close != nil && t.CloseError == "" && t.Error == ""
}
func (t turn) openOK() bool { return t.Open != nil && t.OpenError == "" && t.Error == "" }

// errors returns the turn's errors.
func (t turn) errors() []string {
	var e []string
	if t.Error != "" {
		e = append(e, t.Error)
	}
	if t.CPSError != "" {
		e = append(e, "cps: "+t.CPSError)
	}
	if t.BulkError != "" {
		e = append(e, "bulk: "+t.BulkError)
	}
	if t.KAError != "" {
		e = append(e, "keepalive: "+t.KAError)
	}
	if t.CloseError != "" {
		e = append(e, "close: "+t.CloseError)
	}
	if t.OpenError != "" {
		e = append(e, "open: "+t.OpenError)
	}
	return e
}

// stat is the median, min and max of a figure over the good turns.
type stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(x []float64) stat {
	if len(x) == 0 {
		return stat{}
	}
	return stat{N: len(x), Median: harness.Median(x), Min: slices.Min(x), Max: slices.Max(x)}
}

// summary is one proxy's figures over the rounds.
type summary struct {
	Proxy          string `json:"proxy"`
	CPS            stat   `json:"conn_per_s"`
	P99            stat   `json:"p99_us"`
	ProxyUsPerConn stat   `json:"proxy_cpu_us_per_conn"`
	CoreUsPerConn  stat   `json:"proxy_core_us_per_conn"`
	CPSProxyBusy   stat   `json:"cps_proxy_cpu_busy_pct"`
	CPSGenBusy     stat   `json:"cps_gen_cpu_busy_pct"`
	CPSSaturated   string `json:"cps_saturated"` // the most frequent verdict
	Gbps           stat   `json:"gbit_per_s"`
	ProxySPerGB    stat   `json:"proxy_cpu_s_per_gb"`
	CoreSPerGB     stat   `json:"proxy_core_s_per_gb"`
	BulkProxyBusy  stat   `json:"bulk_proxy_cpu_busy_pct"`
	BulkGenBusy    stat   `json:"bulk_gen_cpu_busy_pct"`
	BulkSaturated  string `json:"bulk_saturated"`
}

// ratio is pollstack's medians over another proxy's.
type ratio struct {
	Other          string  `json:"other"`
	CPS            float64 `json:"conn_per_s"`
	P99            float64 `json:"p99"`
	ProxyUsPerConn float64 `json:"proxy_cpu_us_per_conn"`
	CoreUsPerConn  float64 `json:"proxy_core_us_per_conn"`
	Gbps           float64 `json:"gbit_per_s"`
	ProxySPerGB    float64 `json:"proxy_cpu_s_per_gb"`
	CoreSPerGB     float64 `json:"proxy_core_s_per_gb"`
}

// report is the command's result.
type report struct {
	Bed      string            `json:"bed"`
	Kernel   string            `json:"kernel"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Options  options           `json:"options"`
	LoadAvg  float64           `json:"loadavg"` // 1-minute, at the start
	Commands map[string]string `json:"commands"`
	Turns    []turn            `json:"turns"`
	Summary  []summary         `json:"summary"`
	Ratios   []ratio           `json:"ratios,omitempty"` // pollstack / each other proxy
	// --mode http
	HTTP       []httpSummary `json:"http_summary,omitempty"`
	HTTPRatios []httpRatio   `json:"http_ratios,omitempty"` // pollstack / each other proxy, and the better of them
	Targets    []target      `json:"targets,omitempty"`
}

// summarize fills in the per-proxy figures (of turns without error) and
// pollstack's ratios.
func summarize(r *report) {
	r.Summary, r.Ratios = nil, nil
	if r.Options.Mode == modeHTTP {
		summarizeHTTP(r)
		return
	}
	for _, px := range r.Options.Proxies {
		s := summary{Proxy: px}
		var cps, p99, us, core, cpb, cgb, gbps, spg, cspg, bpb, bgb []float64
		var csat, bsat []string
		for _, t := range r.Turns {
			if t.Proxy != px {
				continue
			}
			if t.cpsOK() {
				c := t.CPS
				cps, p99, us, core = append(cps, c.Rate), append(p99, c.P99), append(us, c.ProxyUsPerConn), append(core, c.CoreUsPerConn)
				cpb, cgb = append(cpb, c.Window.ProxyCPU.Busy), append(cgb, c.Window.GenCPU.Busy)
				csat = append(csat, c.Window.Saturated)
			}
			if t.bulkOK() {
				k := t.Bulk
				gbps, spg, cspg = append(gbps, k.Gbps), append(spg, k.ProxySPerGB), append(cspg, k.CoreSPerGB)
				bpb, bgb = append(bpb, k.Window.ProxyCPU.Busy), append(bgb, k.Window.GenCPU.Busy)
				bsat = append(bsat, k.Window.Saturated)
			}
		}
		s.CPS, s.P99, s.ProxyUsPerConn, s.CoreUsPerConn = statOf(cps), statOf(p99), statOf(us), statOf(core)
		s.CPSProxyBusy, s.CPSGenBusy, s.CPSSaturated = statOf(cpb), statOf(cgb), mostFrequent(csat)
		s.Gbps, s.ProxySPerGB, s.CoreSPerGB = statOf(gbps), statOf(spg), statOf(cspg)
		s.BulkProxyBusy, s.BulkGenBusy, s.BulkSaturated = statOf(bpb), statOf(bgb), mostFrequent(bsat)
		r.Summary = append(r.Summary, s)
	}
	var ps *summary
	for i := range r.Summary {
		if r.Summary[i].Proxy == pxPollstack {
			ps = &r.Summary[i]
		}
	}
	if ps == nil {
		return
	}
	for _, o := range r.Summary {
		if o.Proxy == pxPollstack {
			continue
		}
		r.Ratios = append(r.Ratios, ratio{Other: o.Proxy,
			CPS:            harness.Ratio(ps.CPS.Median, o.CPS.Median),
			P99:            harness.Ratio(ps.P99.Median, o.P99.Median),
			ProxyUsPerConn: harness.Ratio(ps.ProxyUsPerConn.Median, o.ProxyUsPerConn.Median),
			CoreUsPerConn:  harness.Ratio(ps.CoreUsPerConn.Median, o.CoreUsPerConn.Median),
			Gbps:           harness.Ratio(ps.Gbps.Median, o.Gbps.Median),
			ProxySPerGB:    harness.Ratio(ps.ProxySPerGB.Median, o.ProxySPerGB.Median),
			CoreSPerGB:     harness.Ratio(ps.CoreSPerGB.Median, o.CoreSPerGB.Median)})
	}
}

// mostFrequent returns the most frequent of x (the first seen of a tie),
// "" for none, and "A/B" spelled out when the verdicts differ: "both (2 of
// 3)".
func mostFrequent(x []string) string {
	if len(x) == 0 {
		return ""
	}
	count := map[string]int{}
	best := ""
	for _, v := range x {
		count[v]++
		if best == "" || count[v] > count[best] {
			best = v
		}
	}
	if count[best] == len(x) {
		return best
	}
	return fmt.Sprintf("%s (%d of %d)", best, count[best], len(x))
}

// printReport writes the table.
func printReport(w io.Writer, r *report) {
	if r.Options.Mode == modeHTTP {
		printHTTPReport(w, r)
		return
	}
	o := r.Options
	fmt.Fprintf(w, "proxycmp: bed %s, kernel %s, %d round(s), proxies on CPU %d, generator and backends on CPU %d, %s windows after %s warm-up, %d wrk connections, load average %.2f at the start\n",
		r.Bed, r.Kernel, o.Rounds, o.ProxyCPU, o.GenCPU, secs(o.Duration), secs(o.Warmup), o.Connections, r.LoadAvg)
	for _, k := range append(append([]string(nil), o.Proxies...), "backends", "cps", "bulk") {
		fmt.Fprintf(w, "%-10s %s\n", k+":", r.Commands[k])
	}
	fmt.Fprintf(w, "\nconnections/s: one HTTP request per connection (wrk -H 'Connection: close'); CPU%d = proxy's CPU, CPU%d = generator's;\n", o.ProxyCPU, o.GenCPU)
	fmt.Fprintf(w, "busy = all but idle and iowait (u/s/si = user, system, irq+softirq); proxy = its processes' utime+stime\n")
	fmt.Fprintf(w, "%-5s %-9s %9s %8s %18s %18s %6s %9s %9s %-9s %8s\n", "round", "proxy", "conn/s", "p99 ms",
		cpuHead(o.ProxyCPU), cpuHead(o.GenCPU), "proxy", "µs/conn", "CPU µs/c", "saturated", "abnormal")
	for _, t := range r.Turns {
		fmt.Fprintf(w, "%-5d %-9s ", t.Round, t.Proxy)
		if c := t.CPS; c != nil {
			fmt.Fprintf(w, "%9.0f %8.2f %18s %18s %5.0f%% %9.1f %9.1f %-9s %8d", c.Rate, c.P99/1e3, cpuCell(c.Window.ProxyCPU), cpuCell(c.Window.GenCPU),
				c.Window.ProxyPct, c.ProxyUsPerConn, c.CoreUsPerConn, c.Window.Saturated, t.Abnormal)
		} else {
			fmt.Fprintf(w, "%9s %8s %18s %18s %6s %9s %9s %-9s %8d", "-", "-", "-", "-", "-", "-", "-", "-", t.Abnormal)
		}
		if e := strings.Join(nonEmpty(t.Error, t.CPSError), "; "); e != "" {
			fmt.Fprintf(w, "  FAILED: %s", firstLine(e))
		}
		for _, n := range t.Notes {
			fmt.Fprintf(w, "  note: %s", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nbulk: one connection, client -> proxy -> sink\n")
	fmt.Fprintf(w, "%-5s %-9s %9s %18s %18s %6s %9s %9s %s\n", "round", "proxy", "Gbit/s",
		cpuHead(o.ProxyCPU), cpuHead(o.GenCPU), "proxy", "s/GB", "CPU s/GB", "saturated")
	for _, t := range r.Turns {
		fmt.Fprintf(w, "%-5d %-9s ", t.Round, t.Proxy)
		if k := t.Bulk; k != nil {
			fmt.Fprintf(w, "%9.2f %18s %18s %5.0f%% %9.3f %9.3f %s", k.Gbps, cpuCell(k.Window.ProxyCPU), cpuCell(k.Window.GenCPU), k.Window.ProxyPct, k.ProxySPerGB, k.CoreSPerGB, k.Window.Saturated)
		} else {
			fmt.Fprintf(w, "%9s %18s %18s %6s %9s %9s %s", "-", "-", "-", "-", "-", "-", "-")
		}
		if e := strings.Join(nonEmpty(t.Error, t.BulkError), "; "); e != "" {
			fmt.Fprintf(w, "  FAILED: %s", firstLine(e))
		}
		fmt.Fprintln(w)
	}
	for _, t := range r.Turns {
		if t.Proxy != pxPollstack {
			continue
		}
		fmt.Fprintf(w, "\npollstack round %d: polls that found work: cps %.1f%%, bulk %.1f%%; XDP program detached on exit: %s\n",
			t.Round, pollWork(t.CPS), pollWorkBulk(t.Bulk), yesNo(t.XDPDetached))
		if c := t.CPS; c != nil && c.SegsOut > 0 {
			fmt.Fprintf(w, "  cps: %.2f TCP segments sent and %.2f received per proxied connection (both legs)\n", c.SegsOut, c.SegsIn)
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

	fmt.Fprintf(w, "\nmedian [min..max] over the turns without error; proxy = its processes' CPU time, CPU = CPU%d's busy time, per connection or per 10^9 bytes\n", o.ProxyCPU)
	fmt.Fprintf(w, "%-9s %2s %-24s %-22s %-22s %-22s %-9s %-9s %s\n", "cps", "n", "conn/s", "p99 ms", "proxy µs/conn", "CPU µs/conn",
		fmt.Sprintf("CPU%d busy", o.ProxyCPU), fmt.Sprintf("CPU%d busy", o.GenCPU), "saturated")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "%-9s %2d %-24s %-22s %-22s %-22s %8.0f%% %8.0f%% %s\n", s.Proxy, s.CPS.N,
			statCell(s.CPS, 1, "%.0f"), statCell(s.P99, 1e3, "%.2f"), statCell(s.ProxyUsPerConn, 1, "%.1f"), statCell(s.CoreUsPerConn, 1, "%.1f"),
			s.CPSProxyBusy.Median, s.CPSGenBusy.Median, s.CPSSaturated)
	}
	fmt.Fprintf(w, "%-9s %2s %-24s %-22s %-22s %-22s %-9s %-9s %s\n", "bulk", "n", "Gbit/s", "", "proxy CPU-s/GB", "CPU s/GB",
		fmt.Sprintf("CPU%d busy", o.ProxyCPU), fmt.Sprintf("CPU%d busy", o.GenCPU), "saturated")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "%-9s %2d %-24s %-22s %-22s %-22s %8.0f%% %8.0f%% %s\n", s.Proxy, s.Gbps.N,
			statCell(s.Gbps, 1, "%.2f"), "", statCell(s.ProxySPerGB, 1, "%.3f"), statCell(s.CoreSPerGB, 1, "%.3f"),
			s.BulkProxyBusy.Median, s.BulkGenBusy.Median, s.BulkSaturated)
	}
	for _, q := range r.Ratios {
		fmt.Fprintf(w, "pollstack / %-8s conn/s %.2f, p99 %.2f, proxy µs/conn %.2f, CPU µs/conn %.2f; Gbit/s %.2f, proxy CPU-s/GB %.2f, CPU s/GB %.2f\n",
			q.Other, q.CPS, q.P99, q.ProxyUsPerConn, q.CoreUsPerConn, q.Gbps, q.ProxySPerGB, q.CoreSPerGB)
	}
	printNotes(w, r)
}

// printNotes says which side saturated and how to read the CPU figures.
func printNotes(w io.Writer, r *report) {
	fmt.Fprintln(w)
	gen := false
	for _, s := range r.Summary {
		for _, v := range []struct{ what, sat string }{{"connections/s", s.CPSSaturated}, {"bulk", s.BulkSaturated}} {
			if v.sat == "" {
				continue
			}
			fmt.Fprintf(w, "%s %s: saturated %s", s.Proxy, v.what, v.sat)
			switch {
			case strings.HasPrefix(v.sat, satGen):
				gen = true
				fmt.Fprintf(w, " -- the generator and backends' CPU was the limit, not the proxy: compare CPU time per connection/GB, not rates\n")
			case strings.HasPrefix(v.sat, satBoth):
				gen = true
				fmt.Fprintf(w, " -- both CPUs were busy; on veth the proxy's CPU also does the kernel's receive work for what the proxy sends: compare CPU time per connection/GB\n")
			case strings.HasPrefix(v.sat, satProxy):
				fmt.Fprintf(w, " -- the proxy's CPU was the limit\n")
			default:
				fmt.Fprintf(w, " -- neither CPU was at %d%%: latency or the single connection's window was the limit\n", saturatedPct)
			}
		}
	}
	if gen {
		fmt.Fprintln(w, "The generator side saturated first in some windows: the rates there are what the generator could drive, a lower bound of the proxy's.")
	}
	fmt.Fprintf(w, "pollstack busy-polls: its CPU time counts every poll, also those that find nothing (a busy-polling core counts 100%%); with --idle-sleep-after %d its core sleeps in poll(2) after that many empty polls, so idle time is not counted, but under load it rarely sleeps and its CPU time is an upper bound of the work. \"polls that found work\" above says how much of it was spinning.\n", r.Options.SleepAt)
	fmt.Fprintf(w, "proxy µs/conn and CPU-s/GB count its processes' utime+stime, which includes the kernel work in their syscalls (on veth also the receiving namespace's input of what they send) but not the softirq work on their CPU outside them (TCP timers, ksoftirqd); CPU µs/conn and CPU s/GB count everything that ran on CPU%d, which is the proxy's work and what it set off, plus any other tenant of the machine.\n", r.Options.ProxyCPU)
	fmt.Fprintf(w, "abnormal: sessions each proxy saw end abnormally (pollstack: client_resets and its failure counters; HAProxy: tcplog lines with dontlog-normal; nginx: error.log lines of level error and above); wrk's stop cuts up to --connections per wrk run (%d a turn).\n", expectedAbnormalOf(r.Options))
}

func expectedAbnormalOf(o options) uint64 {
	b := bench{o: o}
	return b.expectedAbnormal()
}

func cpuCell(u cpuUse) string {
	return fmt.Sprintf("%3.0f%% (%2.0f/%2.0f/%2.0f)", u.Busy, u.User, u.System, u.SoftIRQ)
}

func cpuHead(cpu int) string { return fmt.Sprintf("CPU%d busy (u/s/si)", cpu) }

func statCell(s stat, div float64, f string) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf(f+" ["+f+".."+f+"]", s.Median/div, s.Min/div, s.Max/div)
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func pollWork(c *cpsRun) float64 {
	if c == nil {
		return math.NaN()
	}
	return c.Window.PollWorkPct
}

func pollWorkBulk(k *bulkRun) float64 {
	if k == nil {
		return math.NaN()
	}
	return k.Window.PollWorkPct
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "not checked"
	case *b:
		return "yes"
	}
	return "NO"
}

// isTCPAnomaly picks the TCP counters worth showing next to the proxy's:
// drops, resets, retransmissions, timeouts.
func isTCPAnomaly(k string) bool {
	if !strings.HasPrefix(k, "pollstack_tcp_") {
		return false
	}
	for _, w := range []string{"drop", "rst", "reset", "rexmt", "retrans", "timeout", "badsum", "persist", "keepdrops", "conndrops", "refused", "noport", "challengeack", "listendrop", "noframe"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
