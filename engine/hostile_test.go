package engine

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Hostile and malformed frames are dropped without a panic or an answer,
// counted under the right reason, and give their frame back to the pool.
func TestHostileFramesAreCountedAndDropped(t *testing.T) {
	good4 := echo4Frame(t, peerIP4, ourIP4, []byte("payload"))
	good6 := echo6Frame(t, peerIP6, ourIP6, []byte("payload"))
	mod := func(f []byte, fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), f...)) }
	fixIPv4Sum := func(b []byte) {
		h := b[ethHeaderLen : ethHeaderLen+int(b[ethHeaderLen]&0xf)*4]
		put16(h[10:], 0)
		put16(h[10:], Checksum(h, 0))
	}
	cases := []struct {
		name  string
		frame []byte
		want  Counter
	}{
		{"empty frame", []byte{}, DropMalformed},
		{"truncated Ethernet header", good4[:13], DropMalformed},
		{"unknown EtherType", mod(good4, func(b []byte) []byte { put16(b[12:], 0x88b5); return b }), DropUnknownProtocol},
		{"VLAN tag without --vlan", mod(good4, func(b []byte) []byte { put16(b[12:], 0x8100); return b }), DropVLANMismatch},
		{"another host's MAC", mod(good4, func(b []byte) []byte { b[5] = 0x77; return b }), DropNotForUs},
		{"truncated IPv4 header", good4[:ethHeaderLen+19], DropMalformed},
		{"IPv4 version 5", mod(good4, func(b []byte) []byte { b[14] = 0x55; return b }), DropMalformed},
		{"IHL below 5", mod(good4, func(b []byte) []byte { b[14] = 0x44; fixIPv4Sum(b); return b }), DropMalformed},
		{"IHL beyond total length", mod(good4, func(b []byte) []byte { b[14] = 0x4f; return b }), DropMalformed},
		{"total length beyond frame", mod(good4, func(b []byte) []byte { put16(b[16:], 1400); fixIPv4Sum(b); return b }), DropMalformed},
		{"total length below header", mod(good4, func(b []byte) []byte { put16(b[16:], 10); fixIPv4Sum(b); return b }), DropMalformed},
		{"bad IPv4 checksum", mod(good4, func(b []byte) []byte { b[24] ^= 0xff; return b }), DropChecksum},
		{"IPv4 to another host", mod(good4, func(b []byte) []byte { b[33] = 9; fixIPv4Sum(b); return b }), DropNotForUs},
		{"IPv4 from a multicast source", mod(good4, func(b []byte) []byte { b[26] = 224; fixIPv4Sum(b); return b }), DropMalformed},
		{"IPv4 unknown protocol", mod(good4, func(b []byte) []byte { b[23] = 253; fixIPv4Sum(b); return b }), DropUnknownProtocol},
		{"bad ICMP checksum", mod(good4, func(b []byte) []byte { b[42] ^= 1; return b }), DropChecksum},
		{"truncated ICMP", mod(good4, func(b []byte) []byte { put16(b[16:], 24); fixIPv4Sum(b); return b[:38] }), DropMalformed},
		{"ICMP not an echo request", mod(good4, func(b []byte) []byte {
			b[34] = 13
			put16(b[36:], 0)
			put16(b[36:], Checksum(b[34:], 0))
			return b
		}), ICMPIgnored},
		{"truncated ARP", arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4)[:40], DropMalformed},
		{"ARP for another host", arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, netip.MustParseAddr("198.18.0.77")), DropNotForUs},
		{"ARP with a group sender MAC", mod(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), func(b []byte) []byte { b[22] = 1; return b }), DropMalformed},
		{"ARP for another protocol", mod(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), func(b []byte) []byte { put16(b[16:], 0x86dd); return b }), DropUnknownProtocol},
		{"ARP unknown operation", mod(arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), func(b []byte) []byte { put16(b[20:], 9); return b }), DropUnknownProtocol},
		{"truncated IPv6 header", good6[:ethHeaderLen+39], DropMalformed},
		{"IPv6 payload length beyond frame", mod(good6, func(b []byte) []byte { put16(b[18:], 1000); return b }), DropMalformed},
		{"IPv6 to another host", mod(good6, func(b []byte) []byte { b[53] = 9; return b }), DropNotForUs},
		{"IPv6 from a multicast source", mod(good6, func(b []byte) []byte { b[22] = 0xff; return b }), DropMalformed},
		{"IPv6 unknown next header", mod(good6, func(b []byte) []byte { b[20] = 253; return b }), DropUnknownProtocol},
		{"IPv6 fragment header past the end", mod(good6, func(b []byte) []byte {
			b[20] = 44
			put16(b[18:], 4)
			return b[:ethHeaderLen+ipv6HeaderLen+4]
		}), DropFragment},
		{"IPv6 extension header past the end", mod(good6, func(b []byte) []byte { b[20] = 0; b[55] = 200; return b }), DropMalformed},
		{"bad ICMPv6 checksum", mod(good6, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), DropChecksum},
		{"NS with hop limit 64", mod(nsFrame(t, peerIP6, ourIP6), func(b []byte) []byte { b[21] = 64; return b }), DropMalformed},
		{"NS for another host", nsFrame(t, peerIP6, netip.MustParseAddr("2001:2::99")), DropNotForUs},
		{"NS with a zero-length option", mod(nsFrame(t, peerIP6, ourIP6), func(b []byte) []byte {
			b[ethHeaderLen+ipv6HeaderLen+25] = 0
			m := b[ethHeaderLen+ipv6HeaderLen:]
			put16(m[2:], 0)
			put16(m[2:], Checksum(m, pseudoSum6(b[22:38], b[38:54], protoICMPv6, len(m))))
			return b
		}), DropMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, l := newTestCore(t)
			free := c.pool.Free()
			out := run(c, l, 0, tc.frame)
			if len(out) != 0 {
				t.Fatalf("answered a hostile frame with %d frames", len(out))
			}
			for i := Counter(0); i < numCounters; i++ {
				want := uint64(0)
				if i == tc.want {
					want = 1
				}
				if (i.IsDrop() || i == ICMPIgnored) && c.stats[i] != want {
					t.Errorf("%v = %d, want %d", i, c.stats[i], want)
				}
			}
			if c.pool.Free() != free {
				t.Fatalf("frame not returned to the pool: %d free, want %d", c.pool.Free(), free)
			}
		})
	}
}

func udpFrame(t testing.TB) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: peerIP4.AsSlice(), DstIP: ourIP4.AsSlice()}
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("u"))
}

// The receive → parse → echo reply → transmit path allocates nothing.
func TestEchoPathAllocatesNothing(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l := newTestCore(t)
		var frames [][]byte
		if v6 {
			run(c, l, 0, nsFrame(t, peerIP6, ourIP6))
			frames = [][]byte{echo6Frame(t, peerIP6, ourIP6, make([]byte, 56))}
		} else {
			run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
			frames = [][]byte{echo4Frame(t, peerIP4, ourIP4, make([]byte, 56)), arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4)}
		}
		l.keepOut = false
		sent := l.sent
		allocs := testing.AllocsPerRun(1000, func() {
			l.in = frames
			c.Poll(1e6)
			c.Timers(1e6)
		})
		if allocs != 0 {
			t.Errorf("v6=%v: %v allocations per echo", v6, allocs)
		}
		if got := l.sent - sent; got != 1001*len(frames) {
			t.Errorf("v6=%v: sent %d replies over 1001 runs of %d frames", v6, got, len(frames))
		}
	}
}

func BenchmarkEcho4(b *testing.B) {
	c, l := newTestCore(b)
	run(c, l, 0, arpFrame(b, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	f := echo4Frame(b, peerIP4, ourIP4, make([]byte, 56))
	batch := make([][]byte, 32)
	for i := range batch {
		batch[i] = f
	}
	l.keepOut = false
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		l.in = batch
		c.Poll(1e6)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
