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

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps/bulk"
	"github.com/pollstack/pollstack/tcp"
)

const benchBulkSynopsis = `bench bulk --iface IF [--netns NS] --connect HOST:PORT [--file F | --bytes N] [flags]

Opens one TCP connection from pollstack on IF (over AF_XDP) to HOST:PORT,
sends the contents of --file (or --bytes of a pseudo-random pattern), shuts
its side with a FIN, waits for the peer to close, and reports the
throughput, the longest stall in acknowledgements, and retransmissions.

Flags:`

func runBenchBulk(args []string, stdout, stderr io.Writer) error {
	var f engineFlags
	fs := newFlags("bench bulk", benchBulkSynopsis, stdout)
	f.register(fs, "bench bulk")
	connect := fs.String("connect", "", "HOST:PORT to connect to (required), e.g. 198.18.0.2:9000 or [2001:2::2]:9000")
	file := fs.String("file", "", "send this file's contents")
	nbytes := fs.Int64("bytes", 1<<30, "without --file: send this many bytes of a pseudo-random pattern")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *connect == "" {
		return usagef("bench bulk: --connect is required (see 'pollstack bench bulk --help')")
	}
	remote, err := netip.ParseAddrPort(*connect)
	if err != nil || remote.Port() == 0 || remote.Addr().Zone() != "" || !remote.Addr().Unmap().IsGlobalUnicast() && !remote.Addr().Unmap().IsLoopback() {
		return usagef("bench bulk: --connect %q: want IP:PORT, e.g. 198.18.0.2:9000 or [2001:2::2]:9000", *connect)
	}
	if *nbytes <= 0 {
		return usagef("bench bulk: --bytes %d: want a positive count", *nbytes)
	}
	if *timeout <= 0 {
		return usagef("bench bulk: --timeout %v: want a positive duration", *timeout)
	}
	var b *bulk.Sender
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return usagef("bench bulk: --file: %v", err)
		}
		b = bulk.Data(data)
	} else {
		b = bulk.Pattern(*nbytes)
	}
	if err := f.check(); err != nil {
		return err
	}
	f.log = stderr
	t := tcp.DefaultConfig()
	e, err := f.start(engine.Config{TCP: &t}, stderr)
	if err != nil {
		return err
	}
	defer stopEngine(e, stderr)
	stopMetrics := f.serveMetrics(e, stderr)
	defer stopMetrics()
	local, ok := e.Source(remote.Addr())
	if !ok || !e.Routable(remote.Addr()) {
		return usagef("bench bulk: no route to %s (no --addr of its family, or no connected prefix, --route or --gateway holds it)", remote.Addr())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	progress := stderr
	if *jsonOut {
		progress = nil
	}
	r, err := bulk.Run(ctx, e, local, remote, b, progress)
	if err != nil {
		return fmt.Errorf("bench bulk: %w", err)
	}
	if *jsonOut {
		if err := r.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "bench bulk: %v\n", r)
	}
	if err := r.Failure(); err != nil {
		return fmt.Errorf("bench bulk: %w", err)
	}
	return nil
}
