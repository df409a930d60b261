package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/tcp"
)

const serveSynopsis = `serve --iface IF [--netns NS] [--addr CIDR ...] [--cores LIST] [--app NAME] [--port P] [--metrics HOST:PORT]
      [--route PREFIX=NEXTHOP ...] [--gateway IP ...] [--accept-ra] [--tls-cert FILE --tls-key FILE]

Runs the engine on IF over AF_XDP, one pinned loop per CPU in --cores, each on
its own interface queue. With no --app it answers ARP, IPv6 neighbour
discovery and ICMP/ICMPv6 echo for its addresses (and RSTs TCP segments).
Stops cleanly on SIGINT or SIGTERM and detaches its XDP program.

Apps (TCP apps listen on --port on every core):
  echo     send back what arrives; close after the peer half-closes; UDP
           datagrams to --port are echoed too
  discard  read and drop everything
  http     a minimal HTTP/1.1 server: keep-alive, Connection: close, a body
           of ?size=N bytes (default "hello\n"); closes a connection whose
           request head is not in within --http-header-timeout, or that
           waits idle longer than --http-keepalive-timeout between requests
  gohttp   the Go standard library's net/http server on a pollstack
           net.Listener (every core accepts): same answers as http; with
           --tls-cert and --tls-key, HTTPS through crypto/tls on port 8443
           (unless --port says otherwise), HTTP/2 and HTTP/1.1 offered by
           ALPN
  sink     count every received frame and drop it (raw receive rate, no stack)

Flags:`

func runServe(args []string, stdout, stderr io.Writer) error {
	var f engineFlags
	fs := newFlags("serve", serveSynopsis, stdout)
	f.register(fs, "serve")
	app := fs.String("app", "", "application to run: echo, discard, http, gohttp or sink (default: none, answer ARP/ND/echo only)")
	control := fs.String("control", "", "control socket for 'pollstack stat' and 'pollstack sysctl' (default /run/pollstack/[NS@]IF.sock, /run/pollstack made if missing; PATH's directory must exist; \"none\" for none)")
	port := fs.Int("port", 8080, "TCP port the app listens on, 1..65535; 8443 by default with --tls-cert and --tls-key")
	tlsCert := fs.String("tls-cert", "", "--app gohttp: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with the PEM certificate (chain) in `FILE`; needs --tls-key")
	tlsKey := fs.String("tls-key", "", "--app gohttp: the PEM private key in `FILE` of --tls-cert's certificate; needs --tls-cert")
	headerTimeout := fs.Duration("http-header-timeout", apps.DefaultHTTPHeaderTimeout, "--app http: the longest a request head may take to arrive whole, counted from the connection's establishment for the first request and from the head's first byte for the next (nginx's client_header_timeout); also the longest wait between two reads of a request body. A connection past it is closed without an answer; 0 for none")
	keepaliveTimeout := fs.Duration("http-keepalive-timeout", apps.DefaultHTTPKeepaliveTimeout, "--app http: the longest a connection waits idle for its next request once the last response is written (nginx's keepalive_timeout); 0 for none")
	drain := fs.Duration("drain", 2*time.Second, "on SIGINT/SIGTERM, close every connection in order and wait this long for the closes to finish (into TIME_WAIT) before stopping; 0 stops at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *app {
	case "", "sink", "echo", "discard", "http", "gohttp":
	default:
		return usagef("serve: --app %q: unknown app (apps: echo, discard, http, gohttp, sink)", *app)
	}
	if *drain < 0 {
		return usagef("serve: --drain %v: want 0 or more", *drain)
	}
	if err := checkDuration("serve", "http-header-timeout", *headerTimeout, true, time.Millisecond, "0 (none) or at least 1ms"); err != nil {
		return err
	}
	if err := checkDuration("serve", "http-keepalive-timeout", *keepaliveTimeout, true, time.Millisecond, "0 (none) or at least 1ms"); err != nil {
		return err
	}
	if *port < 1 || *port > 65535 {
		return usagef("serve: --port %d: want 1..65535", *port)
	}
	cert, err := loadTLSFlags("serve", *app, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	if cert != nil && !flagGiven(fs, "port") {
		*port = defaultTLSPort
	}
	if err := checkControlFlag("serve", *control); err != nil {
		return err
	}
	if *app == "gohttp" && !flagGiven(fs, "pin") {
		// net/http's goroutines share the loops' CPUs: a loop that waits
		// in the netpoller lets them run in its place (docs/sockets.md).
		f.pin = false
	}
	if err := f.check(); err != nil {
		return err
	}
	f.log = stderr
	cfg := engine.Config{Sink: *app == "sink"}
	if *app != "sink" {
		t := tcp.DefaultConfig()
		cfg.TCP = &t
	}
	if *app != "" && *app != "sink" && *app != "gohttp" {
		name := *app
		cfg.Listen = []engine.ListenSpec{{Port: uint16(*port), Handler: func(int) tcp.Handler {
			h, _ := apps.New(name)
			if hh, ok := h.(*apps.HTTP); ok {
				hh.HeaderTimeout, hh.KeepaliveTimeout = *headerTimeout, *keepaliveTimeout
			}
			return h
		}}}
	}
	e, err := f.start(cfg, stderr)
	if err != nil {
		return err
	}
	where := "on CPU " + f.cores
	if !f.pin {
		where = "unpinned (loops wait in Go's netpoller)"
	}
	fmt.Fprintf(stderr, "pollstack: serving on %s (netns %q, MAC %s) with %d core(s) %s, addresses %v\n",
		f.iface, f.netns, f.mac, len(f.cpus), where, f.addrList)
	stopHTTP := func() {}
	if *app == "echo" {
		if stopHTTP, err = startUDPEcho(e, *port); err != nil {
			stopEngine(e, stderr)
			return fmt.Errorf("serve: UDP echo: %w", err)
		}
	}
	if *app == "gohttp" {
		if stopHTTP, err = startGoHTTP(e, *port, cert); err != nil {
			stopEngine(e, stderr)
			return fmt.Errorf("serve: gohttp: %w", err)
		}
	}
	if *app != "" && *app != "sink" {
		tlsNote := ""
		if cert != nil {
			tlsNote = " (HTTPS: h2 and http/1.1 by ALPN)"
		}
		udpNote := ""
		if *app == "echo" {
			udpNote = " and UDP port " + fmt.Sprint(*port)
		}
		fmt.Fprintf(stderr, "pollstack: app %s on TCP port %d%s%s\n", *app, *port, udpNote, tlsNote)
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
		stopControl, err := serveControl(path, e, &f, *app, stderr)
		if err != nil {
			stopEngine(e, stderr)
			return err
		}
		defer stopControl()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	printStats(ctx, e, f.statsEvery, stderr)
	stopHTTP()
	if *drain > 0 && cfg.TCP != nil {
		dctx, cancel := context.WithTimeout(context.Background(), *drain)
		if n, _ := e.Drain(dctx); n > 0 {
			fmt.Fprintf(stderr, "pollstack: %d connection(s) still closing after --drain %v\n", n, *drain)
		}
		cancel()
	}
	err = e.Stop()
	t := e.Totals()
	fmt.Fprintf(stderr, "pollstack: stopped; rx %d frames, tx %d frames, %d dropped; XDP program detached\n",
		t[engine.RxPackets], t[engine.TxPackets], t.Drops())
	return err
}
