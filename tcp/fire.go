package tcp

import (
	"syscall"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// timeoutErr is the error a connection that timed out reports: the last
// ICMP soft error if there was one, else ETIMEDOUT.
func (c *Conn) timeoutErr() error {
	if c.softUnreach {
		return syscall.EHOSTUNREACH
	}
	return syscall.ETIMEDOUT
}

// Tick runs the timers due at now and ends the TIME_WAIT entries whose
// 2MSL is over.
func (s *Shard) Tick(now mono.Time) {
	s.now = now
	if s.nRST > 0 {
		s.flushRSTs()
	}
	s.wheel.advance(now, fireTimers)
	s.pool.trim(now)
	s.shrinkConns()
	if n := s.tw.Expire(now); n > 0 {
		s.stats[StatClosed] += uint64(n)
	}
	if s.ticker != nil {
		s.ticker(now)
	}
}

// SetTicker gives the shard a function that every Tick calls after the
// shard's own timers, with Tick's now: the place for an application's
// periodic work that belongs to no connection (a proxy's health checks,
// say), run on the shard's core. Tick runs at every turn of the core's
// loop, so fn should cost a comparison when nothing is due. nil removes it.
func (s *Shard) SetTicker(fn func(now mono.Time)) { s.ticker = fn }

// RxDropped tells the shard that its link dropped received frames before
// they reached it (the kernel's AF_XDP ring overflowing), as of now: a
// retransmission timeout then may be the acknowledgements' loss at our own
// ring, and black-hole detection does not take it for a black hole
// (pmtu.go).
//
// While the drops last, and RxDropHold after the last, the receive
// windows are held to rxdrop_window in all (rxDropShare).
func (s *Shard) RxDropped(now mono.Time) {
	if s.cfg.RxDropWindow > 0 && (s.lastRxDrop == 0 || now.Sub(s.lastRxDrop) >= RxDropHold) {
		s.stats[StatRxDropWindow]++
	}
	s.lastRxDrop = now
}

// rxDropShare is what one connection's receive window may promise (with
// what it holds unread) while the link drops received frames: the
// rxdrop_window budget over the connections that receive, at least two
// segments; 0 when the link has not dropped within RxDropHold (or the
// budget is off). Peers then cannot have much more in flight toward the
// core than its receive ring holds, however many they are, and a ring
// that overflowed for want of CPU does not go on losing a fifth of what
// comes (which BBR peers take for a policer and answer by sending at the
// rate they saw in the loss, for many round trips). A lone connection
// keeps the whole budget.
func (s *Shard) rxDropShare() int {
	if s.cfg.RxDropWindow == 0 || s.lastRxDrop == 0 || s.now.Sub(s.lastRxDrop) >= RxDropHold {
		return 0
	}
	n := s.stateCount[Established] + s.stateCount[FinWait1] + s.stateCount[FinWait2]
	return s.cfg.RxDropWindow / max(1, n)
}

// NextTimer returns the earliest armed deadline (a connection's timer or
// the end of the oldest TIME_WAIT entry's 2MSL), for tests and idle loops;
// ok is false when none is armed.
func (s *Shard) NextTimer() (at mono.Time, ok bool) {
	at, ok = s.tw.NextExpiry()
	if s.wheel.count == 0 {
		return at, ok
	}
	for _, c := range s.conns {
		if c.deadline != 0 && (!ok || c.deadline < at) {
			at, ok = c.deadline, true
		}
	}
	return at, ok
}

// fireTimers runs a connection's expired timers and reschedules it.
func fireTimers(c *Conn, now mono.Time) {
	for k := timerKind(0); k < numTimers; k++ {
		if c.state == Closed || c.shard == nil {
			return
		}
		if t := c.timers[k]; t != 0 && t <= now {
			c.timers[k] = 0
			c.fire(k, now)
		}
	}
	if c.shard != nil && c.state != Closed {
		c.reschedule()
	}
}

// fire handles one expired timer.
func (c *Conn) fire(k timerKind, now mono.Time) {
	s := c.shard
	switch k {
	case timerRexmt:
		switch c.rexmtMode {
		case rexmtTLP:
			c.rexmtMode = rexmtRTO
			if c.rackOK {
				c.rackProbe()
			} else {
				c.tailLossProbe()
			}
			return
		case rexmtReorder:
			c.rackTimeout()
			return
		}
		if c.sndUna == c.sndMax && (c.state.synchronized() || c.sndMax == c.iss) {
			// Nothing in flight: a send that found no frame (noFrame, or
			// sendSYN before its first SYN went) armed the timer. Send
			// what waits; it is no loss.
			if c.state.synchronized() {
				c.output()
			} else {
				c.sendSYN()
			}
			return
		}
		s.stats[StatRexmtTimeo]++
		c.rexmits++
		if c.state == SynSent || c.state == SynReceived {
			if c.rexmits > MaxSynRexmits {
				s.stats[StatTimeoutDrop]++
				c.drop(c.timeoutErr())
				return
			}
			rto, nf := c.rto, s.stats[StatSndNoFrame]
			c.rto = min(c.rto*2, MaxRTO)
			c.rtTime = 0
			c.sendSYN()
			if s.stats[StatSndNoFrame] != nf {
				// No frame: as for data below, no backoff and no count.
				c.rexmits--
				c.rto = rto
				c.armTimer(timerRexmt, now.Add(rto))
			}
			return
		}
		if c.sndWnd == 0 {
			// A zero window is not a loss: probe it.
			c.rexmits--
			c.armPersist()
			return
		}
		if c.rexmits > MaxRexmits {
			s.stats[StatTimeoutDrop]++
			c.drop(c.timeoutErr())
			return
		}
		c.blackholeDetect()
		rto := c.rto
		c.rto = min(c.rto*2, MaxRTO)
		if c.rackOK {
			c.frto = frtoNone
			if c.rexmits == 1 && !c.inRecovery && c.sndUna.GEQ(c.recover) {
				// The first timeout of an episode: it may prove spurious
				// (F-RTO, RFC 5682), and its reduction be taken back.
				c.startUndo()
				if s.cfg.FRTO {
					c.frto = frtoFirstAck
				}
			}
		}
		if c.rexmits == 1 {
			c.ssthresh = c.cc.OnCongestion(c)
		}
		// One segment (RFC 5681 3.1, the loss window): its payload, not
		// the MSS, which would let a second segment of the bytes the
		// options take follow it.
		c.cwnd = uint32(c.segSize())
		c.inRecovery = false
		c.inLoss = true
		c.dupAcks = 0
		c.sb.reset()
		if c.rackOK {
			c.rackRTO()
		}
		c.highRxt = c.sndUna
		c.recover = c.sndMax
		c.rtTime = 0
		c.sndNxt = c.sndUna
		sent, nf := s.stats[StatSndTotal], s.stats[StatSndNoFrame]
		c.output()
		if s.stats[StatSndTotal] == sent && s.stats[StatSndNoFrame] != nf {
			// The retransmission found no frame: nothing went, so the
			// timeout does not count towards giving up and the timer is
			// not backed off; it tries again at the same RTO.
			c.rexmits--
			c.rto = rto
			c.armTimer(timerRexmt, now.Add(c.rto))
		}
		if c.timers[timerRexmt] == 0 && c.sndUna != c.sndMax {
			c.armTimer(timerRexmt, now.Add(c.rto))
		}
		if s.tracer != nil {
			c.trace(TraceRTO)
		}
	case timerPersist:
		s.stats[StatPersistTimeo]++
		// A peer that keeps its window shut is kept only while it answers:
		// silence for keepidle (FreeBSD's maxpersistidle), or for
		// finwait2_timeout once the application has closed, drops it.
		idle := now.Sub(c.lastRecv)
		if idle >= c.keepIdle || c.closedByApp && idle >= s.cfg.FinWait2Timeout {
			s.stats[StatPersistDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		c.persistShift = min(c.persistShift+1, 12)
		if c.sndWnd > 0 {
			// A window under a segment held the data back: send what it
			// takes (the override of silly window avoidance).
			c.forceData = true
			c.output()
			c.forceData = false
			return
		}
		// Send one byte beyond the window (RFC 9293 3.8.6.1). A probe that
		// finds no frame is sent when the timer, re-armed below, expires.
		off := int(c.sndNxt.Sub(c.sndUna))
		var sent bool
		if off < c.snd.n {
			c.noECT = true // a window probe is not ECT (RFC 3168 6.1.6)
			sent = c.emit(c.sndNxt, 1, FlagACK)
			c.noECT = false
		} else {
			sent = c.emit(c.sndNxt-1, 0, FlagACK)
		}
		if sent {
			s.stats[StatSndProbe]++
		} else {
			s.stats[StatSndNoFrame]++
		}
		if c.sndWnd == 0 {
			c.armPersist()
		}
	case timerKeep:
		s.stats[StatKeepTimeo]++
		if !c.state.synchronized() {
			s.stats[StatKeepDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		if !(c.keepalive || s.cfg.AlwaysKeepalive) || c.state >= FinWait2 && c.state != CloseWait {
			return
		}
		if int(c.keepProbes) >= c.keepCnt {
			s.stats[StatKeepDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		c.timers[timerKeep] = now.Add(c.keepIntvl)
		if !c.emit(c.sndUna-1, 0, FlagACK) {
			s.stats[StatSndNoFrame]++ // the next interval tries again; not counted as a probe
			return
		}
		c.keepProbes++
		s.stats[StatKeepProbe]++
	case timerDelAck:
		if c.winUpOwed != 0 && !c.ackNow {
			c.resendWindowUpdate()
			return
		}
		c.ackNow = true
		c.output()
		if !c.ackNow {
			s.stats[StatDelAck]++ // else noFrame armed it again
		}
	case timer2MSL:
		if c.state == FinWait2 {
			if !s.cfg.FastFinWait2Recycle && now.Sub(c.lastRecv) <= time.Duration(c.keepCnt)*c.keepIntvl {
				// FreeBSD tcp_timer_2msl: heard from within TP_MAXIDLE.
				c.timers[timer2MSL] = now.Add(c.keepIntvl)
				return
			}
			c.finish(nil)
		}
	case timerApp:
		if h, ok := c.handler.(AppTimerHandler); ok && !c.closedByApp {
			h.AppTimer(c)
		}
	}
}
