package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// Sender is the tcp.Handler that streams data into one connection. Its
// callbacks run on the connection's core; Acked, Stall and Done may be read
// from any goroutine.
type Sender struct {
	data    []byte // the whole file, or one pattern block
	total   int64  // bytes to send
	written int64
	pattern bool

	start, lastAck mono.Time
	maxStall       time.Duration
	acked          atomic.Int64
	stall          atomic.Int64
	done           chan struct{}
	err            error
	end            mono.Time
}

// Data returns a Sender of data, once.
func Data(data []byte) *Sender {
	return &Sender{data: data, total: int64(len(data)), done: make(chan struct{})}
}

// Pattern returns a Sender of n bytes of a pseudo-random pattern (a 64 KiB
// block from a fixed seed, repeated).
func Pattern(n int64) *Sender {
	s := &Sender{data: make([]byte, 1<<16), total: n, pattern: true, done: make(chan struct{})}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range s.data {
		s.data[i] = byte(r.Uint32())
	}
	return s
}

// Total is the number of bytes the Sender sends.
func (s *Sender) Total() int64 { return s.total }

// Acked is the number of bytes the peer has acknowledged so far.
func (s *Sender) Acked() int64 { return s.acked.Load() }

// Stall is the longest time so far between two advances of Acked.
func (s *Sender) Stall() time.Duration { return time.Duration(s.stall.Load()) }

// Done is closed when the connection has ended.
func (s *Sender) Done() <-chan struct{} { return s.done }

func (s *Sender) Established(c *tcp.Conn) {
	s.start, s.lastAck = c.Now(), c.Now()
	s.pump(c)
}

func (s *Sender) Writable(c *tcp.Conn) { s.pump(c) }

func (s *Sender) Readable(c *tcp.Conn) {
	c.Consume(c.Readable())
	if c.EOF() {
		c.Close()
	}
}

func (s *Sender) Closed(c *tcp.Conn, err error) {
	s.err = err
	s.end = c.Now()
	s.note(c, s.written)
	close(s.done)
}

// note records acknowledged progress and the longest gap between advances.
func (s *Sender) note(c *tcp.Conn, acked int64) {
	now := c.Now()
	if acked > s.acked.Load() {
		if gap := now.Sub(s.lastAck); gap > s.maxStall {
			s.maxStall = gap
			s.stall.Store(int64(gap))
		}
		s.lastAck = now
		s.acked.Store(acked)
	}
}

func (s *Sender) pump(c *tcp.Conn) {
	for s.written < s.total {
		var chunk []byte
		if s.pattern {
			off := s.written % int64(len(s.data))
			chunk = s.data[off:]
		} else {
			chunk = s.data[s.written:]
		}
		if rest := s.total - s.written; int64(len(chunk)) > rest {
			chunk = chunk[:rest]
		}
		n, err := c.Write(chunk)
		if err != nil {
			c.Abort()
			return
		}
		s.written += int64(n)
		if n < len(chunk) {
			break
		}
	}
	s.note(c, s.written-int64(c.Unsent()))
	if s.written == s.total {
		c.CloseWrite()
	}
}

// Result is what a bulk run did.
type Result struct {
	Bytes        int64         // bytes written into the connection
	Total        int64         // bytes it was to send
	Seconds      float64       // from the handshake to the connection's end
	LongestStall time.Duration // longest time between two advances of the acknowledged bytes
	SegmentsSent uint64        // the engine's tcpstat sndtotal
	Retransmits  uint64        // sndrexmitpack: segments retransmitted
	RTOTimeouts  uint64        // rexmttimeo
	Err          error         // why the connection ended, if not cleanly
}

// GbitPerSec is the throughput.
func (r *Result) GbitPerSec() float64 { return float64(r.Bytes) * 8 / r.Seconds / 1e9 }

// Failure says why the run did not send everything cleanly, or is nil.
func (r *Result) Failure() error {
	if r.Err != nil {
		return fmt.Errorf("connection ended with %w", r.Err)
	}
	if r.Bytes != r.Total {
		return errors.New("connection closed before everything was sent")
	}
	return nil
}

// String is the one-line summary.
func (r *Result) String() string {
	return fmt.Sprintf("%d bytes in %.3f s, %.2f Gbit/s; longest stall %v; %d segments sent, %d retransmitted, %d RTO timeouts",
		r.Bytes, r.Seconds, r.GbitPerSec(), r.LongestStall, r.SegmentsSent, r.Retransmits, r.RTOTimeouts)
}

// WriteJSON writes the result as an indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	res := map[string]any{"bytes": r.Bytes, "seconds": r.Seconds, "gbit_per_sec": r.GbitPerSec(),
		"longest_stall_ns": int64(r.LongestStall), "retransmitted_segments": r.Retransmits,
		"rto_timeouts": r.RTOTimeouts, "segments_sent": r.SegmentsSent}
	if r.Err != nil {
		res["error"] = r.Err.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// Run dials remote from local on e's first core with s as the handler and
// waits for the connection to end or ctx to. Once a second it prints the
// progress to progress, when not nil. When the connection has ended it
// stops e, so that the TCP counters it reports are final. The error is for
// a failed dial or ctx's end; how the connection ended is in the Result
// (Failure).
func Run(ctx context.Context, e *engine.Engine, local netip.Addr, remote netip.AddrPort, s *Sender, progress io.Writer) (*Result, error) {
	if err := e.DialOn(0, netip.AddrPortFrom(local, 0), remote, s); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", remote, err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	began := time.Now()
	var last int64
wait:
	for {
		select {
		case <-s.done:
			break wait
		case <-ctx.Done():
			return nil, fmt.Errorf("%v after %d of %d bytes acknowledged", ctx.Err(), s.acked.Load(), s.total)
		case now := <-tick.C:
			a := s.acked.Load()
			if progress != nil {
				fmt.Fprintf(progress, "  %5.1fs  %7.1f%%  %8.2f Gbit/s  longest stall %v\n", now.Sub(began).Seconds(),
					100*float64(a)/float64(s.total), float64(a-last)*8/1e9, time.Duration(s.stall.Load()))
			}
			last = a
		}
	}
	if err := e.Stop(); err != nil {
		return nil, fmt.Errorf("stop the engine: %w", err)
	}
	var st tcp.Stats
	for _, c := range e.Cores() {
		p := c.TCPPublished()
		for i := range st {
			st[i] += p.Stats[i]
		}
	}
	return &Result{Bytes: s.written, Total: s.total, Seconds: s.end.Sub(s.start).Seconds(),
		LongestStall: s.maxStall, SegmentsSent: st[tcp.StatSndTotal],
		Retransmits: st[tcp.StatSndRexmitPack], RTOTimeouts: st[tcp.StatRexmtTimeo], Err: s.err}, nil
}
