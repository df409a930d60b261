package engine

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// withTag returns frame f with an 802.1Q tag of VLAN vid inserted after
// the MAC addresses.
func withTag(f []byte, vid uint16) []byte {
	out := make([]byte, 0, len(f)+4)
	out = append(out, f[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, f[12:]...)
}

// untagged checks that f carries VLAN vid's tag with priority 0 and returns
// it without the tag.
func untagged(t *testing.T, f []byte, vid uint16) []byte {
	t.Helper()
	if len(f) < 18 || be16(f[12:]) != etherTypeVLAN || be16(f[14:]) != vid {
		t.Fatalf("frame not tagged with VLAN %d: % x", vid, f[:min(len(f), 18)])
	}
	out := append([]byte(nil), f[:12]...)
	return append(out, f[16:]...)
}

func newVLANCore(t testing.TB, vid uint16) (*Core, *fakeLink) {
	t.Helper()
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, VLAN: vid, Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64"),
	}}, l)
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

// On VLAN 100 the core answers ARP, ND and echo requests tagged 100, with
// replies tagged 100; untagged frames and VLAN 200's are dropped and
// counted, and nothing answers them.
func TestVLANTaggedOnly(t *testing.T) {
	c, l := newVLANCore(t, 100)
	payload := []byte("vlan payload")
	out := run(c, l, 0, withTag(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), 100),
		withTag(echo4Frame(t, peerIP4, ourIP4, payload), 100))
	if len(out) != 2 {
		t.Fatalf("sent %d frames, want ARP reply + echo reply", len(out))
	}
	arp := decode(t, untagged(t, out[0], 100)).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp.Operation != layers.ARPReply || !bytes.Equal(arp.SourceProtAddress, ourIP4.AsSlice()) {
		t.Fatalf("ARP %+v", arp)
	}
	checkEcho4Reply(t, untagged(t, out[1], 100), payload)

	// IPv6: neighbour discovery, then an echo that the core answers after
	// resolving the peer (a frame it made itself, with room for the tag).
	out = run(c, l, 0, withTag(echo6Frame(t, peerIP6, ourIP6, payload), 100))
	if len(out) != 1 || decode(t, untagged(t, out[0], 100)).Layer(layers.LayerTypeICMPv6NeighborSolicitation) == nil {
		t.Fatalf("sent %d frames, want a tagged NS", len(out))
	}
	na := &layers.ICMPv6NeighborAdvertisement{TargetAddress: peerIP6.AsSlice(), Flags: 0x60,
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: peerMAC}}}
	out = run(c, l, 0, withTag(icmp6Frame(t, ourMAC, peerIP6, ourIP6, 255,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}, na), 100))
	if len(out) != 1 || decode(t, untagged(t, out[0], 100)).Layer(layers.LayerTypeICMPv6Echo) == nil {
		t.Fatalf("sent %d frames after the NA, want the tagged echo reply", len(out))
	}

	before := c.stats
	out = run(c, l, 0, echo4Frame(t, peerIP4, ourIP4, payload), withTag(echo4Frame(t, peerIP4, ourIP4, payload), 200),
		withTag(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), 200), arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4),
		withTag(echo4Frame(t, peerIP4, ourIP4, payload), 100)[:15])
	if len(out) != 0 {
		t.Fatalf("answered %d frames of other VLANs or none", len(out))
	}
	if d := c.stats[DropVLANUntagged] - before[DropVLANUntagged]; d != 2 {
		t.Fatalf("vlan_untagged %d, want 2", d)
	}
	if d := c.stats[DropVLANMismatch] - before[DropVLANMismatch]; d != 2 {
		t.Fatalf("vlan_mismatch %d, want 2", d)
	}
	if d := c.stats[DropMalformed] - before[DropMalformed]; d != 1 {
		t.Fatalf("malformed %d, want 1 (a truncated tag)", d)
	}
	if c.pool.Free() != c.pool.Frames() {
		t.Fatalf("%d of %d frames free", c.pool.Free(), c.pool.Frames())
	}
}

// Without --vlan a tagged frame is not ours.
func TestTaggedFrameWithoutVLANIsDropped(t *testing.T) {
	c, l := newTestCore(t)
	if out := run(c, l, 0, withTag(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), 100)); len(out) != 0 {
		t.Fatalf("answered a tagged frame: %d", len(out))
	}
	if c.stats[DropVLANMismatch] != 1 {
		t.Fatalf("vlan_mismatch %d", c.stats[DropVLANMismatch])
	}
}

// A frame without headroom (it starts at its buffer's first byte) is
// tagged by moving the packet.
func TestVLANTagWithoutHeadroom(t *testing.T) {
	c, l := newVLANCore(t, 7)
	addr, _ := l.pool.Get()
	pkt := echo4Frame(t, peerIP4, ourIP4, []byte("x"))
	copy(l.pool.Frame(addr), pkt)
	d, ok := c.tag(rings.Desc{Addr: addr, Len: uint32(len(pkt))})
	if !ok || d.Addr != addr || !bytes.Equal(untagged(t, l.pool.Bytes(d), 7), pkt) {
		t.Fatalf("tagged in place: ok %v, % x", ok, l.pool.Bytes(d))
	}
	l.pool.Put(addr)
}

// Configuration: VLAN IDs above 4094 are refused.
func TestVLANIDChecked(t *testing.T) {
	if _, err := NewCore(CoreConfig{MAC: ourMAC, VLAN: 4095}, newFakeLink(t)); err == nil {
		t.Fatal("VLAN 4095 accepted")
	}
}

// The tagged receive and send paths allocate nothing: an echo request in
// and its reply out (the frame reused, the tag taken off and put back),
// and TCP data and ACKs between two cores on the VLAN (frames made with
// room for the tag).
func TestVLANPathAllocatesNothing(t *testing.T) {
	c, l := newVLANCore(t, 100)
	run(c, l, 0, withTag(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), 100))
	l.keepOut = false
	echo := withTag(echo4Frame(t, peerIP4, ourIP4, []byte("ping")), 100)
	batch := make([][]byte, 1)
	sent := l.sent
	allocs := testing.AllocsPerRun(1000, func() {
		batch[0] = echo
		l.in = batch
		c.Poll(1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per tagged echo", allocs)
	}
	if l.sent-sent < 1000 || c.stats[EchoRepliesOut] < 1000 {
		t.Fatalf("%d frames sent, %d echo replies", l.sent-sent, c.stats[EchoRepliesOut])
	}

	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{1}
	a, err := NewCore(CoreConfig{MAC: ourMAC, VLAN: 100, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}, TCP: &cfg}, la)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCore(CoreConfig{ID: 1, MAC: peerMAC, VLAN: 100, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")}, TCP: &cfg}, lb)
	if err != nil {
		t.Fatal(err)
	}
	srv := &sinkHandler{}
	if _, err := a.TCP().Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cli := &sinkHandler{}
	tu := flow.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
	now := mono.Time(1e9)
	b.now = now
	if _, err := b.TCP().Dial(tu, cli, now); err != nil {
		t.Fatal(err)
	}
	b.Flush()
	pump(a, b, now, 10)
	if cli.conn == nil || srv.conn == nil {
		t.Fatal("no connection over the VLAN")
	}
	payload := make([]byte, 1448)
	round := func() {
		now += 1e5
		b.now = now
		cli.conn.Write(payload)
		pump(a, b, now, 3)
	}
	for i := 0; i < 100; i++ {
		round()
	}
	before := srv.got
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%v allocations per tagged data segment and its ACK", allocs)
	}
	if srv.got-before < 1001*len(payload) {
		t.Fatalf("server got %d bytes, want at least %d", srv.got-before, 1001*len(payload))
	}
	if a.stats[DropVLANMismatch]+a.stats[DropVLANUntagged]+b.stats[DropVLANMismatch]+b.stats[DropVLANUntagged] != 0 {
		t.Fatal("VLAN drops between two cores on the same VLAN")
	}
}
