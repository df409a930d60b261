package main

import (
	"context"
	"fmt"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/perf/load"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

const benchHTTPSynopsis = `bench %[1]s --iface IF [--netns NS] --connect HOST:PORT [--cores LIST] [--conns N | --rate R] [flags]

%[2]s

One generator runs on each core of --cores, inside the core's poll loop
(no goroutine per connection), with its share of --conns and --rate.

Closed loop (the default): --conns connections, each with one request
outstanding; latency runs from %[3]s to the end of the response.
Open loop (--rate R): %[4]s start on a fixed schedule, R per
second in all; a start that finds no free connection (at most --conns) waits
for one, and its latency still runs from its scheduled time, so a server
stall shows in the tail (coordinated omission corrected). Starts more than
100µs behind schedule are counted as late.

The first --warmup is not counted. Errors are counted by kind: connect
refused, reset, timeout (handshake, response or close slower than
--timeout), bad status (not 200), short read (the server closed before the
whole response), malformed response, dial (no port), write.

On a terminal it prints one status line a second on stderr; --json prints
one JSON object at the end instead; --plot FILE writes an SVG of the rate and
the p50/p99 latency of each second.

Flags:`

func runBenchHTTP(mode load.Mode, args []string, stdout, stderr io.Writer) error {
	name := "bench " + mode.String()
	var syn string
	if mode == load.RPS {
		syn = fmt.Sprintf(benchHTTPSynopsis, "rps", "HTTP/1.1 keep-alive requests per second against HOST:PORT, from pollstack's\nown TCP stack on IF over AF_XDP.",
			"the send of the request", "requests")
	} else {
		syn = fmt.Sprintf(benchHTTPSynopsis, "cps", "Connections per second against HOST:PORT, from pollstack's own TCP stack on IF\nover AF_XDP: connect, one GET with Connection: close, read the response,\nthe server closes, we close.",
			"the dial", "connections")
	}
	var f engineFlags
	fs := newFlags(name, syn, stdout)
	f.register(fs, name)
	connect := fs.String("connect", "", "server to load, IP:PORT (required), e.g. 198.18.0.2:80 or [2001:2::2]:80")
	duration := fs.Duration("duration", 10*time.Second, "length of the measured window")
	warmup := fs.Duration("warmup", time.Second, "run this long before measuring (excluded from the results)")
	conns := fs.Int("conns", 64, "connections open at once, over all cores (closed loop: each with one request outstanding; open loop: the most that may be)")
	rate := fs.Float64("rate", 0, "open loop: start this many requests (rps) or connections (cps) per second over all cores (0: closed loop)")
	path := fs.String("path", load.DefaultPath, "request target (the http app reads ?size=N)")
	size := fs.Int64("size", -1, "response body to ask for, bytes: adds size=N to --path's query (pollstack's http apps and perf/gvisor answer with N bytes; a static server such as nginx ignores it); -1: none")
	timeout := fs.Duration("timeout", load.DefaultTimeout, "a handshake, response or close slower than this counts as a timeout and is reset")
	jsonOut := fs.Bool("json", false, "print the results as one JSON object on stdout, and no status lines")
	plot := fs.String("plot", "", "write an SVG plot of rate and latency (p50, p99) per second to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *connect == "" {
		return usagef("%s: --connect is required (see 'pollstack %s --help')", name, name)
	}
	remote, err := netip.ParseAddrPort(*connect)
	if err != nil || remote.Port() == 0 || remote.Addr().Zone() != "" || !remote.Addr().Unmap().IsGlobalUnicast() && !remote.Addr().Unmap().IsLoopback() {
		return usagef("%s: --connect %q: want IP:PORT, e.g. 198.18.0.2:80 or [2001:2::2]:80", name, *connect)
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	switch {
	case *duration <= 0:
		return usagef("%s: --duration %v: want a positive duration", name, *duration)
	case *warmup < 0:
		return usagef("%s: --warmup %v: must not be negative", name, *warmup)
	case *timeout <= 0:
		return usagef("%s: --timeout %v: want a positive duration", name, *timeout)
	case *conns < 1 || *conns > load.MaxConns:
		return usagef("%s: --conns %d: want 1..%d", name, *conns, load.MaxConns)
	case math.IsNaN(*rate) || *rate < 0 || *rate > 1e8:
		return usagef("%s: --rate %v: want 0 (closed loop) or a rate up to 1e8 per second", name, *rate)
	}
	if err := checkOutputFile(name, "plot", *plot); err != nil {
		return err
	}
	if *size < -1 || *size > httpapp.DefaultMaxSize {
		return usagef("%s: --size %d: want 0..%d, or -1 for none", name, *size, httpapp.DefaultMaxSize)
	}
	if *size >= 0 {
		sep := "?"
		if strings.Contains(*path, "?") {
			sep = "&"
		}
		*path += sep + "size=" + strconv.FormatInt(*size, 10)
	}
	if err := load.CheckPath(*path); err != nil {
		return usagef("%s: --path %q: want /... in visible ASCII, at most 1024 bytes", name, *path)
	}
	if err := f.check(); err != nil {
		return err
	}
	if *conns < len(f.cpus) {
		f.closeListener()
		return usagef("%s: --conns %d: want at least one per core (%d cores)", name, *conns, len(f.cpus))
	}
	f.log = stderr
	hooks := make([]*load.HookLink, len(f.cpus))
	f.wrap = func(q int, l rings.Link) rings.Link {
		hooks[q] = load.Hook(l, nil)
		return hooks[q]
	}
	t := tcp.DefaultConfig()
	e, err := f.open(engine.Config{TCP: &t})
	if err != nil {
		f.closeListener()
		return err
	}
	defer stopEngine(e, stderr)
	local, ok := e.Source(remote.Addr())
	if !ok || !e.Routable(remote.Addr()) {
		f.closeListener()
		return usagef("%s: no route to %s (no --addr of its family, or no connected prefix, --route or --gateway holds it)", name, remote.Addr())
	}
	gens := make([]*load.Gen, len(f.cpus))
	for i, c := range e.Cores() {
		n := *conns / len(gens)
		if i < *conns%len(gens) {
			n++
		}
		gens[i], err = load.New(c.TCP(), load.Config{Mode: mode, Local: local, Remote: remote, Path: *path,
			Conns: n, Rate: *rate / float64(len(gens)), Timeout: *timeout})
		if err != nil {
			f.closeListener()
			return err
		}
		hooks[i].SetGen(gens[i])
	}
	if err := e.Start(); err != nil {
		f.closeListener()
		return err
	}
	stopMetrics := f.serveMetrics(e, stderr)
	defer stopMetrics()

	status := !*jsonOut && isTerminal(stderr)
	unit := map[load.Mode]string{load.RPS: "req/s", load.CPS: "conn/s"}[mode]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rcfg := load.RunConfig{Warmup: *warmup, Duration: *duration, Timeout: *timeout + time.Second}
	if status {
		fmt.Fprintf(stderr, "%s: %s from %s, %d core(s), %d connection(s)%s; warm-up %v, then %v\n", name, remote, local, len(gens), *conns,
			map[bool]string{true: fmt.Sprintf(", %.0f/s open loop", *rate), false: ", closed loop"}[*rate > 0], *warmup, *duration)
		rcfg.Second = func(s load.Second) {
			tag := "warm-up"
			if s.Measured {
				tag = "       "
			}
			fmt.Fprintf(stderr, "%7.1fs %s %10.0f %s  p99 %-9v p99 so far %-9v errors %d\n", s.At.Seconds(), tag, s.Rate, unit,
				s.P99.Round(time.Microsecond), s.P99SoFar.Round(time.Microsecond), s.ErrorsSoFar)
		}
	}
	r, runErr := load.Run(ctx, e.Loops(), gens, rcfg)
	stopEngine(e, stderr)
	if runErr != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", name, runErr)
	}
	if *plot != "" {
		if err := writePlotFile(*plot, &r, fmt.Sprintf("pollstack %s against %s, %d core(s), %d connection(s)", name, remote, len(gens), *conns)); err != nil {
			return err
		}
	}
	if *jsonOut {
		out := struct {
			*load.Report
			Target     string  `json:"target"`
			Conns      int     `json:"conns"`
			TargetRate float64 `json:"target_rate,omitempty"`
			CPUs       []int   `json:"cpus"`
			Interrupt  bool    `json:"interrupted,omitempty"`
		}{&r, remote.String(), *conns, *rate, f.cpus, ctx.Err() != nil}
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		printHTTPReport(stdout, name, &r, unit)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted", name)
	}
	return nil
}

func printHTTPReport(w io.Writer, name string, r *load.Report, unit string) {
	fmt.Fprintf(w, "%s: %.0f %s over %v on %d core(s)", name, r.Rate, unit, r.Duration.Round(time.Millisecond), r.Cores)
	if r.Cores > 1 {
		fmt.Fprintf(w, " (per core:")
		for _, v := range r.PerCore {
			fmt.Fprintf(w, " %.0f", v)
		}
		fmt.Fprintf(w, ")")
	}
	fmt.Fprintf(w, "\n  requests %d, connections %d, errors %d (%s)\n", r.Requests, r.Connections, r.ErrorTotal, &r.Errors)
	l := r.Latency
	fmt.Fprintf(w, "  latency p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  mean %v\n", l.P50.Round(time.Microsecond/10), l.P90.Round(time.Microsecond/10),
		l.P99.Round(time.Microsecond/10), l.P999.Round(time.Microsecond/10), l.Max.Round(time.Microsecond/10), l.Mean.Round(time.Microsecond/10))
	if r.Sent > 0 || r.Late > 0 || r.Behind > 0 {
		fmt.Fprintf(w, "  open loop: %d starts, %d late (>100µs behind schedule), %d due but not started at the end\n", r.Sent, r.Late, r.Behind)
	}
}

func writePlotFile(path string, r *load.Report, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := load.WritePlot(f, r, title); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
