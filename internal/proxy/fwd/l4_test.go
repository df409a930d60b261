package fwd

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/proxyproto"
	"github.com/pollstack/pollstack/tcp"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// Streams of random sizes through the proxy to echo backends come back
// byte for byte, on a clean wire and on one that loses 1% of segments.
func TestForwardByteExact(t *testing.T) {
	for _, loss := range []float64{0, 0.01} {
		t.Run(map[float64]string{0: "clean", 0.01: "loss"}[loss], func(t *testing.T) {
			n := newTestNet(t)
			n.loss = loss
			cl := n.host(addrClient, tcp.DefaultConfig())
			b1, b2 := n.host(addrBack, tcp.DefaultConfig()), n.host(addrBack2, tcp.DefaultConfig())
			e1, e2 := &echo{}, &echo{}
			for _, x := range []struct {
				sh *tcp.Shard
				h  tcp.Handler
			}{{b1, e1}, {b2, e2}} {
				if _, err := x.sh.Listen(7, 0, x.h); err != nil {
					t.Fatal(err)
				}
			}
			app, _ := n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 7), netip.AddrPortFrom(addrBack2, 7)))
			rng := rand.New(rand.NewPCG(3, 4))
			var streams []*stream
			for i := 0; i < 40; i++ {
				size := rng.IntN(600 << 10)
				if i%10 == 0 {
					size = rng.IntN(10)
				}
				s := &stream{out: randBytes(rng, size)}
				streams = append(streams, s)
				n.dial(cl, s)
			}
			ok := n.run(120*time.Second, func() bool {
				for _, s := range streams {
					if !s.done {
						return false
					}
				}
				return true
			})
			if !ok {
				t.Fatal("streams still open after 120 s")
			}
			for i, s := range streams {
				if s.err != nil || sha256.Sum256(s.got.Bytes()) != sha256.Sum256(s.out) {
					t.Fatalf("stream %d: err %v, got %d bytes, sent %d (equal %v)", i, s.err, s.got.Len(), len(s.out), bytes.Equal(s.got.Bytes(), s.out))
				}
			}
			if e1.conns == 0 || e2.conns == 0 || e1.conns+e2.conns != len(streams) {
				t.Fatalf("backends served %d and %d connections, want %d in all, both used", e1.conns, e2.conns, len(streams))
			}
			n.run(time.Second, func() bool { return app.Active() == 0 })
			if app.Active() != 0 {
				t.Fatalf("%d pairs left open", app.Active())
			}
		})
	}
}

// answerAfterEOF reads until the peer half-closes, then sends answer and
// closes.
type answerAfterEOF struct {
	answer []byte
	sent   int
	in     int
}

func (h *answerAfterEOF) Established(*tcp.Conn) {}
func (h *answerAfterEOF) Readable(c *tcp.Conn) {
	h.in += c.Readable()
	c.Consume(c.Readable())
	if c.EOF() {
		h.Writable(c)
	}
}
func (h *answerAfterEOF) Writable(c *tcp.Conn) {
	if !c.EOF() {
		return
	}
	for h.sent < len(h.answer) {
		n, _ := c.Write(h.answer[h.sent:])
		if n == 0 {
			return
		}
		h.sent += n
	}
	c.Close()
}
func (h *answerAfterEOF) Closed(*tcp.Conn, error) {}

// A client that shuts its write side still gets the backend's whole
// answer, which the backend sends only after it saw the FIN.
func TestHalfCloseCarriesTheAnswer(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	answer := randBytes(rand.New(rand.NewPCG(5, 6)), 3<<20)
	h := &answerAfterEOF{answer: answer}
	if _, err := bk.Listen(9, 0, h); err != nil {
		t.Fatal(err)
	}
	n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 9)))
	s := &stream{out: []byte("request, then FIN")}
	n.dial(cl, s)
	if !n.run(60*time.Second, func() bool { return s.done }) {
		t.Fatal("stream still open")
	}
	if s.err != nil || !bytes.Equal(s.got.Bytes(), answer) || h.in != len(s.out) {
		t.Fatalf("err %v; got %d of %d answer bytes; backend read %d of %d", s.err, s.got.Len(), len(answer), h.in, len(s.out))
	}
}

// resetter resets every connection once it has read something.
type resetter struct{}

func (resetter) Established(*tcp.Conn)   {}
func (resetter) Readable(c *tcp.Conn)    { c.Abort() }
func (resetter) Writable(*tcp.Conn)      {}
func (resetter) Closed(*tcp.Conn, error) {}

// A backend's RST reaches the client as a RST.
func TestBackendResetResetsClient(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(9, 0, resetter{}); err != nil {
		t.Fatal(err)
	}
	app, _ := n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 9)))
	s := &stream{out: []byte("x"), noShut: true}
	n.dial(cl, s)
	if !n.run(10*time.Second, func() bool { return s.done }) {
		t.Fatal("client not closed")
	}
	if !errors.Is(s.err, syscall.ECONNRESET) {
		t.Fatalf("client's error %v, want ECONNRESET", s.err)
	}
	pub := app.Published()
	app.pub.Load().store(app)
	if got := pub.Groups[0].Servers[0].Counters[SrvResets].Load(); got != 1 {
		t.Fatalf("resets counted %d, want 1", got)
	}
}

// A client's RST reaches the backend as a RST.
func TestClientResetResetsBackend(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	var backConn *tcp.Conn
	var backErr error
	rec := &funcHandler{est: func(c *tcp.Conn) { backConn = c }, closed: func(c *tcp.Conn, err error) { backErr = err; backConn = nil }}
	if _, err := bk.Listen(9, 0, rec); err != nil {
		t.Fatal(err)
	}
	n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 9)))
	s := &stream{out: []byte("hi"), noShut: true}
	n.dial(cl, s)
	if !n.run(5*time.Second, func() bool { return backConn != nil && s.sent == 2 }) {
		t.Fatal("no backend connection")
	}
	s.conn.Abort()
	if !n.run(5*time.Second, func() bool { return backConn == nil }) {
		t.Fatal("backend connection still open")
	}
	if !errors.Is(backErr, syscall.ECONNRESET) {
		t.Fatalf("backend's error %v, want ECONNRESET", backErr)
	}
}

type funcHandler struct {
	est    func(c *tcp.Conn)
	closed func(c *tcp.Conn, err error)
}

func (h *funcHandler) Established(c *tcp.Conn) {
	if h.est != nil {
		h.est(c)
	}
}
func (h *funcHandler) Readable(c *tcp.Conn) { c.Consume(c.Readable()) }
func (h *funcHandler) Writable(*tcp.Conn)   {}
func (h *funcHandler) Closed(c *tcp.Conn, err error) {
	if h.closed != nil {
		h.closed(c, err)
	}
}

// A connect refused by one server is retried on another; the client never
// notices.
func TestRefusedConnectRetriedElsewhere(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	n.host(addrBack, tcp.DefaultConfig()) // no listener: refuses
	b2 := n.host(addrBack2, tcp.DefaultConfig())
	e := &echo{}
	if _, err := b2.Listen(7, 0, e); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7), netip.AddrPortFrom(addrBack2, 7))
	app, _ := n.proxy(cfg)
	var streams []*stream
	for i := 0; i < 6; i++ {
		s := &stream{out: []byte("hello")}
		streams = append(streams, s)
		n.dial(cl, s)
	}
	n.run(10*time.Second, func() bool {
		for _, s := range streams {
			if !s.done {
				return false
			}
		}
		return true
	})
	for i, s := range streams {
		if !s.done || s.err != nil || s.got.String() != "hello" {
			t.Fatalf("stream %d: done %v err %v got %q", i, s.done, s.err, s.got.String())
		}
	}
	app.pub.Load().store(app)
	srv := &app.Published().Groups[0].Servers[0].Counters
	if srv[SrvConnectRefused].Load() == 0 || srv[SrvRetries].Load() != srv[SrvConnectRefused].Load() {
		t.Fatalf("refused %d, retries %d: want equal and above 0", srv[SrvConnectRefused].Load(), srv[SrvRetries].Load())
	}
}

// With every server refusing, the client is reset after one retry.
func TestAllRefusedResetsClient(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	n.host(addrBack, tcp.DefaultConfig())
	app, _ := n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 7)))
	s := &stream{out: []byte("x")}
	n.dial(cl, s)
	if !n.run(10*time.Second, func() bool { return s.done }) {
		t.Fatal("client not closed")
	}
	if !errors.Is(s.err, syscall.ECONNRESET) {
		t.Fatalf("client's error %v, want ECONNRESET", s.err)
	}
	app.pub.Load().store(app)
	if got := app.Published().Groups[0].Servers[0].Counters[SrvConnectRefused].Load(); got != 2 {
		t.Fatalf("refused %d, want 2 (the connect and its retry)", got)
	}
}

// With --send-proxy the backend's first bytes are a PROXY header with the
// client's addresses; with accept-proxy in front, the addresses the
// client's own header gave.
func TestSendAndAcceptProxy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		send   config.ProxyVersion
		accept bool
	}{{"send-v1", config.ProxyV1, false}, {"send-v2", config.ProxyV2, false}, {"accept-then-send-v2", config.ProxyV2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cl := n.host(addrClient, tcp.DefaultConfig())
			bk := n.host(addrBack, tcp.DefaultConfig())
			got := &headerReader{}
			if _, err := bk.Listen(7, 0, got); err != nil {
				t.Fatal(err)
			}
			cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
			cfg.Backends[0].Servers[0].SendProxy = tc.send
			cfg.Listeners[0].AcceptProxy = tc.accept
			cfg.Listeners[0].AcceptProxyTimeout = 3 * time.Second
			n.proxy(cfg)
			payload := []byte("payload")
			want := proxyproto.Header{Command: proxyproto.Proxy,
				Src: netip.AddrPortFrom(addrClient, 0), Dst: netip.AddrPortFrom(addrProxy, 80)}
			out := payload
			if tc.accept {
				want.Src = netip.MustParseAddrPort("198.19.7.7:4444")
				want.Dst = netip.MustParseAddrPort("198.19.8.8:443")
				out = append(proxyproto.AppendV1(nil, &want), payload...)
			}
			s := &stream{out: out}
			n.dial(cl, s)
			n.run(5*time.Second, func() bool { return got.done })
			if !got.done || got.err != nil {
				t.Fatalf("backend: done %v err %v", got.done, got.err)
			}
			h := got.p.Header()
			if !tc.accept {
				want.Src = netip.AddrPortFrom(addrClient, h.Src.Port()) // the client's ephemeral port
			}
			if h.Src != want.Src || h.Dst != want.Dst || int(h.Version) != int(tc.send) {
				t.Fatalf("header v%d %v -> %v, want v%d %v -> %v", h.Version, h.Src, h.Dst, tc.send, want.Src, want.Dst)
			}
			if got.rest.String() != string(payload) {
				t.Fatalf("payload after the header %q, want %q", got.rest.String(), payload)
			}
		})
	}
}

// headerReader parses a PROXY header, then keeps the rest until EOF.
type headerReader struct {
	p    proxyproto.Parser
	hdr  bool
	rest bytes.Buffer
	done bool
	err  error
}

func (h *headerReader) Established(*tcp.Conn) {}
func (h *headerReader) Readable(c *tcp.Conn) {
	for {
		a, _ := c.Peek()
		if len(a) == 0 {
			break
		}
		if !h.hdr {
			n, done, err := h.p.Feed(a)
			if err != nil {
				h.err, h.done = err, true
				c.Abort()
				return
			}
			c.Consume(n)
			h.hdr = done
			continue
		}
		h.rest.Write(a)
		c.Consume(len(a))
	}
	if c.EOF() {
		h.done = true
		c.Close()
	}
}
func (h *headerReader) Writable(*tcp.Conn)      {}
func (h *headerReader) Closed(*tcp.Conn, error) {}

// A malformed PROXY header, or none in time, resets the client and opens
// no backend connection.
func TestAcceptProxyRefusesBadHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  []byte
		stat int
	}{{"malformed", []byte("GET / HTTP/1.1\r\n\r\n"), LstProxyErrors}, {"late", []byte("PROXY TCP4 1.2.3.4"), LstProxyTimeouts}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cl := n.host(addrClient, tcp.DefaultConfig())
			bk := n.host(addrBack, tcp.DefaultConfig())
			e := &echo{}
			if _, err := bk.Listen(7, 0, e); err != nil {
				t.Fatal(err)
			}
			cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
			cfg.Listeners[0].AcceptProxy = true
			cfg.Listeners[0].AcceptProxyTimeout = 3 * time.Second
			app, _ := n.proxy(cfg)
			s := &stream{out: tc.out, noShut: true}
			n.dial(cl, s)
			if !n.run(10*time.Second, func() bool { return s.done }) {
				t.Fatal("client not closed")
			}
			if !errors.Is(s.err, syscall.ECONNRESET) || e.conns != 0 {
				t.Fatalf("client's error %v, backend connections %d; want ECONNRESET, 0", s.err, e.conns)
			}
			app.pub.Load().store(app)
			if got := app.Published().Listeners[0].Counters[tc.stat].Load(); got != 1 {
				t.Fatalf("%s = %d, want 1", ListenerCounterNames[tc.stat], got)
			}
		})
	}
}

// A backend that does not read closes the window back to the client:
// the proxy holds no more than its legs' buffers, whatever the client
// writes, and stops taking bytes once they are full (autosizing may have
// grown them while bytes still flowed, never past recvbuf_max and
// sendbuf_max).
func TestSlowBackendBoundsMemory(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	var backConn *tcp.Conn
	stall := &stallHandler{conn: &backConn}
	if _, err := bk.Listen(7, 0, stall); err != nil {
		t.Fatal(err)
	}
	_, psh := n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 7)))
	s := &stream{out: make([]byte, 64<<20), noShut: true}
	n.dial(cl, s)
	n.run(20*time.Second, nil)
	cfg := tcp.DefaultConfig()
	limit := 2 * (cfg.SendBufMax + cfg.RecvBufMax) // both legs' buffers at their largest
	held, sent := psh.BufferBytes(), s.sent
	if held > limit+8<<10 {
		t.Fatalf("proxy holds %d bytes of buffers, want at most the legs' %d", held, limit)
	}
	if s.sent >= len(s.out) || s.sent > 4*limit {
		t.Fatalf("client wrote %d of %d bytes to a backend that reads nothing", s.sent, len(s.out))
	}
	acks := psh.Stats()[tcp.StatSndAcks]
	n.run(20*time.Second, nil)
	// The legs' persist probes are answered, no more (no storm of ACKs).
	if d := psh.Stats()[tcp.StatSndAcks] - acks; d > 100 {
		t.Errorf("the proxy sent %d ACKs in 20 s of stalled legs", d)
	}
	if psh.BufferBytes() > held || s.sent > sent+4<<10 {
		t.Fatalf("with the backend still reading nothing, the proxy's buffers went from %d to %d bytes and the client wrote %d more",
			held, psh.BufferBytes(), s.sent-sent)
	}
	t.Logf("proxy holds %d bytes; client wrote %d", held, s.sent)
	// Let it read: everything arrives, in order.
	stall.read = true
	stall.Readable(backConn)
	n.run(60*time.Second, func() bool { return stall.n == len(s.out) })
	if stall.n != len(s.out) {
		t.Fatalf("backend read %d of %d bytes after it started reading", stall.n, len(s.out))
	}
}

type stallHandler struct {
	conn *(*tcp.Conn)
	read bool
	n    int
}

func (h *stallHandler) Established(c *tcp.Conn) { *h.conn = c }
func (h *stallHandler) Readable(c *tcp.Conn) {
	if h.read {
		h.n += c.Readable()
		c.Consume(c.Readable())
	}
}
func (h *stallHandler) Writable(*tcp.Conn)      {}
func (h *stallHandler) Closed(*tcp.Conn, error) {}

// A connect that times out while the core's receive ring drops frames is
// tried again, up to three more times, before the client is reset; with
// no drops the client is reset after the usual two tries. A server that
// answers late (its SYN-ACK among the drops) is reached.
func TestConnectTimeoutUnderOverload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drops bool
		tries uint64
	}{{"no drops", false, 2}, {"ring dropping", true, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cl := n.host(addrClient, tcp.DefaultConfig())
			// No host at the server's address: its SYNs vanish.
			cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
			cfg.Backends[0].ConnectTimeout = time.Second
			var o Options
			if tc.drops {
				start := n.now
				o.RxDropped = func() uint64 { return uint64(n.now.Sub(start) / (100 * time.Millisecond)) }
			}
			app, _ := n.proxyWith(cfg, o)
			s := &stream{out: []byte("x")}
			n.dial(cl, s)
			if !n.run(30*time.Second, func() bool { return s.done }) {
				t.Fatal("client not closed")
			}
			app.pub.Load().store(app)
			srv := &app.Published().Groups[0].Servers[0].Counters
			if got := srv[SrvConnections].Load(); got != tc.tries || srv[SrvConnectTimeout].Load() != tc.tries || s.err == nil {
				t.Fatalf("connects %d, timeouts %d, client error %v: want %d timed out and the client reset",
					got, srv[SrvConnectTimeout].Load(), s.err, tc.tries)
			}
		})
	}
	t.Run("late server", func(t *testing.T) {
		n := newTestNet(t)
		cl := n.host(addrClient, tcp.DefaultConfig())
		cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
		cfg.Backends[0].ConnectTimeout = time.Second
		start := n.now
		n.proxyWith(cfg, Options{RxDropped: func() uint64 { return uint64(n.now.Sub(start) / (100 * time.Millisecond)) }})
		s := &stream{out: []byte("late")}
		n.dial(cl, s)
		n.run(3500*time.Millisecond, nil) // three connects have timed out
		bk := n.host(addrBack, tcp.DefaultConfig())
		if _, err := bk.Listen(7, 0, &echo{}); err != nil {
			t.Fatal(err)
		}
		n.run(10*time.Second, func() bool { return s.done })
		if !s.done || s.err != nil || s.got.String() != "late" {
			t.Fatalf("done %v err %v got %q", s.done, s.err, s.got.String())
		}
	})
}
