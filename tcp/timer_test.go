package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/mono"
)

// A deadline later in the current tick fires when its time comes, not a
// wheel round later.
func TestWheelDeadlineLaterInTheCurrentTick(t *testing.T) {
	const tick = mono.Time(timerTick)
	var w timerWheel
	var fired []mono.Time
	fire := func(c *Conn, now mono.Time) { fired = append(fired, now) }
	w.advance(100*tick, fire)
	c := &Conn{}
	w.schedule(c, 100*tick+tick*7/10)
	w.advance(100*tick+tick/5, fire)
	if len(fired) != 0 {
		t.Fatal("fired early")
	}
	w.advance(100*tick+tick*8/10, fire)
	if len(fired) != 1 {
		t.Fatalf("not fired 0.1 ticks after its deadline (fired %v)", fired)
	}
}

func TestWheelFarDeadlinesAndBigJumps(t *testing.T) {
	var w timerWheel
	fire := func(c *Conn, now mono.Time) {
		if c.deadline != 0 || now < c.timers[0] {
			t.Fatalf("fired at %d, deadline %d", now, c.timers[0])
		}
		c.timers[1] = now
	}
	w.advance(0, fire)
	var cs []*Conn
	for _, d := range []mono.Time{5e6, 4095e6, 4096e6, 4097e6, 10e9, 3600e9} {
		c := &Conn{}
		c.timers[0] = d
		w.schedule(c, d)
		cs = append(cs, c)
	}
	for now := mono.Time(0); now <= 3601e9; now += 3e6 + 7 {
		w.advance(now, fire)
		if now > 20e9 && now < 3590e9 {
			now += 1e9 // jump ahead
		}
	}
	for _, c := range cs {
		if c.timers[1] == 0 || c.timers[1]-c.timers[0] > 1e9+3e6+7 {
			t.Fatalf("deadline %d fired at %d", c.timers[0], c.timers[1])
		}
	}
	if w.count != 0 {
		t.Fatalf("%d left in the wheel", w.count)
	}
}
