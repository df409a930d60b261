package engine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// Config configures an Engine.
type Config struct {
	// MAC is the interface's hardware address.
	MAC net.HardwareAddr
	// Addrs are the interface's addresses in CIDR form; their prefixes
	// are the connected routes.
	Addrs []netip.Prefix
	// Routes are the static routes and default gateways (a route of
	// 0.0.0.0/0 or ::/0); see NewRouteTable for what is refused.
	Routes []Route
	// AcceptRA makes the engine learn IPv6 default routers from router
	// advertisements, for destinations no route holds (ra.go).
	AcceptRA bool
	// SolicitRate bounds each core's ARP requests and neighbour
	// solicitations a second (NeighSolicitRate when 0; no bound when
	// negative): see CoreConfig.
	SolicitRate int
	// VLAN, 1..MaxVLAN, puts the engine on that 802.1Q VLAN: every frame
	// it sends is tagged, and it takes only frames with that tag (vlan.go).
	VLAN uint16
	// CPUs lists one CPU per link; the loop for links[i] runs on CPUs[i].
	CPUs []int
	// Pin pins each loop's thread to its CPU.
	Pin bool
	// LoopNice, when not 0, is the nice value of each pinned loop's
	// thread (cores.Loop.SetNice; -20..19, lower runs first).
	LoopNice int
	// LoopRTPriority, when not 0, puts each pinned loop's thread in
	// SCHED_FIFO at that priority (cores.Loop.SetRTPriority; 1..99).
	LoopRTPriority int
	// RuntimeCPUs, when not empty, are the CPUs Start puts the process's
	// threads other than the pinned loops' on (the Go runtime's: the
	// scheduler's helpers, the collector's workers, and those of the
	// application's goroutines); Stop puts them back. For a machine that
	// keeps CPUs for the loops and others for housekeeping. On a loop's
	// own CPU they queue behind each other and the loop: the hand-back of
	// a preempted loop's P (helperNiceFor) then waited longer, not less
	// (docs/architecture.md, "Idle policy"). Needs Pin.
	RuntimeCPUs []int
	// RuntimeRTPriority, when not 0, puts the process's threads other
	// than the pinned loops' in SCHED_FIFO at this priority, below
	// LoopRTPriority (which it needs), in place of helperNiceFor's nice
	// value: the thread that hands a preempted loop its P back then takes
	// its CPU from any thread of the normal class at once, whatever their
	// nice values and cgroups. Every goroutine but the loops' then runs
	// real-time, the application's too.
	RuntimeRTPriority int
	// Idle is the loops' idle policy.
	Idle cores.IdlePolicy
	// Sink makes every core count and drop what it receives (a raw sink).
	Sink bool
	// TCP, when not nil, gives every core a TCP shard with this
	// configuration; a zero ISNKey is replaced by a random one, and zero
	// Cores by the number of cores (each keeps its share of maxtcptw).
	TCP *tcp.Config
	// Listen lists the ports every core listens on, with the handler
	// each core's connections get.
	Listen []ListenSpec
	// RSSKey is the Toeplitz key that steers a TCP flow to the core that
	// owns it (cores.RSSKeyLen bytes); nil means cores.SymmetricRSSKey.
	// Give it the NIC's key and RSSTable its indirection table so that
	// the engine's owner is the core whose queue the NIC picks.
	RSSKey []byte
	// RSSTable is the indirection table: the flow whose hash is h belongs
	// to core RSSTable[h mod len(RSSTable)]. Its length is a power of two;
	// nil means DefaultRSSTableSize entries, entry i naming core i mod
	// the number of cores.
	RSSTable []int
	// HandoffBytes is the size of the ring each core hands other cores'
	// segments to each other core through (a power of two of at least
	// cores.MinHandoffBytes); 0 means DefaultHandoffBytes.
	HandoffBytes int
	// SocketRing is the size of each of a connected socket's two rings,
	// the bytes between its core and the application's goroutines (a
	// power of two, MinSocketRing..MaxSocketRing; docs/sockets.md); 0
	// means DefaultSocketRing.
	SocketRing int
	// Frag4 and Frag6 are each core's IP reassembly limits
	// (net.inet.ip.maxfragpackets, maxfragsperpacket, fragttl and their
	// net.inet6.ip6 twins); zero fields take the defaults (frag.go).
	Frag4, Frag6 FragConfig
	// ICMPLim and ICMP6ErrPPSLimit are net.inet.icmp.icmplim and
	// net.inet6.icmp6.errppslimit: the port unreachables each core sends
	// per second; 0 takes the default, a negative value sends none.
	ICMPLim, ICMP6ErrPPSLimit int
	// DNS are the name servers Dial's resolver asks, over the engine's
	// own UDP and TCP; nil means those of /etc/resolv.conf.
	DNS []netip.AddrPort
	// MemoryReturn is how often the engine looks for free heap memory to
	// give back to the system after the live heap shrank (memreturn.go);
	// 0 means DefaultMemoryReturn, a negative value never.
	MemoryReturn time.Duration
	// THP is what the engine does about transparent huge pages for the
	// whole process when it starts (thp.go); the zero value, THPAuto,
	// turns them off where the system's mode is madvise.
	THP THPPolicy

	// ringSweep replaces ringSweepInterval (tests); below zero, the cores
	// do not sweep idle rings.
	ringSweep time.Duration
}

// ListenSpec is a port the engine listens on.
type ListenSpec struct {
	Port    uint16
	Backlog int
	// Handler returns the handler for one core's connections; it is called
	// once per core, and its result is used on that core only.
	Handler func(core int) tcp.Handler
}

// Engine is a running set of cores over one interface.
type Engine struct {
	cores []*Core
	loops []*cores.Loop
	// helpers is what Start gives the process's threads other than the
	// loops' (helperNiceFor, Config.RuntimeRTPriority and RuntimeCPUs),
	// and unhelp what Stop gives them back.
	helpers, unhelp cores.ThreadSettings
	closers         []io.Closer // closed after the loops stop, in order
	stop            sync.Once
	running         bool
	steer           *steering // nil with one core or without TCP
	routes          *RouteTable
	// acceptRA: an IPv6 destination the table lacks may still have a
	// learned router, so it is not refused as unreachable.
	acceptRA bool

	sysctl sysctlState // the net.inet.tcp tunables (sysctl.go)

	// The socket layer (socket.go, sockconn.go, sockio.go, sockring.go, sockopt.go).
	ports    *portTable
	udp      *udpTable
	resolver *net.Resolver // Dial's, over the engine (resolve.go)
	dns      []netip.AddrPort
	nextDNS  atomic.Uint32
	rings    *ringPool
	done     chan struct{} // closed when the engine stops

	memReturn  time.Duration // Config.MemoryReturn, defaulted
	memReturns atomic.Uint64 // times free heap was given back (memreturn.go)
	memChecks  atomic.Uint64 // checks made by returnMemory (memreturn.go)
	stopped    atomic.Bool
	nextDial   atomic.Uint32
}

// New builds an engine with one core per link. It does not start it.
func New(cfg Config, links []rings.Link) (*Engine, error) {
	if len(links) == 0 {
		return nil, errors.New("engine: no links")
	}
	if len(cfg.CPUs) != len(links) {
		return nil, fmt.Errorf("engine: %d CPUs for %d links", len(cfg.CPUs), len(links))
	}
	e := &Engine{done: make(chan struct{}), memReturn: cfg.MemoryReturn}
	if e.memReturn == 0 {
		e.memReturn = DefaultMemoryReturn
	}
	if _, err := applyTHP(cfg.THP); err != nil {
		return nil, fmt.Errorf("engine: transparent huge pages off (--thp %v): %w", cfg.THP, err)
	}
	e.ports = newPortTable(e)
	e.udp = &udpTable{}
	e.newResolver(cfg.DNS)
	rp, err := newRingPool(cfg.SocketRing)
	if err != nil {
		return nil, err
	}
	e.rings = rp
	var st *steering
	if len(links) > 1 && !cfg.Sink {
		var err error
		if st, err = newSteering(cfg.RSSKey, cfg.RSSTable, len(links)); err != nil {
			return nil, err
		}
	}
	if cfg.TCP != nil && cfg.TCP.Local == nil {
		// nolocaltimewait asks whether a peer is one of our addresses.
		t := *cfg.TCP
		t.Local = localAddrs(cfg.Addrs)
		cfg.TCP = &t
	}
	if cfg.TCP != nil && (cfg.TCP.ISNKey == [16]byte{} || cfg.TCP.Cores == 0 || cfg.TCP.TSKey == [16]byte{} || cfg.TCP.TSBase == 0) {
		t := *cfg.TCP
		if t.ISNKey == [16]byte{} {
			rand.Read(t.ISNKey[:])
		}
		if t.TSKey == [16]byte{} {
			t.TSKey = timestampKey()
		}
		if t.TSBase == 0 {
			t.TSBase = cores.MonotonicBase()
		}
		if t.Cores == 0 {
			t.Cores = len(links) // the cores share maxtcptw
		}
		cfg.TCP = &t
	}
	if len(cfg.Listen) > 0 && cfg.TCP == nil {
		return nil, errors.New("engine: listening needs TCP")
	}
	for i, l := range links {
		c, err := NewCore(CoreConfig{ID: i, MAC: cfg.MAC, Addrs: cfg.Addrs, Sink: cfg.Sink, TCP: cfg.TCP, Routes: cfg.Routes, AcceptRA: cfg.AcceptRA,
			SolicitRate: cfg.SolicitRate, Frag4: cfg.Frag4, Frag6: cfg.Frag6, ICMPLim: cfg.ICMPLim, ICMP6ErrPPSLimit: cfg.ICMP6ErrPPSLimit, VLAN: cfg.VLAN}, l)
		if err == nil && cfg.ringSweep != 0 {
			c.ringSweep = cfg.ringSweep
		}
		if err != nil {
			return nil, err
		}
		for _, ls := range cfg.Listen {
			if _, err := c.tcp.Listen(ls.Port, ls.Backlog, ls.Handler(i)); err != nil {
				return nil, fmt.Errorf("engine: listen on port %d: %w", ls.Port, err)
			}
		}
		e.cores = append(e.cores, c)
		l := cores.NewLoop(cfg.CPUs[i], cfg.Pin, c, cfg.Idle)
		l.SetNice(cfg.LoopNice)
		l.SetRTPriority(cfg.LoopRTPriority)
		e.loops = append(e.loops, l)
	}
	if len(cfg.RuntimeCPUs) > 0 && !cfg.Pin {
		return nil, errors.New("engine: RuntimeCPUs needs pinned loops")
	}
	if cfg.RuntimeRTPriority != 0 && (!cfg.Pin || cfg.RuntimeRTPriority < 1 || cfg.RuntimeRTPriority >= cfg.LoopRTPriority) {
		return nil, fmt.Errorf("engine: RuntimeRTPriority %d needs pinned loops at a higher LoopRTPriority (%d)", cfg.RuntimeRTPriority, cfg.LoopRTPriority)
	}
	if cfg.Pin {
		if cfg.RuntimeRTPriority != 0 {
			e.helpers = cores.ThreadSettings{RTPriority: cfg.RuntimeRTPriority}
		} else if n := helperNiceFor(cfg.LoopNice, cfg.LoopRTPriority); n != 0 {
			e.helpers = cores.ThreadSettings{Renice: true, Nice: n, Slice: helperSlice}
		}
		e.helpers.CPUs = cfg.RuntimeCPUs
	}
	for _, c := range e.cores {
		c.ports, c.udp = e.ports, e.udp
	}
	e.routes, e.acceptRA = e.cores[0].routes, cfg.AcceptRA
	if st != nil {
		size := cfg.HandoffBytes
		if size == 0 {
			size = DefaultHandoffBytes
		}
		if err := wireSteering(e.cores, st, size); err != nil {
			return nil, err
		}
		for _, c := range e.cores {
			c.steer.peers = e.loops
		}
		e.steer = st
	}
	return e, nil
}

// AddCloser registers c to be closed when the engine stops, after its loops
// (links, XDP programs).
func (e *Engine) AddCloser(c io.Closer) { e.closers = append(e.closers, c) }

// Cores returns the engine's cores. Their live state belongs to their loops;
// read it only through Core.Published.
func (e *Engine) Cores() []*Core { return e.cores }

// Loops returns the engine's loops.
func (e *Engine) Loops() []*cores.Loop { return e.loops }

// Start starts every loop. On error the loops already started are stopped.
func (e *Engine) Start() error {
	for i, c := range e.cores {
		if !e.loops[i].Pinned() {
			// An unpinned loop is an ordinary goroutine that sleeps as
			// soon as it idles: what it readies runs on its P then.
			continue
		}
		q, err := newWakeQueue()
		if err != nil {
			e.undoStart(nil)
			return fmt.Errorf("engine: core %d's wake queue: %w", i, err)
		}
		c.wq = q
	}
	for i, l := range e.loops {
		if err := l.Start(); err != nil {
			e.undoStart(e.loops[:i])
			return err
		}
	}
	if e.helpers.Renice || e.helpers.RTPriority != 0 || len(e.helpers.CPUs) > 0 {
		if err := e.setHelpers(); err != nil {
			e.undoStart(e.loops)
			return fmt.Errorf("engine: the runtime's threads beside the loops: %w", err)
		}
	}
	e.running = true
	if e.memReturn > 0 {
		go e.returnMemory(e.memReturn)
	}
	// A pinned loop holds its P for good (it busy-polls, and sleeps in a
	// raw system call): leave at least one P to the application's
	// goroutines (sockets, metrics, the control socket). Not more: a P
	// beyond the CPUs the loops leave would put an application thread on
	// a loop's CPU, to share it with a busy-polling loop.
	if len(e.loops) > 0 && e.loops[0].Pinned() {
		if need := len(e.loops) + 1; runtime.GOMAXPROCS(0) < need {
			runtime.GOMAXPROCS(need)
		}
	}
	return nil
}

// setHelpers gives the process's threads other than the loops' what
// e.helpers says, after noting in e.unhelp what the calling thread, one
// of them, has now.
func (e *Engine) setHelpers() error {
	tid := cores.ThreadID()
	if e.helpers.Renice || e.helpers.RTPriority != 0 {
		// Back to the normal class, at the nice value and slice found.
		n, err := cores.ThreadNice(tid)
		if err != nil {
			return err
		}
		slice, err := cores.ThreadSlice(tid)
		if err != nil {
			return err
		}
		e.unhelp.Renice, e.unhelp.Nice, e.unhelp.Slice = true, n, slice
	}
	if len(e.helpers.CPUs) > 0 {
		cpus, err := cores.ThreadCPUs(tid)
		if err != nil {
			return err
		}
		e.unhelp.CPUs = cpus
	}
	_, err := cores.SetThreads(e.helpers, e.loopThread)
	return err
}

// loopThread reports whether tid is a loop's thread.
func (e *Engine) loopThread(tid int) bool {
	for _, l := range e.loops {
		if l.ThreadID() == tid {
			return true
		}
	}
	return false
}

// undoStart stops the loops Start started, gives the other threads back
// what they had, and closes the wake queues it made.
func (e *Engine) undoStart(started []*cores.Loop) {
	for _, l := range started {
		l.Stop()
	}
	e.unsetHelpers()
	for _, c := range e.cores {
		if c.wq != nil {
			c.wq.close()
			c.wq = nil
		}
	}
}

// unsetHelpers gives the process's threads other than the loops' back
// what setHelpers found. Best effort: a thread it cannot set keeps the
// helpers' settings.
func (e *Engine) unsetHelpers() {
	cores.SetThreads(e.unhelp, e.loopThread) //nolint:errcheck // best effort, see above
	e.unhelp = cores.ThreadSettings{}
}

// helperNiceFor returns the nice value of the process's threads other
// than the pinned loops', given the loops' nice value and SCHED_FIFO
// priority: the loops' own nice value when it is negative, -20 when they
// are real-time, else 0 (leave them). The Go runtime preempts a goroutine
// that kept its P 10 ms, a loop too, and a loop locked to its thread then
// waits for another of the runtime's threads to take its P and hand it
// back. At nice 0 that thread queued behind the other work of the CPU
// for up to 19 ms (a million held connections, a curl loop beside them:
// docs/architecture.md, "Idle policy"), longer than the loop's priority
// is meant to allow.
//
// The threads also get a short scheduler slice (helperSlice), so that one
// that wakes takes its CPU from a thread of the normal class at once:
// at nice -20 alone the hand-back still waited up to 4.5 ms, the rest of
// a busy process's slice.
func helperNiceFor(loopNice, loopRT int) int {
	switch {
	case loopNice < 0:
		return loopNice
	case loopRT != 0:
		return -20
	}
	return 0
}

// helperSlice is the scheduler slice of the threads helperNiceFor sets.
const helperSlice = 100 * time.Microsecond

// localAddrs returns a function that reports whether an address (IPv4 as
// IPv4-mapped) is one of addrs, or loopback.
func localAddrs(addrs []netip.Prefix) func(a [16]byte) bool {
	set := make(map[[16]byte]bool, len(addrs))
	for _, p := range addrs {
		set[p.Addr().As16()] = true // IPv4 as IPv4-mapped
	}
	return func(a [16]byte) bool { return set[a] || netip.AddrFrom16(a).Unmap().IsLoopback() }
}

// Stop stops the loops, publishes their final counters and closes links and
// programs. It is safe to call more than once.
func (e *Engine) Stop() error {
	var errs []error
	e.stop.Do(func() {
		e.stopped.Store(true)
		defer close(e.done)
		if e.running {
			for _, l := range e.loops {
				l.Stop()
			}
			e.unsetHelpers()
		}
		for _, c := range e.cores {
			if c.wq != nil {
				c.wq.close()
			}
		}
		for _, c := range e.cores {
			c.Publish(cores.Now())
		}
		for _, c := range e.closers {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// Totals returns the sum of every core's published counters.
func (e *Engine) Totals() Counters {
	var t Counters
	for _, c := range e.cores {
		v := c.pub.Load()
		for i := range t {
			t[i] += v[i]
		}
	}
	return t
}

// DialOn opens a TCP connection from core's shard to remote, from local, with
// h handling it on that core. A zero local port picks an ephemeral one for
// which the connection's replies hash to core. An explicit local port whose
// 4-tuple another core owns is dialled on that core instead, and h runs
// there. It runs the open on the core's loop and waits for it to be sent.
func (e *Engine) DialOn(core int, local, remote netip.AddrPort, h tcp.Handler) error {
	core, t, err := e.dialTarget(core, local, remote)
	if err != nil {
		return err
	}
	if cerr := e.loops[core].Call(func(now mono.Time) {
		_, err = e.cores[core].dial(t, h, now)
	}); cerr != nil {
		return cerr
	}
	return err
}

// dialTarget returns the core that is to dial t: core, unless t has an
// explicit local port and another core owns it.
func (e *Engine) dialTarget(core int, local, remote netip.AddrPort) (int, flow.Tuple, error) {
	t := flow.Tuple{LocalAddr: local.Addr().As16(), RemoteAddr: remote.Addr().As16(),
		LocalPort: local.Port(), RemotePort: remote.Port()}
	if core < 0 || core >= len(e.cores) {
		return 0, t, fmt.Errorf("engine: no core %d", core)
	}
	if e.cores[core].tcp == nil {
		return 0, t, errors.New("engine: no TCP")
	}
	if e.steer != nil && t.LocalPort != 0 {
		core = e.steer.owner(&t)
	}
	return core, t, nil
}

// dial opens t on the core's shard. Owner only.
func (c *Core) dial(t flow.Tuple, h tcp.Handler, now mono.Time) (*tcp.Conn, error) {
	c.now = now
	conn, err := c.tcp.Dial(t, h, now)
	c.flush()
	return conn, err
}

// Source returns the engine's address to send to remote from: of remote's
// family, on the prefix that holds its next hop (remote itself or its
// router; the first of the family when none does). It reports false when
// the engine has no address of that family; whether a route leads to
// remote is Routable's question.
func (e *Engine) Source(remote netip.Addr) (netip.Addr, bool) {
	c := e.cores[0]
	remote = remote.Unmap()
	if remote.Is4() {
		if len(c.v4) == 0 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4(c.source4(remote.As4())), true
	}
	if len(c.v6) == 0 {
		return netip.Addr{}, false
	}
	r := remote.As16()
	return netip.AddrFrom16(c.source6(&r)), true
}

// Routable reports whether a packet to a may find a route: the table holds
// it, or it is IPv6 and routers are learned from advertisements (whether
// one is known now is each core's own knowledge). A socket's connect to an
// address that is not fails with ENETUNREACH.
func (e *Engine) Routable(a netip.Addr) bool {
	a = a.Unmap()
	if _, ok := e.routes.Lookup(a); ok {
		return true
	}
	return e.acceptRA && a.Is6()
}

// Routes returns the engine's routing table, which never changes.
func (e *Engine) Routes() *RouteTable { return e.routes }
