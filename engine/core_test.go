package engine

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// fakeLink is a Link whose wire is two slices the test reads and writes.
type fakeLink struct {
	pool *rings.Pool
	in   [][]byte // frames waiting to be received
	out  [][]byte // frames transmitted
	// keepOut false: transmitted frames are only counted (allocation tests).
	keepOut bool
	sent    int
}

// testPools keeps pools for reuse: tests and fuzz iterations make many
// cores, and mapping fresh UMEM for each is slow.
var testPools struct {
	sync.Mutex
	free []*rings.Pool
}

func newFakeLink(t testing.TB) *fakeLink {
	t.Helper()
	testPools.Lock()
	var p *rings.Pool
	if n := len(testPools.free); n > 0 {
		p = testPools.free[n-1]
		testPools.free = testPools.free[:n-1]
	}
	testPools.Unlock()
	if p == nil {
		var err error
		if p, err = rings.NewPool(256, rings.DefaultFrameSize); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.Reset()
		testPools.Lock()
		testPools.free = append(testPools.free, p)
		testPools.Unlock()
	})
	return &fakeLink{pool: p, keepOut: true}
}

func (l *fakeLink) Pool() *rings.Pool { return l.pool }

func (l *fakeLink) Receive(descs []rings.Desc) int {
	n := 0
	for n < len(descs) && len(l.in) > 0 {
		addr, ok := l.pool.GetReserved() // a receive refill: the reserve is for it too
		if !ok {
			break
		}
		// Receive with 256 bytes of headroom, as AF_XDP does.
		addr += 256
		f := l.pool.Frame(addr)
		m := copy(f, l.in[0])
		l.in = l.in[1:]
		descs[n] = rings.Desc{Addr: addr, Len: uint32(m)}
		n++
	}
	return n
}

func (l *fakeLink) Transmit(descs []rings.Desc) int {
	for _, d := range descs {
		if l.keepOut {
			l.out = append(l.out, bytes.Clone(l.pool.Bytes(d)))
		}
		l.sent++
		l.pool.Put(d.Addr)
	}
	return len(descs)
}

func (l *fakeLink) Wait(time.Duration)     {}
func (l *fakeLink) Stats() rings.LinkStats { return rings.LinkStats{} }
func (l *fakeLink) Close() error           { return nil }

func (l *fakeLink) take() [][]byte {
	o := l.out
	l.out = nil
	return o
}

var (
	ourMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	ourIP4  = netip.MustParseAddr("198.18.0.1")
	peerIP4 = netip.MustParseAddr("198.18.0.2")
	ourIP6  = netip.MustParseAddr("2001:2::1")
	peerIP6 = netip.MustParseAddr("2001:2::2")
)

func newTestCore(t testing.TB) (*Core, *fakeLink) {
	t.Helper()
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64"),
	}}, l)
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func eth(dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: dst, EthernetType: typ}
}

func arpFrame(t testing.TB, op uint16, sha net.HardwareAddr, spa, tpa netip.Addr) []byte {
	return serialize(t, eth(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, layers.EthernetTypeARP),
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: sha, SourceProtAddress: spa.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: tpa.AsSlice()})
}

func echo4Frame(t testing.TB, src, dst netip.Addr, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Id: 7}
	return serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 9}, gopacket.Payload(payload))
}

func icmp6Frame(t testing.TB, dstMAC net.HardwareAddr, src, dst netip.Addr, hops uint8, body ...gopacket.SerializableLayer) []byte {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hops, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	icmp := body[0].(*layers.ICMPv6)
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, append([]gopacket.SerializableLayer{eth(dstMAC, layers.EthernetTypeIPv6), ip}, body...)...)
}

func nsFrame(t testing.TB, src netip.Addr, target netip.Addr) []byte {
	t16 := target.As16()
	group := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]})
	gmac := net.HardwareAddr{0x33, 0x33, 0xff, t16[13], t16[14], t16[15]}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice()}
	if src.IsValid() && !src.IsUnspecified() {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: peerMAC}}
	}
	return icmp6Frame(t, gmac, src, group, 255,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}, ns)
}

func echo6Frame(t testing.TB, src, dst netip.Addr, payload []byte) []byte {
	return icmp6Frame(t, ourMAC, src, dst, 64,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 3, SeqNumber: 4}, gopacket.Payload(payload))
}

// run feeds frames to c and returns what it transmitted.
func run(c *Core, l *fakeLink, now mono.Time, frames ...[]byte) [][]byte {
	l.in = append(l.in, frames...)
	for len(l.in) > 0 {
		c.Poll(now)
	}
	c.Timers(now)
	return l.take()
}

func decode(t testing.TB, f []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("sent a frame that does not decode: %v", el.Error())
	}
	return p
}

func TestARPRequestForUsIsAnsweredAndLearned(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want 1 ARP reply", len(out))
	}
	p := decode(t, out[0])
	a := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if a.Operation != layers.ARPReply || !bytes.Equal(a.SourceHwAddress, ourMAC) ||
		!bytes.Equal(a.SourceProtAddress, ourIP4.AsSlice()) || !bytes.Equal(a.DstHwAddress, peerMAC) ||
		!bytes.Equal(a.DstProtAddress, peerIP4.AsSlice()) || !bytes.Equal(e.DstMAC, peerMAC) || !bytes.Equal(e.SrcMAC, ourMAC) {
		t.Fatalf("bad ARP reply: %+v / %+v", a, e)
	}
	key := v4Mapped(peerIP4.As4())
	if n := c.neigh.lookup(&key); n == nil || n.state != neighReachable || !bytes.Equal(n.mac[:], peerMAC) {
		t.Fatalf("sender not learned: %+v", n)
	}
	if c.stats[ARPRequestsIn] != 1 || c.stats[ARPRepliesOut] != 1 {
		t.Fatalf("counters: %v in, %v out", c.stats[ARPRequestsIn], c.stats[ARPRepliesOut])
	}
}

func TestARPForAnotherHostIsCountedNotAnswered(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, netip.MustParseAddr("198.18.0.9")))
	if len(out) != 0 || c.stats[DropNotForUs] != 1 {
		t.Fatalf("sent %d, not_for_us=%d", len(out), c.stats[DropNotForUs])
	}
	key := v4Mapped(peerIP4.As4())
	if c.neigh.lookup(&key) != nil {
		t.Fatal("learned a sender from a request that was not for us")
	}
}

func TestEcho4ReplyAfterARP(t *testing.T) {
	c, l := newTestCore(t)
	payload := []byte("0123456789abcdefghij")
	out := run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), echo4Frame(t, peerIP4, ourIP4, payload))
	if len(out) != 2 {
		t.Fatalf("sent %d frames, want ARP reply + echo reply", len(out))
	}
	checkEcho4Reply(t, out[1], payload)
}

func checkEcho4Reply(t *testing.T, f []byte, payload []byte) {
	t.Helper()
	p := decode(t, f)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || icmp == nil {
		t.Fatalf("not an ICMP packet: %v", p)
	}
	if !ip.SrcIP.Equal(ourIP4.AsSlice()) || !ip.DstIP.Equal(peerIP4.AsSlice()) || ip.TTL != DefaultTTL {
		t.Fatalf("bad IP header %+v", ip)
	}
	if Checksum(f[ethHeaderLen:ethHeaderLen+20], 0) != 0 {
		t.Fatal("bad IPv4 header checksum")
	}
	if Checksum(f[ethHeaderLen+20:], 0) != 0 {
		t.Fatal("bad ICMP checksum")
	}
	if icmp.TypeCode.Type() != 0 || icmp.Id != 1 || icmp.Seq != 9 || !bytes.Equal(icmp.Payload, payload) {
		t.Fatalf("bad echo reply %+v", icmp)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, peerMAC) {
		t.Fatalf("reply to %v", e.DstMAC)
	}
}

func TestEcho4WithIPOptionsGetsPlainHeader(t *testing.T) {
	c, l := newTestCore(t)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: peerIP4.AsSlice(), DstIP: ourIP4.AsSlice(),
		Options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}}
	f := serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 9}, gopacket.Payload("opts"))
	if f[ethHeaderLen]&0x0f != 6 {
		t.Fatalf("test frame has IHL %d", f[ethHeaderLen]&0x0f)
	}
	out := run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), f)
	if len(out) != 2 {
		t.Fatalf("sent %d frames", len(out))
	}
	checkEcho4Reply(t, out[1], []byte("opts"))
}

// Neighbour resolution: a reply to an unknown peer waits for ARP.
func TestNeighbourPendingQueueFlushedOnReply(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, echo4Frame(t, peerIP4, ourIP4, []byte("x")))
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want one ARP request", len(out))
	}
	a := decode(t, out[0]).Layer(layers.LayerTypeARP).(*layers.ARP)
	if a.Operation != layers.ARPRequest || !bytes.Equal(a.DstProtAddress, peerIP4.AsSlice()) || len(out[0]) != 60 {
		t.Fatalf("bad ARP request %+v (len %d)", a, len(out[0]))
	}
	reply := arpFrame(t, layers.ARPReply, peerMAC, peerIP4, ourIP4)
	copy(reply[0:6], ourMAC)
	out = run(c, l, 1e6, reply)
	if len(out) != 1 {
		t.Fatalf("sent %d frames after the ARP reply, want the echo reply", len(out))
	}
	checkEcho4Reply(t, out[0], []byte("x"))
	if c.neigh.probing != 0 {
		t.Fatalf("probing = %d after resolution", c.neigh.probing)
	}
}

// Neighbour resolution gives up after NeighMaxProbes solicitations one
// NeighRetrans apart, and drops what waited (counted as unresolved).
func TestNeighbourRetriesThenGivesUp(t *testing.T) {
	c, l := newTestCore(t)
	free := c.pool.Free()
	now := mono.Time(0)
	out := run(c, l, now, echo4Frame(t, peerIP4, ourIP4, []byte("a")), echo4Frame(t, peerIP4, ourIP4, []byte("b")))
	requests := len(out)
	for step := 0; step < 10; step++ {
		now = now.Add(NeighRetrans / 2)
		requests += len(run(c, l, now))
	}
	if requests != NeighMaxProbes {
		t.Fatalf("sent %d ARP requests, want %d", requests, NeighMaxProbes)
	}
	if c.stats[DropUnresolved] != 2 {
		t.Fatalf("unresolved = %d, want 2", c.stats[DropUnresolved])
	}
	key := v4Mapped(peerIP4.As4())
	if c.neigh.lookup(&key) != nil || c.neigh.n != 0 || c.neigh.probing != 0 {
		t.Fatal("failed entry left in the table")
	}
	if c.pool.Free() != free {
		t.Fatalf("pool: %d free, want %d", c.pool.Free(), free)
	}
}

// A reachable entry past its time is still used, and solicited again.
func TestNeighbourStaleEntryReconfirmed(t *testing.T) {
	c, l := newTestCore(t)
	run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	out := run(c, l, mono.Time(NeighReachable+1), echo4Frame(t, peerIP4, ourIP4, []byte("s")))
	if len(out) != 2 {
		t.Fatalf("sent %d frames, want ARP request + echo reply", len(out))
	}
	if decode(t, out[0]).Layer(layers.LayerTypeARP) == nil {
		t.Fatal("first frame is not the ARP request")
	}
	checkEcho4Reply(t, out[1], []byte("s"))
}

func TestNeighbourTableRemoveKeepsProbeRuns(t *testing.T) {
	tb := newNeighTable()
	var ips [][16]byte
	for i := 0; i < 600; i++ {
		ip := v4Mapped([4]byte{198, 18, byte(i >> 8), byte(i)})
		e := tb.insert(&ip)
		e.state = neighReachable
		ips = append(ips, ip)
	}
	for i := 0; i < len(ips); i += 2 {
		tb.remove(tb.lookup(&ips[i]))
	}
	for i, ip := range ips {
		got := tb.lookup(&ip) != nil
		if got != (i%2 == 1) {
			t.Fatalf("entry %d present=%v after removing the even ones", i, got)
		}
	}
	if tb.n != 300 {
		t.Fatalf("n = %d", tb.n)
	}
}

func TestNSForOurAddressIsAdvertised(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, nsFrame(t, peerIP6, ourIP6))
	if len(out) != 1 {
		t.Fatalf("sent %d frames, want one NA", len(out))
	}
	p := decode(t, out[0])
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if na == nil {
		t.Fatalf("not an NA: %v", p)
	}
	if !na.Solicited() || !na.Override() || !na.TargetAddress.Equal(ourIP6.AsSlice()) || ip.HopLimit != 255 ||
		!ip.DstIP.Equal(peerIP6.AsSlice()) || !ip.SrcIP.Equal(ourIP6.AsSlice()) {
		t.Fatalf("bad NA %+v from %v to %v", na, ip.SrcIP, ip.DstIP)
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, ourMAC) {
		t.Fatalf("bad NA options %+v", na.Options)
	}
	m := out[0][ethHeaderLen+ipv6HeaderLen:]
	if Checksum(m, pseudoSum6(ip.SrcIP, ip.DstIP, protoICMPv6, len(m))) != 0 {
		t.Fatal("bad ICMPv6 checksum")
	}
	key := peerIP6.As16()
	if e := c.neigh.lookup(&key); e == nil || !bytes.Equal(e.mac[:], peerMAC) {
		t.Fatal("sender not learned from its source link-layer option")
	}
}

func TestNSForDADIsAnsweredToAllNodes(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, nsFrame(t, netip.IPv6Unspecified(), ourIP6))
	if len(out) != 1 {
		t.Fatalf("sent %d frames", len(out))
	}
	p := decode(t, out[0])
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if na.Solicited() || !ip.DstIP.Equal(net.ParseIP("ff02::1")) {
		t.Fatalf("DAD answer: solicited=%v to %v", na.Solicited(), ip.DstIP)
	}
}

func TestEcho6ReplyResolvesThroughND(t *testing.T) {
	c, l := newTestCore(t)
	out := run(c, l, 0, echo6Frame(t, peerIP6, ourIP6, []byte("ping6")))
	if len(out) != 1 {
		t.Fatalf("sent %d, want an NS", len(out))
	}
	p := decode(t, out[0])
	ns, _ := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	if ns == nil || !ns.TargetAddress.Equal(peerIP6.AsSlice()) {
		t.Fatalf("not an NS for the peer: %v", p)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}) {
		t.Fatalf("NS sent to %v", e.DstMAC)
	}
	na := icmp6Frame(t, ourMAC, peerIP6, ourIP6, 255,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
		&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: peerIP6.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: peerMAC}}})
	out = run(c, l, 1e6, na)
	if len(out) != 1 {
		t.Fatalf("sent %d after NA, want the echo reply", len(out))
	}
	p = decode(t, out[0])
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	echo := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
	icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if icmp.TypeCode.Type() != layers.ICMPv6TypeEchoReply || echo.Identifier != 3 || echo.SeqNumber != 4 ||
		!bytes.Equal(icmp.Payload[4:], []byte("ping6")) || !ip.SrcIP.Equal(ourIP6.AsSlice()) || !ip.DstIP.Equal(peerIP6.AsSlice()) {
		t.Fatalf("bad echo reply %v", p)
	}
	m := out[0][ethHeaderLen+ipv6HeaderLen:]
	if Checksum(m, pseudoSum6(ip.SrcIP, ip.DstIP, protoICMPv6, len(m))) != 0 {
		t.Fatal("bad ICMPv6 checksum")
	}
}

func TestLinkLocalAddressDerivedFromMAC(t *testing.T) {
	c, l := newTestCore(t)
	ll := netip.MustParseAddr("fe80::ff:fe00:1")
	out := run(c, l, 0, nsFrame(t, netip.MustParseAddr("fe80::2"), ll))
	if len(out) != 1 {
		t.Fatalf("NS for our link-local address: sent %d", len(out))
	}
}
