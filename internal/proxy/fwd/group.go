package fwd

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/proxy/balance"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/health"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// A group is one backend group as one core sees it.
type group struct {
	a       *App
	cfg     config.BackendGroup
	servers []*server
	set     *balance.Set
	bal     balance.Balancer
	chk     *health.Checker

	// The queue of client connections waiting for a server below its
	// maxconn: a ring of this core's share of cfg.Queue.
	queue    []*pair
	qhead, n int
	stats    [numGroupCounters]uint64
	// retired: a reload replaced the group; its backend connections are
	// closed when their exchanges end, not pooled.
	retired bool
}

// A server is one backend server as one core sees it.
type server struct {
	cfg     config.Server
	remote  [16]byte
	local   [16]byte // the engine's address the proxy dials it from
	maxconn int      // this core's share; 0: no limit
	active  int
	stats   [numServerCounters]uint64
	rt      responseTimes
	// pool holds HTTP mode's idle keep-alive connections to the server,
	// most recently used last.
	pool []*bconn
}

func newGroup(a *App, cfg *config.BackendGroup, o Options, seed uint64) (*group, error) {
	g := &group{a: a, cfg: *cfg}
	bs := make([]balance.Backend, len(cfg.Servers))
	for i, sc := range cfg.Servers {
		bs[i] = balance.Backend{Name: sc.Name, Weight: sc.Weight}
		s := &server{cfg: sc, remote: sc.Addr.Addr().As16(), maxconn: share(sc.MaxConn, o.Cores)}
		src, ok := source(o, sc.Addr.Addr())
		if !ok {
			return nil, fmt.Errorf("backend %s: server %s (%v): the engine has no address of its family", cfg.Name, sc.Name, sc.Addr)
		}
		s.local = src.As16()
		g.servers = append(g.servers, s)
	}
	set, err := balance.NewSet(bs)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", cfg.Name, err)
	}
	alg, err := balance.ParseAlgorithm(cfg.Balance)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", cfg.Name, err)
	}
	bal, err := balance.New(alg, set, balance.Options{Seed: uint64(o.Core)<<32 | seed})
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", cfg.Name, err)
	}
	g.set, g.bal = set, bal
	if cfg.Health.Type != "" {
		g.chk = health.New(health.FromConfig(cfg.Health), len(cfg.Servers), uint64(o.Core)*0x9e3779b97f4a7c15+seed, o.Now)
		for i, sc := range cfg.Servers {
			if !sc.Check {
				g.chk.SetCheck(i, false, o.Now)
			}
		}
		g.chk.SetNotify(func(i int, up bool, now mono.Time) {
			g.set.SetUp(i, up)
			if up {
				g.servers[i].stats[SrvWentUp]++
			} else {
				g.servers[i].stats[SrvWentDown]++
			}
			if up {
				g.serveQueue()
			}
		})
	}
	if q := share(cfg.Queue, o.Cores); q > 0 {
		g.queue = make([]*pair, q)
	}
	return g, nil
}

// source is the address to dial remote from.
func source(o Options, remote netip.Addr) (netip.Addr, bool) {
	if o.Source != nil {
		return o.Source(remote)
	}
	for _, a := range o.Addrs {
		if a.Is4() == remote.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// pick chooses a server for p in rotation and below its maxconn, other
// than avoid (-1: none) when another may be had.
func (g *group) pick(key uint64, avoid int) (int, bool) {
	idx, ok := g.bal.Pick(key)
	if !ok {
		return -1, false
	}
	if idx != avoid && g.room(idx) {
		return idx, true
	}
	// The balancer's choice is full or the one to avoid: the next server
	// in order that is in rotation and has room.
	n := len(g.servers)
	for k := 1; k <= n; k++ {
		j := (idx + k) % n
		if j != avoid && g.set.InRotation(j) && g.room(j) {
			return j, true
		}
	}
	if avoid >= 0 && g.set.InRotation(avoid) && g.room(avoid) {
		return avoid, true
	}
	return -1, false
}

// room reports whether server i is below its maxconn on this core.
func (g *group) room(i int) bool {
	s := g.servers[i]
	return s.maxconn == 0 || s.active < s.maxconn
}

// anyInRotation reports whether some server may be picked at all (though
// perhaps full).
func (g *group) anyInRotation() bool {
	for i := range g.servers {
		if g.set.InRotation(i) {
			return true
		}
	}
	return false
}

// enqueue puts p at the queue's tail; false when the queue is full or
// the group has none.
func (g *group) enqueue(p *pair) bool {
	if g.n == len(g.queue) {
		return false
	}
	g.queue[(g.qhead+g.n)%len(g.queue)] = p
	g.n++
	p.queued = true
	return true
}

// unqueue removes p from the queue (its client went away or timed out).
func (g *group) unqueue(p *pair) {
	if !p.queued {
		return
	}
	p.queued = false
	n := len(g.queue)
	for i := 0; i < g.n; i++ {
		if g.queue[(g.qhead+i)%n] != p {
			continue
		}
		for j := i; j < g.n-1; j++ {
			g.queue[(g.qhead+j)%n] = g.queue[(g.qhead+j+1)%n]
		}
		g.n--
		g.queue[(g.qhead+g.n)%n] = nil
		return
	}
}

// serveQueue connects the queue's clients while servers have room.
func (g *group) serveQueue() {
	for g.n > 0 {
		p := g.queue[g.qhead]
		if _, ok := g.pick(keyOf(p.cli.Tuple().RemoteAddr), -1); !ok {
			return
		}
		g.queue[g.qhead] = nil
		g.qhead = (g.qhead + 1) % len(g.queue)
		g.n--
		p.queued = false
		g.a.connect(p)
	}
}

// dial opens a connection to server i from this core; its replies hash
// here (the shard's port filter).
func (g *group) dial(i int, h tcp.Handler, now mono.Time) (*tcp.Conn, error) {
	s := g.servers[i]
	t := flow.Tuple{LocalAddr: s.local, RemoteAddr: s.remote, RemotePort: s.cfg.Addr.Port()}
	c, err := g.a.sh.Dial(t, h, now)
	if err != nil {
		switch err {
		case syscall.EADDRNOTAVAIL, syscall.ENOBUFS:
			s.stats[SrvConnectNoPort]++
		default:
			s.stats[SrvConnectOther]++
		}
		return nil, err
	}
	return c, nil
}
