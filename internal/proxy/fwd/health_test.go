package fwd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/tcp"
)

// A server that stops listening is taken out of rotation by the checks
// (no client is sent there after), and is back once it listens again.
func TestHealthChecksTakeServersOutAndBack(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	b1, b2 := n.host(addrBack, tcp.DefaultConfig()), n.host(addrBack2, tcp.DefaultConfig())
	e1, e2 := &echo{}, &echo{}
	l1, err := b1.Listen(7, 0, e1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Listen(7, 0, e2); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7), netip.AddrPortFrom(addrBack2, 7))
	cfg.Backends[0].Health.Type = "tcp"
	cfg.Backends[0].Health.Inter = 500 * time.Millisecond
	cfg.Backends[0].Health.Rise, cfg.Backends[0].Health.Fall = 2, 3
	app, _ := n.proxy(cfg)
	n.run(2*time.Second, nil)
	app.pub.Load().store(app)
	s0 := &app.Published().Groups[0].Servers[0]
	if !s0.Up.Load() || s0.Counters[SrvChecks].Load() < 3 {
		t.Fatalf("server 1: up %v after %d checks; want up, checked", s0.Up.Load(), s0.Counters[SrvChecks].Load())
	}
	l1.Close()
	n.run(2*time.Second, nil) // fall 3 at inter 500ms
	if tw := n.hosts[addrProxy.As16()].TimeWaitEntries(); tw != 0 {
		t.Fatalf("checks left %d TIME_WAIT entries on the proxy", tw)
	}
	app.pub.Load().store(app)
	if s0.Up.Load() {
		t.Fatalf("server 1 still up 2 s after it stopped listening: %d checks, %d failed", s0.Counters[SrvChecks].Load(), s0.Counters[SrvCheckFailures].Load())
	}
	before := e1.conns
	for i := 0; i < 10; i++ {
		s := &stream{out: []byte("x")}
		n.dial(cl, s)
		n.run(time.Second, func() bool { return s.done })
		if s.err != nil || s.got.String() != "x" {
			t.Fatalf("stream %d while server 1 is down: err %v, got %q", i, s.err, s.got.String())
		}
	}
	app.pub.Load().store(app)
	if e1.conns != before || s0.Counters[SrvConnectRefused].Load() != 0 {
		t.Fatalf("down server got %d connections, %d refused", e1.conns-before, s0.Counters[SrvConnectRefused].Load())
	}
	if _, err := b1.Listen(7, 0, e1); err != nil {
		t.Fatal(err)
	}
	n.run(2*time.Second, nil) // rise 2
	app.pub.Load().store(app)
	if !s0.Up.Load() || s0.Counters[SrvWentUp].Load() != 1 || s0.Counters[SrvWentDown].Load() != 1 {
		t.Fatalf("server 1: up %v, went down %d, up %d; want up again after one of each",
			s0.Up.Load(), s0.Counters[SrvWentDown].Load(), s0.Counters[SrvWentUp].Load())
	}
}

// Steady-state forwarding allocates nothing: bytes through an established
// pair, both ways.
func TestForwardingAllocatesNothing(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(7, 0, &echo{}); err != nil {
		t.Fatal(err)
	}
	n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 7)))
	s := &stream{noShut: true}
	n.dial(cl, s)
	n.run(time.Second, func() bool { return s.conn != nil })
	msg := make([]byte, 1000)
	round := func() {
		s.got.Reset()
		if w, err := s.conn.Write(msg); err != nil || w != len(msg) {
			t.Fatalf("Write = %d, %v", w, err)
		}
		n.run(time.Second, func() bool { return s.got.Len() == len(msg) })
	}
	for i := 0; i < 50; i++ {
		round() // warm the pools and the wire's spare buffers
	}
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocations per request-response through the proxy, want 0", a)
	}
	if s.got.Len() != len(msg) {
		t.Fatalf("echoed %d bytes, want %d", s.got.Len(), len(msg))
	}
}

// A listener at its maxconn resets the next client; a server at its
// maxconn makes the next client wait in the queue until a slot frees, or
// until the queue timeout.
func TestMaxConnAndQueue(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(7, 0, &echo{}); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
	cfg.Listeners[0].MaxConn = 3
	cfg.Backends[0].Servers[0].MaxConn = 1
	cfg.Backends[0].Queue = 2
	cfg.Backends[0].QueueTimeout = 2 * time.Second
	app, _ := n.proxy(cfg)
	var ss []*stream
	for i := 0; i < 4; i++ {
		s := &stream{out: []byte("q"), noShut: true}
		ss = append(ss, s)
		n.dial(cl, s)
		n.run(100*time.Millisecond, nil)
	}
	// 0 is connected, 1 and 2 wait in the queue, 3 found the listener full.
	app.pub.Load().store(app)
	if ss[0].got.String() != "q" || ss[1].got.Len() != 0 || ss[2].got.Len() != 0 || ss[1].done || ss[2].done {
		t.Fatalf("got %q, %q, %q; want the first echoed, the next two waiting", ss[0].got.String(), ss[1].got.String(), ss[2].got.String())
	}
	if !ss[3].done {
		t.Fatal("fourth not reset by the listener's maxconn")
	}
	lst, grp := &app.Published().Listeners[0].Counters, &app.Published().Groups[0].Counters
	if lst[LstRefusedMaxConn].Load() != 1 || grp[GrpQueued].Load() != 2 || app.Published().Groups[0].Queue.Load() != 2 {
		t.Fatalf("refused_maxconn %d, queued %d, queue %d; want 1, 2, 2",
			lst[LstRefusedMaxConn].Load(), grp[GrpQueued].Load(), app.Published().Groups[0].Queue.Load())
	}
	// The first ends: the first queued gets its slot; the second times out.
	ss[0].conn.CloseWrite()
	n.run(time.Second, func() bool { return ss[1].got.String() == "q" })
	if ss[1].got.String() != "q" {
		t.Fatalf("queued client got %q after a slot freed", ss[1].got.String())
	}
	n.run(3*time.Second, func() bool { return ss[2].done })
	app.pub.Load().store(app)
	if !ss[2].done || grp[GrpQueueTimeouts].Load() != 1 {
		t.Fatalf("done %v, queue_timeouts %d: want reset after the queue timeout", ss[2].done, grp[GrpQueueTimeouts].Load())
	}
}

// With no server in rotation the client is reset at once.
func TestNoServerResets(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
	cfg.Backends[0].Servers[0].Weight = 0 // drained
	app, _ := n.proxy(cfg)
	s := &stream{out: []byte("q"), noShut: true}
	n.dial(cl, s)
	n.run(time.Second, func() bool { return s.done })
	app.pub.Load().store(app)
	if !s.done || app.Published().Groups[0].Counters[GrpNoServer].Load() != 1 {
		t.Fatalf("done %v, no_server %d", s.done, app.Published().Groups[0].Counters[GrpNoServer].Load())
	}
}

// An idle proxied connection is reset after the client timeout.
func TestIdleTimeout(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(7, 0, &echo{}); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
	cfg.Listeners[0].ClientTimeout = 5 * time.Second
	app, _ := n.proxy(cfg)
	s := &stream{out: []byte("a"), noShut: true}
	n.dial(cl, s)
	// Activity every 3 s keeps it open.
	for i := 0; i < 4; i++ {
		n.run(3*time.Second, nil)
		if s.done {
			t.Fatalf("closed after %d active intervals", i)
		}
		s.conn.Write([]byte("b"))
	}
	n.run(7*time.Second, func() bool { return s.done })
	app.pub.Load().store(app)
	if !s.done || app.Published().Listeners[0].Counters[LstIdleTimeouts].Load() != 1 {
		t.Fatalf("done %v, idle_timeouts %d: want closed by the client timeout", s.done, app.Published().Listeners[0].Counters[LstIdleTimeouts].Load())
	}
	if lc := &app.Published().Listeners[0].Counters; lc[LstIdlePeerWindowClosed].Load() != 0 || lc[LstIdleOwnWindowClosed].Load() != 0 {
		t.Fatalf("an idle pair with open windows counted as zero-window: peer %d, own %d", lc[LstIdlePeerWindowClosed].Load(), lc[LstIdleOwnWindowClosed].Load())
	}
}

// A client that resets while its backend connect is under way does not
// count against the server (no passive failure, no connect error).
func TestClientGoneDuringConnectIsNoServerFault(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(7, 0, &echo{}); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
	cfg.Backends[0].Health = config.Health{Type: "tcp", Inter: time.Hour, Rise: 2, Fall: 1}
	app, _ := n.proxy(cfg)
	n.delay = 50 * time.Millisecond // a slow path: the SYN to the server is in flight a while
	for i := 0; i < 3; i++ {
		s := &stream{noShut: true}
		n.dial(cl, s)
		n.run(110*time.Millisecond, func() bool { return s.conn != nil }) // the client is in, the backend SYN out
		s.conn.Abort()
		n.run(time.Second, nil)
	}
	app.pub.Load().store(app)
	srv := &app.Published().Groups[0].Servers[0]
	if !srv.Up.Load() || srv.Counters[SrvConnectReset].Load() != 0 || srv.Counters[SrvWentDown].Load() != 0 {
		t.Fatalf("up %v, connect_reset %d, went_down %d: the clients' resets were counted against the server",
			srv.Up.Load(), srv.Counters[SrvConnectReset].Load(), srv.Counters[SrvWentDown].Load())
	}
}

// A pair where nothing moves is idle even while segments come and go: a
// backend that stops reading leaves the client's window probes as the only
// traffic, and the pair is reset after the client timeout.
func TestIdleMeansNoBytesMoved(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	var backConn *tcp.Conn
	if _, err := bk.Listen(7, 0, &stallHandler{conn: &backConn}); err != nil {
		t.Fatal(err)
	}
	cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
	cfg.Listeners[0].ClientTimeout = 5 * time.Second
	app, _ := n.proxy(cfg)
	s := &stream{out: make([]byte, 4<<20), noShut: true}
	n.dial(cl, s)
	n.run(30*time.Second, func() bool { return s.done })
	app.pub.Load().store(app)
	if !s.done || app.Published().Listeners[0].Counters[LstIdleTimeouts].Load() != 1 {
		t.Fatalf("done %v after 30 s of a stalled backend, idle_timeouts %d: want the pair reset after 5 s without progress",
			s.done, app.Published().Listeners[0].Counters[LstIdleTimeouts].Load())
	}
	// The backend leg held bytes against the stalled backend's zero
	// window, and the client leg's window had closed behind it.
	if lc := &app.Published().Listeners[0].Counters; lc[LstIdlePeerWindowClosed].Load() != 1 || lc[LstIdleOwnWindowClosed].Load() != 1 {
		t.Fatalf("a flow-controlled pair: peer_window_closed %d, own_window_closed %d, want 1 and 1", lc[LstIdlePeerWindowClosed].Load(), lc[LstIdleOwnWindowClosed].Load())
	}
}

// Silence while the core's receive ring drops frames is not held against
// the peer: the idle timeout runs from the last drop, and at the latest
// from four timeouts after the last activity.
func TestIdleTimeoutWaitsOutTheCoresDrops(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dropUntil time.Duration // the ring drops frames until then (from the start)
		min, max  time.Duration // the pair is reset within these (from the start)
	}{
		{"no drops", 0, 5 * time.Second, 6 * time.Second},
		{"drops for 12 s", 12 * time.Second, 17 * time.Second, 18 * time.Second},
		{"drops for good", time.Hour, 20 * time.Second, 21 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			cl := n.host(addrClient, tcp.DefaultConfig())
			bk := n.host(addrBack, tcp.DefaultConfig())
			if _, err := bk.Listen(7, 0, &echo{}); err != nil {
				t.Fatal(err)
			}
			cfg := proxyCfg(netip.AddrPortFrom(addrBack, 7))
			cfg.Listeners[0].ClientTimeout = 5 * time.Second
			start := n.now
			dropped := func() uint64 {
				// One more frame dropped every 100 ms until dropUntil.
				return uint64(min(n.now.Sub(start), tc.dropUntil) / (100 * time.Millisecond))
			}
			app, _ := n.proxyWith(cfg, Options{RxDropped: dropped})
			s := &stream{out: []byte("a"), noShut: true}
			n.dial(cl, s)
			n.run(time.Second, func() bool { return s.got.Len() == 1 })
			if s.got.Len() != 1 {
				t.Fatal("no echo")
			}
			n.run(tc.min-n.now.Sub(start), nil)
			if s.done {
				t.Fatalf("reset after %v, want not before %v", n.now.Sub(start), tc.min)
			}
			n.run(tc.max-n.now.Sub(start), func() bool { return s.done })
			app.pub.Load().store(app)
			lc := &app.Published().Listeners[0].Counters
			if !s.done || lc[LstIdleTimeouts].Load() != 1 {
				t.Fatalf("done %v after %v, idle_timeouts %d: want reset by %v", s.done, n.now.Sub(start), lc[LstIdleTimeouts].Load(), tc.max)
			}
			if put := lc[LstIdleOverloaded].Load(); (tc.dropUntil == 0) != (put == 0) {
				t.Fatalf("idle_overloaded %d with drops until %v", put, tc.dropUntil)
			}
		})
	}
}
