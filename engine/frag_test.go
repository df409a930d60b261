package engine

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/mono"
)

// patternAt is the byte a test datagram id holds at payload offset o.
func patternAt(id uint32, o int) byte { return byte(o*7 + int(id)*13 + o>>8) }

func testReass(t testing.TB, v6 bool, cfg FragConfig) (*reassTable, *Counters) {
	var st Counters
	ctr := reassCounters{IPFragments, IPFragDropped, IPFragTimeout, IPReassembled, IPTooLong}
	if v6 {
		ctr = reassCounters{IP6Fragments, IP6FragDropped, IP6FragTimeout, IP6Reassembled, IP6TooLong}
	}
	return newReassTable(cfg, v6, &st, ctr), &st
}

var testHdr4 = []byte{0x45, 0, 0, 0, 0, 1, 0x20, 0, 64, protoUDP, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1}

// frag returns fragment [off, end) of datagram id (payload bytes from
// patternAt), the last when more is false.
func frag(id uint32, off, end int, more bool) *ipFragment {
	data := make([]byte, end-off)
	for i := range data {
		data[i] = patternAt(id, off+i)
	}
	f := &ipFragment{key: fragKey{id: id, proto: protoUDP}, off: off, more: more, data: data}
	if off == 0 {
		f.hdr = testHdr4
	}
	return f
}

func checkWhole(t *testing.T, pkt []byte, hl int, id uint32, total int) {
	t.Helper()
	if pkt == nil {
		t.Fatal("not reassembled")
	}
	if hl != len(testHdr4) || !bytes.Equal(pkt[:hl], testHdr4) || len(pkt)-hl != total {
		t.Fatalf("reassembled %d bytes behind a %d-byte header, want %d", len(pkt)-hl, hl, total)
	}
	for o, b := range pkt[hl:] {
		if b != patternAt(id, o) {
			t.Fatalf("byte %d of the reassembled payload is wrong", o)
		}
	}
}

// In order, out of order, last first: the datagram comes out whole once
// every byte is in, and the table is empty again.
func TestReassemblyOrders(t *testing.T) {
	for name, order := range map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "middle last": {0, 2, 1}} {
		t.Run(name, func(t *testing.T) {
			r, st := testReass(t, false, FragConfig{})
			fs := []*ipFragment{frag(1, 0, 1480, true), frag(1, 1480, 2960, true), frag(1, 2960, 3000, false)}
			var pkt []byte
			var hl int
			for i, k := range order {
				pkt, hl = r.add(fs[k], 0)
				if i < len(order)-1 && pkt != nil {
					t.Fatal("reassembled early")
				}
			}
			checkWhole(t, pkt, hl, 1, 3000)
			if st[IPReassembled] != 1 || st[IPFragments] != 3 || st[IPFragDropped] != 0 || r.pending() != 0 {
				t.Fatalf("reassembled %d, fragments %d, dropped %d, pending %d", st[IPReassembled], st[IPFragments], st[IPFragDropped], r.pending())
			}
		})
	}
}

// Hostile fragments (RFC 5722, RFC 7112, RFC 791's 65535 bytes, FreeBSD's
// maxfragsperpacket): each drops its whole datagram, counted, and the
// datagram never comes out, whatever arrives after.
func TestReassemblyHostileFragments(t *testing.T) {
	cases := []struct {
		name    string
		v6      bool
		frags   []*ipFragment
		dropped uint64 // fragdropped
		toolong uint64
	}{
		{"overlap at the start", false, []*ipFragment{frag(1, 0, 16, true), frag(1, 8, 24, true), frag(1, 24, 32, false)}, 3, 0},
		{"overlap at the end", false, []*ipFragment{frag(1, 16, 32, false), frag(1, 8, 24, true), frag(1, 0, 8, true)}, 3, 0},
		{"overlap inside (RFC 5722)", true, []*ipFragment{frag(1, 0, 64, true), frag(1, 16, 24, true), frag(1, 64, 72, false)}, 3, 0},
		{"one covering two", true, []*ipFragment{frag(1, 8, 16, true), frag(1, 24, 32, false), frag(1, 0, 40, false), frag(1, 0, 8, true)}, 4, 0},
		{"tiny first fragment", false, []*ipFragment{frag(1, 0, 4, false)}, 1, 0},
		{"non-last fragment not a multiple of 8", true, []*ipFragment{frag(1, 0, 13, true), frag(1, 13, 20, false)}, 2, 0},
		{"two different ends", false, []*ipFragment{frag(1, 16, 24, false), frag(1, 24, 32, false), frag(1, 0, 16, true)}, 3, 0},
		{"data past the end", false, []*ipFragment{frag(1, 16, 24, false), frag(1, 24, 32, true), frag(1, 0, 16, true)}, 3, 0},
		{"last fragment before data", false, []*ipFragment{frag(1, 16, 24, true), frag(1, 0, 8, false), frag(1, 8, 16, true)}, 3, 0},
		{"IPv4 over 65535 bytes", false, []*ipFragment{frag(1, 0, 1480, true), frag(1, 65512, 65520, false)}, 2, 1},
		{"IPv6 over 65535 bytes", true, []*ipFragment{frag(1, 0, 1480, true), frag(1, 65528, 65536, false)}, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, st := testReass(t, tc.v6, FragConfig{})
			for _, f := range tc.frags {
				if pkt, _ := r.add(f, 0); pkt != nil {
					t.Fatal("a hostile datagram was reassembled")
				}
			}
			d, tl := st[IPFragDropped]+st[IP6FragDropped], st[IPTooLong]+st[IP6TooLong]
			if d != tc.dropped || tl != tc.toolong || st[IPReassembled]+st[IP6Reassembled] != 0 || r.pending() != 0 {
				t.Fatalf("fragdropped %d (want %d), toolong %d (want %d), pending %d", d, tc.dropped, tl, tc.toolong, r.pending())
			}
		})
	}
	t.Run("exact duplicate is dropped alone", func(t *testing.T) {
		r, st := testReass(t, true, FragConfig{})
		r.add(frag(1, 0, 8, true), 0)
		r.add(frag(1, 0, 8, true), 0)
		pkt, hl := r.add(frag(1, 8, 20, false), 0)
		checkWhole(t, pkt, hl, 1, 20)
		if st[IP6FragDropped] != 1 {
			t.Fatalf("fragdropped %d, want 1", st[IP6FragDropped])
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		r, st := testReass(t, false, FragConfig{MaxFragsPerPacket: 4})
		for i := 0; i < 5; i++ {
			r.add(frag(1, 8*i, 8*i+8, true), 0)
		}
		if st[IPFragDropped] != 5 || r.pending() != 0 {
			t.Fatalf("fragdropped %d, pending %d; want 5 and 0", st[IPFragDropped], r.pending())
		}
		// The same datagram with the limit's worth comes out.
		for i := 0; i < 3; i++ {
			r.add(frag(2, 8*i, 8*i+8, true), 0)
		}
		pkt, hl := r.add(frag(2, 24, 30, false), 0)
		checkWhole(t, pkt, hl, 2, 30)
	})
}

// Datagrams never completed are dropped after fragttl, their fragments
// counted in fragtimeout, and the table is empty again.
func TestReassemblyTimeout(t *testing.T) {
	r, st := testReass(t, false, FragConfig{TTL: time.Second})
	r.add(frag(1, 0, 8, true), 0)
	r.add(frag(1, 16, 24, true), 0)
	r.add(frag(2, 8, 16, false), mono.Time(500*time.Millisecond))
	r.expire(mono.Time(999 * time.Millisecond))
	if r.pending() != 2 {
		t.Fatalf("%d pending before the timeout, want 2", r.pending())
	}
	r.expire(mono.Time(time.Second))
	if r.pending() != 1 || st[IPFragTimeout] != 2 {
		t.Fatalf("pending %d, fragtimeout %d after the first timeout; want 1 and 2", r.pending(), st[IPFragTimeout])
	}
	r.expire(mono.Time(1600 * time.Millisecond))
	if r.pending() != 0 || st[IPFragTimeout] != 3 {
		t.Fatalf("pending %d, fragtimeout %d; want 0 and 3", r.pending(), st[IPFragTimeout])
	}
	// A late fragment starts afresh and completes nothing.
	if pkt, _ := r.add(frag(1, 8, 16, true), mono.Time(2*time.Second)); pkt != nil || r.pending() != 1 {
		t.Fatal("a late fragment completed a timed-out datagram")
	}
}

// A flood of datagrams that never complete holds at most maxfragpackets
// of them (the oldest dropped for the newest), and at most that many
// buffers: the memory bound.
func TestReassemblyMemoryBound(t *testing.T) {
	r, st := testReass(t, false, FragConfig{MaxFragPackets: 8})
	for id := uint32(0); id < 1000; id++ {
		r.add(frag(id, 8, 16, true), mono.Time(id))
		if r.pending() > 8 {
			t.Fatalf("%d datagrams pending, want at most 8", r.pending())
		}
	}
	bufs := 0
	for i := range r.entries {
		if r.entries[i].buf != nil {
			bufs++
		}
	}
	if bufs != 8 || len(r.entries) != 8 || st[IPFragDropped] != 992 {
		t.Fatalf("%d buffers, %d entries, fragdropped %d; want 8, 8, 992", bufs, len(r.entries), st[IPFragDropped])
	}
	// The newest survived.
	if pkt, _ := r.add(frag(999, 0, 8, true), 2000); pkt != nil {
		t.Fatal("incomplete datagram came out")
	}
	pkt, hl := r.add(frag(999, 16, 20, false), 2000)
	checkWhole(t, pkt, hl, 999, 20)
}

// FuzzReassembly feeds a table arbitrary fragments: records of offset (in
// 8-byte units, with the M flag in the top bit), length and datagram id.
// Nothing may panic, the table stays within its bounds, and whatever comes
// out is exactly the datagram its fragments carried.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0x80, 0, 16, 1, 0x80, 2, 16, 1, 0, 4, 5, 1})
	f.Add([]byte{0x80, 0, 16, 1, 0x80, 1, 16, 1, 0, 4, 5, 1})
	f.Add([]byte{0, 4, 5, 2, 0x80, 0, 32, 2, 0x81, 0xff, 8, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, v6 := range []bool{false, true} {
			r, st := testReass(t, v6, FragConfig{MaxFragPackets: 4, MaxFragsPerPacket: 8, TTL: time.Second})
			for i := 0; i+4 <= len(in); i += 4 {
				off := int(binary.BigEndian.Uint16(in[i:])&0x1fff) * 8
				more := in[i]&0x80 != 0
				n := int(in[i+2])
				if in[i]&0x40 != 0 {
					n *= 8
				}
				id := uint32(in[i+3] & 7)
				fr := frag(id, off, off+n, more)
				now := mono.Time(i) * mono.Time(50*time.Millisecond)
				pkt, hl := r.add(fr, now)
				r.expire(now)
				if r.pending() > 4 {
					t.Fatalf("%d pending", r.pending())
				}
				if pkt != nil {
					if hl != len(testHdr4) || len(pkt)-hl > maxReassPayload {
						t.Fatalf("header %d, payload %d", hl, len(pkt)-hl)
					}
					for o, b := range pkt[hl:] {
						if b != patternAt(id, o) {
							t.Fatalf("byte %d of datagram %d wrong", o, id)
						}
					}
				}
				for j := range r.entries {
					e := &r.entries[j]
					if len(e.ranges) > 8 || e.used && e.got > maxReassPayload {
						t.Fatalf("entry %d: %d ranges, %d bytes", j, len(e.ranges), e.got)
					}
				}
			}
			if st[IPFragments]+st[IP6Fragments] != uint64(len(in)/4) {
				t.Fatalf("fragments %d, fed %d", st[IPFragments]+st[IP6Fragments], len(in)/4)
			}
		}
	})
}

// udpDatagram4 is an IPv4 packet carrying a UDP datagram of payload from
// the peer's port 5353 to our dport.
func udpPacket(t testing.TB, v6 bool, dport uint16, payload []byte) (ip []byte, udp []byte) {
	u := &layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(dport)}
	var net gopacket.SerializableLayer
	if v6 {
		n := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: peerIP6.AsSlice(), DstIP: ourIP6.AsSlice()}
		u.SetNetworkLayerForChecksum(n)
		net = n
	} else {
		n := &layers.IPv4{Version: 4, TTL: 64, Id: 77, Protocol: layers.IPProtocolUDP, SrcIP: peerIP4.AsSlice(), DstIP: ourIP4.AsSlice()}
		u.SetNetworkLayerForChecksum(n)
		net = n
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, net, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if v6 {
		return b[:ipv6HeaderLen], b[ipv6HeaderLen:]
	}
	return b[:ipv4MinHeader], b[ipv4MinHeader:]
}

// fragFrames cuts a UDP datagram into Ethernet frames of fragments of at
// most per bytes of it each, in the order given (nil: in order).
func fragFrames(t testing.TB, v6 bool, dport uint16, payload []byte, per int, id uint32) [][]byte {
	hdr, data := udpPacket(t, v6, dport, payload)
	var out [][]byte
	for off := 0; off < len(data); off += per {
		end := min(off+per, len(data))
		var f []byte
		if v6 {
			f = make([]byte, ethHeaderLen+ipv6HeaderLen+8+end-off)
			copy(f[0:6], ourMAC)
			copy(f[6:12], peerMAC)
			put16(f[12:], etherTypeIPv6)
			h := f[ethHeaderLen:]
			copy(h, hdr)
			h[6] = 44
			put16(h[4:], uint16(8+end-off))
			fh := h[ipv6HeaderLen:]
			fh[0] = protoUDP
			v := uint16(off)
			if end < len(data) {
				v |= 1
			}
			put16(fh[2:], v)
			binary.BigEndian.PutUint32(fh[4:], id)
			copy(fh[8:], data[off:end])
		} else {
			f = make([]byte, ethHeaderLen+ipv4MinHeader+end-off)
			copy(f[0:6], ourMAC)
			copy(f[6:12], peerMAC)
			put16(f[12:], etherTypeIPv4)
			h := f[ethHeaderLen:]
			copy(h, hdr)
			put16(h[2:], uint16(ipv4MinHeader+end-off))
			put16(h[4:], uint16(id))
			v := uint16(off / 8)
			if end < len(data) {
				v |= 0x2000
			}
			put16(h[6:], v)
			put16(h[10:], 0)
			put16(h[10:], Checksum(h[:ipv4MinHeader], 0))
			copy(h[ipv4MinHeader:], data[off:end])
		}
		out = append(out, f)
	}
	return out
}

// Fragments on the wire: a reassembled datagram to a closed port draws a
// port unreachable quoting the reassembled packet, both families; every
// fragment's frame goes back to the pool.
func TestFragmentedDatagramToClosedPort(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l := newTestCore(t)
		run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), nsFrame(t, peerIP6, ourIP6))
		free := c.pool.Free()
		payload := make([]byte, 5000)
		for i := range payload {
			payload[i] = byte(i)
		}
		frames := fragFrames(t, v6, 9, payload, 1024, 4242)
		// Out of order.
		frames[0], frames[len(frames)-1] = frames[len(frames)-1], frames[0]
		out := run(c, l, 1, frames...)
		if len(out) != 1 {
			t.Fatalf("v6 %v: sent %d frames, want one port unreachable", v6, len(out))
		}
		p := decode(t, out[0])
		if v6 {
			m, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if !ok || m.TypeCode != layers.CreateICMPv6TypeCode(1, 4) {
				t.Fatalf("sent %v, want a port unreachable", p)
			}
			if c.stats[IP6Reassembled] != 1 || c.stats[IP6Fragments] != uint64(len(frames)) {
				t.Fatalf("ip6_reassembled %d, ip6_fragments %d", c.stats[IP6Reassembled], c.stats[IP6Fragments])
			}
		} else {
			m, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if !ok || m.TypeCode != layers.CreateICMPv4TypeCode(3, 3) {
				t.Fatalf("sent %v, want a port unreachable", p)
			}
			quoted := m.Payload
			if be16(quoted[2:]) != uint16(ipv4MinHeader+8+len(payload)) || be16(quoted[6:]) != 0 || Checksum(quoted[:ipv4MinHeader], 0) != 0 {
				t.Fatalf("quoted header is not the reassembled datagram's: % x", quoted[:ipv4MinHeader])
			}
			if c.stats[IPReassembled] != 1 || c.stats[IPFragments] != uint64(len(frames)) {
				t.Fatalf("ip_reassembled %d, ip_fragments %d", c.stats[IPReassembled], c.stats[IPFragments])
			}
		}
		if c.stats[UDPNoPort] != 1 || c.stats[ICMPUnreachOut] != 1 || c.stats.Drops() != 0 {
			t.Fatalf("udp_noport %d, icmp_unreach_out %d, drops %d", c.stats[UDPNoPort], c.stats[ICMPUnreachOut], c.stats.Drops())
		}
		if c.pool.Free() != free {
			t.Fatalf("%d frames free, want %d", c.pool.Free(), free)
		}
	}
}

// Port unreachables are rate-limited per core (icmplim, errppslimit).
func TestPortUnreachableRateLimit(t *testing.T) {
	c, l := newTestCore(t)
	run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	f := udpFrame(t)
	frames := make([][]byte, DefaultICMPLim+50)
	for i := range frames {
		frames[i] = f
	}
	out := run(c, l, 1, frames...)
	if len(out) != DefaultICMPLim || c.stats[ICMPLimited] != 50 || c.stats[UDPNoPort] != uint64(len(frames)) {
		t.Fatalf("sent %d, limited %d, noport %d; want %d, 50, %d", len(out), c.stats[ICMPLimited], c.stats[UDPNoPort], DefaultICMPLim, len(frames))
	}
	if out := run(c, l, mono.Time(time.Second), f); len(out) != 1 {
		t.Fatalf("the next second sent %d, want 1", len(out))
	}
}

// UDP checksum rules: IPv4 zero means none (RFC 768) and is taken; IPv6
// zero is invalid (RFC 8200 8.1) and dropped; a wrong one is dropped.
func TestUDPChecksumRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		sum  func(old uint16) uint16
		want Counter
	}{
		{"IPv4 zero", false, func(uint16) uint16 { return 0 }, UDPNoPort},
		{"IPv4 wrong", false, func(s uint16) uint16 { return s ^ 1 }, UDPBadSum},
		{"IPv6 zero", true, func(uint16) uint16 { return 0 }, UDPNoSum},
		{"IPv6 wrong", true, func(s uint16) uint16 { return s ^ 1 }, UDPBadSum},
		{"IPv6 right", true, func(s uint16) uint16 { return s }, UDPNoPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, l := newTestCore(t)
			fs := fragFrames(t, tc.v6, 9, []byte("hello"), 1500, 1)
			f := fs[0]
			// Unfragment: the one "fragment" is the whole datagram.
			var u []byte
			if tc.v6 {
				f = append(append([]byte(nil), f[:ethHeaderLen+ipv6HeaderLen]...), f[ethHeaderLen+ipv6HeaderLen+8:]...)
				f[ethHeaderLen+6] = protoUDP
				put16(f[ethHeaderLen+4:], uint16(len(f)-ethHeaderLen-ipv6HeaderLen))
				u = f[ethHeaderLen+ipv6HeaderLen:]
			} else {
				u = f[ethHeaderLen+ipv4MinHeader:]
			}
			put16(u[6:], tc.sum(be16(u[6:])))
			run(c, l, 0, f)
			if c.stats[tc.want] != 1 || c.stats[UDPIPackets] != 1 {
				t.Fatalf("%v = %d, udp_ipackets %d", tc.want, c.stats[tc.want], c.stats[UDPIPackets])
			}
		})
	}
}

// A computed checksum of zero goes out as 0xffff (RFC 768).
func TestUDPZeroChecksumSentAsOnes(t *testing.T) {
	c, l := newTestCore(t)
	run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	src, dst := v4Mapped(ourIP4.As4()), v4Mapped(peerIP4.As4())
	// Find a payload whose checksum comes out 0: vary two bytes.
	payload := make([]byte, 2)
	for v := 0; v < 1<<16; v++ {
		put16(payload, uint16(v))
		var uh [8]byte
		put16(uh[0:], 1000)
		put16(uh[2:], 2000)
		put16(uh[4:], 10)
		if Checksum(append(uh[:], payload...), pseudoSum4(src[12:], dst[12:], protoUDP, 10)) == 0 {
			break
		}
	}
	c.sendUDP(&src, &dst, 1000, 2000, payload, nil, 1)
	c.flush()
	out := l.take()
	if len(out) != 1 {
		t.Fatalf("sent %d frames", len(out))
	}
	if s := be16(out[0][ethHeaderLen+ipv4MinHeader+6:]); s != 0xffff {
		t.Fatalf("checksum %#x, want 0xffff", s)
	}
}

// UDP echo through the sockets, a small datagram and an 8 KiB one that
// travels in fragments both ways (reassembled into the pool's buffers),
// allocates nothing once warm.
func TestUDPEchoAllocatesNothing(t *testing.T) {
	p := newSockPair(t, nil)
	pc, err := p.srv.ListenUDP("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveUDPEcho(t, pc)
	for _, addr := range []string{"198.18.0.1:7", "[2001:2::1]:7"} {
		for _, size := range []int{64, 8192} {
			c, err := p.cli.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(time.Minute))
			msg, buf := make([]byte, size), make([]byte, size)
			round := func() {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 10; i++ {
				round()
			}
			if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
				t.Fatalf("%s, %d bytes: %v allocations per echo", addr, size, allocs)
			}
			c.Close()
		}
	}
	if st := udpTotals(p.srv); st[IPReassembled] == 0 || st[IP6Reassembled] == 0 {
		t.Fatalf("nothing reassembled: %d, %d", st[IPReassembled], st[IP6Reassembled])
	}
}

// The IP-layer tunables set Config's fields by their FreeBSD names, refuse
// what is out of their limits, and report the defaults when unset.
func TestIPSysctls(t *testing.T) {
	var cfg Config
	for _, v := range IPSysctls(&cfg) {
		want := map[string]string{"net.inet.ip.maxfragpackets": "64", "net.inet.ip.maxfragsperpacket": "64", "net.inet.ip.fragttl": "30",
			"net.inet6.ip6.fragttl": "60", "net.inet.icmp.icmplim": "200", "net.inet6.icmp6.errppslimit": "100"}[v.Name]
		if want != "" && v.Value != want {
			t.Errorf("%s = %s, want %s", v.Name, v.Value, want)
		}
	}
	for _, s := range [][2]string{{"net.inet.ip.maxfragpackets", "8"}, {"net.inet6.ip6.maxfragsperpacket", "3"},
		{"net.inet.ip.fragttl", "5"}, {"net.inet.icmp.icmplim", "0"}, {"net.inet6.icmp6.errppslimit", "7"}} {
		if err := SetIPSysctl(&cfg, s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Frag4.MaxFragPackets != 8 || cfg.Frag6.MaxFragsPerPacket != 3 || cfg.Frag4.TTL != 5*time.Second || cfg.ICMPLim != -1 || cfg.ICMP6ErrPPSLimit != 7 {
		t.Fatalf("settings not taken: %+v %+v %d %d", cfg.Frag4, cfg.Frag6, cfg.ICMPLim, cfg.ICMP6ErrPPSLimit)
	}
	for _, s := range [][2]string{{"net.inet.ip.maxfragpackets", "0"}, {"net.inet.ip.maxfragpackets", "x"},
		{"net.inet.ip.maxfragsperpacket", "100000"}, {"net.inet.ip.nosuch", "1"}} {
		if err := SetIPSysctl(&cfg, s[0], s[1]); err == nil {
			t.Errorf("%s=%s taken", s[0], s[1])
		}
	}
	// icmplim 0 sends none.
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}, ICMPLim: cfg.ICMPLim}, l)
	if err != nil {
		t.Fatal(err)
	}
	run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	if out := run(c, l, 1, udpFrame(t)); len(out) != 0 || c.stats[ICMPLimited] != 1 {
		t.Fatalf("icmplim 0: sent %d, limited %d", len(out), c.stats[ICMPLimited])
	}
	if _, err := NewCore(CoreConfig{MAC: ourMAC, Frag4: FragConfig{MaxFragPackets: -1}}, l); err == nil {
		t.Fatal("a negative maxfragpackets was taken")
	}
}
