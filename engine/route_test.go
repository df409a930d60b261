package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var testAddrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")}

func mustRoutes(t testing.TB, routes ...string) []Route {
	t.Helper()
	var rs []Route
	for _, s := range routes {
		p, nh, _ := strings.Cut(s, "=")
		rs = append(rs, Route{Prefix: netip.MustParsePrefix(p), NextHop: netip.MustParseAddr(nh)})
	}
	return rs
}

func TestRouteTableLongestPrefix(t *testing.T) {
	tab, err := NewRouteTable(testAddrs, mustRoutes(t,
		"198.19.0.0/16=198.18.0.3", "198.19.5.0/24=198.18.0.4", "198.19.5.9/32=198.18.0.5",
		"198.18.0.128/25=198.18.0.2", "0.0.0.0/0=198.18.0.2",
		"2001:2:0:1::/64=fe80::1", "2001:2:0:1:8000::/65=2001:2::3", "::/0=2001:2::2"))
	if err != nil {
		t.Fatal(err)
	}
	for dst, want := range map[string]string{
		"198.18.0.7":         "198.18.0.7", // connected
		"198.18.0.200":       "198.18.0.2", // a route inside the connected prefix is longer
		"198.19.0.2":         "198.18.0.3",
		"198.19.5.1":         "198.18.0.4",
		"198.19.5.9":         "198.18.0.5",
		"198.18.1.1":         "198.18.0.2", // the default
		"2001:2::77":         "2001:2::77",
		"fe80::9":            "fe80::9", // link-local: always on the link
		"fe80:1::9":          "fe80:1::9",
		"2001:2:0:1::2":      "fe80::1",
		"2001:2:0:1:8000::1": "2001:2::3",
		"2001:2:0:2::1":      "2001:2::2",
		"::ffff:198.19.0.2":  "198.18.0.3", // IPv4-mapped is IPv4
	} {
		nh, ok := tab.Lookup(netip.MustParseAddr(dst))
		if !ok || nh != netip.MustParseAddr(want) {
			t.Errorf("Lookup(%s) = %v, %v; want %s", dst, nh, ok, want)
		}
	}

	// Without routes, only the connected prefixes.
	tab, err = NewRouteTable(testAddrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"198.19.0.2", "198.18.1.1", "2001:2:0:1::2", "2001:3::1"} {
		if nh, ok := tab.Lookup(netip.MustParseAddr(dst)); ok {
			t.Errorf("no routes: Lookup(%s) = %v, want no route", dst, nh)
		}
	}
	want := []RouteInfo{{Prefix: "198.18.0.0/24", Kind: "connected"}, {Prefix: "2001:2::/64", Kind: "connected"},
		{Prefix: "fe80::/64", Kind: "connected"}}
	if got := tab.Entries(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Entries() = %v, want %v", got, want)
	}
}

// The table's answer is the longest match a walk of every route finds, on
// random tables of random prefixes.
func TestRouteTableMatchesLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base4 := netip.MustParseAddr("198.18.0.0").As4()
	base6 := netip.MustParseAddr("2001:2::").As16()
	rand4 := func() netip.Addr { // in 198.18.0.0/15
		a := base4
		v := rng.Uint32()
		a[1] |= byte(v>>16) & 1
		a[2], a[3] = byte(v>>8), byte(v)
		return netip.AddrFrom4(a)
	}
	rand6 := func() netip.Addr { // in 2001:2::/48
		a := base6
		for i := 6; i < 16; i++ {
			a[i] = byte(rng.UintN(4)) // few distinct values, so prefixes nest
		}
		return netip.AddrFrom16(a)
	}
	for round := 0; round < 50; round++ {
		var routes []Route
		seen := map[netip.Prefix]bool{}
		for _, p := range testAddrs {
			seen[p.Masked()] = true
		}
		seen[linkLocal6] = true
		for len(routes) < 40 {
			var p netip.Prefix
			var nh netip.Addr
			if rng.IntN(2) == 0 {
				p, nh = netip.PrefixFrom(rand4(), 15+rng.IntN(18)).Masked(), netip.MustParseAddr("198.18.0.2")
			} else {
				p, nh = netip.PrefixFrom(rand6(), 48+rng.IntN(81)).Masked(), netip.MustParseAddr("fe80::1")
			}
			if rng.IntN(10) == 0 {
				p = netip.PrefixFrom(p.Addr(), 0).Masked()
			}
			if !seen[p] {
				seen[p] = true
				routes = append(routes, Route{Prefix: p, NextHop: nh})
			}
		}
		tab, err := NewRouteTable(testAddrs, routes)
		if err != nil {
			t.Fatal(err)
		}
		all := append([]Route(nil), routes...)
		for _, p := range testAddrs {
			all = append(all, Route{Prefix: p.Masked()})
		}
		for i := 0; i < 2000; i++ {
			dst := rand4()
			if i%2 == 1 {
				dst = rand6()
			}
			best := -1
			for j, r := range all {
				if r.Prefix.Contains(dst) && (best < 0 || r.Prefix.Bits() > all[best].Prefix.Bits()) {
					best = j
				}
			}
			nh, ok := tab.Lookup(dst)
			switch {
			case best < 0 && ok:
				t.Fatalf("Lookup(%v) = %v, want no route", dst, nh)
			case best < 0:
			case !all[best].NextHop.IsValid() && (!ok || nh != dst):
				t.Fatalf("Lookup(%v) = %v, %v; want on the link (%v)", dst, nh, ok, all[best].Prefix)
			case all[best].NextHop.IsValid() && (!ok || nh != all[best].NextHop):
				t.Fatalf("Lookup(%v) = %v, %v; want %v (%v)", dst, nh, ok, all[best].NextHop, all[best].Prefix)
			}
		}
	}
}

func TestRouteTableRefuses(t *testing.T) {
	for _, tc := range []struct{ route, want string }{
		{"198.19.0.1/24=198.18.0.2", "host bits set in 198.19.0.1/24 (the prefix is 198.19.0.0/24)"},
		{"198.19.0.0/24=2001:2::2", "not of the prefix's family"},
		{"2001:2:0:1::/64=198.18.0.2", "not of the prefix's family"},
		{"198.19.0.0/24=198.18.0.1", "one of pollstack's own addresses"},
		{"198.19.0.0/24=198.20.0.1", "next hop 198.20.0.1 is not on a connected prefix"},
		{"2001:2:0:1::/64=2001:3::1", "not on a connected prefix"},
		{"198.19.0.0/24=224.0.0.1", "unicast"},
		{"198.19.0.0/24=0.0.0.0", "unicast"},
		{"::/0=ff02::1", "unicast"},
		{"198.18.0.0/24=198.18.0.2", "198.18.0.0/24 already has a route"},
		{"fe80::/64=2001:2::2", "already has a route"},
		{"::ffff:198.19.0.0/120=198.18.0.2", "not an IPv4 or IPv6 prefix"},
	} {
		_, err := NewRouteTable(testAddrs, mustRoutes(t, tc.route))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("route %s: %v, want an error with %q", tc.route, err, tc.want)
		}
	}
	if _, err := NewRouteTable(testAddrs, mustRoutes(t, "0.0.0.0/0=198.18.0.2", "0.0.0.0/0=198.18.0.3")); err == nil ||
		!strings.Contains(err.Error(), "0.0.0.0/0 already has a route") {
		t.Errorf("two IPv4 gateways: %v", err)
	}
	many := make([]Route, MaxRoutes+1)
	for i := range many {
		many[i] = Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32), NextHop: netip.MustParseAddr("198.18.0.2")}
	}
	if _, err := NewRouteTable(testAddrs, many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d routes: %v", len(many), err)
	}
	if _, err := NewRouteTable(testAddrs, many[:MaxRoutes]); err != nil {
		t.Errorf("%d routes: %v", MaxRoutes, err)
	}
}

// Route lookup runs for every packet sent: it allocates nothing.
func TestRouteLookupAllocatesNothing(t *testing.T) {
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: testAddrs, Routes: mustRoutes(t,
		"198.19.0.0/16=198.18.0.3", "198.19.5.0/24=198.18.0.4", "0.0.0.0/0=198.18.0.2",
		"2001:2:0:1::/64=fe80::1", "::/0=2001:2::2")}, l)
	if err != nil {
		t.Fatal(err)
	}
	d4 := [][4]byte{{198, 18, 0, 9}, {198, 19, 5, 1}, {198, 19, 0, 1}, {198, 18, 9, 9}}
	d6 := [][16]byte{netip.MustParseAddr("2001:2::9").As16(), netip.MustParseAddr("2001:2:0:1::2").As16(),
		netip.MustParseAddr("2001:2:0:7::2").As16(), netip.MustParseAddr("fe80::2").As16()}
	var sink byte
	allocs := testing.AllocsPerRun(1000, func() {
		for _, d := range d4 {
			nh, _ := c.route4(d)
			s := c.source4(d)
			sink ^= nh[15] ^ s[3]
		}
		for i := range d6 {
			nh, _ := c.route6(&d6[i])
			s := c.source6(&d6[i])
			sink ^= nh[15] ^ s[15]
		}
	})
	if allocs != 0 {
		t.Fatalf("route lookup: %v allocations a run", allocs)
	}
	_ = sink
}

var (
	gwMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	farIP4 = netip.MustParseAddr("198.19.0.2")
	farIP6 = netip.MustParseAddr("2001:2:0:1::2")
	gwLL6  = netip.MustParseAddr("fe80::a")
)

// An echo request from beyond a router is answered through the gateway:
// the core resolves the router's address (not the far host's) and sends
// the reply to the router's MAC, from its global address even when the
// router is link-local. Without a route it counts no_route and sends
// nothing.
func TestEchoFromBeyondTheRouterGoesThroughTheGateway(t *testing.T) {
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: testAddrs,
		Routes: []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: peerIP4}, {Prefix: netip.MustParsePrefix("::/0"), NextHop: gwLL6}}}, l)
	if err != nil {
		t.Fatal(err)
	}
	out := run(c, l, 0, echo4Frame(t, farIP4, ourIP4, []byte("far")))
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want an ARP request for the gateway", len(out))
	}
	arp, _ := decode(t, out[0]).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp == nil || arp.Operation != layers.ARPRequest || !bytes.Equal(arp.DstProtAddress, peerIP4.AsSlice()) {
		t.Fatalf("not an ARP request for the gateway %v: %v", peerIP4, decode(t, out[0]))
	}
	out = run(c, l, 1e6, arpFrame(t, layers.ARPReply, gwMAC, peerIP4, ourIP4))
	if len(out) != 1 {
		t.Fatalf("sent %d frames after the ARP reply, want the echo reply", len(out))
	}
	p := decode(t, out[0])
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !bytes.Equal(e.DstMAC, gwMAC) || !ip.DstIP.Equal(farIP4.AsSlice()) || !ip.SrcIP.Equal(ourIP4.AsSlice()) {
		t.Fatalf("echo reply to %v %v from %v, want to the gateway's MAC %v, %v from %v", e.DstMAC, ip.DstIP, ip.SrcIP, gwMAC, farIP4, ourIP4)
	}

	out = run(c, l, 2e6, echo6Frame(t, farIP6, ourIP6, []byte("far6")))
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want an NS for the gateway", len(out))
	}
	p = decode(t, out[0])
	ns, _ := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	if ns == nil || !ns.TargetAddress.Equal(gwLL6.AsSlice()) {
		t.Fatalf("not an NS for the gateway %v: %v", gwLL6, p)
	}
	if src := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6).SrcIP; !netip.MustParseAddr(src.String()).IsLinkLocalUnicast() {
		t.Errorf("NS for a link-local router from %v, want our link-local address", src)
	}
	na := icmp6Frame(t, ourMAC, gwLL6, ourIP6, 255,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
		&layers.ICMPv6NeighborAdvertisement{Flags: 0xe0, TargetAddress: gwLL6.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: gwMAC}}})
	out = run(c, l, 3e6, na)
	if len(out) != 1 {
		t.Fatalf("sent %d frames after the NA, want the echo reply", len(out))
	}
	p = decode(t, out[0])
	e = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if !bytes.Equal(e.DstMAC, gwMAC) || !ip6.DstIP.Equal(farIP6.AsSlice()) || !ip6.SrcIP.Equal(ourIP6.AsSlice()) {
		t.Fatalf("echo reply to %v %v from %v, want to the gateway's MAC %v, %v from %v", e.DstMAC, ip6.DstIP, ip6.SrcIP, gwMAC, farIP6, ourIP6)
	}
	if n := c.stats[DropNoRoute]; n != 0 {
		t.Errorf("no_route %d with gateways", n)
	}

	// The same requests without routes: dropped, counted, unanswered.
	c, l = newTestCore(t)
	out = run(c, l, 0, echo4Frame(t, farIP4, ourIP4, []byte("far")), echo6Frame(t, farIP6, ourIP6, []byte("far6")))
	if len(out) != 0 || c.stats[DropNoRoute] != 2 || c.stats[ARPRequestsOut] != 0 || c.stats[NDSolicitsOut] != 0 {
		t.Fatalf("no routes: sent %d frames, no_route %d, ARP %d, NS %d; want nothing sent and 2 no_route",
			len(out), c.stats[DropNoRoute], c.stats[ARPRequestsOut], c.stats[NDSolicitsOut])
	}
}

// Two engines on one wire where the server's client is beyond a router:
// the client engine also holds 198.19.0.2 and is its own router at
// 198.18.0.2. With the route the server's TCP answers reach it through the
// gateway; without it the SYN-ACK is dropped as no_route and the server
// refuses to dial there at all (ENETUNREACH).
func TestTCPThroughTheGateway(t *testing.T) {
	for _, routed := range []bool{true, false} {
		name := "routed"
		if !routed {
			name = "no route"
		}
		t.Run(name, func(t *testing.T) {
			la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
			if err != nil {
				t.Fatal(err)
			}
			cfg := tcp.DefaultConfig()
			idle := cores.IdlePolicy{SleepAfter: 64, SleepFor: 200 * time.Microsecond}
			mk := func(l rings.Link, mac net.HardwareAddr, addrs []string, routes []Route) *Engine {
				var ps []netip.Prefix
				for _, a := range addrs {
					ps = append(ps, netip.MustParsePrefix(a))
				}
				e, err := New(Config{MAC: mac, CPUs: []int{0}, Idle: idle, TCP: &cfg, Addrs: ps, Routes: routes}, []rings.Link{l})
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { e.Stop() })
				return e
			}
			var routes []Route
			if routed {
				routes = mustRoutes(t, "0.0.0.0/0=198.18.0.2", "::/0=2001:2::2")
			}
			srv := mk(la, ourMAC, []string{"198.18.0.1/24", "2001:2::1/64"}, routes)
			cli := mk(lb, peerMAC, []string{"198.18.0.2/24", "198.19.0.2/24", "2001:2::2/64", "2001:2:0:1::2/64"}, nil)
			t.Cleanup(func() { la.Close(); lb.Close() })

			ln, err := srv.Listen("tcp", ":7")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serveEcho(t, ln)

			for _, tc := range []struct {
				domain      int
				local, srvA netip.Addr
			}{{syscall.AF_INET, farIP4, ourIP4}, {syscall.AF_INET6, farIP6, ourIP6}} {
				s, err := cli.Socket(tc.domain, syscall.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Bind(netip.AddrPortFrom(tc.local, 0)); err != nil {
					t.Fatal(err)
				}
				if !routed {
					before := srv.Totals()[DropNoRoute]
					s.SetNonblock(true)
					if err := s.Connect(netip.AddrPortFrom(tc.srvA, 7)); !errors.Is(err, syscall.EINPROGRESS) {
						t.Fatalf("non-blocking connect from %v: %v", tc.local, err)
					}
					deadline := time.Now().Add(5 * time.Second)
					for srv.Totals()[DropNoRoute] == before && time.Now().Before(deadline) {
						time.Sleep(5 * time.Millisecond)
					}
					if srv.Totals()[DropNoRoute] == before {
						t.Fatalf("SYN from %v: the server counted no no_route drop", tc.local)
					}
					if _, err := s.GetPeerName(); !errors.Is(err, syscall.ENOTCONN) {
						t.Errorf("connect from %v without a route back: getpeername %v, want ENOTCONN", tc.local, err)
					}
					s.Close()
					if srv.Routable(tc.local) {
						t.Errorf("Routable(%v) without a route", tc.local)
					}
					if _, err := srv.Dial("tcp", netip.AddrPortFrom(tc.local, 9).String()); !errors.Is(err, syscall.ENETUNREACH) {
						t.Errorf("dial %v without a route: %v, want ENETUNREACH", tc.local, err)
					}
					continue
				}
				if err := s.Connect(netip.AddrPortFrom(tc.srvA, 7)); err != nil {
					t.Fatalf("connect from %v through the gateway: %v", tc.local, err)
				}
				msg := []byte("through the router " + tc.local.String())
				if _, err := s.Send(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				for n := 0; n < len(got); {
					m, err := s.Recv(got[n:])
					if err != nil {
						t.Fatalf("recv: %v", err)
					}
					n += m
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo %q, want %q", got, msg)
				}
				s.Close()
				if src, ok := srv.Source(tc.local); !ok || src != tc.srvA || !srv.Routable(tc.local) {
					t.Errorf("Source(%v) = %v, %v; want %v, and routable", tc.local, src, ok, tc.srvA)
				}
			}
			if routed {
				if n := srv.Totals()[DropNoRoute]; n != 0 {
					t.Errorf("no_route %d through the gateway", n)
				}
				if rs := srv.Snapshot().Routes; len(rs) != 5 || rs[3] != (RouteInfo{Prefix: "0.0.0.0/0", Via: "198.18.0.2", Kind: "gateway"}) {
					t.Errorf("snapshot routes %v", rs)
				}
			}
		})
	}
}

// BenchmarkRouteLookup looks up a routed IPv4 and IPv6 destination in a
// table of connected prefixes, two static routes and two gateways.
func BenchmarkRouteLookup(b *testing.B) {
	tab, err := NewRouteTable(testAddrs, mustRoutes(b,
		"198.19.0.0/16=198.18.0.3", "0.0.0.0/0=198.18.0.2", "2001:2:0:1::/64=fe80::1", "::/0=2001:2::2"))
	if err != nil {
		b.Fatal(err)
	}
	d4, d6 := [4]byte{198, 19, 5, 1}, netip.MustParseAddr("2001:2:0:1::2").As16()
	var sink byte
	for b.Loop() {
		nh4, _ := tab.nexthop4(d4)
		nh6, _ := tab.nexthop6(&d6)
		sink ^= nh4[15] ^ nh6[15]
	}
	_ = sink
}
