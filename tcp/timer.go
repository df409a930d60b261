package tcp

import (
	"time"

	"github.com/pollstack/pollstack/mono"
)

// Timer kinds a connection keeps. Each holds an absolute deadline, 0 when
// not armed; the connection sits in the shard's wheel at the earliest.
type timerKind uint8

const (
	timerRexmt   timerKind = iota // retransmission (and SYN, SYN-ACK)
	timerPersist                  // zero-window probes
	timerKeep                     // keepinit before ESTABLISHED, keepalive after
	timerDelAck                   // delayed ACK
	timer2MSL                     // TIME_WAIT and the FIN_WAIT_2 timeout
	timerApp                      // the application's (Conn.SetAppTimer); fires last
	numTimers
)

const (
	// timerTick is the wheel's resolution: no timer is finer, and no
	// duration a timer measures may be shorter (Config.Validate).
	timerTick = time.Millisecond
	// wheelSlots is the number of slots; the wheel spans wheelSlots ticks.
	wheelSlots = 4096
)

// timerList is an intrusive doubly linked list of connections.
type timerList struct{ head *Conn }

func (l *timerList) push(c *Conn) {
	c.tprev = nil
	c.tnext = l.head
	if l.head != nil {
		l.head.tprev = c
	}
	l.head = c
	c.tlist = l
}

func (l *timerList) remove(c *Conn) {
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		l.head = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tnext, c.tprev, c.tlist = nil, nil, nil
}

// timerWheel is a hashed timing wheel of 1 ms slots over about 4 s, with a
// list for deadlines further out that is sorted back into the wheel once a
// round. Scheduling and cancelling are O(1); owned by one shard.
type timerWheel struct {
	slots [wheelSlots]timerList
	far   timerList
	cur   int64 // the first tick not yet fully processed
	count int   // connections scheduled
	init  bool
}

func (w *timerWheel) schedule(c *Conn, deadline mono.Time) {
	if c.tlist != nil {
		c.tlist.remove(c)
		w.count--
	}
	c.deadline = deadline
	if deadline == 0 {
		return
	}
	w.count++
	t := int64(deadline) / int64(timerTick)
	if t < w.cur {
		t = w.cur
	}
	if t-w.cur >= wheelSlots {
		w.far.push(c)
		return
	}
	w.slots[t%wheelSlots].push(c)
}

// advance calls fire for every connection whose deadline is at or before now.
// fire must reschedule or cancel the connection.
func (w *timerWheel) advance(now mono.Time, fire func(c *Conn, now mono.Time)) {
	end := int64(now) / int64(timerTick)
	if !w.init {
		w.cur, w.init = end, true
	}
	if w.count == 0 {
		w.cur = end
		return
	}
	start := w.cur
	if end-start >= wheelSlots {
		start = end - wheelSlots + 1 // every slot once
		w.refar(now, fire)
	}
	for t := start; t <= end; t++ {
		l := &w.slots[t%wheelSlots]
		for c := l.head; c != nil; {
			next := c.tnext
			if c.deadline <= now {
				l.remove(c)
				w.count--
				c.deadline = 0
				fire(c, now)
			}
			c = next
		}
		if t%wheelSlots == wheelSlots-1 {
			w.cur = min(t+1, end)
			w.refar(now, fire)
		}
	}
	// The current tick is not over: its slot is scanned again next time,
	// for deadlines later in it.
	w.cur = end
}

// refar moves far entries that now fit into the wheel (or fires them).
func (w *timerWheel) refar(now mono.Time, fire func(c *Conn, now mono.Time)) {
	for c := w.far.head; c != nil; {
		next := c.tnext
		if c.deadline <= now {
			w.far.remove(c)
			w.count--
			c.deadline = 0
			fire(c, now)
		} else if int64(c.deadline)/int64(timerTick)-w.cur < wheelSlots {
			d := c.deadline
			w.far.remove(c)
			w.count--
			w.schedule(c, d)
		}
		c = next
	}
}
