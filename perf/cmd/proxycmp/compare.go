package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

// bench is what the turns share.
type bench struct {
	o         options
	bed       *testbed.Bed
	dir       string
	pollstack string // binary
	log       io.Writer
	sinks     map[string]*sink
}

// proc is a running proxy.
type proc struct {
	name    string
	p       *nsproc.Proc
	metrics string // pollstack: its /metrics URL
	stop    func() error
}

func (b *bench) pollstackArgs() []string {
	return []string{"taskset", "-c", fmt.Sprint(b.o.ProxyCPU), b.pollstack, "proxy",
		"--iface", b.bed.IfaceA, "--netns", b.bed.NsA, "--cores", fmt.Sprint(b.o.ProxyCPU),
		"--config", b.confPath(pxPollstack), "--idle-sleep-after", fmt.Sprint(b.o.SleepAt),
		"--metrics", "127.0.0.1:0", "--stats-interval", "0", "--control", "none"}
}

func (b *bench) haproxyArgs() []string {
	return nsproc.NetnsArgs(b.bed.NsA, "taskset", "-c", fmt.Sprint(b.o.ProxyCPU), "haproxy", "-db", "-f", b.confPath(pxHAProxy))
}

func (b *bench) nginxArgs() []string {
	return nsproc.NetnsArgs(b.bed.NsA, "taskset", "-c", fmt.Sprint(b.o.ProxyCPU), "nginx", "-c", b.confPath(pxNginx))
}

func (b *bench) backendArgs() []string {
	return nsproc.NetnsArgs(b.bed.NsB, "taskset", "-c", fmt.Sprint(b.o.GenCPU), "nginx", "-c", filepath.Join(b.dir, "backends", "nginx.conf"))
}

// wrkArgs is a wrk run to url for d, with Connection: close on every
// request when closing (a new connection per request) and keep-alive
// otherwise.
func (b *bench) wrkArgs(url string, d time.Duration, closing bool) []string {
	args := nsproc.NetnsArgs(b.bed.NsB, "taskset", "-c", fmt.Sprint(b.o.GenCPU), "wrk", "-t1",
		fmt.Sprintf("-c%d", b.o.Connections), fmt.Sprintf("-d%ds", int(d/time.Second)), "--latency")
	if closing {
		args = append(args, "-H", "Connection: close")
	}
	return append(args, url)
}

// commands returns the command lines the report shows.
func (b *bench) commands() map[string]string {
	if b.o.Mode == modeHTTP {
		return map[string]string{
			pxPollstack: harness.Quote(b.pollstackArgs()),
			pxHAProxy:   harness.Quote(b.haproxyArgs()),
			pxNginx:     harness.Quote(b.nginxArgs()),
			"backends":  harness.Quote(b.backendArgs()),
			"keepalive": harness.Quote(b.wrkArgs("http://198.18.0.1:PORT/", b.o.Duration, false)),
			"close":     harness.Quote(b.wrkArgs("http://198.18.0.1:PORT/", b.o.Duration, true)),
			"open": fmt.Sprintf("%.0f GET requests/s on a fixed schedule over %d keep-alive connections from %s (this program, pinned to CPU %d) to 198.18.0.1:PORT for %s after %s; latency from each request's scheduled time to its response's end",
				b.o.Rate, b.o.Connections, b.bed.NsB, b.o.GenCPU, secs(b.o.Duration), secs(b.o.Warmup)),
		}
	}
	return map[string]string{
		pxPollstack: harness.Quote(b.pollstackArgs()),
		pxHAProxy:   harness.Quote(b.haproxyArgs()),
		pxNginx:     harness.Quote(b.nginxArgs()),
		"backends":  harness.Quote(b.backendArgs()),
		"cps":       harness.Quote(b.wrkArgs("http://198.18.0.1:PORT/", b.o.Duration, true)),
		"bulk": fmt.Sprintf("one TCP connection from %s (this program, pinned to CPU %d) to 198.18.0.1:PORT, %d KiB writes for %s after %s, to a sink in this program on %s:PORT that discards",
			b.bed.NsB, b.o.GenCPU, bulkBuf>>10, secs(b.o.Duration), secs(b.o.Warmup), backendAddr),
	}
}

// compare builds pollstack (unless given) and the bed, runs the rounds and
// returns the report, partial on error. Everything it started is stopped,
// and the bed removed unless --keep-bed, before it returns.
func compare(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "proxycmp")
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, dir: dir, log: log, sinks: map[string]*sink{}}
	if slices.Contains(o.Proxies, pxNginx) && o.Mode == modeTCP {
		if _, err := os.Stat(streamModule); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx's stream module: %w (Debian: apt-get install libnginx-mod-stream)", err)
		}
	}
	if slices.Contains(o.Proxies, pxPollstack) {
		if b.pollstack, err = harness.Pollstack(ctx, "proxycmp", o.Pollstack, dir, log); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	bed, down, err := harness.UpBed("proxycmp", 1, log)
	defer func() {
		if o.KeepBed && bed != nil {
			fmt.Fprintf(log, "proxycmp: --keep-bed: bed %s and %s kept; remove them with: pollstack testbed down --name %s; rm -r %s\n", bed.Name, dir, bed.Name, dir)
			return
		}
		down(&err)
		os.RemoveAll(dir)
	}()
	if err != nil {
		return nil, err
	}
	b.bed = bed
	// Everything this program does and starts runs on the generator's CPU
	// from here on, but for the proxies, which taskset puts on theirs.
	restore, err := pinSelf(ctx, o.GenCPU)
	defer restore()
	if err != nil {
		return nil, fmt.Errorf("pin this program to CPU %d: %w", o.GenCPU, err)
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	stopBackends, err := b.startBackends(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := stopBackends(); serr != nil && ctx.Err() == nil {
			err = errors.Join(err, fmt.Errorf("backends: %w", serr))
		}
	}()
	for _, px := range o.Proxies {
		if o.Mode != modeTCP {
			break // no bulk workload
		}
		s, err := startSink(bed.NsB, portsOf(px).sinkAddr())
		if err != nil {
			return nil, err
		}
		defer s.Close()
		b.sinks[px] = s
	}

	rep = &report{Bed: bed.Name, Started: time.Now().UTC(), Options: o, LoadAvg: harness.LoadAvg(), Commands: b.commands(), Kernel: kernelRelease()}
	defer func() {
		summarize(rep)
		rep.Finished = time.Now().UTC()
	}()
	fmt.Fprintf(log, "proxycmp: --mode %s, %d round(s) of %s, proxies on CPU %d, generator and backends on CPU %d, load average %.2f\n",
		o.Mode, o.Rounds, strings.Join(o.Proxies, ", "), o.ProxyCPU, o.GenCPU, rep.LoadAvg)
	var errs []error
	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, px := range order(round, o.Proxies) {
			if ctx.Err() != nil {
				break
			}
			t := b.turn(ctx, round, px)
			if ctx.Err() != nil {
				break // interrupted: not a measurement
			}
			for _, e := range t.errors() {
				errs = append(errs, fmt.Errorf("round %d %s: %s", round, px, firstLine(e)))
			}
			rep.Turns = append(rep.Turns, t)
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return rep, errors.Join(errs...)
}

// order returns the proxies of round r (1-based): list rotated by r-1.
func order(r int, list []string) []string {
	n := len(list)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, list[(r-1+i)%n])
	}
	return out
}

// setup writes the configurations and sets the kernels' TCP up for many
// short connections: wrk in NAME-b often closes first (it closes as soon as
// the response is in, before the proxy passes the backend's FIN on), and
// at thousands of connections/s its TIME_WAIT would use up the ephemeral
// ports without tcp_tw_reuse; the kernel proxies in NAME-a get the same
// (pollstack's backend legs reuse TIME_WAIT 4-tuples by default).
func (b *bench) setup(ctx context.Context) error {
	for _, ns := range []string{b.bed.NsA, b.bed.NsB} {
		if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(ns, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1",
			"net.ipv4.ip_local_port_range=1024 65535")...); err != nil {
			return err
		}
	}
	for _, end := range [][2]string{{b.bed.NsA, b.bed.IfaceA}, {b.bed.NsB, b.bed.IfaceB}} {
		onOff := map[bool]string{true: "on", false: "off"}[b.o.GRO]
		if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(end[0], "ethtool", "-K", end[1], "gro", onOff)...); err != nil {
			return err
		}
	}
	if b.o.NAPIThreads {
		if !b.o.GRO {
			return fmt.Errorf("--napi-threads needs --gro: veth polls with NAPI only with GRO on (or an XDP program)")
		}
		if err := b.setNAPIThreads(ctx, false); err != nil {
			return err // the file is there to write: turned on for each window that wants it
		}
	}
	if !b.o.Offload {
		if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(b.bed.NsA, "ethtool", "-K", b.bed.IfaceA, "tso", "off", "gso", "off")...); err != nil {
			return err
		}
	}
	files := map[string]string{
		filepath.Join(b.dir, "backends", "nginx.conf"): backendConf(filepath.Join(b.dir, "backends"), b.o.GenCPU),
		b.confPath(pxPollstack):                        pollstackConf(b.o.SmartConnect),
		b.confPath(pxHAProxy):                          haproxyConf(b.o.ProxyCPU, b.o.SmartConnect),
		b.confPath(pxNginx):                            nginxStreamConf(filepath.Dir(b.confPath(pxNginx)), b.o.ProxyCPU),
	}
	if b.o.Mode == modeHTTP {
		files[b.confPath(pxPollstack)] = pollstackHTTPConf()
		files[b.confPath(pxHAProxy)] = haproxyHTTPConf(b.o.ProxyCPU)
		files[b.confPath(pxNginx)] = nginxHTTPConf(filepath.Dir(b.confPath(pxNginx)), b.o.ProxyCPU)
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startBackends starts the nginx HTTP backends in NAME-b and waits until
// each port answers.
func (b *bench) startBackends(ctx context.Context) (stop func() error, err error) {
	p, err := nsproc.Start(b.backendArgs(), "")
	if err != nil {
		return nil, err
	}
	stop = func() error { return p.Stop(syscall.SIGTERM, 10*time.Second) }
	for _, px := range allProxies {
		for i := range 2 {
			url := fmt.Sprintf("http://%s/", portsOf(px).httpAddr(i))
			if err := b.curl(ctx, b.bed.NsB, url, p, 10*time.Second); err != nil {
				_ = stop() // the error that stopped it is the one to report
				return nil, fmt.Errorf("backends: %w", err)
			}
		}
	}
	fmt.Fprintf(b.log, "proxycmp: nginx backends on %s ports 8180-8185, CPU %d\n", backendAddr, b.o.GenCPU)
	return stop, nil
}

// curl waits until url answers nsproc.NginxBody from ns, while p runs.
func (b *bench) curl(ctx context.Context, ns, url string, p *nsproc.Proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		out, err := nsproc.Run(ctx, nsproc.NetnsArgs(ns, "curl", "-sS", "-m", "1", url)...)
		if err == nil && out == nsproc.NginxBody {
			return nil
		}
		if p.Exited() || ctx.Err() != nil || time.Now().After(deadline) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s does not answer from %s: %q %v\n%s", url, ns, out, err, p.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// prepare readies NAME-a for px: no XDP program (pollstack detaches its
// own when it exits; that is checked after its turn, and here for a
// leftover), and the address 198.18.0.1/24 on the kernel's side only for
// the kernel proxies (pollstack answers ARP itself).
func (b *bench) prepare(ctx context.Context, px string) (note string, err error) {
	was, err := harness.DetachXDP(ctx, b.bed.NsA, b.bed.IfaceA)
	if err != nil {
		return "", err
	}
	if was {
		note = "an XDP program was attached to " + b.bed.IfaceA + " before the turn; removed"
	}
	ns, dev := b.bed.NsA, b.bed.IfaceA
	if _, err := nsproc.Run(ctx, "ip", "-n", ns, "addr", "flush", "dev", dev); err != nil {
		return note, err
	}
	if px != pxPollstack {
		if _, err := nsproc.Run(ctx, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", proxyAddr, testbed.PrefixLenIPv4), "dev", dev); err != nil {
			return note, err
		}
	}
	_, err = nsproc.Run(ctx, "ip", "-n", b.bed.NsB, "neigh", "flush", "dev", b.bed.IfaceB)
	return note, err
}

var metricsLine = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// start starts px and waits until it proxies a request (curl from NAME-b
// through its cps listener to the backends).
func (b *bench) start(ctx context.Context, px string) (*proc, error) {
	var args []string
	ready, sig := "", syscall.SIGTERM
	switch px {
	case pxPollstack:
		args, ready = b.pollstackArgs(), "metrics on http://"
	case pxHAProxy:
		// SIGUSR1: soft stop, exit status 0 (SIGTERM's is 143).
		args, sig = b.haproxyArgs(), syscall.SIGUSR1
	case pxNginx:
		args = b.nginxArgs()
	}
	var p *nsproc.Proc
	var err error
	// The kernel may hold the previous AF_XDP sockets for a moment after
	// their process exited: a start that fails then is tried again.
	for attempt := 1; attempt <= 3; attempt++ {
		if p, err = nsproc.Start(args, ready); err != nil {
			return nil, err
		}
		if ready == "" {
			break
		}
		if err = p.Ready(ctx, 30*time.Second); err == nil {
			break
		}
		_ = p.Stop(syscall.SIGKILL, 5*time.Second) // it never came up; the next try or the error says why
		if ctx.Err() != nil || !strings.Contains(err.Error(), "busy") {
			return nil, err
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return nil, err
	}
	pr := &proc{name: px, p: p, stop: func() error { return p.Stop(sig, 15*time.Second) }}
	if px == pxPollstack {
		m := metricsLine.FindStringSubmatch(p.Output())
		if m == nil {
			_ = pr.stop() // the error below says what is wrong
			return nil, fmt.Errorf("no metrics address in pollstack's output:\n%s", p.Output())
		}
		pr.metrics = m[1]
	}
	if err := b.curl(ctx, b.bed.NsB, portsOf(px).cpsURL(), p, 20*time.Second); err != nil {
		_ = pr.stop() // the error that stopped it is the one to report
		return nil, err
	}
	return pr, nil
}

// turn gives px one turn: start it, measure cps and bulk, stop it.
func (b *bench) turn(ctx context.Context, round int, px string) (t turn) {
	t = turn{Round: round, Proxy: px}
	defer func() { t.LoadAvg = harness.LoadAvg() }()
	note, err := b.prepare(ctx, px)
	if note != "" {
		t.Notes = append(t.Notes, note)
	}
	if err != nil {
		t.Error = "prepare: " + err.Error()
		return t
	}
	fmt.Fprintf(b.log, "round %d %-9s starting\n", round, px)
	p, err := b.start(ctx, px)
	if err != nil {
		t.Error = "start: " + err.Error()
		fmt.Fprintf(b.log, "round %d %-9s FAILED to start: %s\n", round, px, firstLine(t.Error))
		return t
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop() // an early return: the turn's error says why
		}
	}()

	// --napi-threads: for every workload but bulk (below); off again
	// after the turn.
	if b.o.NAPIThreads {
		if err := b.setNAPIThreads(ctx, true); err != nil {
			t.Error = err.Error()
			return t
		}
		defer func() {
			if err := b.setNAPIThreads(ctx, false); err != nil && t.Error == "" {
				t.Error = err.Error()
			}
		}()
	}
	if b.o.Mode == modeHTTP {
		if !b.httpWorkloads(ctx, round, p, &t) {
			return t
		}
	} else {
		t.CPS, t.CPSError = b.cps(ctx, p)
		if ctx.Err() != nil {
			return t
		}
		if px == pxPollstack && t.CPS != nil {
			// The counters so far are the cps workload's alone.
			time.Sleep(120 * time.Millisecond) // the cores publish every 50 ms
			if m, err := scrape(ctx, p.metrics); err == nil {
				t.CPS.SegsOut, t.CPS.SegsIn = segmentsPerConn(m)
			}
		}
		b.progress(round, px, "cps", t.CPS, nil, t.CPSError)
		if b.o.NAPIThreads {
			// With the threads HAProxy's one bulk stream fell to 1.2
			// Gbit/s with both CPUs three quarters idle: something
			// latency-bound (the wake-ups of the other CPU's thread, for
			// each of its 64 KiB segments, is the likely part) that a
			// NIC would not add. Bulk runs in the softirqs.
			if err := b.setNAPIThreads(ctx, false); err != nil {
				t.Error = err.Error()
				return t
			}
		}
		t.Bulk, t.BulkError = b.bulk(ctx, p)
		if ctx.Err() != nil {
			return t
		}
		b.progress(round, px, "bulk", nil, t.Bulk, t.BulkError)
	}

	if px == pxPollstack {
		// The cores publish their proxy counters every 50 ms: wait for
		// the copy that has the last requests.
		time.Sleep(120 * time.Millisecond)
		m, err := scrape(ctx, p.metrics)
		if err != nil {
			t.Error = "metrics: " + err.Error()
		}
		t.Counters = proxyCounters(m)
	}
	stopped = true
	serr := p.stop()
	out := p.p.Output()
	if b.o.Verbose {
		fmt.Fprintf(b.log, "--- %s output:\n%s", px, out)
	}
	if serr != nil {
		t.Error = joinErr(t.Error, "stop: "+serr.Error())
	}
	t.Abnormal, t.AbnormalBy = b.abnormal(px, t.Counters, out)
	if px == pxPollstack {
		if e := pollstackErrors(t.Counters, b.o.Mode); e != "" {
			t.Error = joinErr(t.Error, "pollstack proxy counted errors: "+e)
		}
		on, err := harness.XDPAttached(context.Background(), b.bed.NsA, b.bed.IfaceA)
		detached := err == nil && !on
		t.XDPDetached = &detached
		if on {
			t.Error = joinErr(t.Error, "pollstack proxy exited and left its XDP program on "+b.bed.IfaceA)
			_, _ = harness.DetachXDP(context.Background(), b.bed.NsA, b.bed.IfaceA) // the next turn's prepare checks again
		} else if err != nil {
			t.Error = joinErr(t.Error, "checking for an XDP program: "+err.Error())
		}
	}
	if limit := b.expectedAbnormal(); t.Abnormal > limit {
		t.Notes = append(t.Notes, fmt.Sprintf("%d abnormal session ends, more than the %d wrk's stops account for", t.Abnormal, limit))
	}
	if t.Error != "" {
		fmt.Fprintf(b.log, "round %d %-9s FAILED: %s\n", round, px, firstLine(t.Error))
	}
	return t
}

// expectedAbnormal is how many connections wrk's own stops may cut (each
// wrk run ends with its connections mid-request, which the proxy sees as
// clients that went away): the warm-up run's and the measured run's.
func (b *bench) expectedAbnormal() uint64 {
	runs := uint64(1)
	if b.o.Mode == modeHTTP {
		runs = 2 // keepalive and close; the open loop waits for its answers
	}
	if b.o.Warmup > 0 {
		runs *= 2
	}
	return runs * uint64(b.o.Connections)
}

// sample is a reading of the CPUs, the proxy's CPU time and, for
// pollstack, its counters, at the edge of a window.
type sample struct {
	at      time.Time
	cpus    map[int]cpuTimes
	ticks   uint64
	metrics map[string]float64
}

func (b *bench) sample(ctx context.Context, p *proc) (sample, error) {
	s := sample{}
	if p.metrics != "" {
		m, err := scrape(ctx, p.metrics)
		if err != nil {
			return s, err
		}
		s.metrics = m
	}
	var err error
	if s.ticks, err = treeTicks(p.p.PID()); err != nil {
		return s, fmt.Errorf("%s's CPU time: %w", p.name, err)
	}
	if s.cpus, err = readCPUTimes(); err != nil {
		return s, err
	}
	s.at = time.Now()
	return s, nil
}

// window describes the CPUs between two samples.
func (b *bench) window(a, z sample) window {
	w := window{Seconds: z.at.Sub(a.at).Seconds()}
	w.ProxyCPU = usage(b.o.ProxyCPU, a.cpus, z.cpus)
	w.GenCPU = usage(b.o.GenCPU, a.cpus, z.cpus)
	w.ProxySeconds = float64(z.ticks-a.ticks) / clockTicks
	w.ProxyPct = 100 * w.ProxySeconds / w.Seconds
	w.Saturated = saturated(w.ProxyCPU.Busy, w.GenCPU.Busy)
	w.OthersPct = max(0, w.ProxyCPU.Busy-w.ProxyPct)
	if a.metrics != nil {
		busy := z.metrics["pollstack_poll_busy_total"] - a.metrics["pollstack_poll_busy_total"]
		idle := z.metrics["pollstack_poll_idle_total"] - a.metrics["pollstack_poll_idle_total"]
		if busy+idle > 0 {
			w.PollWorkPct = 100 * busy / (busy + idle)
		}
	}
	return w
}

// cps runs wrk with Connection: close through the proxy (after a warm-up
// run whose result is dropped) and reads the CPUs around the measured run.
func (b *bench) cps(ctx context.Context, p *proc) (*cpsRun, string) {
	w, p99, win, err := b.wrk(ctx, p, true)
	if w == nil {
		return nil, err.Error()
	}
	r := &cpsRun{Rate: w.Rate, P99: p99, Wrk: *w, Window: win}
	if w.Requests > 0 {
		r.ProxyUsPerConn = 1e6 * r.Window.ProxySeconds / float64(w.Requests)
		r.CoreUsPerConn = 1e6 * r.Window.Seconds * r.Window.ProxyCPU.Busy / 100 / float64(w.Requests)
	}
	if err != nil {
		return r, err.Error()
	}
	return r, ""
}

// wrk runs wrk through the proxy, with Connection: close when closing,
// after a warm-up run whose result is dropped, and reads the CPUs around
// the measured run. It returns wrk's report (nil if there is none), its
// p99 in µs, the window, and what failed: a wrk error, no p99 line, or a
// socket error or non-2xx answer in the report.
func (b *bench) wrk(ctx context.Context, p *proc, closing bool) (*harness.Wrk, float64, window, error) {
	url := portsOf(p.name).cpsURL()
	if b.o.Warmup > 0 {
		out, err := nsproc.Run(ctx, b.wrkArgs(url, b.o.Warmup, closing)...)
		if err == nil {
			var w harness.Wrk
			if w, err = harness.ParseWrk(out); err == nil {
				err = w.Check()
			}
		}
		if err != nil {
			return nil, 0, window{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	a, err := b.sample(ctx, p)
	if err != nil {
		return nil, 0, window{}, err
	}
	out, err := nsproc.Run(ctx, b.wrkArgs(url, b.o.Duration, closing)...)
	z, serr := b.sample(ctx, p)
	if b.o.Verbose {
		fmt.Fprint(b.log, out)
	}
	if err != nil {
		return nil, 0, window{}, err
	}
	if serr != nil {
		return nil, 0, window{}, serr
	}
	w, err := harness.ParseWrk(out)
	if err != nil {
		return nil, 0, window{}, err
	}
	win := b.window(a, z)
	p99, err := wrkP99(out)
	if err != nil {
		return &w, p99, win, err
	}
	return &w, p99, win, w.Check()
}

// bulk streams through the proxy for the warm-up and the window and reads
// the sink's count and the CPUs at the window's edges.
func (b *bench) bulk(ctx context.Context, p *proc) (*bulkRun, string) {
	s := b.sinks[p.name]
	s.drain()
	st, err := startStream(b.bed.NsB, portsOf(p.name).bulkAddr())
	if err != nil {
		return nil, err.Error()
	}
	fail := func(err error) (*bulkRun, string) {
		_, _ = st.finish(ctx, s, time.Second) // the first error is the one to report
		return nil, err.Error()
	}
	if err := sleep(ctx, b.o.Warmup); err != nil {
		return fail(err)
	}
	a, err := b.sample(ctx, p)
	if err != nil {
		return fail(err)
	}
	n0 := s.bytes.Load()
	if err := sleep(ctx, b.o.Duration); err != nil {
		return fail(err)
	}
	n1 := s.bytes.Load()
	z, err := b.sample(ctx, p)
	if err != nil {
		return fail(err)
	}
	r := &bulkRun{Bytes: n1 - n0, Window: b.window(a, z)}
	r.Gbps = float64(r.Bytes) * 8 / r.Window.Seconds / 1e9
	if r.Bytes > 0 {
		r.ProxySPerGB = r.Window.ProxySeconds / (float64(r.Bytes) / 1e9)
		r.CoreSPerGB = r.Window.Seconds * r.Window.ProxyCPU.Busy / 100 / (float64(r.Bytes) / 1e9)
	}
	r.Total, err = st.finish(ctx, s, 10*time.Second)
	if err != nil {
		return r, err.Error()
	}
	if r.Bytes == 0 {
		return r, "bulk: no byte reached the sink in the window"
	}
	return r, ""
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *bench) progress(round int, px, what string, c *cpsRun, k *bulkRun, errText string) {
	prefix := fmt.Sprintf("round %d %-9s %-4s", round, px, what)
	var w window
	switch {
	case c != nil:
		w = c.Window
		prefix += fmt.Sprintf(" %9.0f conn/s  p99 %8.2f ms  proxy %6.1f µs/conn", c.Rate, c.P99/1e3, c.ProxyUsPerConn)
	case k != nil:
		w = k.Window
		prefix += fmt.Sprintf(" %8.2f Gbit/s  proxy %6.3f CPU-s/GB", k.Gbps, k.ProxySPerGB)
	}
	if c != nil || k != nil {
		prefix += fmt.Sprintf("  CPU%d %3.0f%% (proxy %3.0f%%) CPU%d %3.0f%%  saturated: %s",
			w.ProxyCPU.CPU, w.ProxyCPU.Busy, w.ProxyPct, w.GenCPU.CPU, w.GenCPU.Busy, w.Saturated)
	}
	if errText != "" {
		prefix += "  FAILED: " + firstLine(errText)
	}
	fmt.Fprintln(b.log, prefix)
}

// scrape reads a Prometheus text page and sums each metric over its labels.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseMetrics(string(body)), nil
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
