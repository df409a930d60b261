package engine

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// pmtuCore returns a core with TCP that has dialled the peer (v4 or v6) and
// the SYN it sent, the peer's address already resolved.
func pmtuCore(t testing.TB, v6 bool) (*Core, *fakeLink, *closedRecorder, []byte, *tcp.Conn) {
	t.Helper()
	l := newFakeLink(t)
	cfg := tcp.DefaultConfig()
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")}, TCP: &cfg}, l)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := ourIP4, peerIP4
	if v6 {
		run(c, l, 0, nsFrame(t, peerIP6, ourIP6))
		local, remote = ourIP6, peerIP6
	} else {
		run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	}
	h := &closedRecorder{}
	tu := flow.Tuple{LocalAddr: local.As16(), RemoteAddr: remote.As16(), LocalPort: 40001, RemotePort: 80}
	c.now = 1e9
	conn, err := c.TCP().Dial(tu, h, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	c.Flush()
	out := l.take()
	return c, l, h, out[len(out)-1], conn
}

// tooBigFrame is the router's error about the IP packet in frame (our
// segment): ICMP fragmentation needed with next-hop MTU mtu, or ICMPv6
// packet too big, quoting the first quote bytes of the packet; seqDelta
// is added to the quoted sequence number (a forgery).
func tooBigFrame(t testing.TB, frame []byte, v6 bool, mtu int, quote int, seqDelta uint32) []byte {
	t.Helper()
	q := append([]byte(nil), frame[ethHeaderLen:]...)
	hl := ipv4MinHeader
	if v6 {
		hl = ipv6HeaderLen
	}
	binary.BigEndian.PutUint32(q[hl+4:], binary.BigEndian.Uint32(q[hl+4:])+seqDelta)
	q = q[:min(len(q), quote)]
	router4, router6 := netip.MustParseAddr("198.18.0.254"), netip.MustParseAddr("2001:2::fe")
	if v6 {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(mtu))
		return icmp6Frame(t, ourMAC, router6, ourIP6, 64,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)},
			gopacket.Payload(append(hdr[:], q...)))
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: router4.AsSlice(), DstIP: ourIP4.AsSlice()}
	f := serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, gopacket.Payload(q))
	// The next-hop MTU sits in the second half of the unused word (RFC
	// 1191 4); the checksum is made again.
	m := f[ethHeaderLen+ipv4MinHeader:]
	binary.BigEndian.PutUint16(m[6:], uint16(mtu))
	binary.BigEndian.PutUint16(m[2:], 0)
	binary.BigEndian.PutUint16(m[2:], Checksum(m, 0))
	return f
}

// The SYN carries DF over IPv4 (RFC 1191 3).
func TestTCPSegmentsCarryDF(t *testing.T) {
	_, _, _, syn, _ := pmtuCore(t, false)
	if be16(syn[ethHeaderLen+6:])&ipv4DF == 0 {
		t.Fatalf("flags/offset %#04x: no DF", be16(syn[ethHeaderLen+6:]))
	}
}

// An ICMP fragmentation needed (type 3 code 4) or ICMPv6 packet too big
// about our segment is path MTU discovery, never a hard error: the
// connection stays (it used to be aborted in SYN_SENT with icmp_may_rst),
// its MSS is lowered and the message counted. One whose quoted sequence
// number lies outside snd_una..snd_max is ignored and counted; one below
// the minimum MTU is dropped before TCP.
func TestPacketTooBigIsNotAnAbort(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l, h, syn, conn := pmtuCore(t, v6)
		hdr := 40
		if v6 {
			hdr = 60
		}
		// Forged: the quoted sequence number is 1 MB off.
		run(c, l, 2e9, tooBigFrame(t, syn, v6, 1280, 200, 1<<20))
		st := c.TCP().Stats()
		if st[tcp.StatPMTUDICMPIgnored] != 1 || st[tcp.StatPMTUDICMPAccepted] != 0 || c.stats[ICMPTooBigIn] != 1 || conn.MaxSeg() != tcp.DefaultMSSDflt {
			t.Fatalf("v6=%v: forged: ignored %d, accepted %d, too_big_in %d, MSS %d", v6,
				st[tcp.StatPMTUDICMPIgnored], st[tcp.StatPMTUDICMPAccepted], c.stats[ICMPTooBigIn], conn.MaxSeg())
		}
		// Below the minimum: dropped before TCP.
		low := 500
		if v6 {
			low = 1200
		}
		run(c, l, 2e9, tooBigFrame(t, syn, v6, low, 200, 0))
		if c.stats[ICMPTooBigBelowMin] != 1 || c.TCP().Stats()[tcp.StatPMTUDICMPAccepted] != 0 {
			t.Fatalf("v6=%v: below minimum: %d, accepted %d", v6, c.stats[ICMPTooBigBelowMin], c.TCP().Stats()[tcp.StatPMTUDICMPAccepted])
		}
		// The real one.
		run(c, l, 2e9, tooBigFrame(t, syn, v6, 1280, 200, 0))
		if h.closed || conn.State() != tcp.SynSent {
			t.Fatalf("v6=%v: after packet too big: closed=%v err=%v state %v", v6, h.closed, h.err, conn.State())
		}
		if st := c.TCP().Stats(); st[tcp.StatPMTUDICMPAccepted] != 1 || st[tcp.StatICMPUnreach] != 0 || c.stats[ICMPUnreachIn] != 0 {
			t.Fatalf("v6=%v: accepted %d, icmp_unreach %d/%d", v6, st[tcp.StatPMTUDICMPAccepted], st[tcp.StatICMPUnreach], c.stats[ICMPUnreachIn])
		}
		// In SYN_SENT the MSS is mssdflt until the peer's SYN-ACK, below
		// what the path allows; the handshake takes the cached MTU then.
		if conn.MaxSeg() != min(tcp.DefaultMSSDflt, 1280-hdr) {
			t.Fatalf("v6=%v: MSS %d", v6, conn.MaxSeg())
		}
		if got := c.TCP().PathMTU(conn.Tuple().RemoteAddr, 2e9); got != 1280 {
			t.Fatalf("v6=%v: path MTU %d cached", v6, got)
		}
	}
}

// An IPv4 router from before RFC 1191 leaves the MTU 0: the plateau below
// the quoted packet's length is taken.
func TestFragmentationNeededWithoutMTUTakesThePlateau(t *testing.T) {
	if got := plateauBelow(1500); got != 1492 {
		t.Fatalf("plateau below 1500: %d", got)
	}
	if got := plateauBelow(1006); got != 508 {
		t.Fatalf("plateau below 1006: %d", got)
	}
	// A SYN is far below every plateau worth taking: ignored as below 576.
	c, l, _, syn, _ := pmtuCore(t, false)
	run(c, l, 2e9, tooBigFrame(t, syn, false, 0, 200, 0))
	if c.stats[ICMPTooBigBelowMin] != 1 {
		t.Fatalf("below_min %d", c.stats[ICMPTooBigBelowMin])
	}
}

// Hostile messages never panic and never lose a frame: every truncation of
// the error, and every byte of it set to each of a few values.
func TestHostilePacketTooBig(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l, h, syn, _ := pmtuCore(t, v6)
		base := tooBigFrame(t, syn, v6, 1280, 200, 0)
		free := c.pool.Free()
		for n := 0; n <= len(base); n++ {
			run(c, l, 2e9, base[:n])
		}
		for i := range base {
			for _, v := range []byte{0, 0x01, 0x3c, 0x45, 0x60, 0x80, 0xff} {
				f := append([]byte(nil), base...)
				f[i] = v
				run(c, l, 2e9, f)
			}
		}
		if c.pool.Free() != free {
			t.Fatalf("v6=%v: %d frames free, want %d", v6, c.pool.Free(), free)
		}
		if h.closed {
			t.Fatalf("v6=%v: the connection was aborted: %v", v6, h.err)
		}
	}
}

// The ICMP error path allocates nothing, from the frame to the shard.
func TestPacketTooBigPathAllocatesNothing(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l, _, syn, _ := pmtuCore(t, v6)
		l.keepOut = false
		frames := [][]byte{tooBigFrame(t, syn, v6, 1280, 200, 0), tooBigFrame(t, syn, v6, 1280, 200, 1<<20)}
		batch := make([][]byte, 2)
		now := mono.Time(2e9)
		allocs := testing.AllocsPerRun(500, func() {
			copy(batch, frames)
			l.in = batch
			c.Poll(now)
		})
		if allocs != 0 {
			t.Fatalf("v6=%v: %v allocations per packet too big", v6, allocs)
		}
		if st := c.TCP().Stats(); st[tcp.StatPMTUDICMPAccepted] < 500 || st[tcp.StatPMTUDICMPIgnored] < 500 {
			t.Fatalf("v6=%v: accepted %d, ignored %d", v6, st[tcp.StatPMTUDICMPAccepted], st[tcp.StatPMTUDICMPIgnored])
		}
	}
}
