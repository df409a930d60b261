package testbed

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/pollstack/pollstack/cores"
)

// rssFrame builds an Ethernet frame from src to dst carrying the first 8
// bytes of a transport header of protocol proto (6 TCP, 17 UDP): what the
// RSS program reads. Checksums are left zero.
func rssFrame(src, dst netip.AddrPort, proto byte) []byte {
	f := make([]byte, 14, 14+40+20)
	if src.Addr().Is4() {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], 28)
		ip[8], ip[9] = 64, proto
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		f = append(f, ip...)
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], 8)
		ip[6], ip[7] = proto, 64
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		f = append(f, ip...)
	}
	l4 := make([]byte, 8)
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	return append(f, l4...)
}

// randomTuple returns a random 4-tuple, IPv4 or IPv6.
func randomTuple(r *rand.Rand, v6 bool) (src, dst netip.AddrPort) {
	addr := func() netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if v6 {
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrPortFrom(addr(), uint16(r.Uint32())), netip.AddrPortFrom(addr(), uint16(r.Uint32()))
}

// coresHash is the engine's hash of a tuple as received (engine/steer.go):
// cores.RSS over source address, destination address, source port,
// destination port.
func coresHash(t *testing.T, key []byte, src, dst netip.AddrPort) uint32 {
	t.Helper()
	h, err := cores.NewRSS(key)
	if err != nil {
		t.Fatal(err)
	}
	if src.Addr().Is4() {
		return h.HashTCP4(src.Addr().As4(), dst.Addr().As4(), src.Port(), dst.Port())
	}
	return h.HashTCP6(src.Addr().As16(), dst.Addr().As16(), src.Port(), dst.Port())
}

func testKeys() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, cores.RSSKeyLen)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	return map[string][]byte{"symmetric": cores.SymmetricRSSKey[:], "microsoft": cores.MicrosoftRSSKey[:], "random": random}
}

// The program's table lookups, simulated over its map data, give the
// Toeplitz hash cores.RSS (the engine's) gives, for random IPv4 and IPv6
// tuples over TCP and UDP and three keys; the queue is the table entry of
// that hash, as RSS.Queue and the engine say.
func TestRSSTableLookupsEqualCoresToeplitz(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for name, key := range testKeys() {
		for _, queues := range []int{2, 3, 4} {
			table := make([]int, 64)
			for i := range table {
				table[i] = r.IntN(queues)
			}
			rss, err := NewRSS(key, table, queues)
			if err != nil {
				t.Fatal(err)
			}
			v := rss.mapValue()
			for i := 0; i < 500; i++ {
				v6 := i%2 == 1
				proto := byte(6)
				if i%4 >= 2 {
					proto = 17
				}
				src, dst := randomTuple(r, v6)
				want := coresHash(t, key, src, dst)
				h, set, q, ok := simulate(v, len(table), queues, rssFrame(src, dst, proto))
				if !ok || h != want {
					t.Fatalf("%s key, %v -> %v proto %d: program hash %#x ok=%v, cores.RSS %#x", name, src, dst, proto, h, ok, want)
				}
				if wq := table[want&63]; q != wq || rss.Queue(src, dst) != wq || txQueue(set, queues) != wq {
					t.Fatalf("%s key, %v -> %v: queue %d (RSS.Queue %d), want table[%d] = %d", name, src, dst, q, rss.Queue(src, dst), want&63, wq)
				}
			}
		}
	}
}

// Anchors independent of cores: the verification values of Microsoft's RSS
// specification, through the program's tables.
func TestRSSTableMicrosoftVerificationValues(t *testing.T) {
	rss, err := NewRSS(cores.MicrosoftRSSKey[:], []int{0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	v := rss.mapValue()
	for _, tc := range []struct {
		src, dst string
		want     uint32
	}{
		{"66.9.149.187:2794", "161.142.100.80:1766", 0x51ccc178},
		{"199.92.111.2:14230", "65.69.140.83:4739", 0xc626b0ea},
		{"[3ffe:2501:200:1fff::7]:2794", "[3ffe:2501:200:3::1]:1766", 0x40207d3d},
		{"[3ffe:501:8::260:97ff:fe40:efab]:14230", "[ff02::1]:4739", 0xdde51bbf},
	} {
		h, _, _, ok := simulate(v, 1, 1, rssFrame(netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst), 6))
		if !ok || h != tc.want {
			t.Errorf("%s -> %s: %#x (ok=%v), want %#x", tc.src, tc.dst, h, ok, tc.want)
		}
	}
}

// The hash the program sets makes the kernel's pick (skb_tx_hash,
// reciprocal scaling) choose the table's queue, and a pick by remainder
// too, for every queue count a bed can have.
func TestRSSPickHash(t *testing.T) {
	for n := 1; n <= 64; n++ {
		for q := 0; q < n; q++ {
			h := pickHash(q, n)
			if h == 0 || txQueue(h, n) != q || int(h%uint32(n)) != q {
				t.Fatalf("pickHash(%d, %d) = %#x: picks %d, remainder %d", q, n, h, txQueue(h, n), h%uint32(n))
			}
		}
	}
}

// Frames without a TCP or UDP 4-tuple to hash are left alone.
func TestRSSLeavesOtherFramesAlone(t *testing.T) {
	rss, err := NewRSS(cores.SymmetricRSSKey[:], []int{0, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	v := rss.mapValue()
	src4, dst4 := netip.MustParseAddrPort("198.18.0.2:1000"), netip.MustParseAddrPort("198.18.0.1:80")
	src6, dst6 := netip.MustParseAddrPort("[2001:2::2]:1000"), netip.MustParseAddrPort("[2001:2::1]:80")
	if _, _, _, ok := simulate(v, 2, 2, rssFrame(src4, dst4, 6)); !ok {
		t.Fatal("a TCP frame was left alone")
	}
	icmp := rssFrame(src4, dst4, 1)
	arp := rssFrame(src4, dst4, 6)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	frag := rssFrame(src4, dst4, 17)
	frag[20] = 0x20 // more fragments
	later := rssFrame(src4, dst4, 6)
	later[21] = 1 // offset 8
	opts := rssFrame(src4, dst4, 6)
	opts[14] = 0x44                // a header length below 5 words
	ext := rssFrame(src6, dst6, 0) // hop-by-hop options first
	short := rssFrame(src6, dst6, 6)[:56]
	for name, f := range map[string][]byte{"ICMP": icmp, "ARP": arp, "first fragment": frag, "later fragment": later,
		"bad header length": opts, "IPv6 extension header": ext, "truncated": short} {
		if _, _, _, ok := simulate(v, 2, 2, f); ok {
			t.Errorf("%s: hashed", name)
		}
	}
}

func TestNewRSSValidates(t *testing.T) {
	key := cores.SymmetricRSSKey[:]
	for _, tc := range []struct {
		key    []byte
		table  []int
		queues int
		ok     bool
	}{
		{key, []int{0, 1}, 2, true},
		{key, make([]int, MaxRSSTable), 1, true},
		{key[:39], []int{0, 1}, 2, false},
		{key, []int{0, 1, 0}, 2, false},
		{key, nil, 2, false},
		{key, make([]int, 2*MaxRSSTable), 1, false},
		{key, []int{0, 2}, 2, false},
		{key, []int{0, -1}, 2, false},
		{key, []int{0}, 0, false},
		{key, []int{0}, 65, false},
	} {
		if _, err := NewRSS(tc.key, tc.table, tc.queues); (err == nil) != tc.ok {
			t.Errorf("NewRSS(%d-byte key, %d entries, %d queues) = %v, want ok=%v", len(tc.key), len(tc.table), tc.queues, err, tc.ok)
		}
	}
	rss, _ := NewRSS(key, []int{0, 1, 0, 1}, 2)
	if q := rss.Queue(netip.MustParseAddrPort("198.18.0.2:1"), netip.MustParseAddrPort("[2001:2::1]:80")); q != -1 {
		t.Errorf("Queue of a mixed-family tuple = %d, want -1", q)
	}
	if s := rss.String(); s != "Toeplitz RSS of TCP and UDP 4-tuples, key cores.SymmetricRSSKey, 4-entry table (entry i -> queue i mod 2), 2 queues" {
		t.Errorf("String() = %q", s)
	}
}
