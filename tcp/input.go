package tcp

import (
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tw"
)

// pawsIdle is how long ts_recent stays valid without a segment (RFC 7323 5.5: 24 days).
const pawsIdle = 24 * 24 * time.Hour

// input processes a segment for an existing connection (RFC 9293 3.10.7.3
// and 3.10.7.4, with RFC 5961 and RFC 7323).
func (c *Conn) input(seg *Segment) {
	s := c.shard
	now := s.now
	if c.state == SynSent {
		c.synSentInput(seg)
		return
	}
	flags := seg.Flags
	payload := seg.Payload

	// PAWS (RFC 7323 5.3).
	if c.tsOK && seg.Opts.HasTS && flags&FlagRST == 0 && c.tsRecent != 0 &&
		flow.Seq(seg.Opts.TSVal).LT(flow.Seq(c.tsRecent)) && now.Sub(c.tsRecentAge) < pawsIdle {
		s.stats[StatPAWSDrop]++
		c.ackNow = true
		c.output()
		return
	}

	// A SYN we already have (a retransmitted SYN, or the SYN-ACK of a
	// simultaneous open): strip it, as the trimming below would (FreeBSD
	// tcp_input), so that the rest of the segment is judged on its own.
	if flags&FlagSYN != 0 && seg.Seq.Add(1) == c.rcvNxt && c.state != SynSent {
		if c.state == SynReceived && flags&FlagACK == 0 && c.lst != nil {
			c.sendSYN() // the peer did not hear our SYN-ACK
			return
		}
		flags &^= FlagSYN
		seg.Seq++
	}

	// 1. Sequence number check.
	segLen := uint32(len(payload))
	if flags&FlagSYN != 0 {
		segLen++
	}
	if flags&FlagFIN != 0 {
		segLen++
	}
	wnd := c.rcvWindow()
	if c.rcvAdv.GT(c.rcvNxt) {
		wnd = max(wnd, c.rcvAdv.Sub(c.rcvNxt))
	}
	if flags&FlagRST != 0 {
		// A RST is judged against the window the peer was given (RFC
		// 9293 3.10.7.4: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND; with a
		// zero window only SEG.SEQ = RCV.NXT): one at or past rcv_adv is
		// dropped without a challenge ACK. FreeBSD's test leaves the
		// right edge out too; Linux's takes it in (docs/architecture.md).
		wnd = 0
		if c.rcvAdv.GT(c.rcvNxt) {
			wnd = c.rcvAdv.Sub(c.rcvNxt)
		}
	}
	ok := acceptable(seg.Seq, segLen, c.rcvNxt, wnd)
	if flags&FlagRST != 0 {
		ok = rstAcceptable(seg.Seq, c.rcvNxt, wnd)
	}
	if !ok {
		if flags&FlagRST == 0 {
			if flags&FlagSYN != 0 && c.state.synchronized() {
				c.challengeACK()
				return
			}
			if len(payload) > 0 {
				if seg.Seq.Add(uint32(len(payload))).LEQ(c.rcvNxt) {
					s.stats[StatRcvDupPack]++
					if c.state.synchronized() && int(c.rcvNxt.Sub(seg.Seq)) <= c.rcv.cap()+maxDSACKBack {
						c.setDSACK(seg.Seq, seg.Seq.Add(uint32(len(payload))))
					}
				} else {
					s.stats[StatRcvPackAfterWin]++
				}
			}
			if len(payload) > 0 && seg.Seq.Add(uint32(len(payload))).LEQ(c.rcvNxt) {
				// Data held already: its ACK (and D-SACK block) tells a
				// sender that retransmitted spuriously.
				c.ackNow = true
				c.output()
			} else {
				c.dropAfterAck()
			}
			if !c.state.synchronized() {
				c.emit(c.sndNxt, 0, FlagACK)
			}
		}
		return
	}

	// 2. RST (RFC 5961 3.2).
	if flags&FlagRST != 0 {
		if seg.Seq != c.rcvNxt && !s.cfg.InsecureRST {
			c.challengeACK()
			return
		}
		c.resetReceived()
		return
	}

	// Trim what lies before rcv_nxt and beyond the window.
	if seg.Seq.LT(c.rcvNxt) {
		d := c.rcvNxt.Sub(seg.Seq)
		if flags&FlagSYN != 0 {
			flags &^= FlagSYN
			d--
			seg.Seq++
		}
		if d > 0 && len(payload) > 0 && c.state.synchronized() {
			// Bytes we hold already: report them in a D-SACK block.
			c.setDSACK(seg.Seq, seg.Seq.Add(min(d, uint32(len(payload)))))
		}
		if d > 0 {
			if int(d) >= len(payload) {
				if len(payload) > 0 {
					s.stats[StatRcvDupPack]++
				}
				d = uint32(len(payload))
				if len(payload) > 0 {
					c.ackNow = true
					c.quickAcks = quickAckSegs // the sender retransmits: it is recovering
				}
			} else {
				s.stats[StatRcvPartDupPack]++
			}
			payload = payload[d:]
			seg.Seq = seg.Seq.Add(d)
		}
	}
	if end := c.rcvNxt.Add(wnd); seg.Seq.Add(uint32(len(payload))).GT(end) {
		keep := 0
		if end.GT(seg.Seq) {
			keep = min(int(end.Sub(seg.Seq)), len(payload))
		}
		payload = payload[:keep]
		flags &^= FlagFIN
		s.stats[StatRcvPackAfterWin]++
	}

	// 4. SYN in a synchronized state (RFC 5961 4.2), or a new SYN in SYN_RCVD.
	if flags&FlagSYN != 0 {
		if s.cfg.InsecureSYN {
			c.drop(syscall.ECONNRESET)
			return
		}
		c.challengeACK()
		return
	}

	// 5. ACK.
	if flags&FlagACK == 0 {
		return
	}
	// Timestamps: remember the peer's clock (RFC 7323 4.3).
	if c.tsOK && seg.Opts.HasTS && seg.Seq.LEQ(c.rcvAdv) && seg.Seq.Add(segLen).GEQ(c.rcvNxt) {
		c.tsRecent, c.tsRecentAge = seg.Opts.TSVal, now
	}
	c.keepProbes = 0
	c.lastRecv = now
	if c.winUpOwed != 0 {
		c.windowUpdateHeard()
	}
	if c.timers[timerKeep] != 0 && c.state.synchronized() {
		c.armKeep(now)
	}
	if c.state == SynReceived {
		if !(seg.Ack.GT(c.sndUna) && seg.Ack.LEQ(c.sndMax)) {
			s.reset(&c.tuple, seg.Ack, 0, FlagRST)
			return
		}
		c.sndUna = c.iss + 1
		c.rttSample(now, seg)
		c.rexmits = 0
		c.armTimer(timerRexmt, 0)
		c.ecnOK = c.ecnSYN && c.lst != nil // our SYN-ACK said ECE
		c.establish(seg)
		if c.state == Closed {
			return
		}
	}
	if !c.processACK(seg, uint32(len(payload)), flags) {
		return
	}
	if c.ecnOK {
		c.ecnSegment(flags, len(payload))
		if c.state == Closed {
			return
		}
	}

	// 7. Segment text.
	if len(payload) > 0 {
		switch c.state {
		case Established, FinWait1, FinWait2:
			if c.closedByApp {
				// Nobody will read it: reset (FreeBSD tcp_input, RFC 9293 3.10.4).
				s.stats[StatRcvAfterClose]++
				c.drop(syscall.ECONNRESET)
				return
			}
			c.receiveData(seg.Seq, payload)
		}
	}

	// 8. FIN.
	if flags&FlagFIN != 0 && seg.Seq.Add(uint32(len(payload))) == c.rcvNxt {
		c.receiveFIN()
	}
	if c.state == Closed {
		return
	}
	c.output()
	if h := c.handler; h != nil && (len(payload) > 0 || flags&FlagFIN != 0) && c.state != Closed {
		h.Readable(c)
	}
	if c.state == TimeWait {
		c.enterTimeWait() // after Readable: the application reads the last data first
	}
}

// acceptable is RFC 9293's segment acceptability test, but for a segment
// without data at the window's right edge, which BSD and Linux accept: a
// sender that filled our window and lost it sends its ACKs from snd_max,
// the edge; dropping them, we would not hear its ACKs until it retransmits.
func acceptable(seq flow.Seq, segLen uint32, rcvNxt flow.Seq, wnd uint32) bool {
	if segLen == 0 {
		return seq.InWindow(rcvNxt, wnd+1)
	}
	if wnd == 0 {
		return false
	}
	return seq.InWindow(rcvNxt, wnd) || seq.Add(segLen-1).InWindow(rcvNxt, wnd)
}

// rstAcceptable is the window test for a RST (RFC 9293 3.10.7.4): RCV.NXT
// =< SEG.SEQ < RCV.NXT+RCV.WND, or SEG.SEQ = RCV.NXT with a zero window.
// Unlike other segments without data, one exactly at the right edge is out.
func rstAcceptable(seq, rcvNxt flow.Seq, wnd uint32) bool {
	if wnd == 0 {
		return seq == rcvNxt
	}
	return seq.InWindow(rcvNxt, wnd)
}

// challengeACK sends an ACK for rcv_nxt, rate limited per shard (RFC 5961 7).
func (c *Conn) challengeACK() {
	s := c.shard
	if sec := s.now.Div(time.Second); sec != s.challengeSec {
		s.challengeSec, s.challengeCount = sec, 0
	}
	if s.challengeCount >= challengeACKLimit {
		return
	}
	s.challengeCount++
	s.stats[StatChallengeAck]++
	c.ackNow = true
	c.output()
	if !c.state.synchronized() {
		c.emit(c.sndNxt, 0, FlagACK)
	}
}

// dropAfterAck answers a segment dropped for its sequence number or for
// acknowledging data never sent with an ACK that states ours (RFC 9293
// 3.10.7.4), at most ack_war_cnt times per ack_war_timewindow per
// connection, as FreeBSD does: two ends that each find the other's ACKs
// unacceptable would otherwise answer each other for ever.
func (c *Conn) dropAfterAck() {
	s := c.shard
	if win, most := s.cfg.AckWarTimeWindow, s.cfg.AckWarCnt; win > 0 && most > 0 {
		now := uint32(int64(s.now) / int64(time.Millisecond))
		if now-c.ackWarStart >= uint32(win.Milliseconds()) || c.ackWarCnt == 0 {
			c.ackWarStart, c.ackWarCnt = now, 0
		}
		if int(c.ackWarCnt) >= most {
			s.stats[StatAckWarSuppressed]++
			return
		}
		c.ackWarCnt++
	}
	c.ackNow = true
	c.output()
}

// resetReceived handles an acceptable RST.
func (c *Conn) resetReceived() {
	s := c.shard
	switch c.state {
	case SynReceived:
		if c.lst != nil {
			// From a passive open: forget it, the listener stays.
			s.stats[StatConnDrops]++
			c.finish(syscall.ECONNREFUSED)
			return
		}
		s.stats[StatConnDrops]++
		c.finish(syscall.ECONNREFUSED)
	case Established, FinWait1, FinWait2, CloseWait:
		s.stats[StatDrops]++
		c.finish(syscall.ECONNRESET)
	default: // CLOSING, LAST_ACK, TIME_WAIT
		c.finish(nil)
	}
}

// establish moves the connection to ESTABLISHED after the handshake.
func (c *Conn) establish(seg *Segment) {
	s := c.shard
	c.sndWnd = uint32(seg.Window)
	if seg.Flags&FlagSYN == 0 {
		c.sndWnd <<= c.sndScale // a SYN-ACK's window is never scaled (RFC 7323 2.2)
	}
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	c.setState(Established)
	if c.finQueued {
		c.setState(FinWait1) // closed during the handshake
	}
	s.stats[StatConnects]++
	if c.ecnOK {
		s.stats[StatECNShs]++
		c.dctcpEnd = c.sndMax // DCTCP's first observation window (RFC 8257 3.3)
	}
	c.armTimer(timerKeep, 0)
	c.armKeep(s.now)
	if c.lst != nil {
		c.lst.pending--
		s.stats[StatAccepts]++
		if c.handler == nil {
			c.handler = c.lst.handler
		}
		c.lst = nil
	}
	if c.handler != nil {
		c.handler.Established(c)
	}
}

// synSentInput is RFC 9293 3.10.7.3 for SYN_SENT.
func (c *Conn) synSentInput(seg *Segment) {
	s := c.shard
	flags := seg.Flags
	if flags&FlagACK != 0 && (seg.Ack.LEQ(c.iss) || seg.Ack.GT(c.sndMax)) {
		if flags&FlagRST == 0 {
			s.reset(&c.tuple, seg.Ack, 0, FlagRST)
		}
		return
	}
	if flags&FlagRST != 0 {
		if flags&FlagACK != 0 {
			s.stats[StatConnDrops]++
			c.finish(syscall.ECONNREFUSED)
		}
		return
	}
	if flags&FlagSYN == 0 {
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.rcvAdv = c.rcvNxt // what our SYN advertised was relative to nothing
	c.negotiate(&seg.Opts, false)
	if flags&FlagACK == 0 {
		// Simultaneous open (RFC 9293 3.5, figure 8; 3.10.7.3 sets the
		// send window from the SYN).
		c.sndWnd, c.sndWl1, c.sndWl2 = uint32(seg.Window), seg.Seq, c.iss
		c.ecnSYN = false // no ECN on a simultaneous open
		c.setState(SynReceived)
		c.sendSYN()
		return
	}
	c.sndUna = seg.Ack
	c.rttSample(s.now, seg)
	c.rexmits = 0
	c.armTimer(timerRexmt, 0)
	// An ECN-setup SYN-ACK has ECE and not CWR (RFC 3168 6.1.1).
	c.ecnOK = c.ecnSYN && flags&(FlagECE|FlagCWR) == FlagECE
	c.establish(seg)
	if c.state == Closed {
		return
	}
	c.ackNow = true
	payload := seg.Payload
	if len(payload) > 0 {
		c.receiveData(seg.Seq+1, payload)
	}
	if flags&FlagFIN != 0 && (seg.Seq+1).Add(uint32(len(payload))) == c.rcvNxt {
		c.receiveFIN()
	}
	if c.deferConnAck && len(payload) == 0 && flags&FlagFIN == 0 && c.snd.n == 0 && !c.finQueued && c.state == Established {
		// SetDeferHandshakeACK: the first data carries it (emit ends the
		// wait), or the delayed-ACK timer sends it alone.
		c.ackNow = false
		c.armTimer(timerDelAck, s.now.Add(s.cfg.DelAckTime))
		s.stats[StatConnAckDeferred]++
	}
	c.output()
	if c.handler != nil && c.state != Closed && (len(payload) > 0 || flags&FlagFIN != 0) {
		c.handler.Readable(c)
	}
	if c.state == TimeWait {
		c.enterTimeWait()
	}
}

// negotiate records the options of the peer's SYN (RFC 9293 3.7.1, RFC
// 7323, RFC 2018); passive says we are answering it.
func (c *Conn) negotiate(o *Options, passive bool) {
	cfg := &c.shard.cfg
	peerMSS := cfg.MSSDflt
	if o.HasMSS && o.MSS > 0 {
		peerMSS = int(o.MSS)
	}
	c.mss = min(peerMSS, c.ourMSS)
	if c.maxSeg > 0 {
		c.mss = min(c.mss, c.maxSeg)
	}
	if c.mss < 64 {
		c.mss = 64
	}
	c.pathMSS()
	opts := cfg.RFC1323 && !c.noOpt
	c.wsOK = opts && o.HasWScale
	if c.wsOK {
		c.sndScale = min(o.WScale, maxWScale)
	} else {
		c.sndScale, c.rcvScale = 0, 0
	}
	c.tsOK = opts && o.HasTS
	if c.tsOK {
		c.tsRecent, c.tsRecentAge = o.TSVal, c.shard.now
	}
	c.sackOK = cfg.SACK && !c.noOpt && o.SACKPermitted
	c.rackOK = c.sackOK && cfg.FunctionsDefault != StackFreeBSD
	c.cwnd = uint32(cfg.InitCwndSegments * c.mss)
}

// processACK is step 5 for synchronized states. It reports false when the
// segment must not be processed further.
func (c *Conn) processACK(seg *Segment, dataLen uint32, flags Flags) bool {
	s := c.shard
	ack := seg.Ack
	s.stats[StatRcvAckTotal]++
	if ack == c.sndMax.Add(1) && c.timers[timerPersist] != 0 && c.sndNxt == c.sndMax && int(c.sndMax.Sub(c.sndUna)) < c.snd.n {
		// The byte of our window probe (fire.go), which a receiver with
		// room under its rounded-down window takes, as FreeBSD's does, or
		// one whose window had opened with the update lost or crossing the
		// probe: it was sent, so its ACK is no ACK of unsent data. Dropping
		// it, and every segment after it that carries it, would stop both
		// directions.
		c.sndNxt, c.sndMax = ack, ack
	}
	if ack.GT(c.sndMax) {
		s.stats[StatRcvAckTooMuch]++
		c.dropAfterAck()
		return false
	}
	// RFC 5961 5.2: an ACK far below snd_una is dropped with an ACK.
	if ack.LT(c.sndUna.Add(-c.maxSndWnd)) && ack.LT(c.sndUna) {
		c.challengeACK()
		return false
	}
	oldUna, sackedBefore, firstSACK := c.sndUna, c.rackSACKed(), 0
	rackXmit := c.rackXmit() // for HyStart++'s sample: did this ACK move RACK.xmit_ts?
	if c.sackOK && seg.Opts.NumSACK > 0 {
		firstSACK = c.sackInput(&seg.Opts, ack)
	}
	dupNoSACK := false
	if ack.LEQ(c.sndUna) {
		// A duplicate ACK (RFC 5681 2): no data, no FIN, data outstanding,
		// and the same window — or SACK blocks, which say the receiver holds
		// data above a hole whatever it does with its window.
		if ack == c.sndUna && dataLen == 0 && flags&FlagFIN == 0 && c.sndMax != c.sndUna &&
			(uint32(seg.Window)<<c.sndScale == c.sndWnd || c.sackOK && seg.Opts.NumSACK > 0) {
			s.stats[StatRcvDupAck]++
			if c.rackOK {
				// RACK, not a count of duplicates, detects losses.
				c.dupAcks++
				dupNoSACK = seg.Opts.NumSACK == 0
			} else {
				c.dupAck()
			}
		} else if ack == c.sndUna {
			c.dupAcks = 0
		}
	} else {
		acked := ack.Sub(c.sndUna)
		rtt := c.rttSample(s.now, seg)
		finAcked := c.finQueued && ack.GT(c.finSeq)
		data := acked
		if finAcked {
			data--
		}
		if c.sndUna == c.iss {
			data-- // our SYN (closed in SYN_RCVD, RFC 9293 3.10.4)
		}
		c.snd.discard(int(data))
		c.sb.trim(ack)
		if c.rackOK {
			c.txAcked(ack)
		}
		// The window is relative to snd_una, and this segment's may not be
		// taken (below, only when it is newer than the last one taken):
		// until it is, the right edge stays where the last window put it.
		// Else what newAck and the handlers send goes past what the
		// receiver offered; it drops it, and once its window is shut it
		// drops our ACKs too (their sequence number lies beyond it), and
		// both ends wait for good.
		c.sndWnd -= min(c.sndWnd, acked)
		if c.hs.phase != hsDone {
			c.hystartAck(ack, c.hystartRTT(rackXmit, rtt))
		}
		c.newAck(ack, acked)
		c.sndUna = ack
		if c.sndNxt.LT(c.sndUna) {
			c.sndNxt = c.sndUna
		}
		c.rexmits = 0
		c.persistShift = 0
		c.lastAdvance = s.now
		if c.inLoss && c.sndUna.GEQ(c.recover) {
			c.inLoss = false // what was in flight at the timeout arrived
		}
		if c.inCWR && c.sndUna.GEQ(c.cwrEnd) {
			c.inCWR = false // the window of the ECN reduction is over
		}
		c.tlpDone = false
		if c.sndUna == c.sndMax {
			c.armTimer(timerRexmt, 0)
		} else {
			c.armRexmt()
		}
		if finAcked {
			switch c.state {
			case FinWait1:
				c.setState(FinWait2)
				if c.closedByApp {
					c.armTimer(timer2MSL, s.now.Add(s.cfg.FinWait2Timeout))
				}
			case Closing:
				c.setState(TimeWait)
				c.enterTimeWait()
				return false
			case LastAck:
				c.finish(nil)
				return false
			}
		} else if data > 0 && c.handler != nil && !c.finQueued {
			defer c.notifyWritable()
		}
	}
	// Window update (RFC 9293 3.10.7.4, SND.WL1/WL2).
	if c.sndWl1.LT(seg.Seq) || (c.sndWl1 == seg.Seq && c.sndWl2.LEQ(ack)) {
		c.sndWnd = uint32(seg.Window) << c.sndScale
		c.sndWl1, c.sndWl2 = seg.Seq, ack
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		if c.sndWnd > 0 && c.timers[timerPersist] != 0 {
			c.armTimer(timerPersist, 0)
			if c.sndUna != c.sndMax {
				// What was in flight when the window shut may be gone:
				// send it again now that it is open (RFC 9293 3.8.6.1).
				c.sndNxt = c.sndUna
				c.armRexmt()
			}
		}
	}
	if c.rackOK && c.sndUna != c.iss {
		if firstSACK < seg.Opts.NumSACK {
			c.txSACKBlocks(&seg.Opts, firstSACK)
		}
		delivered := int64(c.sndUna.Sub(oldUna)) + int64(c.rackSACKed()) - int64(sackedBefore)
		c.rackOnAck(uint32(max(delivered, 0)), c.sndUna != oldUna, dupNoSACK)
	}
	if c.ecnOK && flags&FlagSYN == 0 {
		c.ecnAck(c.sndUna.Sub(oldUna), flags&FlagECE != 0)
	}
	if s.tracer != nil && c.state != Closed {
		c.trace(TraceAck)
	}
	return true
}

func (c *Conn) notifyWritable() {
	if c.handler != nil && c.state != Closed && c.snd.free() > 0 {
		c.handler.Writable(c)
	}
}

// dupAck handles a duplicate ACK: Limited Transmit, then fast retransmit
// and NewReno recovery (RFC 5681 3.2, RFC 6582).
func (c *Conn) dupAck() {
	c.dupAcks++
	mss := uint32(c.mss)
	if c.sackOK {
		switch {
		case c.inRecovery:
			c.sackRetransmit()
			return
		case c.dupAcks >= 3 || c.sb.bytes >= 3*mss ||
			// RACK's rule, simplified (RFC 8985 6.2): data sent after the
			// hole arrived, and more than a round trip and a quarter has
			// passed since snd_una moved.
			c.sb.bytes > 0 && c.srtt > 0 && c.shard.now.Sub(c.lastAdvance) > c.srtt+c.srtt/4:
			if c.sndUna.LT(c.recover) {
				break // still in the window of an earlier recovery
			}
			c.sackEnterRecovery()
			return
		}
		c.output()
		return
	}
	switch {
	case c.inRecovery:
		c.cwnd += mss
	case c.dupAcks == 3:
		if c.sndUna.LT(c.recover) {
			// Still in the window of an earlier recovery (RFC 6582 4.1 step 2).
			return
		}
		c.ssthresh = c.lossSsthresh()
		c.recover = c.sndMax
		c.inRecovery = true
		c.retransmitFirst()
		c.cwnd = c.ssthresh + 3*mss
	}
	c.output()
}

// newAck updates congestion control for acked bytes that advance snd_una to ack.
func (c *Conn) newAck(ack flow.Seq, acked uint32) {
	mss := uint32(c.mss)
	if c.rackOK {
		if c.inRecovery {
			if ack.GEQ(c.recover) {
				c.rackExitRecovery()
			}
			return // PRR sets cwnd (rackOnAck)
		}
		c.dupAcks = 0
		if !c.inCWR {
			c.cc.OnAck(c, acked)
		}
		return
	}
	if c.inRecovery && c.sackOK {
		if ack.GEQ(c.recover) {
			// Recovery is over (RFC 6675 5, step 4.4 ends).
			c.cwnd = c.ssthresh
			c.inRecovery = false
			c.dupAcks = 0
			return
		}
		// A partial ACK: keep filling holes once snd_una has moved.
		c.sndUna = ack
		c.sackRetransmit()
		return
	}
	if c.inRecovery {
		if ack.GEQ(c.recover) {
			// Full acknowledgment: leave recovery (RFC 6582 3.2 step 3).
			flight := c.sndMax.Sub(ack)
			c.cwnd = min(c.ssthresh, max(flight, mss)+mss)
			c.inRecovery = false
			c.dupAcks = 0
			return
		}
		// Partial acknowledgment: retransmit the next hole, deflate.
		c.sndUna = ack
		c.retransmitFirst()
		if acked >= c.cwnd {
			c.cwnd = mss
		} else {
			c.cwnd -= acked
		}
		if acked >= mss {
			c.cwnd += mss
		}
		return
	}
	c.dupAcks = 0
	if !c.inCWR {
		c.cc.OnAck(c, acked) // not while the window is reduced for ECN
	}
}

// retransmitFirst resends the first unacknowledged segment.
func (c *Conn) retransmitFirst() {
	n := min(c.snd.n, c.segSize())
	flags := FlagACK
	if n == 0 {
		if !c.finQueued || c.finAcked() {
			return
		}
		flags |= FlagFIN
	}
	if c.emit(c.sndUna, n, flags) {
		c.shard.stats[StatSndRexmitPack]++
		c.shard.stats[StatSndRexmitByte] += uint64(n)
		c.rtTime = 0 // Karn
	} else {
		c.noFrame() // the RTO sends it
	}
}

// rttSample takes an RTT sample when the ACK covers the segment being timed
// with the shard's clock, or else from the timestamp echo (RFC 6298, RFC
// 7323 4.1). The timed segment is preferred: the timestamp clock ticks in
// milliseconds, coarser than the round trip of a local link. It returns
// the sample, negative when it took none.
func (c *Conn) rttSample(now mono.Time, seg *Segment) time.Duration {
	var r time.Duration = -1
	if c.rtTime != 0 && seg.Ack.GT(c.rtSeq) {
		r = now.Sub(c.rtTime)
		c.rtTime = 0
	} else if c.tsOK && seg.Opts.HasTS && seg.Opts.TSEcr != 0 {
		if ts, ecr := flow.Seq(c.tsNow()), flow.Seq(seg.Opts.TSEcr); ts.GEQ(ecr) {
			// Below one tick the round trip is known only to be under a
			// millisecond: take half of one (FreeBSD adds a tick).
			r = max(time.Duration(ts.Sub(ecr))*tsTick, tsTick/2)
		}
	}
	if r < 0 {
		return r
	}
	if c.srtt == 0 {
		c.srtt = max(r, 1)
		c.rttvar = r / 2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar += (d - c.rttvar) / 4
		c.srtt += (r - c.srtt) / 8
		if c.srtt <= 0 {
			c.srtt = 1
		}
	}
	cfg := &c.shard.cfg
	c.rto = min(max(c.srtt+4*c.rttvar+cfg.RexmitSlop, cfg.RexmitMin), MaxRTO)
	return r
}

// receiveData places in-window data in the receive buffer (in order, or
// out of order for reassembly) and decides how to acknowledge it.
func (c *Conn) receiveData(seq flow.Seq, p []byte) {
	s := c.shard
	if seq == c.rcvNxt {
		c.rcv.copyIn(c.rcv.n, p)
		c.rcv.n += len(p)
		c.rcvNxt = c.rcvNxt.Add(uint32(len(p)))
		s.stats[StatRcvPack]++
		s.stats[StatRcvByte] += uint64(len(p))
		if c.reas.n > 0 {
			// Data that waited out of order may now follow.
			next := c.reas.advance(c.rcvNxt)
			c.rcv.n += int(next.Sub(c.rcvNxt))
			c.rcvNxt = next
			c.ackNow = true // a hole filled: ACK at once (RFC 5681 4.2)
			c.quickAcks = quickAckSegs
			return
		}
		c.delAcked++
		switch {
		case !s.cfg.DelayedAck:
			c.ackNow = true
		case c.quickAcks > 0:
			c.quickAcks--
			c.ackNow = true
		case c.delAcked >= 2 && s.batching:
			c.deferAck()
		case c.delAcked >= 2:
			c.ackNow = true
		case c.timers[timerDelAck] == 0:
			c.armTimer(timerDelAck, s.now.Add(s.cfg.DelAckTime))
		}
		return
	}
	// Out of order: keep it where it belongs if the queue has room.
	s.stats[StatRcvOOPack]++
	if end := seq.Add(uint32(len(p))); c.reas.covers(seq, end) {
		c.setDSACK(seq, end) // all of it held already
	}
	off := int(seq.Sub(c.rcvNxt)) + c.rcv.n
	if off+len(p) <= c.rcv.cap() {
		c.copyUnheld(seq, off, p)
		if !c.reas.add(seq, seq.Add(uint32(len(p))), s.cfg.ReassMaxQueueLen) {
			c.rcv.trimTo(c.reasEnd()) // the chunks past every range held nothing of use
		}
	}
	c.ackNow = true // a duplicate ACK, with SACK blocks, at once
	c.quickAcks = quickAckSegs
}

// quickAckSegs is how many in-order segments a receiver acknowledges one
// by one after it saw a loss (data out of order, a hole filled, or a
// segment it held already), instead of every second one with a delayed
// ACK for a lone one. A sender recovering from a loss has a small window
// (PRR sends about a segment per ACK, one after a timeout): a delayed ACK
// then holds its next segment back for up to delacktime (40 ms), a
// round trip hundreds of times the bed's. Linux's receiver does the same
// (its quick-ACK mode, TCP_MAX_QUICKACKS segments); FreeBSD's ACKs at once
// only while its reassembly queue is not empty.
const quickAckSegs = 16

// maxDSACKBack bounds how far below rcv_nxt a duplicate may start to be
// reported: a segment older than a window and this much is no copy of
// ours.
const maxDSACKBack = 1 << 20

// setDSACK notes a duplicate [l, r) for the next ACK's first SACK block
// (RFC 2883), when the peer takes SACK.
func (c *Conn) setDSACK(l, r flow.Seq) {
	if c.sackOK && c.shard.cfg.DSACK {
		c.dsackL, c.dsackLen = l, uint16(min(r.Sub(l), 0xffff))
	}
}

// copyUnheld copies into the receive buffer (p goes at offset off, for
// sequence number seq) only the bytes of p that no out-of-order range holds
// yet: where copies overlap, the first one received stays, as in Linux and
// FreeBSD for a segment that starts inside data they hold. Bytes copied
// outside any range that add then refuses to record are simply not used.
func (c *Conn) copyUnheld(seq flow.Seq, off int, p []byte) {
	end := seq.Add(uint32(len(p)))
	for i := 0; i < c.reas.n && seq.LT(end); i++ {
		r := c.reas.ranges[i]
		if r.end.LEQ(seq) {
			continue
		}
		if end.LEQ(r.start) {
			break
		}
		if seq.LT(r.start) {
			n := int(r.start.Sub(seq))
			c.rcv.copyIn(off, p[:n])
		}
		n := min(int(r.end.Sub(seq)), len(p))
		seq, off, p = seq.Add(uint32(n)), off+n, p[n:]
	}
	if len(p) > 0 {
		c.rcv.copyIn(off, p)
	}
}

// receiveFIN processes the peer's FIN once it is in order.
func (c *Conn) receiveFIN() {
	c.rcvNxt++
	c.finRcvd = true
	switch c.state {
	case Established:
		c.setState(CloseWait)
		c.delayFINAck()
		return
	}
	c.ackNow = true
	switch c.state {
	case SynReceived:
		c.setState(CloseWait)
	case FinWait1:
		if c.sndUna == c.sndMax && c.finQueued {
			c.emit(c.sndNxt, 0, FlagACK)
			c.setState(TimeWait) // the caller hands it to the TIME_WAIT table
			return
		}
		c.setState(Closing)
	case FinWait2:
		c.emit(c.sndNxt, 0, FlagACK)
		c.setState(TimeWait)
	}
}

// delayFINAck owes the ACK of a FIN that moved the connection to
// CLOSE_WAIT as a delayed ACK, so that the application, which most often
// closes its side as soon as it sees the end, sends it with its own FIN:
// one segment instead of two, as Linux does (it enters its delayed-ACK
// "ping-pong" mode on a FIN). FreeBSD acknowledges the FIN at once. The
// delayed-ACK timer (delacktime) bounds the wait, far below the peer's
// retransmission timeout; after a loss (quick ACKs) or with delayed ACKs
// off it goes at once.
func (c *Conn) delayFINAck() {
	switch {
	case !c.shard.cfg.DelayedAck || c.quickAcks > 0:
		c.ackNow = true
	case c.timers[timerDelAck] == 0:
		c.armTimer(timerDelAck, c.shard.now.Add(c.shard.cfg.DelAckTime))
	}
}

// enterTimeWait ends a connection that reached TIME_WAIT (FreeBSD
// tcp_twstart): the shard's tw table keeps what TIME_WAIT needs — the
// 4-tuple, snd_nxt, rcv_nxt, the last window field, ts_recent and whether
// timestamps were on, SO_REUSEADDR and SO_REUSEPORT — for 2MSL, and the
// connection is freed at once: the application hears Closed(nil) and may
// not use it again. Its state is CLOSED; the 4-tuple's TIME_WAIT is the
// shard's (Shard.InTimeWait). With nolocaltimewait and a local peer, or when
// the table can make no entry, the connection closes without TIME_WAIT.
func (c *Conn) enterTimeWait() {
	s := c.shard
	st := tw.State{SndNxt: uint32(c.sndNxt), RcvNxt: uint32(c.rcvNxt), Window: c.advertise(),
		TSRecent: c.tsRecent, TS: c.tsOK, ReuseAddr: c.reuseAddr, ReusePort: c.reusePort}
	if s.cfg.NoLocalTimeWait && s.isLocal(&c.tuple) {
		s.stats[StatTWNoLocal]++
		c.finish(nil)
		return
	}
	recycled, ok := s.tw.Insert(&c.tuple, &st, s.now)
	s.stats[StatClosed] += uint64(recycled) // the entries recycled to make room
	if !ok {
		c.finish(nil)
		return
	}
	// Closed is counted when the entry ends.
	c.release(nil)
}

// isLocal reports whether a connection's peer is this host (nolocaltimewait).
func (s *Shard) isLocal(t *flow.Tuple) bool {
	if s.cfg.Local != nil {
		return s.cfg.Local(t.RemoteAddr)
	}
	a := t.RemoteAddr
	return a == t.LocalAddr || a == [16]byte{15: 1} || // ::1
		[12]byte(a[:12]) == [12]byte{10: 0xff, 11: 0xff} && a[12] == 127 // 127.0.0.0/8
}
