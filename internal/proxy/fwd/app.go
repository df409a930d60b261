package fwd

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/h1"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// Options are what New needs besides the configuration.
type Options struct {
	// Core is the core's index (it seeds the health checks' spread);
	// Cores is how many cores share the limits.
	Core, Cores int
	// Source returns the engine's address to dial a backend from (the
	// engine's Source); nil dials from the first of Addrs of the family.
	Source func(remote netip.Addr) (netip.Addr, bool)
	// Addrs are the engine's addresses, which a listener's binds name.
	Addrs []netip.Addr
	// Now is the core's clock at New (the health checks start from it).
	Now mono.Time
	// Backlog is the listeners' SYN backlog (0: the shard's default).
	Backlog int
	// RxDropped returns the core's count of frames the kernel dropped
	// before its receive ring (engine's kernel_rx_dropped), read on the
	// core; nil: none known. While it grows, silence on a pair may be the
	// core's own drops, and the idle timeout waits (see idleCheck).
	RxDropped func() uint64
}

// App is one core's proxy. It is owned by the core's loop.
type App struct {
	sh     *tcp.Shard
	core   int
	lsts   []*listener
	groups []*group
	ports  map[uint16]*tcp.Listener

	free    []*pair
	parsers []*parserBox
	probes  []*probe
	hdr     []byte // scratch for PROXY protocol headers
	out     []byte // scratch for HTTP heads

	reqParsers  []*h1.RequestParser
	respParsers []*h1.ResponseParser
	freeBC      []*bconn
	idle        []*pair // HTTP client connections idle between requests
	draining    bool
	now         mono.Time

	pub       atomic.Pointer[Published]
	lastPub   mono.Time
	pairsLive int

	rxDropped func() uint64 // Options.RxDropped
	dropsSeen uint64        // its value at the last tick
	lastDrop  mono.Time     // the tick that last saw it grow
}

// A listener is one configured listener on this core.
type listener struct {
	cfg     config.Listener
	grp     *group
	routes  []route // HTTP: groups by Host and path prefix
	maxconn int     // this core's share; 0: no limit
	active  int
	stats   [numListenerCounters]uint64
	// successor is the listener of the same name a reload made: the
	// connections this one accepted count against it.
	successor *listener
}

// current is the listener that counts l's connections now.
func (l *listener) current() *listener {
	for l.successor != nil {
		l = l.successor
	}
	return l
}

// New builds core's proxy on shard sh: it listens on every listener's port
// and, for groups with health checks, starts checking their servers.
func New(sh *tcp.Shard, cfg *config.Config, o Options) (*App, error) {
	if o.Cores < 1 {
		o.Cores = 1
	}
	a := &App{sh: sh, core: o.Core, hdr: make([]byte, 0, 256), out: make([]byte, 0, 2*h1.MaxHeadLimit), now: o.Now, ports: map[uint16]*tcp.Listener{}, rxDropped: o.RxDropped}
	if a.rxDropped != nil {
		a.dropsSeen = a.rxDropped()
	}
	if err := a.configure(cfg, o); err != nil {
		for _, l := range a.ports {
			l.Close()
		}
		return nil, err
	}
	sh.SetTicker(a.tick)
	return a, nil
}

// configure makes cfg the App's configuration: new backend groups, the
// listeners (those of the same name kept, with their counters and open
// connections), and the listening ports opened or closed to match.
// Connections already proxied keep the groups and servers they began
// with. On an error nothing changes but ports newly opened, which are
// closed again.
func (a *App) configure(cfg *config.Config, o Options) error {
	old := map[string]*listener{}
	for _, l := range a.lsts {
		old[l.cfg.Name] = l
	}
	oldSrv := map[string]*server{}
	for _, g := range a.groups {
		for _, s := range g.servers {
			oldSrv[g.cfg.Name+"/"+s.cfg.Name+"@"+s.cfg.Addr.String()] = s
		}
	}
	byName := map[string]*group{}
	var groups []*group
	for i := range cfg.Backends {
		g, err := newGroup(a, &cfg.Backends[i], o, uint64(i))
		if err != nil {
			return err
		}
		for _, s := range g.servers {
			// A server kept by a reload keeps its counters.
			if os := oldSrv[g.cfg.Name+"/"+s.cfg.Name+"@"+s.cfg.Addr.String()]; os != nil {
				s.stats, s.rt = os.stats, os.rt
			}
		}
		byName[g.cfg.Name] = g
		groups = append(groups, g)
	}
	var lsts []*listener
	want := map[uint16]bool{}
	for i := range cfg.Listeners {
		lc := cfg.Listeners[i]
		g := byName[lc.Backend]
		if g == nil {
			return fmt.Errorf("listener %s: no backend group %q", lc.Name, lc.Backend)
		}
		for _, b := range lc.Binds {
			if b.Addr.IsValid() && !hasAddr(o.Addrs, b.Addr) {
				return fmt.Errorf("listener %s: bind %v: not one of the engine's addresses %v", lc.Name, b, o.Addrs)
			}
			want[b.Port] = true
		}
		l := &listener{}
		if ol := old[lc.Name]; ol != nil {
			l = &listener{active: ol.active, stats: ol.stats}
			ol.successor = l
		}
		l.cfg, l.grp, l.maxconn = lc, g, share(lc.MaxConn, o.Cores)
		for _, r := range lc.Routes {
			rg := byName[r.Backend]
			if rg == nil {
				return fmt.Errorf("listener %s: use_backend: no backend group %q", lc.Name, r.Backend)
			}
			l.routes = append(l.routes, route{host: []byte(r.Host), path: []byte(r.PathPrefix), grp: rg})
		}
		lsts = append(lsts, l)
	}
	var opened []uint16
	for port := range want {
		if a.ports[port] != nil || a.draining {
			continue
		}
		tl, err := a.sh.Listen(port, o.Backlog, (*clientLeg)(a))
		if err != nil {
			for _, p := range opened {
				a.ports[p].Close()
				delete(a.ports, p)
			}
			return fmt.Errorf("port %d: %w", port, err)
		}
		a.ports[port] = tl
		opened = append(opened, port)
	}
	for port, tl := range a.ports {
		if !want[port] {
			tl.Close()
			delete(a.ports, port)
		}
	}
	for _, g := range a.groups {
		g.retired = true
	}
	closePools(a.groups)
	a.lsts, a.groups = lsts, groups
	a.pub.Store(newPublished(a))
	return nil
}

// Reload applies cfg to new connections (see configure). Core only.
func (a *App) Reload(cfg *config.Config, o Options) error {
	return a.configure(cfg, o)
}

func hasAddr(as []netip.Addr, x netip.Addr) bool {
	for _, a := range as {
		if a.Unmap() == x.Unmap() {
			return true
		}
	}
	return false
}

// share is a core's part of a limit n split among cores (rounded up); 0
// stays 0 (no limit).
func share(n, cores int) int {
	if n <= 0 {
		return 0
	}
	return (n + cores - 1) / cores
}

// listenerFor returns the listener that takes a connection to the local
// address and port of t, or nil.
func (a *App) listenerFor(t *flow.Tuple) *listener {
	local := netip.AddrFrom16(t.LocalAddr).Unmap()
	for _, l := range a.lsts {
		for _, b := range l.cfg.Binds {
			if b.Port == t.LocalPort && (!b.Addr.IsValid() || b.Addr.Unmap() == local) {
				return l
			}
		}
	}
	return nil
}

// tick is the shard's ticker: health checks, and the publication of the
// counters.
func (a *App) tick(now mono.Time) {
	a.now = now
	if a.rxDropped != nil {
		if d := a.rxDropped(); d != a.dropsSeen {
			a.dropsSeen, a.lastDrop = d, now
		}
	}
	for _, g := range a.groups {
		if g.chk != nil {
			g.runChecks(now)
		}
	}
	if now.Sub(a.lastPub) >= publishEvery {
		a.lastPub = now
		a.pub.Load().store(a)
	}
}

// publishEvery is how often a core copies its counters for readers.
const publishEvery = 50 * time.Millisecond

// Drain stops accepting: the listeners close (new SYNs are answered with
// RST), connections already proxied run to their end. Core only.
func (a *App) Drain() {
	if a.draining {
		return
	}
	a.draining = true
	closePools(a.groups)
	a.closeIdle()
	for port, l := range a.ports {
		l.Close()
		delete(a.ports, port)
	}
	a.pub.Load().store(a)
}

// Active returns the proxied connections open on this core (a pair counts
// until both of its legs are gone). Core only.
func (a *App) Active() int { return a.pairsLive }

// Published returns the counters readers on other goroutines may load.
func (a *App) Published() *Published { return a.pub.Load() }

// keyOf is the balancing key of a client address (maghash): the same for
// an address on every core and in every run.
func keyOf(addr [16]byte) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range addr {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}
