package tcp

import "time"

// A window update is not acknowledged, and a lost one can stop a
// connection for minutes: the peer, shut out by a window of less than a
// segment, learns that it opened only from its next zero-window probe,
// and a peer that has been probing for long backs its probes off (Linux to
// two minutes, FreeBSD to a minute). Behind a proxy whose other leg was
// slow that is a pair silent long enough for the idle timeout to end it.
// So when an ACK opens a window the peer could not send a segment into,
// and nothing comes from the peer, the ACK goes again: after the RTO (200
// ms to a second), then twice as long each time, winUpTries times, until
// any segment from the peer arrives. The delayed-ACK timer, idle while no
// segment comes, times it.

// winUpTries is how many times an unanswered window update is sent again.
const winUpTries = 6

// winUpMaxWait caps the wait before each of them.
const winUpMaxWait = 16 * time.Second

// rcvShut reports whether the window advertised leaves the peer less
// than one of our segments to send.
func (c *Conn) rcvShut() bool {
	return !c.rcvAdv.GT(c.rcvNxt) || c.rcvAdv.Sub(c.rcvNxt) < uint32(c.ourMSS)
}

// winUpMinWait is the least wait before the first: Linux's least RTO, so
// that a path whose RTO is shorter (rexmit_min and rexmit_slop set low)
// does not send updates again faster than a busy peer answers.
const winUpMinWait = 200 * time.Millisecond

// winUpWait is how long to wait for the peer before the next window
// update: the RTO (200 ms to a second), doubled for each one sent again.
func (c *Conn) winUpWait() time.Duration {
	return min(min(max(c.rto, winUpMinWait), time.Second)<<(c.winUpOwed-1), winUpMaxWait)
}

// resendWindowUpdate sends the window update again (delayed-ACK timer,
// winUpOwed set), or gives up after winUpTries: the peer's own probes are
// then the only way left, as without this.
func (c *Conn) resendWindowUpdate() {
	if c.winUpOwed > winUpTries || !c.state.synchronized() || c.finRcvd {
		c.winUpOwed = 0
		return
	}
	c.winUpOwed++
	c.shard.stats[StatWinUpResent]++
	c.ackNow = true
	c.output() // emit arms the timer again with the next wait
}

// windowUpdateHeard is called for each acceptable segment while a window
// update is owed: the peer is sending again, or has answered, so the
// window it knows is ours. A delayed-ACK timer armed only for the update
// is cancelled.
func (c *Conn) windowUpdateHeard() {
	c.winUpOwed = 0
	if !c.ackNow && c.timers[timerDelAck] != 0 {
		c.armTimer(timerDelAck, 0)
	}
}
