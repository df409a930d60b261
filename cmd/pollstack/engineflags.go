package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/tcptrace"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// engineFlags are the flags of every command that runs the engine on an
// interface over AF_XDP.
type engineFlags struct {
	cmd                  string
	iface, netns, cores  string
	metrics              string
	addrs                listFlag
	routes, gateways     listFlag
	acceptRA             bool
	vlan                 int
	sleepAfter, ringSize int
	pin                  bool
	fs                   *flag.FlagSet // the command's, for flagGiven
	loopNice             int
	loopRTPrio           int
	runtimeRTPrio        int
	runtimeCPUs          string
	txChecksum           string
	thp                  string
	frames               int
	statsEvery           time.Duration
	faults               rings.Faults
	faultSeed            uint64
	sysctl               sysctlFlags
	pcap                 string
	trace                string
	traceRing            int

	// Set by the command before open: wrap wraps each queue's link
	// (outermost); log receives the capture's summary.
	wrap func(q int, l rings.Link) rings.Link
	log  io.Writer
	// collectors are served on --metrics beside the engine's.
	collectors []prometheus.Collector
	// proxyStat, when set, adds a proxy's counters to the control
	// socket's stat.
	proxyStat func() []proxyStat

	// Set by check.
	cpus           []int
	runtimeCPUList []int
	addrList       []netip.Prefix
	routeList      []engine.Route
	mac            net.HardwareAddr
	queues         int
	listener       net.Listener
	hasFaults      bool
}

func (f *engineFlags) register(fs *flag.FlagSet, cmd string) {
	f.cmd, f.fs = cmd, fs
	fs.StringVar(&f.iface, "iface", "", "interface to run on (required)")
	fs.StringVar(&f.netns, "netns", "", "named network namespace that holds the interface (/run/netns/NS)")
	fs.Var(&f.addrs, "addr", "address in CIDR form, repeatable (default 198.18.0.1/24 and 2001:2::1/64); each one's prefix is a connected route")
	fs.Var(&f.routes, "route", "static route PREFIX=NEXTHOP, repeatable: send to PREFIX through the router NEXTHOP, an address on a connected prefix (or IPv6 link-local), e.g. 198.19.0.0/24=198.18.0.2 or 2001:2:0:1::/64=fe80::1; the longest prefix wins")
	fs.BoolVar(&f.acceptRA, "accept-ra", false, "learn IPv6 default routers from router advertisements (solicited at start) for IPv6 destinations no connected prefix, --route or IPv6 --gateway holds; prefixes, MTU and addresses in them are not taken")
	fs.Var(&f.gateways, "gateway", "default gateway IP (the route of 0.0.0.0/0 or ::/0), repeatable: at most one IPv4 and one IPv6; without one, only connected prefixes and --route destinations are reached (others: no_route)")
	fs.IntVar(&f.vlan, "vlan", 0, "802.1Q VLAN ID (1..4094): tag every frame sent and take only frames with this tag; untagged frames and other VLANs' are dropped (counted as vlan_untagged, vlan_mismatch). 0: untagged")
	fs.StringVar(&f.cores, "cores", "0", "CPU list, one loop and one interface queue per CPU, e.g. 0 or 0,1 or 0-3")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on HOST:PORT at /metrics, and the Go profiler at /debug/pprof/ (default off)")
	fs.IntVar(&f.sleepAfter, "idle-sleep-after", 0, "sleep in poll(2) after this many empty polls (0: busy-poll; with --pin=false the default is 1)")
	fs.BoolVar(&f.pin, "pin", true, "run each core's loop on a thread of its own pinned to its CPU; --pin=false runs each loop as an ordinary goroutine that waits for frames in Go's netpoller, so that goroutines sharing its CPU (a Go server's) run in its place with no thread switch; serve --app gohttp runs unpinned unless --pin is given (docs/sockets.md)")
	fs.StringVar(&f.thp, "thp", "auto", "transparent huge pages for the process: auto (off where the system's mode is madvise, where only the Go runtime asks for them, for its heap indexes once the heap passed 1 GiB, and keeps them resident after the connections are gone; as the system says otherwise), system (as the system says) or off (prctl PR_SET_THP_DISABLE)")
	fs.StringVar(&f.txChecksum, "tx-checksum", "engine", "who computes the TCP checksums of the segments the engine sends: engine (the engine, always: the default), offload (the kernel, through AF_XDP transmit metadata, as for its own TCP: the NIC completes them, or on veth the receiving kernel takes them as checked; Linux 6.11 or later, in copy mode, else the engine does; not for a veth whose other end is AF_XDP too, which would see the partial checksums), or kernel-sw (the kernel computes them in software as it takes each frame: a check of the offload's requests, for tests). With --pcap or --fault-corrupt the engine computes them, so that the capture and the corruption are what goes out")
	fs.IntVar(&f.loopRTPrio, "loop-rtprio", 0, "run each core's loop thread in the real-time class SCHED_FIFO at this priority, 1..99 (0: the normal class): it then runs before every normal process on its CPU however many there are, as the kernel's own receive path does, and leaves the CPU only when it sleeps (--idle-sleep-after) or the kernel's real-time throttle (95% of each second by default) stops it; with --idle-sleep-after 0 it keeps its CPU from all others but that throttle's share. For a CPU shared with many busy processes, where --loop-nice -20 is not enough. The process's other threads then run at nice -20, so that the Go runtime hands a loop it preempted its P back at once")
	fs.IntVar(&f.loopNice, "loop-nice", 0, "nice value of each core's loop thread, -20..19 (lower runs first; 0: left as it is): below the other processes on its CPU, the loop gets its CPU before them instead of an equal share, so they do not leave its rx ring to overflow. A negative value is given to the process's other threads too, so that the Go runtime hands a loop it preempted its P back at once")
	fs.StringVar(&f.runtimeCPUs, "runtime-cpus", "", "CPU list for the process's threads other than the loops' (the Go runtime's helpers and collector, the metrics and control servers, and application goroutines; default: any CPU the process may use): keeps them off the loops' CPUs, for a machine with CPUs set aside for housekeeping. Not the loops' own CPUs: there they queue behind each other and the loop, and a loop the Go runtime preempted waits longer for its P back (docs/architecture.md). Needs --pin")
	fs.IntVar(&f.runtimeRTPrio, "runtime-rtprio", 0, "run the process's threads other than the loops' in SCHED_FIFO at this priority, 1..98 and below --loop-rtprio (which it needs), instead of at nice -20 (0: the normal class): the thread that hands a loop the Go runtime preempted its P back then takes its CPU from any normal process at once, where at nice -20 it may wait for another cgroup's thread for milliseconds. Every goroutine but the loops' then runs real-time, the application's too, and one that computes for long keeps others off its CPU up to the kernel's real-time throttle")
	fs.IntVar(&f.ringSize, "ring-size", rings.DefaultXDPRingSize, "descriptors in each AF_XDP ring (power of two)")
	fs.IntVar(&f.frames, "frames", 0, "UMEM frames per core (0: from --ring-size, docs/tunables.md)")
	fs.DurationVar(&f.statsEvery, "stats-interval", 10*time.Second, "print per-core rates this often on stderr, at least 100ms (0: never)")
	fs.Float64Var(&f.faults.Drop, "fault-drop", 0, "drop this fraction of frames in each direction (fault injection, 0..1)")
	fs.Float64Var(&f.faults.Duplicate, "fault-dup", 0, "duplicate this fraction of frames in each direction (0..1)")
	fs.Float64Var(&f.faults.Reorder, "fault-reorder", 0, "hold back this fraction of frames behind the next one, in each direction (0..1)")
	fs.Float64Var(&f.faults.Corrupt, "fault-corrupt", 0, "flip one bit in this fraction of frames in each direction (0..1)")
	fs.DurationVar(&f.faults.Delay, "fault-delay", 0, "delay every frame by this much in each direction, at most 10s (0: none)")
	fs.Uint64Var(&f.faultSeed, "fault-seed", 1, "seed of the fault injection (a run replays with the same seed)")
	if cmd == "proxy" {
		f.sysctl.registerSets(fs) // the proxy's --config is its own file, whose sysctl lines are the tunables
	} else {
		f.sysctl.register(fs)
	}
	fs.StringVar(&f.pcap, "pcap", "", "write every frame received and sent to this pcap file (frames the writer cannot keep up with are left out and counted)")
	fs.StringVar(&f.trace, "trace", "", "write a record of every TCP connection's congestion state at each ACK, state change and RTO to this file (siftr-like; read it with 'pollstack trace dump|plot')")
	fs.IntVar(&f.traceRing, "trace-ring", tcptrace.DefaultRingRecords, "records each core buffers for --trace's writer, a power of two in 64..4194304 (records that find it full are dropped and counted)")
}

// check validates the flags, needs root, and looks the interface up; it
// opens the metrics listener.
func (f *engineFlags) check() error {
	if f.iface == "" {
		return usagef("%s: --iface is required (see 'pollstack %s --help')", f.cmd, f.cmd)
	}
	if err := checkIfaceName(f.cmd, f.iface); err != nil {
		return err
	}
	if err := checkNetnsName(f.cmd, f.netns); err != nil {
		return err
	}
	var err error
	if f.addrList, err = parseAddrs(f.addrs); err != nil {
		return usagef("%s: %v", f.cmd, err)
	}
	if f.routeList, err = parseRoutes(f.cmd, f.addrList, f.routes, f.gateways); err != nil {
		return err
	}
	if f.vlan < 0 || f.vlan > engine.MaxVLAN {
		return usagef("%s: --vlan %d: want a VLAN ID in 1..%d (0: untagged)", f.cmd, f.vlan, engine.MaxVLAN)
	}
	if f.cpus, err = cores.ParseList(f.cores); err != nil {
		return usagef("%s: --cores: %v", f.cmd, err)
	}
	if f.runtimeCPUs != "" {
		if f.runtimeCPUList, err = cores.ParseList(f.runtimeCPUs); err != nil {
			return usagef("%s: --runtime-cpus: %v", f.cmd, err)
		}
	}
	if f.ringSize < 64 || f.ringSize > rings.MaxXDPRingSize || f.ringSize&(f.ringSize-1) != 0 {
		return usagef("%s: --ring-size %d: want a power of two in 64..%d", f.cmd, f.ringSize, rings.MaxXDPRingSize)
	}
	if f.frames == 0 {
		f.frames = rings.PoolFrames(f.ringSize)
	}
	if err := rings.CheckPoolFrames(f.frames, f.ringSize); err != nil {
		return usagef("%s: --frames %d: %v", f.cmd, f.frames, err)
	}
	if f.sleepAfter < 0 {
		return usagef("%s: --idle-sleep-after %d: want 0 or more", f.cmd, f.sleepAfter)
	}
	if f.loopNice < -20 || f.loopNice > 19 {
		return usagef("%s: --loop-nice %d: want -20..19", f.cmd, f.loopNice)
	}
	if !f.pin && !flagGiven(f.fs, "idle-sleep-after") {
		f.sleepAfter = 1 // a loop that busy-polls on a P keeps its goroutines waiting
	}
	if !f.pin && f.loopNice != 0 {
		return usagef("%s: --loop-nice needs loops on threads of their own: it does not go with --pin=false", f.cmd)
	}
	if _, err := engine.ParseTHPPolicy(f.thp); err != nil {
		return usagef("%s: --thp %v", f.cmd, err)
	}
	if _, err := rings.ParseTxChecksum(f.txChecksum); err != nil {
		return usagef("%s: --tx-checksum %v", f.cmd, err)
	}
	if f.loopRTPrio < 0 || f.loopRTPrio > 99 {
		return usagef("%s: --loop-rtprio %d: want 1..99, or 0 for the normal class", f.cmd, f.loopRTPrio)
	}
	if f.runtimeRTPrio != 0 && (f.runtimeRTPrio < 1 || f.runtimeRTPrio > 98) {
		return usagef("%s: --runtime-rtprio %d: want 1..98, or 0 for the normal class", f.cmd, f.runtimeRTPrio)
	}
	if f.runtimeRTPrio != 0 && f.runtimeRTPrio >= f.loopRTPrio {
		return usagef("%s: --runtime-rtprio %d needs loops at a higher real-time priority: give --loop-rtprio above it", f.cmd, f.runtimeRTPrio)
	}
	if !f.pin && f.runtimeCPUs != "" {
		return usagef("%s: --runtime-cpus needs loops on threads of their own: it does not go with --pin=false", f.cmd)
	}
	if !f.pin && f.loopRTPrio != 0 {
		return usagef("%s: --loop-rtprio needs loops on threads of their own: it does not go with --pin=false", f.cmd)
	}
	if f.loopRTPrio != 0 && f.loopNice != 0 {
		return usagef("%s: --loop-rtprio and --loop-nice: a real-time thread has no nice value, give one of them", f.cmd)
	}
	if err := checkDuration(f.cmd, "stats-interval", f.statsEvery, true, 100*time.Millisecond, "0 (never) or at least 100ms"); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"fault-drop", f.faults.Drop}, {"fault-dup", f.faults.Duplicate},
		{"fault-reorder", f.faults.Reorder}, {"fault-corrupt", f.faults.Corrupt}} {
		if err := checkFloat(f.cmd, p.name, p.v, 0, 1, "a fraction in 0..1"); err != nil {
			return err
		}
	}
	if f.faults.Delay < 0 || f.faults.Delay > 10*time.Second {
		return usagef("%s: --fault-delay %v: want 0..10s", f.cmd, f.faults.Delay)
	}
	f.hasFaults = f.faults != (rings.Faults{})
	if f.metrics != "" {
		if err := checkHostPort(f.cmd, "metrics", f.metrics); err != nil {
			return err
		}
	}
	if err := checkOutputFile(f.cmd, "pcap", f.pcap); err != nil {
		return err
	}
	if err := checkOutputFile(f.cmd, "trace", f.trace); err != nil {
		return err
	}
	if err := tcptrace.CheckRingRecords(f.traceRing); err != nil {
		return usagef("%s: --trace-ring %d: %v", f.cmd, f.traceRing, err)
	}
	if err := f.sysctl.check(f.cmd); err != nil {
		return err
	}
	if err := requireRoot(f.cmd); err != nil {
		return err
	}
	if f.mac, f.queues, err = ifaceInfo(f.iface, f.netns); err != nil {
		return err
	}
	if len(f.cpus) > f.queues {
		return usagef("%s: --cores lists %d CPUs but %s has %d queue(s); one loop serves one queue", f.cmd, len(f.cpus), f.iface, f.queues)
	}
	if f.metrics != "" {
		if f.listener, err = net.Listen("tcp", f.metrics); err != nil {
			return usagef("%s: --metrics: %v", f.cmd, err)
		}
	}
	return nil
}

// open attaches the XDP program, opens one AF_XDP link per CPU (wrapped in
// the fault injector when asked) and builds the engine; the engine's Stop
// closes them all.
func (f *engineFlags) open(cfg engine.Config) (*engine.Engine, error) {
	if err := f.sysctl.apply(&cfg, f.cmd); err != nil {
		return nil, err
	}
	prog, err := rings.AttachXDP(f.iface, f.netns, len(f.cpus))
	if errors.Is(err, rings.ErrXDPInUse) {
		where := ""
		if f.netns != "" {
			where = " (netns " + f.netns + ")"
		}
		return nil, fmt.Errorf("%s: interface %s%s already has an XDP program attached (another pollstack serve?)", f.cmd, f.iface, where)
	}
	if err != nil {
		return nil, err
	}
	var links []rings.Link
	var capture *pcapFile
	closeAll := func() {
		for _, l := range links {
			l.Close()
		}
		prog.Close()
		if capture != nil {
			capture.Close()
		}
	}
	if f.pcap != "" {
		if capture, err = createPcap(f.pcap, f.log); err != nil {
			closeAll()
			return nil, err
		}
	}
	for q := range f.cpus {
		pool, err := rings.NewPool(f.frames, rings.DefaultFrameSize)
		if err != nil {
			closeAll()
			return nil, err
		}
		csum, _ := rings.ParseTxChecksum(f.txChecksum) // check vetted it
		xl, err := rings.OpenXDP(rings.XDPConfig{Iface: f.iface, Netns: f.netns, Queue: q, Program: prog, Pool: pool, RingSize: f.ringSize, Netpoller: !f.pin, TxChecksum: csum})
		if err != nil {
			closeAll()
			return nil, err
		}
		var l rings.Link = xl
		if f.hasFaults {
			l = rings.NewFaulty(xl, rings.FaultConfig{Rx: f.faults, Tx: f.faults, Seed: f.faultSeed + uint64(q)})
		}
		if capture != nil {
			l = capture.w.Wrap(l)
		}
		if f.wrap != nil {
			l = f.wrap(q, l)
		}
		links = append(links, l)
		if got, want := rings.TxOffloadsOf(l).Room, xl.TxOffloads().Room; got != want {
			// A wrapper that hides the room would have every frame refused.
			closeAll()
			return nil, fmt.Errorf("%s: link wrapper %T leaves %d bytes before each frame, the AF_XDP socket wants %d", f.cmd, l, got, want)
		}
	}
	cfg.MAC, cfg.Addrs, cfg.Routes, cfg.AcceptRA, cfg.CPUs, cfg.Pin = f.mac, f.addrList, f.routeList, f.acceptRA, f.cpus, f.pin
	cfg.LoopNice, cfg.LoopRTPriority, cfg.RuntimeCPUs, cfg.RuntimeRTPriority = f.loopNice, f.loopRTPrio, f.runtimeCPUList, f.runtimeRTPrio
	cfg.THP, _ = engine.ParseTHPPolicy(f.thp) // check vetted it
	cfg.VLAN = uint16(f.vlan)
	cfg.Idle = cores.IdlePolicy{SleepAfter: f.sleepAfter}
	e, err := engine.New(cfg, links)
	if err != nil {
		closeAll()
		return nil, err
	}
	for _, l := range links {
		e.AddCloser(l)
	}
	e.AddCloser(prog)
	if capture != nil {
		e.AddCloser(capture) // after the loops: every frame is handed over
	}
	if f.trace != "" {
		tf, err := createTrace(f.trace, len(e.Cores()), f.traceRing, f.log)
		if err != nil {
			stopEngine(e, io.Discard)
			return nil, err
		}
		for i, c := range e.Cores() {
			if c.TCP() != nil {
				c.TCP().SetTracer(tf.w.Ring(i)) // before Start: the loops have not run
			}
		}
		e.AddCloser(tf) // after the loops: every record is in a ring
	}
	return e, nil
}

// serveMetrics serves /metrics on the listener check opened, if any; the
// returned function stops it.
func (f *engineFlags) serveMetrics(e *engine.Engine, stderr io.Writer) func() {
	if f.listener == nil {
		return func() {}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(engine.NewCollector(e), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range f.collectors {
		reg.MustRegister(c)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// The Go profiler, for performance work on a running engine (the
	// listener is the operator's, like /metrics).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Every TCP connection's control block, core by core (for a person
	// looking at a stall: states, sequence spaces, windows, timers).
	mux.HandleFunc("/debug/pollstack/conns", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for i, c := range e.Cores() {
			var lines []string
			if err := e.Loops()[i].Call(func(mono.Time) {
				if c.TCP() != nil {
					lines = c.TCP().DebugConns()
				}
			}); err != nil {
				fmt.Fprintf(w, "core %d: %v\n", i, err)
				continue
			}
			fmt.Fprintf(w, "core %d: %d connection(s)\n", i, len(lines))
			for _, l := range lines {
				fmt.Fprintf(w, "  %s\n", l)
			}
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(f.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "pollstack: metrics on %s: %v\n", f.listener.Addr(), err)
		}
	}()
	fmt.Fprintf(stderr, "pollstack: metrics on http://%s/metrics\n", f.listener.Addr())
	return func() { srv.Close() }
}

// start opens the engine (see open) and starts it. When either fails it
// releases what it made, the engine and the metrics listener.
func (f *engineFlags) start(cfg engine.Config, stderr io.Writer) (*engine.Engine, error) {
	e, err := f.open(cfg)
	if err != nil {
		f.closeListener()
		return nil, err
	}
	if err := e.Start(); err != nil {
		stopEngine(e, stderr)
		f.closeListener()
		return nil, err
	}
	return e, nil
}

// closeListener releases the metrics listener when the engine could not start.
func (f *engineFlags) closeListener() {
	if f.listener != nil {
		f.listener.Close()
	}
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

// parseRoutes reads --route and --gateway into routes and checks them
// against the addresses: a bad one is a usage error naming its flag.
func parseRoutes(cmd string, addrs []netip.Prefix, routeFlags, gatewayFlags []string) ([]engine.Route, error) {
	var routes []engine.Route
	var flags []string // the flag each route came from, for messages
	for _, s := range routeFlags {
		ps, hs, ok := strings.Cut(s, "=")
		p, err1 := netip.ParsePrefix(ps)
		nh, err2 := netip.ParseAddr(hs)
		if !ok || err1 != nil || err2 != nil {
			return nil, usagef("%s: --route %q: want PREFIX=NEXTHOP (like 198.19.0.0/24=198.18.0.2 or 2001:2:0:1::/64=2001:2::2)", cmd, s)
		}
		routes = append(routes, engine.Route{Prefix: p, NextHop: nh})
		flags = append(flags, fmt.Sprintf("--route %s", s))
	}
	var gw4, gw6 string
	for _, s := range gatewayFlags {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Is4In6() {
			return nil, usagef("%s: --gateway %q: not an IPv4 or IPv6 address", cmd, s)
		}
		def, prev := netip.MustParsePrefix("0.0.0.0/0"), &gw4
		if a.Is6() {
			def, prev = netip.MustParsePrefix("::/0"), &gw6
		}
		if *prev != "" {
			return nil, usagef("%s: --gateway %s and --gateway %s: one default gateway per family", cmd, *prev, s)
		}
		*prev = s
		routes = append(routes, engine.Route{Prefix: def, NextHop: a})
		flags = append(flags, "--gateway "+s)
	}
	if _, err := engine.NewRouteTable(addrs, routes); err != nil {
		var re *engine.RouteError
		if !errors.As(err, &re) {
			return nil, usagef("%s: %v", cmd, err)
		}
		for i, r := range routes {
			if r == re.Route {
				hint := ""
				if strings.HasSuffix(re.Reason, "is not on a connected prefix") {
					hint = " (the prefixes of --addr)"
				}
				return nil, usagef("%s: %s: %s%s", cmd, flags[i], re.Reason, hint)
			}
		}
		return nil, usagef("%s: %v", cmd, err)
	}
	return routes, nil
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

// stopEngine stops e and reports on w a link that could not be released;
// the command's own result stands either way.
func stopEngine(e *engine.Engine, w io.Writer) {
	if err := e.Stop(); err != nil {
		fmt.Fprintf(w, "pollstack: stopping the engine: %v\n", err)
	}
}
