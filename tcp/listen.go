package tcp

import (
	"syscall"

	"github.com/pollstack/pollstack/flow"
)

// Listener is a passive open on a port.
type Listener struct {
	shard   *Shard
	port    uint16
	backlog int
	pending int // connections from it not yet established
	handler Handler
	closed  bool
	opts    *SockOptions // inherited by the connections it accepts
}

// Port returns the listener's port.
func (l *Listener) Port() uint16 { return l.port }

// Close stops accepting connections; established ones are not affected.
func (l *Listener) Close() {
	if l.closed {
		return
	}
	l.closed = true
	delete(l.shard.listeners, l.port)
}

// Listen starts a passive open on port with a backlog of connections that
// may wait in SYN_RCVD; h handles the connections it accepts.
func (s *Shard) Listen(port uint16, backlog int, h Handler) (*Listener, error) {
	if port == 0 {
		return nil, syscall.EINVAL
	}
	if _, ok := s.listeners[port]; ok {
		return nil, syscall.EADDRINUSE
	}
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	l := &Listener{shard: s, port: port, backlog: backlog, handler: h}
	s.listeners[port] = l
	return l, nil
}

// dropSynFin reports whether seg has both SYN and FIN set and drop_synfin
// says to drop it, and counts it as a bad SYN (FreeBSD's drop_synfin, on by
// default there; Linux drops such a SYN to a listener unconditionally). A
// SYN+FIN to a listener opens nothing; one that finds a TIME_WAIT entry
// neither ends the entry nor draws an ACK (FreeBSD's tcp_twcheck).
func (s *Shard) dropSynFin(seg *Segment) bool {
	if seg.Flags&(FlagSYN|FlagFIN) != FlagSYN|FlagFIN || !s.cfg.DropSynFin {
		return false
	}
	s.stats[StatBadSyn]++
	return true
}

// listenInput is RFC 9293 3.10.7.2: a segment for a listening port.
func (s *Shard) listenInput(l *Listener, t *flow.Tuple, seg *Segment, after *flow.Seq) {
	switch {
	case seg.Flags&FlagRST != 0:
		return
	case seg.Flags&FlagACK != 0:
		if !s.cookieACK(l, t, seg) {
			s.resetFor(t, seg)
		}
		return
	case seg.Flags&FlagSYN == 0:
		return
	case s.dropSynFin(seg):
		return
	}
	if s.socketsFull() {
		return
	}
	if l.pending >= l.backlog {
		if s.cfg.SynCookies {
			s.sendCookie(t, seg)
			return
		}
		s.stats[StatListenDrop]++
		return
	}
	c := s.newConn(*t)
	if l.opts != nil {
		c.apply(l.opts)
	}
	if after != nil && c.iss.LEQ(*after) {
		c.iss = after.Add(1 << 17)
		c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	}
	c.lst = l
	l.pending++
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.sndWnd, c.sndWl1, c.sndWl2 = uint32(seg.Window), seg.Seq, c.iss // a SYN's window is not scaled
	c.rcvScale = s.offerScale(c)
	c.negotiate(&seg.Opts, true)
	c.ecnSYN = s.cfg.ECN != ECNOff && seg.Flags&(FlagECE|FlagCWR) == FlagECE|FlagCWR
	c.setState(SynReceived)
	s.conns[*t] = c
	c.armTimer(timerKeep, s.now.Add(c.keepInit))
	c.sendSYN()
}

// socketsFull reports whether the shard holds its share of
// kern.ipc.maxsockets, counting the refusal when it does. A SYN that finds
// it full is dropped without an answer (no SYN-ACK, no cookie, no RST), as
// Linux drops a SYN whose listener's accept queue is full and FreeBSD
// drops a handshake whose socket it cannot allocate ("Socket create failed
// due to limits"), counting listendrop: the client's SYN retransmissions
// (1 s, 2 s, 4 s...) then retry it until a connection ends, where a RST
// would fail it at once with ECONNREFUSED, the answer for "nobody listens".
func (s *Shard) socketsFull() bool {
	limit := s.cfg.SocketLimit()
	if limit == 0 || len(s.conns) < limit {
		return false
	}
	s.stats[StatSocketsExhausted]++
	s.stats[StatListenDrop]++
	return true
}
