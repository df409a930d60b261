package tcp

import (
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/tw"
)

// PortUse is what holds a local port on one shard, for bind().
type PortUse struct {
	Listener bool // a listener
	Conns    int  // connections (any state but TIME_WAIT)
	// TimeWait counts TIME_WAIT entries; TimeWaitNoReusePort those made by
	// sockets without SO_REUSEPORT.
	TimeWait, TimeWaitNoReusePort int
}

// PortUse returns what holds local port port on the shard. It walks the
// connection table (bind is not on the packet path); TIME_WAIT entries are
// counted per port as they come and go.
func (s *Shard) PortUse(port uint16) PortUse {
	var u PortUse
	_, u.Listener = s.listeners[port]
	for t := range s.conns {
		if t.LocalPort == port {
			u.Conns++
		}
	}
	u.TimeWait, u.TimeWaitNoReusePort = s.tw.PortUse(port)
	return u
}

// reusable reports whether a TIME_WAIT entry may be taken over by an
// active open (tw_reuse): timestamps were in use, so the peer's PAWS
// rejects the old incarnation's segments once our timestamp clock has
// ticked past the last value the old connection sent — one tick after the
// entry was made (Linux waits a whole second).
func (s *Shard) reusable(r tw.Ref) bool {
	if !s.twReuse() || !s.tw.Get(r).TS {
		return false
	}
	made := s.tw.Expiry(r).Add(-2 * s.tw.MSL())
	return s.now.Sub(made) >= tsTick
}

// PortRange returns the shard's ephemeral port range (portrange.first,
// .last), from which its active opens take their local ports.
func (s *Shard) PortRange() (first, last uint16) { return s.cfg.PortRange() }

// PortRange returns the ephemeral port range (portrange.first, .last).
func (cfg *Config) PortRange() (first, last uint16) {
	return uint16(cfg.portFirst()), uint16(max(cfg.portFirst(), cfg.portLast()))
}

func (cfg *Config) portFirst() int {
	if cfg.PortFirst != 0 {
		return cfg.PortFirst
	}
	return PortFirstAuto
}

func (cfg *Config) portLast() int {
	if cfg.PortLast != 0 {
		return cfg.PortLast
	}
	return PortLastAuto
}

// pickPort chooses an ephemeral port for t (the portrange) that no
// listener holds and whose 4-tuple has no connection and, unless reuse is
// set, no TIME_WAIT entry; with reuse, only ports whose TIME_WAIT entry may
// be taken over qualify.
func (s *Shard) pickPort(t *flow.Tuple, reuse bool) bool {
	first, last := s.cfg.PortRange()
	for i := 0; i <= int(last-first); i++ {
		if s.nextPort < first || s.nextPort > last {
			s.nextPort = first
		}
		p := s.nextPort
		if s.nextPort++; s.nextPort == 0 || s.nextPort > last {
			s.nextPort = first
		}
		t.LocalPort = p
		if _, ok := s.listeners[p]; ok || !s.portAllowed(t) {
			continue
		}
		if _, ok := s.conns[*t]; ok {
			continue
		}
		r, inTW := s.tw.Lookup(t)
		if !reuse && !inTW || reuse && inTW && s.reusable(r) {
			return true
		}
	}
	return false
}
