package tcp

import "github.com/pollstack/pollstack/flow"

// Explicit Congestion Notification (RFC 3168).
//
// Negotiation: with ecn.enable 1 our SYN asks for ECN (ECE and CWR set);
// with 1 or 2 a SYN that asks is answered with a SYN-ACK carrying ECE,
// and the connection uses ECN. A SYN or SYN-ACK sent again more than
// ecn.maxretries times goes without the bits (a path that drops them).
// SYN cookies and simultaneous opens do without ECN.
//
// Sender: data segments carrying new data go out ECT(0) (never
// retransmissions, window probes or segments without data, RFC 3168
// 6.1.5, 6.1.6). An ACK with ECE reduces the window once per window of
// data (the CWR state: cwnd does not grow until what was in flight then
// is acknowledged, and a loss found in that window does not reduce it
// again), and the next new data segment carries CWR.
//
// Receiver: a segment whose IP header says CE sets ECE on every ACK until
// a segment with CWR arrives. When the connection's congestion control is
// dctcp the echo is DCTCP's instead (RFC 8257 3.2): ECE says whether the
// last segment was CE, and a change of state sends the ACK delayed so far
// at once, with the old state.

// IP ECN codepoints: the low two bits of the IPv4 TOS byte and of the
// IPv6 traffic class (RFC 3168 5).
const (
	ECNNotECT uint8 = 0
	ECNECT1   uint8 = 1
	ECNECT0   uint8 = 2
	ECNCE     uint8 = 3
)

// ecn.enable values.
const (
	ECNOff    = 0 // never
	ECNOn     = 1 // ask on active opens, accept on passive ones
	ECNAccept = 2 // accept only (FreeBSD's default)
)

// TOSSender is a Sender that can set the IP header's TOS byte (IPv4) or
// traffic class (IPv6) of a segment: Send with a TOS. A shard whose
// Sender is not one sends nothing ECT.
type TOSSender interface {
	SendTOS(t *flow.Tuple, n int, tos uint8)
}

// ECNCongestionControl is a CongestionControl that takes ECN signals in
// its own way (dctcp). Others reduce on ECE as on a loss (OnCongestion).
type ECNCongestionControl interface {
	CongestionControl
	// OnECNAck is told of every ACK of a connection that agreed on ECN:
	// the bytes it acknowledged and whether it carried ECE.
	OnECNAck(c *Conn, acked uint32, ece bool)
	// OnECE returns the ssthresh (and cwnd) after an ECN echo; it is
	// called once per window of data.
	OnECE(c *Conn) uint32
}

// sendSeg hands a segment of n bytes to the IP layer with the TOS byte tos.
func (s *Shard) sendSeg(t *flow.Tuple, n int, tos uint8) {
	if tos != 0 && s.tos != nil {
		s.tos.SendTOS(t, n, tos)
		return
	}
	s.send.Send(t, n)
}

// ecnOut returns the flags and TOS of a segment about to be sent: ECE on
// an ACK while the receiver echoes, ECT(0) and maybe CWR on new data.
func (c *Conn) ecnOut(seq flow.Seq, n int, flags Flags) (Flags, uint8) {
	if !c.ecnOK || flags&(FlagSYN|FlagRST) != 0 {
		return flags, 0
	}
	if c.ecnEcho && flags&FlagACK != 0 {
		flags |= FlagECE
	}
	if n == 0 || seq.LT(c.sndMax) || c.noECT || c.shard.tos == nil {
		return flags, 0
	}
	if c.ecnSendCWR {
		flags |= FlagCWR
		c.ecnSendCWR = false
	}
	c.shard.stats[StatECNSndECT0]++
	return flags, ECNECT0
}

// ecnSegment is the receiver's part for a segment of a connection that
// agreed on ECN: the codepoint it came with (counted), CWR, and CE.
func (c *Conn) ecnSegment(flags Flags, dataLen int) {
	s := c.shard
	cp := s.rxECN
	switch cp {
	case ECNCE:
		s.stats[StatECNCE]++
	case ECNECT0:
		s.stats[StatECNECT0]++
	case ECNECT1:
		s.stats[StatECNECT1]++
	}
	if _, dctcp := c.cc.(DCTCP); dctcp {
		ce := cp == ECNCE
		if ce != c.ecnEcho && dataLen > 0 {
			if c.delAcked > 0 {
				// RFC 8257 3.2: the segments received so far are ACKed
				// now, with the state they had.
				c.ackNow = true
				c.output()
			}
			c.ecnEcho = ce
		}
		return
	}
	if flags&FlagCWR != 0 {
		c.ecnEcho = false // the sender reduced (RFC 3168 6.1.3)
	}
	if cp == ECNCE {
		c.ecnEcho = true
	}
}

// ecnAck is the sender's part for an ACK of a connection that agreed on
// ECN: acked bytes were newly acknowledged, and ece says whether it
// carried ECE. The window is reduced once per window of data (RFC 3168
// 6.1.2) and the next new data segment says so with CWR.
func (c *Conn) ecnAck(acked uint32, ece bool) {
	if ecc, ok := c.cc.(ECNCongestionControl); ok {
		ecc.OnECNAck(c, acked, ece)
	}
	if !ece || c.inCWR || c.inRecovery || c.inLoss || c.sndUna.LT(c.recover) {
		return
	}
	if ecc, ok := c.cc.(ECNCongestionControl); ok {
		c.ssthresh = ecc.OnECE(c)
	} else {
		c.ssthresh = c.cc.OnCongestion(c)
	}
	c.cwnd = c.ssthresh
	c.inCWR = true
	c.cwrEnd = c.sndMax
	c.ecnSendCWR = true
	c.shard.stats[StatECNRcwnd]++
}

// lossSsthresh is the ssthresh a loss leads to: congestion control's,
// unless the window was already reduced for an ECN echo in this window of
// data (RFC 3168 6.1.2: one reduction per window).
func (c *Conn) lossSsthresh() uint32 {
	if c.inCWR {
		return c.ssthresh
	}
	return c.cc.OnCongestion(c)
}
