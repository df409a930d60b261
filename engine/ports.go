package engine

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// portTable is the engine's table of bound ports: machine-wide, like a
// kernel's bind hash, and so outside the cores. bind(2) and listen(2) take
// its lock (they are not on the packet path); the cores read only the
// bitmap of held ports, lock-free, to keep their ephemeral picks off them.
type portTable struct {
	e     *Engine
	mu    sync.Mutex
	binds map[uint16][]binding
	held  [1 << 16 / 64]atomic.Uint64
	next  uint16 // the next ephemeral port bind(port 0) tries
}

// binding is one socket's place on a port.
type binding struct {
	s         *Socket
	addr      netip.Addr
	reuseAddr bool
	reusePort bool
	listening bool
}

func newPortTable(e *Engine) *portTable {
	return &portTable{e: e, binds: make(map[uint16][]binding), next: tcp.PortFirstAuto}
}

// Held reports whether a socket holds port (read by the cores).
func (p *portTable) Held(port uint16) bool {
	return p.held[port/64].Load()&(1<<(port%64)) != 0
}

func (p *portTable) setHeld(port uint16, on bool) {
	w := &p.held[port/64]
	for {
		old := w.Load()
		nw := old &^ (1 << (port % 64))
		if on {
			nw = old | 1<<(port%64)
		}
		if w.CompareAndSwap(old, nw) {
			return
		}
	}
}

// bind gives s port (an ephemeral one when 0) on a. The rules, BSD's:
// another socket bound to an overlapping address (equal, or either
// unspecified) conflicts unless both set SO_REUSEPORT, or both set
// SO_REUSEADDR and the other is not listening. Connections and TIME_WAIT
// entries on the port, on any core, conflict unless s sets SO_REUSEADDR
// (or, for TIME_WAIT entries, all of them and s set SO_REUSEPORT).
func (p *portTable) bind(s *Socket, a netip.Addr, port uint16, o *tcp.SockOptions) (uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := binding{s: s, addr: a, reuseAddr: o.ReuseAddr, reusePort: o.ReusePort}
	if port == 0 {
		cfg := p.e.tcpConfig()
		first, last := cfg.PortRange()
		for i := 0; i <= int(last-first); i++ {
			if p.next < first || p.next > last {
				p.next = first
			}
			cand := p.next
			if p.next++; p.next == 0 || p.next > last {
				p.next = first
			}
			if len(p.binds[cand]) > 0 {
				continue
			}
			if err := p.coresAllow(cand, &b); err == nil {
				port = cand
				break
			} else if err == ErrEngineStopped {
				return 0, err
			}
		}
		if port == 0 {
			return 0, syscall.EADDRNOTAVAIL
		}
	} else {
		for _, o := range p.binds[port] {
			if overlap(a, o.addr) && !(b.reusePort && o.reusePort) &&
				!(b.reuseAddr && o.reuseAddr && !o.listening) {
				return 0, syscall.EADDRINUSE
			}
		}
		if err := p.coresAllow(port, &b); err != nil {
			return 0, err
		}
	}
	p.binds[port] = append(p.binds[port], b)
	p.setHeld(port, true)
	return port, nil
}

func overlap(a, b netip.Addr) bool {
	return a.IsUnspecified() || b.IsUnspecified() || a.Unmap() == b.Unmap()
}

// coresAllow asks every core what holds port: the TIME_WAIT entries of
// every core count, not only one's.
func (p *portTable) coresAllow(port uint16, b *binding) error {
	var use tcp.PortUse
	for i, c := range p.e.cores {
		var u tcp.PortUse
		if err := p.e.onCore(i, func(*Core) { u = c.tcp.PortUse(port) }); err != nil {
			return err
		}
		use.Listener = use.Listener || u.Listener
		use.Conns += u.Conns
		use.TimeWait += u.TimeWait
		use.TimeWaitNoReusePort += u.TimeWaitNoReusePort
	}
	switch {
	case use.Listener:
		return syscall.EADDRINUSE
	case use.Conns > 0 && !b.reuseAddr:
		return syscall.EADDRINUSE
	case use.TimeWait > 0 && !b.reuseAddr && !(b.reusePort && use.TimeWaitNoReusePort == 0):
		return syscall.EADDRINUSE
	}
	return nil
}

// setListening marks s's binding as listening (or not).
func (p *portTable) setListening(s *Socket, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bs := p.binds[s.local.Port()]
	for i := range bs {
		if bs[i].s == s {
			bs[i].listening = on
		}
	}
}

// unbind frees s's place.
func (p *portTable) unbind(s *Socket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port := s.local.Port()
	bs := p.binds[port]
	for i := range bs {
		if bs[i].s == s {
			bs = append(bs[:i], bs[i+1:]...)
			break
		}
	}
	if len(bs) == 0 {
		delete(p.binds, port)
		p.setHeld(port, false)
		return
	}
	p.binds[port] = bs
}

// onCore runs fn on core i and waits, waiting for room while the core's
// mailbox is full, as a socket's entry does; before Start (or in tests that
// drive the cores by hand) it runs fn directly.
func (e *Engine) onCore(i int, fn func(c *Core)) error {
	c := e.cores[i]
	if !e.running {
		fn(c)
		return nil
	}
	call := func(now mono.Time) {
		c.now = now
		c.tcp.SetNow(now)
		fn(c)
		c.flush()
	}
	for {
		err := e.loops[i].Call(call)
		if err == nil {
			return nil
		}
		if err != cores.ErrMailboxFull {
			return ErrEngineStopped
		}
		runtime.Gosched() // the core is behind: back off
	}
}

// isLocal reports whether a is one of the engine's addresses.
func (e *Engine) isLocal(a netip.Addr) bool {
	c := e.cores[0]
	a = a.Unmap()
	if a.Is4() {
		for _, x := range c.v4 {
			if x.ip == a.As4() {
				return true
			}
		}
		return false
	}
	for _, x := range c.v6 {
		if x.ip == a.As16() {
			return true
		}
	}
	return false
}

// dialCore chooses the core an active open runs on: the owner of its
// 4-tuple when the local port is chosen already, else the cores in turn
// (the core then picks a port whose replies hash to it).
func (e *Engine) dialCore(t *flow.Tuple) int {
	if t.LocalPort != 0 {
		if e.steer != nil {
			return e.steer.owner(t)
		}
		return 0
	}
	return int(e.nextDial.Add(1) % uint32(len(e.cores)))
}

// tcpConfig returns a copy of the current TCP configuration, safe from any
// goroutine (the tunables may change it at run time).
func (e *Engine) tcpConfig() tcp.Config {
	e.sysctl.mu.Lock()
	defer e.sysctl.mu.Unlock()
	c, err := e.current()
	if err != nil {
		return tcp.DefaultConfig()
	}
	return *c
}
