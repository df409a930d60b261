package tcp

import "github.com/pollstack/pollstack/flow"

// output sends what the connection may send now: data the windows allow,
// a FIN after the data, and an ACK when one is owed. It is tcp_output.
func (c *Conn) output() {
	if !c.state.synchronized() || c.state == TimeWait {
		if c.ackNow && c.state == TimeWait {
			c.emit(c.sndNxt, 0, FlagACK)
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
		if n > 0 && n < seg && !fin {
			// Sender silly window avoidance and Nagle (RFC 9293 3.8.6.2.1,
			// RFC 896): send a short segment only when it is all we have and
			// nothing is in flight (or Nagle is off), or it fills half the
			// largest window the peer offered.
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
		if c.rtTime == 0 && seq.GEQ(c.sndMax) {
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
		}
		if fin {
			break
		}
	}
	if c.ackNow {
		c.emit(c.sndNxt, 0, FlagACK)
		c.shard.stats[StatSndAcks]++
	}
	// A zero window with data waiting and nothing in flight: probe it.
	if c.sndWnd == 0 && c.snd.n > int(c.sndNxt.Sub(c.sndUna)) && c.sndMax == c.sndUna &&
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
	if c.sackOK && c.reas.n > 0 {
		b := min(c.reas.n, MaxSACKBlocks)
		if c.tsOK {
			b = min(b, 3)
		}
		n -= 4 + 8*b
	}
	return max(n, 1)
}

// limitedTransmit is the extra window RFC 3042 allows on the first two
// duplicate ACKs.
func (c *Conn) limitedTransmit() uint32 {
	if c.inRecovery || c.dupAcks == 0 || c.dupAcks > 2 {
		return 0
	}
	return uint32(c.dupAcks * c.mss)
}

// armPersist arms the persist timer with the current backoff.
func (c *Conn) armPersist() {
	d := c.rto << c.persistShift
	d = min(max(d, MinPersist), MaxPersist)
	c.armTimer(timerPersist, c.shard.now.Add(d))
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
	seg := &s.outSeg
	*seg = Segment{SrcPort: c.tuple.LocalPort, DstPort: c.tuple.RemotePort, Seq: seq, Flags: flags}
	if flags&FlagACK != 0 {
		seg.Ack = c.rcvNxt
	}
	seg.Window = c.advertise()
	if c.tsOK {
		seg.Opts.HasTS = true
		seg.Opts.TSVal = c.tsNow()
		seg.Opts.TSEcr = c.tsRecent
	}
	if c.sackOK && c.reas.n > 0 && flags&FlagACK != 0 {
		seg.Opts.NumSACK = c.reas.sackBlocks(seg.Opts.SACK[:])
	}
	h := Write(buf, seg)
	if n > 0 {
		off := int(seq.Sub(c.sndUna))
		c.snd.copyOut(off, buf[h:h+n])
	}
	s.send.Send(&c.tuple, h+n)
	s.stats[StatSndTotal]++
	if flags&FlagACK != 0 {
		c.ackNow = false
		c.delAcked = 0
		if c.timers[timerDelAck] != 0 {
			c.armTimer(timerDelAck, 0)
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
func (c *Conn) sendSYN() {
	s := c.shard
	buf := s.controlBuffer(&c.tuple)
	if buf == nil {
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
	c.armTimer(timerRexmt, s.now.Add(c.rto))
}

// sendRST resets the connection's peer with SEQ=seq.
func (c *Conn) sendRST(seq flow.Seq) {
	c.shard.reset(&c.tuple, seq, c.rcvNxt, FlagRST|FlagACK)
}

// reset sends a RST for tuple t: SEQ=seq, and ACK=ack when flags has ACK.
func (s *Shard) reset(t *flow.Tuple, seq, ack flow.Seq, flags Flags) {
	buf := s.controlBuffer(t)
	if buf == nil {
		return
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
}
