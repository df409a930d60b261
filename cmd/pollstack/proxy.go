package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/fwd"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

const proxySynopsis = `proxy --iface IF [--netns NS] [--addr CIDR ...] [--cores LIST] --listen PORT
      --backend IP:PORT[,weight=W] ... [--mode tcp|http]
      [--balance roundrobin|leastconn|random2|maghash] [--health-check DURATION]
      [--send-proxy v1|v2] [--accept-proxy] [--maxconn N] [--metrics HOST:PORT]
   or: proxy --config FILE [--iface IF] [--netns NS] [--addr CIDR ...] [--cores LIST] [--metrics HOST:PORT]
   either with [--route PREFIX=NEXTHOP ...] [--gateway IP ...] [--accept-ra] (routes to clients and backends beyond a router)

A proxy frontend on IF over AF_XDP, TCP (layer 4) or HTTP/1.1. Each core
accepts the client connections it owns and opens each one's backend
connection itself, from a source port whose replies hash back to it, so both
legs of a proxied connection live on one core and bytes move between them
there, with no lock and no hand-off. In HTTP mode each core keeps a pool of
idle keep-alive connections per server, reused by its next requests.
docs/proxy.md describes the configuration file, every option, the counters,
and a HAProxy to pollstack translation.

With --config FILE the file says what to proxy (several listeners and backend
groups, timeouts, queues, health checks); the proxy flags (--listen, --backend,
--mode, --balance, --health-check, --send-proxy, --accept-proxy, --maxconn)
are then refused, and the engine flags override the file's global section.
A bad file or flag is one line naming the problem (FILE:LINE:COL for the
file), exit code 2, and nothing is started.

SIGHUP reads --config again and applies it to new connections: servers and
weights added, removed or changed, listeners and ports added or removed;
connections already open keep the servers they began with. A file with an
error, or a change of the global section (a restart's), changes nothing.
SIGINT or SIGTERM drains: the listeners close (new connections are refused),
proxied connections run to their end for up to --drain, then the engine stops.

Flags:`

func runProxy(args []string, stdout, stderr io.Writer) error {
	var f engineFlags
	fs := newFlags("proxy", proxySynopsis, stdout)
	f.register(fs, "proxy")
	listen := fs.Int("listen", 0, "TCP port to accept client connections on, on every address of the engine, 1..65535")
	var backends listFlag
	fs.Var(&backends, "backend", "a backend server, IP:PORT[,weight=W] (weight 0..256, default 1, 0 drains it; [IPv6]:PORT); repeatable")
	mode := fs.String("mode", "", "proxy mode: tcp (the default; forward the bytes of each connection) or http (an HTTP/1.1 reverse proxy: requests checked and forwarded one at a time, X-Forwarded-For added, backend connections pooled per core)")
	bal := fs.String("balance", "", "how a server is chosen for a new connection: roundrobin (smooth weighted, the default), leastconn, random2 (power of two choices) or maghash (Maglev hashing of the client address)")
	healthCheck := fs.Duration("health-check", 0, "check every server with a TCP connect this often (rise 2, fall 3, timeout the interval; HAProxy's defaults); 0: no checks, servers are taken as up")
	sendProxy := fs.String("send-proxy", "", "begin each backend connection with a PROXY protocol header carrying the client's addresses: v1 (text) or v2 (binary)")
	acceptProxy := fs.Bool("accept-proxy", false, "each client connection begins with a PROXY protocol header (v1 or v2, from a balancer in front); malformed or missing within 3s: the connection is reset")
	smartConnect := fs.Bool("smart-connect", false, "let each backend connection's first data carry the last ACK of its handshake, which waits up to the delayed-ACK time (tcp.delacktime) for the client's first bytes: one segment fewer per connection (HAProxy's option tcp-smart-connect); for protocols where the client speaks first, since a server that speaks first waits that long")
	maxconn := fs.Int("maxconn", 0, "the most client connections open at once (split evenly among the cores); 0: no limit")
	cfgFile := fs.String("config", "", "read the proxy's configuration from FILE (docs/proxy.md); excludes the proxy flags")
	control := fs.String("control", "", "control socket for 'pollstack stat' and 'pollstack sysctl' (default /run/pollstack/[NS@]IF.sock, /run/pollstack made if missing; PATH's directory must exist; \"none\" for none)")
	drain := fs.Duration("drain", config.DefaultDrain, "on SIGINT/SIGTERM, how long proxied connections may run on after the listeners close; 0 stops at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *drain < 0 {
		return usagef("proxy: --drain %v: want 0 or more", *drain)
	}
	if err := checkControlFlag("proxy", *control); err != nil {
		return err
	}
	if *healthCheck < 0 {
		return usagef("proxy: --health-check %v: want 0 (no checks) or an interval", *healthCheck)
	}
	if *maxconn < 0 {
		return usagef("proxy: --maxconn %d: want 0 (no limit) or more", *maxconn)
	}
	flags := config.Flags{Listen: *listen, Backends: backends, Mode: *mode, Balance: *bal,
		HealthCheck: *healthCheck, SendProxy: *sendProxy, AcceptProxy: *acceptProxy, MaxConn: *maxconn, SmartConnect: *smartConnect,
		Config: *cfgFile, Iface: f.iface, Netns: f.netns, Addrs: f.addrs}
	if flagGiven(fs, "cores") {
		flags.Cores = f.cores
	}
	if flagGiven(fs, "metrics") {
		flags.Metrics = f.metrics
	}
	if *cfgFile == "" && *listen == 0 && len(backends) == 0 && f.iface == "" {
		return usagef("proxy: --iface, --listen and --backend are required, or --config FILE (see 'pollstack proxy --help')")
	}
	cfg, err := config.FromFlags(flags)
	if err != nil {
		return usagef("proxy: %v", err)
	}
	// The configuration's global section is the engine's.
	f.iface, f.netns, f.metrics = cfg.Iface, cfg.Netns, cfg.Metrics
	if cfg.Cores != "" {
		f.cores = cfg.Cores
	}
	f.addrs = nil
	for _, p := range cfg.Addrs {
		f.addrs = append(f.addrs, p.String())
	}
	f.sysctl.sets = append(append(listFlag{}, cfg.Sysctl...), f.sysctl.sets...)
	// The file's routes, then the flags'; --gateway replaces the file's
	// gateways.
	f.routes = append(append(listFlag{}, cfg.Routes...), f.routes...)
	if !flagGiven(fs, "gateway") {
		f.gateways = append(listFlag{}, cfg.Gateways...)
	}
	if err := f.check(); err != nil {
		return err
	}
	f.log = stderr
	t := tcp.DefaultConfig()
	// Backend legs reuse TIME_WAIT 4-tuples for new connects (docs/proxy.md,
	// "TIME_WAIT"); --sysctl net.inet.tcp.tw_reuse=0 turns it off.
	t.TWReuse = 1
	// FreeBSD's ephemeral range, 10000..65535, over IANA's 49152..65535:
	// the source ports toward each server, split among the cores (about
	// 27,700 each on two); --sysctl net.inet.ip.portrange.first sets another.
	t.PortFirst = proxyPortFirst
	ecfg := engine.Config{TCP: &t}
	e, err := f.open(ecfg)
	if err != nil {
		f.closeListener()
		return err
	}
	var addrs []netip.Addr
	for _, p := range f.addrList {
		addrs = append(addrs, p.Addr())
	}
	apps := make([]*fwd.App, len(e.Cores()))
	now := cores.Now()
	for i, c := range e.Cores() {
		// Read on the core: its own counters, refreshed as it publishes.
		dropped := func() uint64 { return c.Counters()[engine.KernelRxDropped] }
		a, err := fwd.New(c.TCP(), cfg, fwd.Options{Core: i, Cores: len(e.Cores()), Source: e.Source, Addrs: addrs, Now: now, RxDropped: dropped})
		if err != nil {
			stopEngine(e, stderr)
			f.closeListener()
			return usagef("proxy: %v", err)
		}
		apps[i] = a
	}
	f.collectors = append(f.collectors, newProxyCollector(apps))
	f.proxyStat = func() []proxyStat { return proxyStats(apps) }
	if err := e.Start(); err != nil {
		stopEngine(e, stderr)
		f.closeListener()
		return err
	}
	fmt.Fprintf(stderr, "pollstack: proxy on %s (netns %q, MAC %s) with %d core(s) on CPU %s, addresses %v\n",
		f.iface, f.netns, f.mac, len(f.cpus), f.cores, f.addrList)
	for _, l := range cfg.Listeners {
		g := cfg.Group(l.Backend)
		fmt.Fprintf(stderr, "pollstack: listener %s on %v -> backend %s (%s, %d server(s))\n", l.Name, l.Binds, g.Name, g.Balance, len(g.Servers))
	}
	if f.hasFaults {
		fmt.Fprintf(stderr, "pollstack: injecting faults in both directions: %+v, seed %d\n", f.faults, f.faultSeed)
	}
	stopMetrics := f.serveMetrics(e, stderr)
	defer stopMetrics()
	if *control != "none" {
		path := *control
		if path == "" {
			path = controlPath(f.iface, f.netns)
		}
		stopControl, err := serveControl(path, e, &f, "proxy", stderr)
		if err != nil {
			drainProxy(e, apps, 0, stderr)
			stopEngine(e, stderr)
			return err
		}
		defer stopControl()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	opts := func(i int) fwd.Options {
		return fwd.Options{Core: i, Cores: len(e.Cores()), Source: e.Source, Addrs: addrs, Now: cores.Now()}
	}
	go func() {
		for range hup {
			cfg = reloadProxy(e, apps, cfg, flags, opts, stderr)
		}
	}()
	printStats(ctx, e, f.statsEvery, stderr)
	drainProxy(e, apps, *drain, stderr)
	err = e.Stop()
	printProxyTotals(apps, stderr)
	return err
}

// proxyPortFirst is the proxy's net.inet.ip.portrange.first.
const proxyPortFirst = 10000

// reloadProxy reads the configuration again (SIGHUP) and applies it to
// every core's new connections; it returns the configuration now in force.
// A file with an error, or a change only a restart can make, changes
// nothing, and says so.
func reloadProxy(e *engine.Engine, apps []*fwd.App, cur *config.Config, flags config.Flags, opts func(int) fwd.Options, stderr io.Writer) *config.Config {
	if flags.Config == "" {
		fmt.Fprintln(stderr, "pollstack: SIGHUP: nothing to reload (no --config); the running configuration stays")
		return cur
	}
	next, err := config.FromFlags(flags)
	if err != nil {
		fmt.Fprintf(stderr, "pollstack: SIGHUP: %v; the running configuration stays\n", err)
		return cur
	}
	changes := config.Diff(cur, next)
	for _, c := range changes {
		if c.Restart {
			fmt.Fprintf(stderr, "pollstack: SIGHUP: %v needs a restart; the running configuration stays\n", c)
			return cur
		}
	}
	if len(changes) == 0 {
		fmt.Fprintln(stderr, "pollstack: SIGHUP: configuration unchanged")
		return cur
	}
	for i, a := range apps {
		var rerr error
		if err := e.Loops()[i].Call(func(mono.Time) { rerr = a.Reload(next, opts(i)) }); err != nil {
			rerr = err
		}
		if rerr != nil {
			// The cores before i run the new configuration: put them back.
			for j := 0; j < i; j++ {
				b := apps[j]
				var berr error
				if err := e.Loops()[j].Call(func(mono.Time) { berr = b.Reload(cur, opts(j)) }); err != nil || berr != nil {
					fmt.Fprintf(stderr, "pollstack: SIGHUP: core %d could not go back to the running configuration: %v %v\n", j, err, berr)
				}
			}
			fmt.Fprintf(stderr, "pollstack: SIGHUP: core %d: %v; the running configuration stays\n", i, rerr)
			return cur
		}
	}
	for _, c := range changes {
		fmt.Fprintf(stderr, "pollstack: SIGHUP: %v\n", c)
	}
	fmt.Fprintf(stderr, "pollstack: SIGHUP: reloaded %s (%d change(s)); connections already open keep their servers\n", flags.Config, len(changes))
	return next
}

// drainProxy closes every core's listeners and waits up to d for the
// proxied connections to end; what is left is closed by the engine's drain.
func drainProxy(e *engine.Engine, apps []*fwd.App, d time.Duration, stderr io.Writer) {
	for i, a := range apps {
		if err := e.Loops()[i].Call(func(mono.Time) { a.Drain() }); err != nil {
			fmt.Fprintf(stderr, "pollstack: draining core %d: %v\n", i, err)
		}
	}
	if d <= 0 {
		return
	}
	deadline := time.Now().Add(d)
	open := func() int64 {
		var n int64
		for _, a := range apps {
			n += a.Published().Pairs.Load()
		}
		return n
	}
	fmt.Fprintf(stderr, "pollstack: draining: listeners closed, %d proxied connection(s) open, waiting up to %v\n", open(), d)
	for open() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := open(); n > 0 {
		fmt.Fprintf(stderr, "pollstack: %d proxied connection(s) still open after --drain %v; closing them\n", n, d)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if left, err := e.Drain(ctx); err != nil || left > 0 {
			fmt.Fprintf(stderr, "pollstack: %d connection(s) still closing at stop (%v)\n", left, err)
		}
		cancel()
	}
}

// printProxyTotals prints each server's totals over the cores.
func printProxyTotals(apps []*fwd.App, w io.Writer) {
	if len(apps) == 0 {
		return
	}
	var acc, refused uint64
	for _, a := range apps {
		for i := range a.Published().Listeners {
			c := &a.Published().Listeners[i].Counters
			acc += c[fwd.LstAccepted].Load()
			refused += c[fwd.LstRefusedMaxConn].Load()
		}
	}
	fmt.Fprintf(w, "pollstack: proxy stopped; %d client connection(s) accepted, %d refused at maxconn\n", acc, refused)
	first := apps[0].Published()
	for gi := range first.Groups {
		for si := range first.Groups[gi].Servers {
			var sum [len(fwd.ServerCounterNames)]uint64
			for _, a := range apps {
				c := &a.Published().Groups[gi].Servers[si].Counters
				for k := range sum {
					sum[k] += c[k].Load()
				}
			}
			s := &first.Groups[gi].Servers[si]
			http := ""
			if r := sum[fwd.SrvHTTPRequests]; r > 0 {
				http = fmt.Sprintf(", %d requests (%d on pooled connections; responses 1xx %d, 2xx %d, 3xx %d, 4xx %d, 5xx %d)",
					r, sum[fwd.SrvPoolReused], sum[fwd.SrvHTTP1xx], sum[fwd.SrvHTTP2xx], sum[fwd.SrvHTTP3xx], sum[fwd.SrvHTTP4xx], sum[fwd.SrvHTTP5xx])
			}
			fmt.Fprintf(w, "pollstack:   %s/%s %s: %d connections%s, %d B out, %d B in, connect errors: %d refused, %d timed out, %d reset, %d no port; %d retries, %d resets\n",
				first.Groups[gi].Name, s.Name, s.Addr, sum[fwd.SrvConnections], http, sum[fwd.SrvBytesOut], sum[fwd.SrvBytesIn],
				sum[fwd.SrvConnectRefused], sum[fwd.SrvConnectTimeout], sum[fwd.SrvConnectReset], sum[fwd.SrvConnectNoPort],
				sum[fwd.SrvRetries], sum[fwd.SrvResets])
		}
	}
}
