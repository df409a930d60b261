package tcp

import "github.com/pollstack/pollstack/mono"

// AppTimerHandler is a Handler that uses its connections' application
// timer (Conn.SetAppTimer): an on-core app's own timeouts, kept in the
// shard's timer wheel beside the connection's TCP timers.
type AppTimerHandler interface {
	Handler
	// AppTimer is called on the connection's core, from Shard.Tick, when
	// the deadline set with SetAppTimer has passed (and the application
	// has not closed the connection). The timer is disarmed first; the
	// handler may arm it again, write, Close or Abort.
	AppTimer(c *Conn)
}

// SetAppTimer arms the connection's application timer at the instant at
// (0 disarms it); when it passes, the handler's AppTimer is called if the
// handler is an AppTimerHandler. Arming costs a comparison when at is not
// earlier than the connection's place in the wheel: the connection stays
// where it is and is moved when that earlier instant comes, so an app may
// push its deadline on every request. Owner only; a closed connection
// ignores it.
func (c *Conn) SetAppTimer(at mono.Time) {
	if c.shard == nil || c.state == Closed {
		return
	}
	c.timers[timerApp] = at
	if at != 0 && (c.deadline == 0 || at < c.deadline || c.tlist == nil) {
		c.reschedule()
	}
}

// AppTimer returns the application timer's deadline, 0 when disarmed.
func (c *Conn) AppTimer() mono.Time { return c.timers[timerApp] }
