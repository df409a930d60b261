package tcp

import (
	"encoding/binary"
	"time"

	"github.com/pollstack/pollstack/flow"
)

// SYN cookies: when a listener's queue of embryonic connections is full, the
// SYN-ACK's sequence number encodes what the connection needs, and no state
// is kept until the ACK that completes the handshake comes back with it.
//
// Cookie layout (32 bits, the SYN-ACK's ISN):
//
//	31..27  period: the shard's clock in units of cookiePeriod, mod 32
//	26..8   19 bits of SipHash-2-4 over the 4-tuple, the peer's ISN, the
//	        period and the low byte below, keyed with the shard's key
//	 7..5   index of the MSS in cookieMSS
//	 4..1   the peer's window scale, 15 when it sent none
//	    0   SACK permitted
const (
	// cookiePeriod is how long one period lasts; a cookie is good for the
	// period it was made in and the one after.
	cookiePeriod = 64 * time.Second
	cookieNoWS   = 15
)

// cookieMSS are the MSS values a cookie can carry (the largest not above
// the peer's is chosen).
var cookieMSS = [8]uint16{216, 536, 1200, 1360, 1400, 1440, 1452, 1460}

func (s *Shard) cookieHash(t *flow.Tuple, irs flow.Seq, period uint32, low byte) uint32 {
	var b [36 + 4 + 4 + 1]byte
	putTSKey((*[36]byte)(b[:36]), t)
	binary.BigEndian.PutUint32(b[36:], uint32(irs))
	binary.BigEndian.PutUint32(b[40:], period)
	b[44] = low
	return uint32(SipHash24(s.cfg.ISNKey, b[:])) & (1<<19 - 1)
}

// makeCookie returns the ISN for a SYN-ACK answering seg without state.
func (s *Shard) makeCookie(t *flow.Tuple, seg *Segment) flow.Seq {
	period := uint32(s.now.Div(cookiePeriod)) & 31
	mss := uint16(s.cfg.MSSDflt)
	if seg.Opts.HasMSS {
		mss = seg.Opts.MSS
	}
	idx := 0
	for i, m := range cookieMSS {
		if m <= mss {
			idx = i
		}
	}
	ws := byte(cookieNoWS)
	if seg.Opts.HasWScale && s.cfg.RFC1323 {
		ws = min(seg.Opts.WScale, maxWScale)
	}
	low := byte(idx)<<5 | ws<<1
	if seg.Opts.SACKPermitted && s.cfg.SACK {
		low |= 1
	}
	h := s.cookieHash(t, seg.Seq, period, low)
	return flow.Seq(period<<27 | h<<8 | uint32(low))
}

// checkCookie validates the cookie an ACK returns (ack-1) for the peer's
// ISN irs, and decodes it.
func (s *Shard) checkCookie(t *flow.Tuple, irs, cookie flow.Seq) (mss uint16, ws byte, sack, ok bool) {
	c := uint32(cookie)
	period := c >> 27
	now := uint32(s.now.Div(cookiePeriod)) & 31
	if period != now && period != (now-1)&31 {
		return 0, 0, false, false
	}
	low := byte(c)
	if s.cookieHash(t, irs, period, low) != (c>>8)&(1<<19-1) {
		return 0, 0, false, false
	}
	return cookieMSS[low>>5], (low >> 1) & 15, low&1 != 0, true
}

// sendCookie answers a SYN with a SYN-ACK carrying a cookie.
func (s *Shard) sendCookie(t *flow.Tuple, seg *Segment) {
	buf := s.controlBuffer(t)
	if buf == nil {
		s.stats[StatNoFrameDrop]++ // the peer sends its SYN again
		return
	}
	iss := s.makeCookie(t, seg)
	out := &s.outSeg
	*out = Segment{SrcPort: t.LocalPort, DstPort: t.RemotePort, Seq: iss, Ack: seg.Seq + 1, Flags: FlagSYN | FlagACK}
	out.Opts.HasMSS, out.Opts.MSS = true, uint16(s.ourMSS(t))
	if seg.Opts.HasWScale && s.cfg.RFC1323 {
		out.Opts.HasWScale, out.Opts.WScale = true, s.wscale()
	}
	if seg.Opts.HasTS && s.cfg.RFC1323 {
		out.Opts.HasTS, out.Opts.TSVal, out.Opts.TSEcr = true, s.tsFor(t), seg.Opts.TSVal
	}
	out.Opts.SACKPermitted = seg.Opts.SACKPermitted && s.cfg.SACK
	out.Window = uint16(min(s.cfg.RecvSpace, 0xffff))
	h := Write(buf, out)
	s.send.Send(t, h)
	s.stats[StatSndTotal]++
	s.stats[StatSndCtrl]++
	s.stats[StatSCSendCookie]++
}

// tsFor is the timestamp clock of the connection t would be.
func (s *Shard) tsFor(t *flow.Tuple) uint32 {
	return s.tsClock() + s.tsOffset(t)
}

// cookieACK handles an ACK for a listener that has no connection for it:
// when it returns a valid cookie, the connection is made ESTABLISHED and
// the segment processed on it. It reports whether it did.
func (s *Shard) cookieACK(l *Listener, t *flow.Tuple, seg *Segment) bool {
	if !s.cfg.SynCookies || seg.Flags&(FlagSYN|FlagRST|FlagACK) != FlagACK {
		return false
	}
	mss, ws, sack, ok := s.checkCookie(t, seg.Seq-1, seg.Ack-1)
	if !ok {
		s.stats[StatBadSyn]++
		return false
	}
	s.stats[StatSCRecvCookie]++
	if s.socketsFull() {
		return true // dropped: the peer retransmits, or its data resets later
	}
	c := s.newConn(*t)
	c.iss = seg.Ack - 1
	c.sndUna, c.recover, c.highRxt = c.iss, c.iss, c.iss
	c.sndNxt, c.sndMax = seg.Ack, seg.Ack
	c.irs = seg.Seq - 1
	c.rcvNxt = seg.Seq
	opts := Options{HasMSS: true, MSS: mss, SACKPermitted: sack}
	if ws != cookieNoWS {
		opts.HasWScale, opts.WScale = true, ws
		c.rcvScale = s.wscale()
	}
	if seg.Opts.HasTS && s.cfg.RFC1323 {
		// The peer echoes our timestamp: it agreed to use them.
		opts.HasTS, opts.TSVal = true, seg.Opts.TSVal
	}
	c.negotiate(&opts, true)
	c.rcvAdv = c.rcvNxt.Add(uint32(min(s.cfg.RecvSpace, 0xffff)))
	c.lst = l
	l.pending++
	s.conns[*t] = c
	c.setState(SynReceived)
	c.input(seg)
	return true
}
