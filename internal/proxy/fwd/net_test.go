package fwd

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// A test network of shards, each with its own address, joined by a wire
// with a one-way delay, a virtual clock and optional seeded loss.
type testNet struct {
	t     testing.TB
	now   mono.Time
	hosts map[[16]byte]*tcp.Shard
	queue []packet
	spare []packet
	due   []packet
	delay time.Duration
	loss  float64
	burst int // with loss: each loss starts a run of this many drops
	left  int
	rng   *rand.Rand
}

type packet struct {
	to *tcp.Shard
	t  flow.Tuple
	b  []byte
	at mono.Time
}

type hostSender struct {
	n   *testNet
	buf [4096]byte
}

func (s *hostSender) Buffer(*flow.Tuple) []byte { return s.buf[:] }
func (s *hostSender) Send(t *flow.Tuple, n int) {
	if s.n.left > 0 {
		s.n.left--
		return
	}
	if s.n.loss > 0 && s.n.rng.Float64() < s.n.loss {
		s.n.left = s.n.burst
		return
	}
	to := s.n.hosts[t.RemoteAddr]
	if to == nil {
		return
	}
	rt := flow.Tuple{LocalAddr: t.RemoteAddr, RemoteAddr: t.LocalAddr, LocalPort: t.RemotePort, RemotePort: t.LocalPort}
	var b []byte
	if k := len(s.n.spare); k > 0 {
		b = append(s.n.spare[k-1].b[:0], s.buf[:n]...)
		s.n.spare = s.n.spare[:k-1]
	} else {
		b = bytes.Clone(s.buf[:n])
	}
	s.n.queue = append(s.n.queue, packet{to: to, t: rt, b: b, at: s.n.now.Add(s.n.delay)})
}

var (
	addrClient = netip.MustParseAddr("198.18.0.3")
	addrProxy  = netip.MustParseAddr("198.18.0.1")
	addrBack   = netip.MustParseAddr("198.18.0.2")
	addrBack2  = netip.MustParseAddr("198.18.0.4")
)

func newTestNet(t testing.TB) *testNet {
	return &testNet{t: t, now: 1e9, hosts: map[[16]byte]*tcp.Shard{}, delay: 100 * time.Microsecond,
		rng: rand.New(rand.NewPCG(1, 2))}
}

// host adds a shard at addr.
func (n *testNet) host(addr netip.Addr, cfg tcp.Config) *tcp.Shard {
	n.t.Helper()
	sh, err := tcp.NewShard(cfg, &hostSender{n: n})
	if err != nil {
		n.t.Fatal(err)
	}
	n.hosts[addr.As16()] = sh
	return sh
}

// step delivers what is due and runs the timers, moving the clock to the
// next event (at most max ahead).
func (n *testNet) step(max time.Duration) {
	next := n.now.Add(max)
	for _, p := range n.queue {
		if p.at < next {
			next = p.at
		}
	}
	for _, sh := range n.hosts {
		if at, ok := sh.NextTimer(); ok && at < next {
			next = at
		}
	}
	if next > n.now {
		n.now = next
	}
	due := n.due[:0]
	rest := n.queue[:0]
	for _, p := range n.queue {
		if p.at <= n.now {
			due = append(due, p)
		} else {
			rest = append(rest, p)
		}
	}
	n.queue = rest
	n.due = due
	for i := range due {
		p := &due[i]
		p.to.Receive(&p.t, p.b, n.now)
		n.spare = append(n.spare, *p)
	}
	for _, sh := range n.hosts {
		sh.Tick(n.now)
	}
}

// run steps until cond holds or limit of virtual time passes.
func (n *testNet) run(limit time.Duration, cond func() bool) bool {
	end := n.now.Add(limit)
	for n.now < end {
		if cond != nil && cond() {
			return true
		}
		n.step(min(end.Sub(n.now), 10*time.Millisecond))
	}
	return cond != nil && cond()
}

// proxyCfg is one listener on port 80 to the given servers.
func proxyCfg(servers ...netip.AddrPort) *config.Config {
	c := &config.Config{
		Listeners: []config.Listener{{Name: "front", Binds: []config.Bind{{Port: 80}}, Mode: "tcp", Backend: "back"}},
		Backends:  []config.BackendGroup{{Name: "back", Mode: "tcp", Balance: "roundrobin"}},
	}
	for i, s := range servers {
		c.Backends[0].Servers = append(c.Backends[0].Servers,
			config.Server{Name: "s" + string(rune('1'+i)), Addr: s, Weight: 1, Check: true})
	}
	return c
}

func (n *testNet) proxy(cfg *config.Config) (*App, *tcp.Shard) {
	n.t.Helper()
	return n.proxyWith(cfg, Options{})
}

// proxyWith is proxy with o's RxDropped.
func (n *testNet) proxyWith(cfg *config.Config, o Options) (*App, *tcp.Shard) {
	n.t.Helper()
	sh := n.host(addrProxy, tcp.DefaultConfig())
	a, err := New(sh, cfg, Options{Core: 0, Cores: 1, Addrs: []netip.Addr{addrProxy}, Now: n.now, RxDropped: o.RxDropped})
	if err != nil {
		n.t.Fatal(err)
	}
	return a, sh
}

// stream is a client connection that sends out, half-closes, and keeps
// what comes back.
type stream struct {
	out      []byte
	sent     int
	shut     bool
	noShut   bool
	got      bytes.Buffer
	done     bool
	err      error
	conn     *tcp.Conn
	readStop bool
	// closeOnEOF: close when the peer has closed, as an HTTP client does
	// (without it, only a stream that shut its side closes).
	closeOnEOF bool
}

func (s *stream) Established(c *tcp.Conn) { s.conn = c; s.Writable(c) }
func (s *stream) Readable(c *tcp.Conn) {
	if s.readStop {
		return
	}
	for {
		a, _ := c.Peek()
		if len(a) == 0 {
			break
		}
		s.got.Write(a)
		c.Consume(len(a))
	}
	if c.EOF() && (s.shut || s.closeOnEOF) {
		c.Close()
	}
}
func (s *stream) Writable(c *tcp.Conn) {
	for s.sent < len(s.out) {
		n, err := c.Write(s.out[s.sent:])
		if err != nil || n == 0 {
			return
		}
		s.sent += n
	}
	if !s.shut && !s.noShut {
		s.shut = true
		c.CloseWrite()
	}
}
func (s *stream) Closed(c *tcp.Conn, err error) { s.done, s.err = true, err }

// dial opens a stream from the client host to the proxy's port 80.
func (n *testNet) dial(cl *tcp.Shard, s *stream) {
	n.t.Helper()
	t := flow.Tuple{LocalAddr: addrClient.As16(), RemoteAddr: addrProxy.As16(), RemotePort: 80}
	if _, err := cl.Dial(t, s, n.now); err != nil {
		n.t.Fatal(err)
	}
}

// echo is a backend that sends back what it receives and closes after
// the peer half-closes.
type echo struct {
	conns int
	first []byte // the first bytes of the first connection (PROXY headers)
}

func (e *echo) Established(c *tcp.Conn) { e.conns++ }
func (e *echo) Readable(c *tcp.Conn)    { e.pump(c) }
func (e *echo) Writable(c *tcp.Conn)    { e.pump(c) }
func (e *echo) Closed(*tcp.Conn, error) {}
func (e *echo) pump(c *tcp.Conn) {
	for {
		a, b := c.Peek()
		if len(a) == 0 {
			break
		}
		if e.first == nil {
			e.first = bytes.Clone(a)
		}
		n, err := c.Write(a)
		if err != nil {
			c.Abort()
			return
		}
		if n == len(a) && len(b) > 0 {
			m, _ := c.Write(b)
			n += m
		}
		c.Consume(n)
		if n == 0 {
			break
		}
	}
	if c.EOF() && c.Readable() == 0 {
		c.Close()
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(11, 12)) }

// tupleTo is a client's tuple to the proxy's port.
func tupleTo(port uint16) flow.Tuple {
	return flow.Tuple{LocalAddr: addrClient.As16(), RemoteAddr: addrProxy.As16(), RemotePort: port}
}
