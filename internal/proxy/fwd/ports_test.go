package fwd

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// The core's ephemeral ports are its pool of source ports toward each
// server: when every one is taken, the next client is reset at once and
// counted (connect_noport), and the proxied connections go on.
func TestSourcePortsRunOutCleanly(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	if _, err := bk.Listen(7, 0, &echo{}); err != nil {
		t.Fatal(err)
	}
	cfg := tcp.DefaultConfig()
	cfg.PortFirst, cfg.PortLast = 20000, 20009 // ten source ports
	sh := n.host(addrProxy, cfg)
	app, err := New(sh, proxyCfg(netip.AddrPortFrom(addrBack, 7)), Options{Cores: 1, Addrs: []netip.Addr{addrProxy}, Now: n.now})
	if err != nil {
		t.Fatal(err)
	}
	var ss []*stream
	for i := 0; i < 11; i++ {
		s := &stream{out: []byte("x"), noShut: true}
		ss = append(ss, s)
		n.dial(cl, s)
		n.run(50*time.Millisecond, nil)
	}
	for i, s := range ss[:10] {
		if s.done || s.got.String() != "x" {
			t.Fatalf("stream %d: done %v, got %q; want open and echoed", i, s.done, s.got.String())
		}
	}
	if !ss[10].done {
		t.Fatal("the eleventh client was not reset")
	}
	app.pub.Load().store(app)
	if got := app.Published().Groups[0].Servers[0].Counters[SrvConnectNoPort].Load(); got != 1 {
		t.Fatalf("connect_noport %d, want 1", got)
	}
}

// Over 6000 connections the servers get their weights' shares within 5%,
// through the whole app (balancer, dial, release).
func TestWeightsHoldEndToEnd(t *testing.T) {
	for _, alg := range []string{"roundrobin", "leastconn", "random2"} {
		t.Run(alg, func(t *testing.T) {
			n := newTestNet(t)
			cl := n.host(addrClient, tcp.DefaultConfig())
			addrs := []netip.Addr{addrBack, addrBack2, netip.MustParseAddr("198.18.0.5")}
			weights := []int{1, 2, 3}
			var es []*echo
			var servers []netip.AddrPort
			for _, a := range addrs {
				e := &echo{}
				if _, err := n.host(a, tcp.DefaultConfig()).Listen(7, 0, e); err != nil {
					t.Fatal(err)
				}
				es = append(es, e)
				servers = append(servers, netip.AddrPortFrom(a, 7))
			}
			cfg := proxyCfg(servers...)
			cfg.Backends[0].Balance = alg
			for i, w := range weights {
				cfg.Backends[0].Servers[i].Weight = w
			}
			n.proxy(cfg)
			const total = 6000
			for i := 0; i < total; i++ {
				s := &stream{out: []byte("w")}
				n.dial(cl, s)
				if i%50 == 49 {
					n.run(5*time.Second, nil)
				}
			}
			n.run(10*time.Second, nil)
			sum := 0
			for _, e := range es {
				sum += e.conns
			}
			if sum != total {
				t.Fatalf("%d connections reached the servers, want %d", sum, total)
			}
			for i, e := range es {
				want := float64(total) * float64(weights[i]) / 6
				if dev := math.Abs(float64(e.conns)-want) / want; dev > 0.05 {
					t.Fatalf("server %d (weight %d): %d connections, want %.0f within 5%% (off by %.1f%%)", i, weights[i], e.conns, want, 100*dev)
				}
			}
			t.Logf("%s: %d/%d/%d for weights 1/2/3", alg, es[0].conns, es[1].conns, es[2].conns)
		})
	}
}
