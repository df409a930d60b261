package tcp

import (
	"syscall"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tw"
)

// Receive processes one TCP segment: b is the TCP header and payload, with
// the checksum already verified; t names the connection from our side
// (local = the packet's destination).
func (s *Shard) Receive(t *flow.Tuple, b []byte, now mono.Time) {
	s.ReceiveECN(t, b, ECNNotECT, now)
}

// ReceiveECN is Receive for a segment whose IP header carried the ECN
// codepoint ecn (ECNNotECT..ECNCE).
func (s *Shard) ReceiveECN(t *flow.Tuple, b []byte, ecn uint8, now mono.Time) {
	s.now = now
	s.rxECN = ecn & 3
	if s.nRST > 0 {
		s.flushRSTs()
	}
	seg := &s.inSeg
	if err := Parse(b, seg); err != ParseOK && err != ErrBadOption {
		s.stats[StatRcvBadOff]++
		return
	}
	s.stats[StatRcvTotal]++
	if c := s.conns[*t]; c != nil {
		c.input(seg)
		return
	}
	l := s.listeners[t.LocalPort]
	var reopen *flow.Seq
	if s.tw.Len() > 0 {
		if r, ok := s.tw.Lookup(t); ok {
			if s.dropSynFin(seg) {
				return // the entry stays
			}
			tseg := tw.Segment{Seq: seg.Seq, Ack: seg.Ack, Flags: uint8(seg.Flags),
				Len: len(seg.Payload), HasTS: seg.Opts.HasTS, TSVal: seg.Opts.TSVal}
			rep := s.tw.Input(r, &tseg, l != nil, now)
			switch rep.Action {
			case tw.SendACK:
				s.timeWaitACK(t, &rep.State)
				return
			case tw.Drop:
				return
			}
			// A new connection on the 4-tuple (RFC 6191): the entry is
			// gone; the new ISN lies above its snd_nxt.
			s.stats[StatClosed]++
			next := flow.Seq(rep.SndNxt)
			reopen = &next
		}
	}
	if l != nil {
		s.listenInput(l, t, seg, reopen)
		return
	}
	s.closedPort(t, seg)
}

// timeWaitACK sends the ACK a TIME_WAIT entry answers with (FreeBSD
// tcp_twrespond): <SEQ=snd_nxt><ACK=rcv_nxt><CTL=ACK>, the last window
// field and, when the connection used timestamps, our clock (with the
// connection's offset, derived again from the 4-tuple) and ts_recent.
func (s *Shard) timeWaitACK(t *flow.Tuple, st *tw.State) {
	buf := s.controlBuffer(t)
	if buf == nil {
		s.stats[StatNoFrameDrop]++ // the peer sends its segment again
		return
	}
	seg := &s.outSeg
	*seg = Segment{SrcPort: t.LocalPort, DstPort: t.RemotePort, Seq: flow.Seq(st.SndNxt), Ack: flow.Seq(st.RcvNxt),
		Flags: FlagACK, Window: st.Window}
	if st.TS {
		seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, s.tsFor(t), st.TSRecent
	}
	h := Write(buf, seg)
	s.send.Send(t, h)
	s.stats[StatSndTotal]++
	s.stats[StatSndAcks]++
}

// Unreachable handles an ICMP destination unreachable about a segment we
// sent on t with sequence number seq (RFC 1122 4.2.3.9, RFC 5927): a hard
// error aborts a connection in SYN_SENT when icmp_may_rst allows it and the
// sequence number is the one in flight; otherwise it is remembered as a soft
// error (reported if the connection later times out).
func (s *Shard) Unreachable(t *flow.Tuple, seq flow.Seq, hard bool) {
	c := s.conns[*t]
	if c == nil || !seq.InRange(c.sndUna, c.sndMax.Add(1)) {
		return
	}
	s.stats[StatICMPUnreach]++
	if hard && c.state == SynSent && s.cfg.ICMPMayRST {
		s.stats[StatConnDrops]++
		c.finish(syscall.ECONNREFUSED)
		return
	}
	c.softUnreach = true
}

// CountBadSum counts a segment the IP layer dropped for its checksum.
func (s *Shard) CountBadSum() { s.stats[StatRcvBadSum]++ }

// closedPort answers a segment for no connection and no listener with a RST
// (RFC 9293 3.10.7.1), unless blackhole says not to.
func (s *Shard) closedPort(t *flow.Tuple, seg *Segment) {
	s.stats[StatNoPort]++
	if s.cfg.LogInVain == 2 || s.cfg.LogInVain == 1 && seg.Flags&FlagSYN != 0 {
		s.logInVain(t, seg)
	}
	if seg.Flags&FlagRST != 0 || s.cfg.Blackhole >= 2 || (s.cfg.Blackhole == 1 && seg.Flags&FlagSYN != 0) {
		return
	}
	s.resetFor(t, seg)
}

// resetFor sends the RST RFC 9293 prescribes for a segment that belongs to
// no connection.
func (s *Shard) resetFor(t *flow.Tuple, seg *Segment) {
	if seg.Flags&FlagACK != 0 {
		if s.reset(t, seg.Ack, 0, FlagRST) {
			s.stats[StatRSTSent]++
		}
		return
	}
	n := uint32(len(seg.Payload))
	if seg.Flags&FlagSYN != 0 {
		n++
	}
	if seg.Flags&FlagFIN != 0 {
		n++
	}
	if s.reset(t, 0, seg.Seq.Add(n), FlagRST|FlagACK) {
		s.stats[StatRSTSent]++
	}
}
