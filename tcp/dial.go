package tcp

import (
	"syscall"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Dial opens a connection actively (SYN_SENT) from t's local to its remote
// end; a zero local port picks an ephemeral one.
func (s *Shard) Dial(t flow.Tuple, h Handler, now mono.Time) (*Conn, error) {
	s.now = now
	return s.dial(t, h, nil)
}

// dial opens a connection with options o (nil: the defaults). A 4-tuple
// held by a connection is EADDRINUSE; one in TIME_WAIT is taken over when
// tw_reuse allows it (see reuseTimeWait), else EADDRINUSE. An ephemeral
// port is one whose 4-tuple is free; with tw_reuse, when none is, one whose
// TIME_WAIT entry may be taken over; else EADDRNOTAVAIL. A shard that holds
// its share of kern.ipc.maxsockets refuses it with ENOBUFS.
func (s *Shard) dial(t flow.Tuple, h Handler, o *SockOptions) (*Conn, error) {
	if limit := s.cfg.SocketLimit(); limit > 0 && len(s.conns) >= limit {
		s.stats[StatSocketsExhausted]++
		return nil, syscall.ENOBUFS // FreeBSD's socket(2) past kern.ipc.maxsockets
	}
	var after *flow.Seq
	if t.LocalPort == 0 {
		if !s.pickPort(&t, false) && !(s.twReuse() && s.pickPort(&t, true)) {
			s.stats[StatPortsExhausted]++
			return nil, syscall.EADDRNOTAVAIL
		}
	} else if _, ok := s.conns[t]; ok {
		return nil, syscall.EADDRINUSE
	}
	if s.tw.Len() > 0 {
		if r, ok := s.tw.Lookup(&t); ok {
			if !s.reusable(r) {
				return nil, syscall.EADDRINUSE
			}
			old := flow.Seq(s.tw.Get(r).SndNxt)
			after = &old
			s.tw.Remove(r)
			s.stats[StatTWReused]++
		}
	}
	c := s.newConn(t)
	if after != nil {
		// The new ISN lies above the old connection's snd_nxt, so that no
		// segment of the old incarnation is acceptable in the new one.
		c.iss = after.Add(1 << 17)
		c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	}
	c.handler = h
	if o != nil {
		c.apply(o)
	}
	c.rcvScale = s.offerScale(c)
	c.setState(SynSent)
	s.conns[t] = c
	s.stats[StatConnAttempt]++
	c.armTimer(timerKeep, s.now.Add(c.keepInit))
	c.sendSYN()
	return c, nil
}
