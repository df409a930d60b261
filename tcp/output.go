package tcp

import "github.com/pollstack/pollstack/flow"

// output sends what the connection may send now: data the windows allow,
// a FIN after the data, and an ACK when one is owed. It is tcp_output.
func (c *Conn) output() {
	if !c.state.synchronized() || c.state == TimeWait {
		if c.ackNow && c.state == TimeWait && !c.emit(c.sndNxt, 0, FlagACK) {
			c.noFrame()
		}
		return
	}
	s := c.shard
	for i := 0; i < 1024; i++ {
		off := int(c.sndNxt.Sub(c.sndUna))
		if off > c.snd.n {
			off = c.snd.n // the FIN is in flight
		}
		avail := c.snd.n - off
		wnd := min(c.sndWnd, c.cwnd+c.limitedTransmit())
		flight := c.sndNxt.Sub(c.sndUna)
		usable := 0
		if wnd > flight {
			usable = int(wnd - flight)
		}
		if c.inRecovery && c.sackOK {
			// In SACK recovery the congestion window limits the pipe,
			// the peer's window what lies above snd_una.
			p := c.pipe()
			usable = 0
			if c.cwnd > p && c.sndWnd > flight {
				usable = int(min(c.cwnd-p, c.sndWnd-flight))
			}
		}
		seg := c.segSize()
		n := min(avail, usable, seg)
		fin := c.finQueued && off+n == c.snd.n && c.sndNxt.LEQ(c.finSeq)
		if n > 0 && n < seg && !fin && c.sndNxt.GEQ(c.sndMax) && !c.forceData {
			// Sender silly window avoidance and Nagle (RFC 9293 3.8.6.2.1,
			// RFC 896): send a short segment only when it is all we have and
			// nothing is in flight (or Nagle is off), or it fills half the
			// largest window the peer offered. Not for a retransmission
			// (below snd_max), as in BSD's tcp_output: what was sent once
			// goes again whatever its size, else a receiver whose window
			// is down to less than a segment never gets it, and the RTO
			// fires again and again with nothing sent.
			all := n == avail
			if c.noPush || !(all && (c.noDelay || flight == 0)) && uint32(n) < c.maxSndWnd/2 {
				n = 0 // TCP_NOPUSH holds every partial segment until the FIN
			}
		}
		if n == 0 && !fin {
			break
		}
		flags := FlagACK
		if fin {
			flags |= FlagFIN
		}
		if n > 0 && n == avail {
			flags |= FlagPSH
		}
		seq := c.sndNxt
		if !c.emit(seq, n, flags) {
			c.noFrame() // snd_nxt stays: the timer sends it again
			return
		}
		if n > 0 {
			if seq.LT(c.sndMax) {
				s.stats[StatSndRexmitPack]++
				s.stats[StatSndRexmitByte] += uint64(n)
			} else {
				s.stats[StatSndPack]++
				s.stats[StatSndByte] += uint64(n)
			}
		}
		adv := uint32(n)
		if fin {
			adv++
			s.stats[StatSndCtrl]++
		}
		fresh := seq.GEQ(c.sndMax)
		if c.rtTime == 0 && fresh {
			c.rtSeq, c.rtTime = seq, s.now
		}
		c.sndNxt = c.sndNxt.Add(adv)
		if c.sndNxt.GT(c.sndMax) {
			c.sndMax = c.sndNxt
		}
		if c.timers[timerRexmt] == 0 {
			if c.sndUna == seq {
				c.lastAdvance = s.now
			}
			c.armRexmt()
		} else if c.rackOK && n > 0 && fresh {
			// New data sent: the probe timeout starts again (RFC 8985 7.2).
			c.rearmPTO()
		}
		if fin {
			break
		}
	}
	if c.ackNow {
		// A pure ACK carries snd_max, as BSD's do: after a retransmission
		// timeout pulled snd_nxt back, snd_nxt may lie below what the peer
		// has received, and the peer drops a segment that old without
		// reading its ACK; if the peer's own ACKs are as old to us, neither
		// side ever hears the other's ACKs. While probing a shut window it
		// carries snd_nxt, the window's edge.
		seq := c.sndMax
		if c.timers[timerPersist] != 0 {
			seq = c.sndNxt
		}
		if c.emit(seq, 0, FlagACK) {
			c.shard.stats[StatSndAcks]++
		} else {
			c.noFrame() // still owed
		}
	}
	// Data waiting, nothing in flight, and a window too small to send it
	// (shut, or under a segment and held back by silly window avoidance):
	// persist, so that a lost window update does not leave it waiting for
	// good (RFC 9293 3.8.6.2.1's override timeout, BSD's tcp_setpersist).
	if off := int(c.sndNxt.Sub(c.sndUna)); c.snd.n > off && c.sndMax == c.sndUna &&
		int(c.sndWnd) < min(c.snd.n-off, c.segSize()) &&
		c.timers[timerPersist] == 0 && c.timers[timerRexmt] == 0 {
		c.armPersist()
	}
}

// segSize is the most payload one segment carries: the MSS less the
// options every segment of the connection carries (RFC 9293 3.7.1).
func (c *Conn) segSize() int {
	n := c.mss
	if c.tsOK {
		n -= 12
	}
	if c.sackOK && (c.reas.n > 0 || c.dsackLen > 0) {
		b := c.reas.n
		if c.dsackLen > 0 {
			b++
		}
		n -= 4 + 8*min(b, c.sackBlockRoom())
	}
	return max(n, 1)
}

// sackBlockRoom is how many SACK blocks fit beside the options every
// segment carries: four, three with timestamps.
func (c *Conn) sackBlockRoom() int {
	if c.tsOK {
		return 3
	}
	return MaxSACKBlocks
}

// limitedTransmit is the extra window RFC 3042 allows on the first two
// duplicate ACKs.
func (c *Conn) limitedTransmit() uint32 {
	if c.inRecovery || c.dupAcks == 0 || c.dupAcks > 2 {
		return 0
	}
	return uint32(int(c.dupAcks) * c.mss)
}

// armPersist arms the persist timer with the current backoff.
func (c *Conn) armPersist() {
	d := c.rto << c.persistShift
	d = min(max(d, MinPersist), MaxPersist)
	c.armTimer(timerPersist, c.shard.now.Add(d))
}

// noFrame is what a connection does when a segment could not be sent for
// want of a frame (the Sender's Buffer returned nil): the send is delayed,
// never lost. Nothing that describes what was sent moves (snd_nxt, snd_max,
// the send counters); the timer that sends it again is armed — the
// retransmission timer for a SYN, data or a FIN (with nothing in flight,
// its expiry only sends again: see fire), the delayed-ACK timer, due at
// the next tick, for an ACK owed (ack_now stays set). Persist probes and
// keepalives are sent again by their own timers, a closed connection's RST
// from the shard's queue (sendRST).
func (c *Conn) noFrame() {
	s := c.shard
	s.stats[StatSndNoFrame]++
	if at := s.now.Add(timerTick); c.ackNow && (c.timers[timerDelAck] == 0 || c.timers[timerDelAck] > at) {
		c.armTimer(timerDelAck, at)
	}
	if c.timers[timerRexmt] == 0 && (c.sndNxt != c.sndMax || c.snd.n > int(c.sndNxt.Sub(c.sndUna)) ||
		c.finQueued && !c.finAcked() || !c.state.synchronized()) {
		c.armTimer(timerRexmt, s.now.Add(c.rto))
	}
}

// emit builds and sends one segment carrying n bytes of the send buffer from
// seq on, with flags. It reports false when no frame was free.
func (c *Conn) emit(seq flow.Seq, n int, flags Flags) bool {
	s := c.shard
	var buf []byte
	if n == 0 {
		buf = s.controlBuffer(&c.tuple)
	} else {
		buf = s.send.Buffer(&c.tuple)
	}
	if buf == nil {
		return false
	}
	flags, tos := c.ecnOut(seq, n, flags)
	seg := &s.outSeg
	*seg = Segment{SrcPort: c.tuple.LocalPort, DstPort: c.tuple.RemotePort, Seq: seq, Flags: flags}
	if flags&FlagACK != 0 {
		seg.Ack = c.rcvNxt
	}
	shut := c.rcvShut()
	seg.Window = c.advertise()
	if shut && !c.rcvShut() && flags&FlagACK != 0 && c.winUpOwed == 0 && !c.finRcvd {
		c.winUpOwed = 1
	}
	if c.tsOK {
		seg.Opts.HasTS = true
		seg.Opts.TSVal = c.tsNow()
		seg.Opts.TSEcr = c.tsRecent
	}
	if c.sackOK && (c.reas.n > 0 || c.dsackLen > 0) && flags&FlagACK != 0 {
		k := 0
		if c.dsackLen > 0 {
			seg.Opts.SACK[0] = SACKBlock{Left: c.dsackL, Right: c.dsackL.Add(uint32(c.dsackLen))}
			k = 1
			s.stats[StatDSACKSent]++
		}
		seg.Opts.NumSACK = k + c.reas.sackBlocks(seg.Opts.SACK[k:c.sackBlockRoom()])
	}
	h := Write(buf, seg)
	if n > 0 {
		off := int(seq.Sub(c.sndUna))
		c.snd.copyOut(off, buf[h:h+n])
	}
	if c.rackOK && (n > 0 || flags&FlagFIN != 0) && c.state.synchronized() {
		l := n
		if flags&FlagFIN != 0 {
			l++ // the FIN has its record too, so that its loss is seen
		}
		c.txSent(seq, l)
		if u := &c.undo; u.on && seq.LT(c.sndMax) && u.retrans < 0xffff {
			u.retrans++
		}
		if c.inRecovery {
			k := &c.rk.rack
			k.prrOut += uint32(n)
			if seq.LT(c.sndMax) {
				k.rexmitBytes += uint32(n)
			}
		}
	}
	s.sendSeg(&c.tuple, h+n, tos)
	s.stats[StatSndTotal]++
	if n > 0 && seq.LT(c.sndMax) {
		c.rexmitSegs++
	}
	if flags&FlagACK != 0 {
		c.dsackLen = 0
		c.ackNow, c.ackBatch = false, false
		c.delAcked = 0
		if c.timers[timerDelAck] != 0 {
			c.armTimer(timerDelAck, 0)
		}
		if c.winUpOwed != 0 {
			c.armTimer(timerDelAck, s.now.Add(c.winUpWait()))
		}
	}
	return true
}

// advertise returns the window field to send and records the right edge
// advertised; the window never shrinks (RFC 9293 3.8.6.2.2).
func (c *Conn) advertise() uint16 {
	w := c.rcvWindow()
	if edge := c.rcvAdv.Sub(c.rcvNxt); c.rcvAdv.GT(c.rcvNxt) && edge > w {
		w = edge
	}
	w >>= c.rcvScale
	if w > 0xffff {
		w = 0xffff
	}
	if e := c.rcvNxt.Add(w << c.rcvScale); e.GT(c.rcvAdv) {
		c.rcvAdv = e
	}
	return uint16(w)
}

// tsNow is our timestamp clock for this connection.
func (c *Conn) tsNow() uint32 { return c.shard.tsClock() + c.tsOffset }

// sendSYN sends the SYN (SYN_SENT) or SYN-ACK (SYN_RCVD) with our options.
// The retransmission timer is armed first: a SYN that found no frame is
// sent when it expires, as a lost one would be (snd_nxt stays at the ISS
// until one has gone).
func (c *Conn) sendSYN() {
	s := c.shard
	c.armTimer(timerRexmt, s.now.Add(c.rto))
	buf := s.controlBuffer(&c.tuple)
	if buf == nil {
		s.stats[StatSndNoFrame]++
		return
	}
	seg := &s.outSeg
	*seg = Segment{SrcPort: c.tuple.LocalPort, DstPort: c.tuple.RemotePort, Seq: c.iss, Flags: FlagSYN}
	seg.Opts.HasMSS, seg.Opts.MSS = true, uint16(c.ourMSS)
	if c.noOpt && c.state == SynSent {
		seg.Opts = Options{} // TCP_NOOPT: the peer assumes mssdflt
	} else if c.state == SynReceived {
		seg.Flags |= FlagACK
		seg.Ack = c.rcvNxt
		if c.ecnSYN && int(c.rexmits) <= s.cfg.ECNMaxRetries {
			seg.Flags |= FlagECE // ECN-setup SYN-ACK (RFC 3168 6.1.1)
		} else {
			c.ecnSYN = false
		}
		if c.wsOK {
			seg.Opts.HasWScale, seg.Opts.WScale = true, c.rcvScale
		}
		if c.tsOK {
			seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, c.tsNow(), c.tsRecent
		}
		seg.Opts.SACKPermitted = c.sackOK
	} else if s.cfg.RFC1323 {
		seg.Opts.HasWScale, seg.Opts.WScale = true, c.rcvScale
		seg.Opts.HasTS, seg.Opts.TSVal = true, c.tsNow()
		seg.Opts.SACKPermitted = s.cfg.SACK
	} else {
		seg.Opts.SACKPermitted = s.cfg.SACK
	}
	if c.state == SynSent {
		// ECN-setup SYN (RFC 3168 6.1.1), until ecn.maxretries tries went
		// unanswered.
		c.ecnSYN = s.cfg.ECN == ECNOn && int(c.rexmits) <= s.cfg.ECNMaxRetries
		if c.ecnSYN {
			seg.Flags |= FlagECE | FlagCWR
		}
	}
	// The window in a SYN is never scaled (RFC 7323 2.2).
	w := min(c.rcvWindow(), 0xffff)
	seg.Window = uint16(w)
	c.rcvAdv = c.rcvNxt.Add(w)
	h := Write(buf, seg)
	s.send.Send(&c.tuple, h)
	s.stats[StatSndTotal]++
	s.stats[StatSndCtrl]++
	if c.sndNxt == c.iss {
		c.sndNxt = c.iss + 1
		c.sndMax = c.sndNxt
	}
	if c.rtTime == 0 && c.rexmits == 0 {
		c.rtSeq, c.rtTime = c.iss, s.now
	}
	c.ackNow = false
}

// sendRST resets the connection's peer with SEQ=seq. The connection is
// going away (Abort, a drop, a timeout): a peer that is only waiting —
// for data, or for our FIN — would not hear of it until its own timers
// gave up. So a RST that finds no frame waits in the shard's small queue
// and goes at the next Tick or Receive (queueRST).
func (c *Conn) sendRST(seq flow.Seq) {
	if !c.shard.sendReset(&c.tuple, seq, c.rcvNxt, FlagRST|FlagACK) {
		c.shard.queueRST(&c.tuple, seq, c.rcvNxt, FlagRST|FlagACK)
	}
}

// reset sends a RST answering a stray segment (no connection, a bad ACK in
// SYN_SENT or SYN_RCVD): SEQ=seq, and ACK=ack when flags has ACK. When no
// frame is free it is dropped and counted (noframedrop): the peer sends its
// segment again and gets its RST then. It reports whether the RST went.
func (s *Shard) reset(t *flow.Tuple, seq, ack flow.Seq, flags Flags) bool {
	if !s.sendReset(t, seq, ack, flags) {
		s.stats[StatNoFrameDrop]++
		return false
	}
	return true
}

// sendReset sends a RST for tuple t; it reports false when no frame was free.
func (s *Shard) sendReset(t *flow.Tuple, seq, ack flow.Seq, flags Flags) bool {
	buf := s.controlBuffer(t)
	if buf == nil {
		return false
	}
	seg := &s.outSeg
	*seg = Segment{SrcPort: t.LocalPort, DstPort: t.RemotePort, Seq: seq, Flags: flags}
	if flags&FlagACK != 0 {
		seg.Ack = ack
	}
	h := Write(buf, seg)
	s.send.Send(t, h)
	s.stats[StatSndTotal]++
	s.stats[StatSndCtrl]++
	return true
}

// rstQueueLen bounds the RSTs of closed connections a shard keeps for want
// of a frame. Past it they are dropped (noframedrop): the peer's next
// segment then finds no connection and is answered with a RST.
const rstQueueLen = 64

// pendingRST is a RST waiting for a frame.
type pendingRST struct {
	t        flow.Tuple
	seq, ack flow.Seq
	flags    Flags
}

// queueRST keeps a RST that found no frame, for flushRSTs.
func (s *Shard) queueRST(t *flow.Tuple, seq, ack flow.Seq, flags Flags) {
	if s.nRST == rstQueueLen {
		s.stats[StatNoFrameDrop]++
		return
	}
	s.stats[StatSndNoFrame]++
	s.rsts[s.nRST] = pendingRST{t: *t, seq: seq, ack: ack, flags: flags}
	s.nRST++
}

// flushRSTs sends the queued RSTs while frames last, oldest first.
func (s *Shard) flushRSTs() {
	i := 0
	for ; i < s.nRST; i++ {
		r := &s.rsts[i]
		if !s.sendReset(&r.t, r.seq, r.ack, r.flags) {
			break
		}
	}
	s.nRST = copy(s.rsts[:], s.rsts[i:s.nRST])
}
