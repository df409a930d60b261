package engine

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/mono"
)

// raFrame is a router advertisement from src with router lifetime
// lifetime (seconds), the source link-layer option mac when not nil, and
// hop limit hops.
func raFrame(t testing.TB, src netip.Addr, lifetime uint16, mac net.HardwareAddr, hops uint8) []byte {
	ra := &layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: lifetime}
	if mac != nil {
		ra.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: mac}}
	}
	return icmp6Frame(t, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, src, netip.AddrFrom16(allNodes), hops,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeRouterAdvertisement, 0)}, ra)
}

func newRACore(t testing.TB, acceptRA bool, routes ...Route) (*Core, *fakeLink) {
	t.Helper()
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: testAddrs, AcceptRA: acceptRA, Routes: routes}, l)
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

// With AcceptRA, a router that advertises itself becomes the default router
// for IPv6 destinations no route holds: an echo from beyond it is answered
// through it, straight to the MAC the advertisement gave. A lifetime of zero
// withdraws it, and so does its lifetime running out; an invalid
// advertisement teaches nothing.
func TestRouterAdvertisementMakesADefaultRouter(t *testing.T) {
	c, l := newRACore(t, true)
	c.rsSent = RouterSolicitations // the solicitations are TestRouterSolicitationsAtStart's
	now := mono.Time(time.Second)
	ping := func(at mono.Time) [][]byte { return run(c, l, at, echo6Frame(t, farIP6, ourIP6, []byte("far6"))) }
	if out := ping(now); len(out) != 0 || c.stats[DropNoRoute] != 1 {
		t.Fatalf("before any advertisement: sent %d, no_route %d", len(out), c.stats[DropNoRoute])
	}

	// Invalid: hop limit not 255, a global source. Nothing learned.
	run(c, l, now, raFrame(t, gwLL6, 1800, gwMAC, 64), raFrame(t, peerIP6, 1800, gwMAC, 255))
	if c.nrouters != 0 || c.stats[DropMalformed] != 2 || c.stats[RouterAdvIn] != 2 {
		t.Fatalf("invalid advertisements: %d routers, malformed %d, in %d", c.nrouters, c.stats[DropMalformed], c.stats[RouterAdvIn])
	}

	run(c, l, now, raFrame(t, gwLL6, 1800, gwMAC, 255))
	if c.stats[RouterAdvTaken] != 1 {
		t.Fatalf("accepted %d advertisements", c.stats[RouterAdvTaken])
	}
	out := ping(now)
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want the echo reply (the advertisement gave the router's MAC)", len(out))
	}
	p := decode(t, out[0])
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if !bytes.Equal(e.DstMAC, gwMAC) || !ip6.DstIP.Equal(farIP6.AsSlice()) || !ip6.SrcIP.Equal(ourIP6.AsSlice()) {
		t.Fatalf("echo reply to %v %v from %v", e.DstMAC, ip6.DstIP, ip6.SrcIP)
	}
	c.Publish(now)
	if rs := c.LearnedRouters(); len(rs) != 1 || rs[0].Addr != gwLL6 || rs[0].Expires != now.Add(1800*time.Second) {
		t.Errorf("published routers %v", rs)
	}

	// Withdrawn.
	run(c, l, now, raFrame(t, gwLL6, 0, nil, 255))
	if out := ping(now); len(out) != 0 || c.stats[DropNoRoute] != 2 {
		t.Fatalf("after a zero lifetime: sent %d, no_route %d", len(out), c.stats[DropNoRoute])
	}
	// Expired.
	run(c, l, now, raFrame(t, gwLL6, 10, nil, 255))
	if out := ping(now.Add(9 * time.Second)); len(out) != 1 {
		t.Fatalf("within the lifetime: sent %d", len(out))
	}
	if out := ping(now.Add(10 * time.Second)); len(out) != 0 || c.stats[DropNoRoute] != 3 {
		t.Fatalf("past the lifetime: sent %d, no_route %d", len(out), c.stats[DropNoRoute])
	}

	// A static IPv6 gateway comes first.
	c, l = newRACore(t, true, mustRoutes(t, "::/0=2001:2::2")...)
	run(c, l, now, raFrame(t, gwLL6, 1800, gwMAC, 255))
	if nh, ok := c.route6(new(farIP6.As16())); !ok || netip.AddrFrom16(nh) != peerIP6 {
		t.Errorf("with --gateway and a learned router: next hop %v %v, want the gateway", netip.AddrFrom16(nh), ok)
	}

	// Without AcceptRA an advertisement is ignored.
	c, l = newRACore(t, false)
	run(c, l, now, raFrame(t, gwLL6, 1800, gwMAC, 255))
	if c.nrouters != 0 || c.stats[ICMPIgnored] != 1 || c.stats[RouterSolOut] != 0 {
		t.Fatalf("AcceptRA off: %d routers, icmp_ignored %d, solicitations %d", c.nrouters, c.stats[ICMPIgnored], c.stats[RouterSolOut])
	}
}

// Core 0 solicits routers at start, from its link-local address with its
// MAC, three times four seconds apart at most, and stops once it knows one.
func TestRouterSolicitationsAtStart(t *testing.T) {
	c, l := newRACore(t, true)
	out := run(c, l, 0)
	if len(out) != 1 {
		t.Fatalf("first timer run: sent %d, want a router solicitation", len(out))
	}
	p := decode(t, out[0])
	rs, _ := p.Layer(layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
	ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if rs == nil || len(rs.Options) != 1 || !bytes.Equal(rs.Options[0].Data, ourMAC) || ip6.HopLimit != 255 ||
		!ip6.DstIP.Equal(net.ParseIP("ff02::2")) || !ip6.SrcIP.IsLinkLocalUnicast() || !bytes.Equal(e.DstMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}) {
		t.Fatalf("not a router solicitation to all routers from our link-local address: %v", p)
	}
	m := out[0][ethHeaderLen+ipv6HeaderLen:]
	if Checksum(m, pseudoSum6(ip6.SrcIP, ip6.DstIP, protoICMPv6, len(m))) != 0 {
		t.Fatal("bad ICMPv6 checksum")
	}
	if out := run(c, l, mono.Time(3*time.Second)); len(out) != 0 {
		t.Fatalf("3 s later: sent %d", len(out))
	}
	if out := run(c, l, mono.Time(4*time.Second)); len(out) != 1 {
		t.Fatalf("4 s later: sent %d, want the second solicitation", len(out))
	}
	run(c, l, mono.Time(5*time.Second), raFrame(t, gwLL6, 1800, gwMAC, 255))
	if out := run(c, l, mono.Time(8*time.Second)); len(out) != 0 || c.stats[RouterSolOut] != 2 {
		t.Fatalf("with a router known: sent %d, %d solicitations", len(out), c.stats[RouterSolOut])
	}

	c, l = newRACore(t, true)
	for i := range 5 {
		run(c, l, mono.Time(time.Duration(i)*RouterSolicitationInterval))
	}
	if n := c.stats[RouterSolOut]; n != RouterSolicitations {
		t.Fatalf("no router ever answers: %d solicitations, want %d", n, RouterSolicitations)
	}
}

// A router one core learns, every core uses: an advertisement that
// arrives on core 0's queue lets core 1 dial beyond the router, straight
// to its MAC.
func TestRouterSharedAcrossCores(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	for _, c := range b.e.cores {
		c.acceptRA = true
	}
	now := mono.Time(time.Second)
	b.inject(t, 0, raFrame(t, gwLL6, 1800, gwMAC, 255))
	b.e.cores[0].Poll(now)
	b.e.cores[1].Poll(now)
	_, tu, _ := b.e.dialTarget(1, netip.AddrPortFrom(ourIP6, 0), netip.AddrPortFrom(farIP6, 80))
	if _, err := b.e.cores[1].dial(tu, &sinkHandler{}, now); err != nil {
		t.Fatal(err)
	}
	out := b.taken(1)
	if len(out) != 1 || b.e.cores[1].stats[NDSolicitsOut] != 0 {
		t.Fatalf("core 1 sent %d frames, %d solicitations; want its SYN and none", len(out), b.e.cores[1].stats[NDSolicitsOut])
	}
	p := decode(t, out[0])
	if tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); !ok || !tl.SYN {
		t.Fatalf("core 1 sent %v, want its SYN", p)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, gwMAC) {
		t.Fatalf("SYN to %v, want the router's %v", e.DstMAC, gwMAC)
	}
}

// A learned router keeps the lookup allocation-free.
func TestLearnedRouterLookupAllocatesNothing(t *testing.T) {
	c, l := newRACore(t, true)
	run(c, l, 0, raFrame(t, gwLL6, 1800, gwMAC, 255))
	dst := farIP6.As16()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := c.route6(&dst); !ok {
			t.Fatal("no route")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations a lookup", allocs)
	}
}
