package tcp

import (
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// timerRecorder is a recorder that notes when its application timer fires.
type timerRecorder struct {
	recorder
	fired []mono.Time
	then  func(c *Conn)
}

func (r *timerRecorder) AppTimer(c *Conn) {
	r.fired = append(r.fired, c.Now())
	if r.then != nil {
		r.then(c)
	}
}

// The application timer fires once at its deadline; pushed later it fires
// at the later one only (the connection waits in the wheel at the earlier
// instant and moves on), disarmed it never fires, and after Close it is
// not called.
func TestAppTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	h := &timerRecorder{}
	c.SetHandler(h)
	start := p.now

	c.SetAppTimer(start.Add(5 * time.Second))
	p.advance(5*time.Second - time.Millisecond)
	if len(h.fired) != 0 {
		t.Fatalf("fired early: %v", h.fired)
	}
	p.advance(time.Millisecond)
	if len(h.fired) != 1 || h.fired[0] != start.Add(5*time.Second) || c.AppTimer() != 0 {
		t.Fatalf("fired %v, armed %v; want once at %v, then disarmed", h.fired, c.AppTimer(), start.Add(5*time.Second))
	}

	// Pushed later: fires at the later deadline only.
	start = p.now
	c.SetAppTimer(start.Add(2 * time.Second))
	p.advance(time.Second)
	c.SetAppTimer(start.Add(7 * time.Second))
	p.advance(5*time.Second + 999*time.Millisecond)
	if len(h.fired) != 1 {
		t.Fatalf("fired at the old deadline: %v", h.fired)
	}
	p.advance(time.Millisecond)
	if len(h.fired) != 2 || h.fired[1] != start.Add(7*time.Second) {
		t.Fatalf("fired %v, want a second time at %v", h.fired, start.Add(7*time.Second))
	}

	// Pulled earlier: fires at the earlier one.
	start = p.now
	c.SetAppTimer(start.Add(60 * time.Second))
	c.SetAppTimer(start.Add(time.Second))
	p.advance(time.Second)
	if len(h.fired) != 3 || h.fired[2] != start.Add(time.Second) {
		t.Fatalf("fired %v, want a third time at %v", h.fired, start.Add(time.Second))
	}

	// Disarmed: nothing.
	c.SetAppTimer(p.now.Add(time.Second))
	c.SetAppTimer(0)
	p.advance(10 * time.Second)
	if len(h.fired) != 3 {
		t.Fatalf("a disarmed timer fired: %v", h.fired)
	}

	// The handler closes from the timer: FIN, and no more calls.
	h.then = func(c *Conn) { c.Close() }
	c.SetAppTimer(p.now.Add(time.Second))
	p.take()
	p.advance(time.Second)
	p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	c.SetAppTimer(p.now.Add(time.Second))
	p.advance(5 * time.Second)
	if len(h.fired) != 4 {
		t.Fatalf("fired after Close: %v", h.fired)
	}
}

// Pushing the application timer on every request allocates nothing.
func TestAppTimerAllocs(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.SetHandler(&timerRecorder{})
	at := p.now
	if n := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Millisecond)
		c.SetAppTimer(at.Add(60 * time.Second))
	}); n != 0 {
		t.Fatalf("%v allocations per SetAppTimer", n)
	}
}
