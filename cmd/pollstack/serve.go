package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

const serveSynopsis = `serve --iface IF [--netns NS] [--addr CIDR ...] [--cores LIST] [--app NAME] [--port P] [--metrics HOST:PORT]

Runs the engine on IF over AF_XDP, one pinned loop per CPU in --cores, each on
its own interface queue. With no --app it answers ARP, IPv6 neighbour
discovery and ICMP/ICMPv6 echo for its addresses. Stops cleanly on SIGINT or
SIGTERM and detaches its XDP program.

Apps (TCP apps listen on --port on every core):
  echo     send back what arrives; close after the peer half-closes
  discard  read and drop everything
  http     a minimal HTTP/1.1 server: keep-alive, Connection: close, a body
           of ?size=N bytes (default "hello\n")
  sink     count every received frame and drop it (raw receive rate, no stack)

Flags:`

type serveFlags struct {
	iface, netns, cores, app, metrics string
	addrs                             listFlag
	port, sleepAfter, ringSize        int
	frames                            int
	statsEvery                        time.Duration
}

func runServe(args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlags("serve", serveSynopsis, stdout)
	fs.StringVar(&f.iface, "iface", "", "interface to run on (required)")
	fs.StringVar(&f.netns, "netns", "", "named network namespace that holds the interface (/run/netns/NS)")
	fs.Var(&f.addrs, "addr", "address in CIDR form, repeatable (default 198.18.0.1/24 and 2001:2::1/64)")
	fs.StringVar(&f.cores, "cores", "0", "CPU list, one loop and one interface queue per CPU, e.g. 0 or 0,1 or 0-3")
	fs.StringVar(&f.app, "app", "", "application to run: echo, discard, http or sink (default: none, answer ARP/ND/echo only)")
	fs.IntVar(&f.port, "port", 8080, "TCP port the app listens on")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on HOST:PORT at /metrics (default off)")
	fs.IntVar(&f.sleepAfter, "idle-sleep-after", 0, "sleep in poll(2) after this many empty polls (0: busy-poll)")
	fs.IntVar(&f.ringSize, "ring-size", rings.DefaultXDPRingSize, "descriptors in each AF_XDP ring (power of two)")
	fs.IntVar(&f.frames, "frames", rings.DefaultFrames, "UMEM frames per core")
	fs.DurationVar(&f.statsEvery, "stats-interval", 10*time.Second, "print per-core rates this often on stderr (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.iface == "" {
		return usagef("serve: --iface is required (see 'pollstack serve --help')")
	}
	addrs, err := parseAddrs(f.addrs)
	if err != nil {
		return err
	}
	cpus, err := cores.ParseList(f.cores)
	if err != nil {
		return usagef("serve: --cores: %v", err)
	}
	switch f.app {
	case "", "sink", "echo", "discard", "http":
	default:
		return usagef("serve: --app %q: unknown app (apps: echo, discard, http, sink)", f.app)
	}
	if f.port < 1 || f.port > 65535 {
		return usagef("serve: --port %d: want 1..65535", f.port)
	}
	if f.ringSize < 64 || f.ringSize > rings.MaxXDPRingSize || f.ringSize&(f.ringSize-1) != 0 {
		return usagef("serve: --ring-size %d: want a power of two in 64..%d", f.ringSize, rings.MaxXDPRingSize)
	}
	if f.frames < 2*f.ringSize || f.frames > rings.MaxFrames {
		return usagef("serve: --frames %d: want %d..%d (at least twice --ring-size)", f.frames, 2*f.ringSize, rings.MaxFrames)
	}
	if f.sleepAfter < 0 {
		return usagef("serve: --idle-sleep-after %d: want 0 or more", f.sleepAfter)
	}
	var ln net.Listener
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			return usagef("serve: --metrics %q: want HOST:PORT", f.metrics)
		}
	}
	if err := requireRoot("serve"); err != nil {
		return err
	}
	mac, queues, err := ifaceInfo(f.iface, f.netns)
	if err != nil {
		return err
	}
	if len(cpus) > queues {
		return usagef("serve: --cores lists %d CPUs but %s has %d queue(s); one loop serves one queue", len(cpus), f.iface, queues)
	}
	if f.metrics != "" {
		if ln, err = net.Listen("tcp", f.metrics); err != nil {
			return usagef("serve: --metrics: %v", err)
		}
	}

	e, err := openXDPEngine(f, mac, addrs, cpus)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return err
	}
	if err := e.Start(); err != nil {
		e.Stop()
		return err
	}
	fmt.Fprintf(stderr, "pollstack: serving on %s (netns %q, MAC %s) with %d core(s) on CPU %s, addresses %v\n",
		f.iface, f.netns, mac, len(cpus), f.cores, addrs)

	if ln != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(engine.NewCollector(e), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(stderr, "pollstack: metrics on http://%s/metrics\n", ln.Addr())
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	printStats(ctx, e, f.statsEvery, stderr)
	err = e.Stop()
	t := e.Totals()
	fmt.Fprintf(stderr, "pollstack: stopped; rx %d frames, tx %d frames, %d dropped; XDP program detached\n",
		t[engine.RxPackets], t[engine.TxPackets], t.Drops())
	return err
}

// openXDPEngine attaches the XDP program and opens one AF_XDP link per CPU.
func openXDPEngine(f serveFlags, mac net.HardwareAddr, addrs []netip.Prefix, cpus []int) (*engine.Engine, error) {
	prog, err := rings.AttachXDP(f.iface, f.netns, len(cpus))
	if err != nil {
		return nil, err
	}
	var links []rings.Link
	closeAll := func() {
		for _, l := range links {
			l.Close()
		}
		prog.Close()
	}
	for q := range cpus {
		pool, err := rings.NewPool(f.frames, rings.DefaultFrameSize)
		if err != nil {
			closeAll()
			return nil, err
		}
		l, err := rings.OpenXDP(rings.XDPConfig{Iface: f.iface, Netns: f.netns, Queue: q, Program: prog, Pool: pool, RingSize: f.ringSize})
		if err != nil {
			closeAll()
			return nil, err
		}
		links = append(links, l)
	}
	ecfg := engine.Config{MAC: mac, Addrs: addrs, CPUs: cpus, Pin: true,
		Sink: f.app == "sink", Idle: cores.IdlePolicy{SleepAfter: f.sleepAfter}}
	if f.app != "sink" {
		t := tcp.DefaultConfig()
		ecfg.TCP = &t
	}
	if f.app != "" && f.app != "sink" {
		app := f.app
		ecfg.Listen = []engine.ListenSpec{{Port: uint16(f.port), Handler: func(int) tcp.Handler {
			h, _ := apps.New(app)
			return h
		}}}
	}
	e, err := engine.New(ecfg, links)
	if err != nil {
		closeAll()
		return nil, err
	}
	for _, l := range links {
		e.AddCloser(l)
	}
	e.AddCloser(prog)
	return e, nil
}

func parseAddrs(in []string) ([]netip.Prefix, error) {
	if len(in) == 0 {
		in = []string{"198.18.0.1/24", "2001:2::1/64"}
	}
	var out []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, usagef("--addr %q: not an address in CIDR form (like 198.18.0.1/24 or 2001:2::1/64)", s)
		}
		a := p.Addr()
		if a.IsMulticast() || a.IsUnspecified() || a.Zone() != "" {
			return nil, usagef("--addr %q: not a unicast address", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// printStats prints per-core rates every interval until ctx ends.
func printStats(ctx context.Context, e *engine.Engine, every time.Duration, w io.Writer) {
	if every <= 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev := make([]engine.Counters, len(e.Cores()))
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			secs := now.Sub(last).Seconds()
			last = now
			for i, c := range e.Cores() {
				v := c.Published().Load()
				p := prev[i]
				fmt.Fprintf(w, "core %d: rx %.0f pps, tx %.0f pps, dropped %d\n", c.ID(),
					float64(v[engine.RxPackets]-p[engine.RxPackets])/secs,
					float64(v[engine.TxPackets]-p[engine.TxPackets])/secs, v.Drops()-p.Drops())
				prev[i] = v
			}
		}
	}
}
