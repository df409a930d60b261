package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

const benchBulkSynopsis = `bench bulk --iface IF [--netns NS] --connect HOST:PORT [--file F | --bytes N] [flags]

Opens one TCP connection from pollstack on IF (over AF_XDP) to HOST:PORT,
sends the contents of --file (or --bytes of a pseudo-random pattern), shuts
its side with a FIN, waits for the peer to close, and reports the
throughput, the longest stall in acknowledgements, and retransmissions.

Flags:`

// bulkSender is the on-core handler that streams data into a connection.
type bulkSender struct {
	data    []byte // the whole file, or one pattern block
	total   int64  // bytes to send
	written int64
	pattern bool

	start, lastAck mono.Time
	maxStall       time.Duration
	acked          atomic.Int64
	stall          atomic.Int64 // maxStall, ns
	done           chan struct{}
	err            error
	end            mono.Time
}

func (b *bulkSender) Established(c *tcp.Conn) {
	b.start, b.lastAck = c.Now(), c.Now()
	b.pump(c)
}

func (b *bulkSender) Writable(c *tcp.Conn) { b.pump(c) }

func (b *bulkSender) Readable(c *tcp.Conn) {
	c.Consume(c.Readable())
	if c.EOF() {
		c.Close()
	}
}

func (b *bulkSender) Closed(c *tcp.Conn, err error) {
	b.err = err
	b.end = c.Now()
	b.note(c, b.written)
	close(b.done)
}

// note records acknowledged progress and the longest gap between advances.
func (b *bulkSender) note(c *tcp.Conn, acked int64) {
	now := c.Now()
	if acked > b.acked.Load() {
		if gap := now.Sub(b.lastAck); gap > b.maxStall {
			b.maxStall = gap
			b.stall.Store(int64(gap))
		}
		b.lastAck = now
		b.acked.Store(acked)
	}
}

func (b *bulkSender) pump(c *tcp.Conn) {
	for b.written < b.total {
		var chunk []byte
		if b.pattern {
			off := b.written % int64(len(b.data))
			chunk = b.data[off:]
		} else {
			chunk = b.data[b.written:]
		}
		if rest := b.total - b.written; int64(len(chunk)) > rest {
			chunk = chunk[:rest]
		}
		n, err := c.Write(chunk)
		if err != nil {
			c.Abort()
			return
		}
		b.written += int64(n)
		if n < len(chunk) {
			break
		}
	}
	b.note(c, b.written-int64(c.Unsent()))
	if b.written == b.total {
		c.CloseWrite()
	}
}

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
	if err != nil || remote.Port() == 0 {
		return usagef("bench bulk: --connect %q: want IP:PORT", *connect)
	}
	if *nbytes <= 0 || *timeout <= 0 {
		return usagef("bench bulk: --bytes and --timeout must be positive")
	}
	b := &bulkSender{done: make(chan struct{})}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return usagef("bench bulk: --file: %v", err)
		}
		b.data, b.total = data, int64(len(data))
	} else {
		b.data = make([]byte, 1<<16)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range b.data {
			b.data[i] = byte(r.Uint32())
		}
		b.total, b.pattern = *nbytes, true
	}
	if err := f.check(); err != nil {
		return err
	}
	f.log = stderr
	t := tcp.DefaultConfig()
	e, err := f.open(engine.Config{TCP: &t})
	if err != nil {
		f.closeListener()
		return err
	}
	if err := e.Start(); err != nil {
		e.Stop()
		f.closeListener()
		return err
	}
	defer e.Stop()
	stopMetrics := f.serveMetrics(e, stderr)
	defer stopMetrics()
	local, ok := e.Source(remote.Addr())
	if !ok {
		return usagef("bench bulk: no address of %s's family (see --addr)", remote.Addr())
	}
	if err := e.DialOn(0, netip.AddrPortFrom(local, 0), remote, b); err != nil {
		return fmt.Errorf("bench bulk: connect to %s: %w", remote, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	began := time.Now()
	var last int64
wait:
	for {
		select {
		case <-b.done:
			break wait
		case <-ctx.Done():
			return fmt.Errorf("bench bulk: %v after %d of %d bytes acknowledged", ctx.Err(), b.acked.Load(), b.total)
		case now := <-tick.C:
			a := b.acked.Load()
			if !*jsonOut {
				fmt.Fprintf(stderr, "  %5.1fs  %7.1f%%  %8.2f Gbit/s  longest stall %v\n", now.Sub(began).Seconds(),
					100*float64(a)/float64(b.total), float64(a-last)*8/1e9, time.Duration(b.stall.Load()))
			}
			last = a
		}
	}
	e.Stop()
	var st tcp.Stats
	for _, c := range e.Cores() {
		s := c.TCPPublished()
		for i := range st {
			st[i] += s.Stats[i]
		}
	}
	secs := b.end.Sub(b.start).Seconds()
	res := map[string]any{"bytes": b.written, "seconds": secs, "gbit_per_sec": float64(b.written) * 8 / secs / 1e9,
		"longest_stall_ns": b.maxStall, "retransmitted_segments": st[tcp.StatSndRexmitPack],
		"rto_timeouts": st[tcp.StatRexmtTimeo], "segments_sent": st[tcp.StatSndTotal]}
	if b.err != nil {
		res["error"] = b.err.Error()
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "bench bulk: %d bytes in %.3f s, %.2f Gbit/s; longest stall %v; %d segments sent, %d retransmitted, %d RTO timeouts\n",
			b.written, secs, res["gbit_per_sec"], b.maxStall, st[tcp.StatSndTotal], st[tcp.StatSndRexmitPack], st[tcp.StatRexmtTimeo])
	}
	if b.err != nil {
		return fmt.Errorf("bench bulk: connection ended with %w", b.err)
	}
	if b.written != b.total {
		return errors.New("bench bulk: connection closed before everything was sent")
	}
	return nil
}
