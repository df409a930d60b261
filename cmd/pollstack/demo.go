package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/demo"
)

const demoSynopsis = `demo [--mode http|ping] [--duration D] [--conns N] [--mix S:K] [--json]

Runs two pollstack stacks in this process, joined by the in-memory link, each
an engine core with a TCP shard on its own (unpinned) loop. Needs no root and
no NIC.

Mode http (the default): one stack serves the http app on port 8080; the other
runs an HTTP/1.1 load generator on its core that keeps --conns connections
busy: short ones (connect, one GET with Connection: close, the server closes,
as wrk -H 'Connection: close') and keep-alive ones (--requests GETs, the last
with Connection: close), in the ratio --mix SHORT:KEEPALIVE. The server closes
first and holds the TIME_WAIT, as HTTP servers do (a client closing first would
tie up its 16384 ephemeral ports for 2MSL within seconds at these rates); when
the run ends the client closes the keep-alive connections still open, so it
holds a few. Every response is parsed (status line, Content-Length, body
length); any non-200, malformed response, reset or timeout is an error.

Prints connections/s, requests/s, latency percentiles (the client core's
clock, request written to response read; for a short connection, connect to
response read, as bench cps), errors (the whole run, warmup and
drain included), the TIME_WAIT entries each side holds at the end and the heap
each one takes (measured: see below), TCP anomalies (retransmissions, drops,
RSTs: zero on a healthy run), and allocations per packet (runtime mallocs of
the whole process over rx + tx packets of both stacks, measured window only).
A progress line goes to stderr each second.

Mode ping: the client keeps --window ICMP echo requests of --size bytes in
flight and times every reply.

The bytes per TIME_WAIT entry are measured, not assumed: after the run a
probe fills a fresh shard's compressed TIME_WAIT table (its maxtcptw share)
with the same configuration and divides the heap growth by the entries; the
figure includes the table's index and reserved room.

Flags:`

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoSynopsis, stdout)
	mode := fs.String("mode", demo.ModeHTTP, "what to run: http or ping")
	duration := fs.Duration("duration", demo.DefaultDuration, "measured time (more than 0)")
	warmup := fs.Duration("warmup", demo.DefaultWarmup, "unmeasured time before the measurement (0: none)")
	v6 := fs.Bool("ipv6", false, "run over IPv6 instead of IPv4")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	conns := fs.Int("conns", demo.DefaultConns, fmt.Sprintf("http: concurrent connections, 1..%d", demo.MaxConns))
	mix := fs.String("mix", demo.DefaultMix, "http: ratio of short to keep-alive connections, SHORT:KEEPALIVE (1:0 all short, 0:1 all keep-alive)")
	requests := fs.Int("requests", demo.DefaultRequests, "http: requests per keep-alive connection; the last asks the server to close")
	path := fs.String("path", demo.DefaultPath, "http: request target; /?size=N asks for an N-byte body")
	timeout := fs.Duration("timeout", demo.DefaultTimeout, "http: a handshake, response or close that takes longer is an error (more than 0)")
	window := fs.Int("window", demo.DefaultWindow, "ping: echo requests in flight, 1..512")
	size := fs.Int("size", demo.DefaultSize, "ping: echo payload bytes, 16..1400")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *mode != demo.ModeHTTP && *mode != demo.ModePing {
		return usagef("demo: --mode %q: want http or ping", *mode)
	}
	if *duration <= 0 {
		return usagef("demo: --duration must be positive (got %v)", *duration)
	}
	if *warmup < 0 {
		return usagef("demo: --warmup must not be negative (got %v)", *warmup)
	}
	if *conns < 1 || *conns > demo.MaxConns {
		return usagef("demo: --conns %d: want 1..%d", *conns, demo.MaxConns)
	}
	if _, _, err := demo.ParseMix(*mix); err != nil {
		return usagef("demo: --mix %q: want SHORT:KEEPALIVE, e.g. 1:1, 1:0 or 0:1", *mix)
	}
	if *path == "" {
		return usagef("demo: --path \"\": want a request target such as / or /?size=N")
	}
	if *requests < 1 {
		return usagef("demo: --requests %d: want at least 1", *requests)
	}
	if *timeout <= 0 {
		return usagef("demo: --timeout must be positive")
	}
	if *window < 1 || *window > 512 {
		return usagef("demo: --window %d: want 1..512", *window)
	}
	if *size < 16 || *size > 1400 {
		return usagef("demo: --size %d: want 16..1400", *size)
	}
	cfg := demo.Config{Mode: *mode, Duration: *duration, Warmup: *warmup, IPv6: *v6,
		Conns: *conns, Mix: *mix, Requests: *requests, Path: *path, Timeout: *timeout,
		Window: *window, Size: *size}
	if *warmup == 0 {
		cfg.Warmup = time.Nanosecond // Config takes zero as "the default"
	}
	if err := demo.CheckConfig(cfg); err != nil {
		return usagef("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fam := "IPv4"
	if *v6 {
		fam = "IPv6"
	}
	var unit string
	if *mode == demo.ModeHTTP {
		short, keep := demo.SplitConns(*conns, *mix)
		fmt.Fprintf(stderr, "demo: two stacks over the in-memory link, HTTP/1.1 over TCP/%s, %d connections (%d short, %d keep-alive × %d requests), %v\n",
			fam, *conns, short, keep, *requests, *duration)
		unit = "req/s"
	} else {
		fmt.Fprintf(stderr, "demo: two stacks over the in-memory link, ICMP echo over %s, %d in flight, %d-byte payload, %v\n",
			fam, *window, *size, *duration)
		unit = "replies/s"
	}
	r, err := demo.Run(ctx, cfg, func(p demo.Progress) {
		if *mode == demo.ModeHTTP {
			fmt.Fprintf(stderr, "  %4.0fs  %10.0f %s  %8.0f conn/s  %d errors\n", p.Elapsed.Seconds(), p.Rate, unit, p.ConnsPerSec, p.Errors)
		} else {
			fmt.Fprintf(stderr, "  %4.0fs  %10.0f %s  %d lost\n", p.Elapsed.Seconds(), p.Rate, unit, p.Errors)
		}
	})
	if err != nil && ctx.Err() == nil {
		return err
	}
	if *jsonOut {
		return writeJSON(stdout, r)
	}
	if r.Mode == demo.ModePing {
		printPing(stdout, &r)
	} else {
		printHTTP(stdout, &r)
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }

func printHTTP(w io.Writer, r *demo.Result) {
	e := &r.ErrorKinds
	fmt.Fprintf(w, `connections        %d completed, %.0f/s (%d concurrent: %d short, %d keep-alive)
requests           %d, %.0f/s
latency p50        %s
latency p90        %s
latency p99        %s
latency p99.9      %s
latency max        %s
errors             %d (status %d, malformed %d, reset %d, refused %d, timeout %d, closed early %d, dial %d, write %d)
left open          server %d, client %d (connections not closed cleanly after the drain)
TIME_WAIT          server %d, client %d
TIME_WAIT bytes    %.0f heap bytes per entry (measured: compressed entry, index and reserved room); %s held now
tcp anomalies      %d (rexmt timeouts %d, retransmitted segments %d, drops %d, RSTs for no connection %d, listen drops %d, bad segments %d)
packets            %d, %.0f/s (both stacks, rx + tx)
allocs/packet      %.6f (%d mallocs in the whole process over the window)
frame drops        server %d, client %d
`, r.Connections, r.ConnsPerSec, r.Conns, r.ShortConns, r.KeepAliveConns,
		r.Requests, r.RequestsPerSec,
		us(r.Latency.P50), us(r.Latency.P90), us(r.Latency.P99), us(r.Latency.P999), us(r.Latency.Max),
		r.Errors, e.Status, e.Malformed, e.Reset, e.Refused, e.Timeout, e.Closed, e.Dial, e.Write,
		r.LeftOpen.Server, r.LeftOpen.Client,
		r.TimeWait.Server, r.TimeWait.Client,
		r.TimeWaitBytes, bytesString(r.TimeWaitBytes*float64(r.TimeWait.Server+r.TimeWait.Client)),
		r.TCP.Total(), r.TCP.RexmtTimeouts, r.TCP.RexmitPackets, r.TCP.Drops, r.TCP.RSTsSent, r.TCP.ListenDrops, r.TCP.BadSegments,
		r.Packets, r.PacketsPerSec, r.AllocsPerPacket, r.Mallocs, r.ServerDrops, r.ClientDrops)
}

func printPing(w io.Writer, r *demo.Result) {
	fmt.Fprintf(w, `requests sent      %d
replies            %d (%d lost)
replies/s          %.0f
packets/s          %.0f (both stacks, rx + tx)
latency p50        %s
latency p90        %s
latency p99        %s
latency p99.9      %s
latency max        %s
allocs/packet      %.6f (%d mallocs in the whole process over the window)
drops              server %d, client %d
`, r.Sent, r.Replies, r.Lost, r.RepliesPerSec, r.PacketsPerSec,
		us(r.Latency.P50), us(r.Latency.P90), us(r.Latency.P99), us(r.Latency.P999), us(r.Latency.Max),
		r.AllocsPerPacket, r.Mallocs, r.ServerDrops, r.ClientDrops)
}

// bytesString prints a byte count in binary units.
func bytesString(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
