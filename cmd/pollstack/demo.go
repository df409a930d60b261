package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/demo"
)

const demoSynopsis = `demo [--duration D] [--window N] [--size N] [--ipv6] [--json]

Runs two pollstack stacks in this process, joined by the in-memory link, each
on its own loop: one answers, the other keeps --window ICMP echo requests in
flight and times every reply. Needs no root and no NIC. Prints replies per
second, packets per second, latency percentiles and allocations per packet.

Flags:`

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoSynopsis, stdout)
	duration := fs.Duration("duration", demo.DefaultDuration, "measured time")
	warmup := fs.Duration("warmup", demo.DefaultWarmup, "unmeasured time before the measurement")
	window := fs.Int("window", demo.DefaultWindow, "echo requests in flight, 1..512")
	size := fs.Int("size", demo.DefaultSize, "echo payload bytes, 16..1400")
	v6 := fs.Bool("ipv6", false, "use ICMPv6 over IPv6 instead of ICMP over IPv4")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *duration <= 0 || *warmup < 0 {
		return usagef("demo: --duration must be positive and --warmup not negative")
	}
	if *window < 1 || *window > 512 {
		return usagef("demo: --window %d: want 1..512", *window)
	}
	if *size < 16 || *size > 1400 {
		return usagef("demo: --size %d: want 16..1400", *size)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fam := "ICMP/IPv4"
	if *v6 {
		fam = "ICMPv6/IPv6"
	}
	fmt.Fprintf(stderr, "demo: two stacks over the in-memory link, %s echo, %d in flight, %d-byte payload, %v\n",
		fam, *window, *size, *duration)
	r, err := demo.Run(ctx, demo.Config{Duration: *duration, Warmup: *warmup, Window: *window, Size: *size, IPv6: *v6},
		func(p demo.Progress) {
			fmt.Fprintf(stderr, "  %4.0fs  %10.0f replies/s\n", p.Elapsed.Seconds(), p.RepliesPerSec)
		})
	if err != nil && ctx.Err() == nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
	fmt.Fprintf(stdout, `requests sent      %d
replies            %d (%d lost)
replies/s          %.0f
packets/s          %.0f (both stacks, rx + tx)
latency p50        %s
latency p90        %s
latency p99        %s
latency p99.9      %s
latency max        %s
allocs/packet      %.4f (whole process)
drops              server %d, client %d
`, r.Sent, r.Replies, r.Lost, r.RepliesPerSec, r.PacketsPerSec, us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max),
		r.AllocsPerPacket, r.ServerDrops, r.ClientDrops)
	return nil
}
