package fwd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/tcp"
)

// A reload sends new connections to the new servers and ports; a
// connection open across it keeps its server and runs to its end intact.
func TestReloadKeepsOpenConnections(t *testing.T) {
	n := newTestNet(t)
	// Fixed buffers at the client, so the first stream is still under way
	// when the reload comes.
	fixed := tcp.DefaultConfig()
	fixed.RecvBufAuto, fixed.SendBufAuto = false, false
	cl := n.host(addrClient, fixed)
	b1, b2 := n.host(addrBack, tcp.DefaultConfig()), n.host(addrBack2, tcp.DefaultConfig())
	e1, e2 := &echo{}, &echo{}
	if _, err := b1.Listen(7, 0, e1); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Listen(7, 0, e2); err != nil {
		t.Fatal(err)
	}
	app, _ := n.proxy(proxyCfg(netip.AddrPortFrom(addrBack, 7)))
	old := &stream{out: randBytes(newRand(), 2<<20)}
	n.dial(cl, old)
	n.run(5*time.Millisecond, nil) // under way, not done
	if e1.conns != 1 || old.done {
		t.Fatalf("first stream: backend 1 has %d connections, done %v", e1.conns, old.done)
	}

	next := proxyCfg(netip.AddrPortFrom(addrBack2, 7))
	next.Listeners[0].Binds = append(next.Listeners[0].Binds, config.Bind{Port: 81})
	if err := app.Reload(next, Options{Cores: 1, Addrs: []netip.Addr{addrProxy}, Now: n.now}); err != nil {
		t.Fatal(err)
	}
	s2 := &stream{out: []byte("after the reload")}
	n.dial(cl, s2)
	s3 := &stream{out: []byte("on the new port")}
	t3 := tupleTo(81)
	if _, err := cl.Dial(t3, s3, n.now); err != nil {
		t.Fatal(err)
	}
	n.run(60*time.Second, func() bool { return old.done && s2.done && s3.done })
	for i, s := range []*stream{old, s2, s3} {
		if !s.done || s.err != nil || s.got.String() != string(s.out) {
			t.Fatalf("stream %d: done %v, err %v, %d of %d bytes back", i, s.done, s.err, s.got.Len(), len(s.out))
		}
	}
	if e1.conns != 1 || e2.conns != 2 {
		t.Fatalf("backends served %d and %d connections; want the old server only the first", e1.conns, e2.conns)
	}
	n.run(5*time.Second, func() bool { return app.Active() == 0 })
	app.pub.Load().store(app)
	if got := app.Published().Listeners[0].Counters[LstAccepted].Load(); got != 3 {
		t.Fatalf("listener accepted %d across the reload, want 3", got)
	}
	if got := app.Published().Listeners[0].Active.Load(); got != 0 {
		t.Fatalf("listener active %d after every stream ended, want 0", got)
	}
	// A reload that names no group for its listener changes nothing.
	bad := proxyCfg(netip.AddrPortFrom(addrBack2, 7))
	bad.Listeners[0].Backend = "nothing"
	if err := app.Reload(bad, Options{Cores: 1, Addrs: []netip.Addr{addrProxy}, Now: n.now}); err == nil {
		t.Fatal("a reload to a missing group succeeded")
	}
	s4 := &stream{out: []byte("still served")}
	n.dial(cl, s4)
	n.run(5*time.Second, func() bool { return s4.done })
	if s4.got.String() != "still served" {
		t.Fatalf("after a failed reload: got %q", s4.got.String())
	}
}
