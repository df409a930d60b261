package ringtest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// Pair returns the two ends of an in-memory link (rings.NewMemPair) and
// closes them when the test ends.
func Pair(t testing.TB, cfg rings.MemConfig) (a, b *rings.MemLink) {
	t.Helper()
	a, b, err := rings.NewMemPair(cfg)
	if err != nil {
		t.Fatalf("ringtest: NewMemPair(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { a.Close() })
	return a, b
}

// Send copies frame into a frame from l's pool and transmits it. It fails
// the test if the pool is empty, the frame does not fit, or l refuses it.
func Send(t testing.TB, l rings.Link, frame []byte) {
	t.Helper()
	p := l.Pool()
	if len(frame) > p.FrameSize() {
		t.Fatalf("ringtest: Send: frame of %d bytes does not fit in a %d-byte frame", len(frame), p.FrameSize())
	}
	addr, ok := p.Get()
	if !ok {
		t.Fatalf("ringtest: Send: the pool is empty")
	}
	copy(p.Frame(addr), frame)
	d := [1]rings.Desc{{Addr: addr, Len: uint32(len(frame))}}
	if l.Transmit(d[:]) != 1 {
		p.Put(addr)
		t.Fatalf("ringtest: Send: the link refused a frame of %d bytes (stats %+v)", len(frame), l.Stats())
	}
}

// SendAll sends each frame in turn, as Send.
func SendAll(t testing.TB, l rings.Link, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		Send(t, l, f)
	}
}

// RecvAll receives until l has nothing more to give now and returns copies
// of the frames in the order they came; the frames go back to the pool.
func RecvAll(l rings.Link) [][]byte {
	var out [][]byte
	var descs [rings.IdealBatch]rings.Desc
	p := l.Pool()
	for {
		n := l.Receive(descs[:])
		if n == 0 {
			return out
		}
		for _, d := range descs[:n] {
			out = append(out, append([]byte(nil), p.Bytes(d)...))
			p.Put(d.Addr)
		}
	}
}

// Clock is a virtual clock that a test advances by hand. Pass
// its Now method where a func() mono.Time clock is wanted (rings.FaultConfig.Clock).
// It is safe for concurrent use.
type Clock struct {
	ns atomic.Int64
}

// Now returns the clock's time.
func (c *Clock) Now() mono.Time { return mono.Time(c.ns.Load()) }

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) mono.Time { return mono.Time(c.ns.Add(int64(d))) }

// Set sets the clock to t.
func (c *Clock) Set(t mono.Time) { c.ns.Store(int64(t)) }
