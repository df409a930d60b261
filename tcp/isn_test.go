package tcp

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// The 64 SipHash-2-4 vectors of the reference implementation (the paper's
// Appendix A example is entry 15): key 00 01 .. 0f, message 00 01 .. i-1.
var sipHashVectors = [64]uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
}

func TestSipHash24Vectors(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	var msg [64]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	for i, want := range sipHashVectors {
		if got := SipHash24(key, msg[:i]); got != want {
			t.Errorf("SipHash24(00..%02x) = %#016x, want %#016x", i-1, got, want)
		}
	}
}

func testKey(b byte) [16]byte {
	var k [16]byte
	for i := range k {
		k[i] = b ^ byte(i*37)
	}
	return k
}

var (
	testLocal  = netip.MustParseAddr("198.18.0.1").As16()
	testRemote = netip.MustParseAddr("198.18.0.2").As16()
)

// RFC 6528 3: M is a timer that ticks every 4 microseconds.
func TestISNAdvancesWithTime(t *testing.T) {
	g := NewISNGenerator(testKey(1))
	const t0 = mono.Time(1_700_000_000_123_456_789)
	base := g.ISN(testLocal, testRemote, 80, 41668, t0)
	for _, tc := range []struct {
		dt   mono.Time // ns
		want uint32
	}{
		{0, 0},
		{4000, 1},
		{40_000, 10},
		{1e6, 250},
		{1e9, 250_000},
		{60e9, 15_000_000},
		{4000 * (1 << 32), 0}, // M wraps after 2^32 ticks (4.77 hours)
	} {
		if got := g.ISN(testLocal, testRemote, 80, 41668, t0+tc.dt).Sub(base); got != tc.want {
			t.Errorf("after %d ns: ISN advanced %d, want %d", tc.dt, got, tc.want)
		}
	}
	// Within one tick the ISN stays; it never steps back as time goes on.
	prev := g.ISN(testLocal, testRemote, 80, 41668, -20_000)
	for now := mono.Time(-20_000); now <= 20_000; now += 250 {
		isn := g.ISN(testLocal, testRemote, 80, 41668, now)
		if d := isn.Sub(prev); d > 1 {
			t.Fatalf("at %d ns the ISN moved by %d", now, int32(d))
		}
		prev = isn
	}
	// Exactly one tick per 4 µs across now = 0 (the timer is a floor).
	if d := g.ISN(testLocal, testRemote, 80, 41668, 0).Sub(g.ISN(testLocal, testRemote, 80, 41668, -1)); d != 1 {
		t.Errorf("from -1 ns to 0: advanced %d", d)
	}
	if d := g.ISN(testLocal, testRemote, 80, 41668, -1).Sub(g.ISN(testLocal, testRemote, 80, 41668, -4000)); d != 0 {
		t.Errorf("from -4000 ns to -1: advanced %d", d)
	}
}

// F depends on every part of the four-tuple and on the key.
func TestISNDependsOnTupleAndKey(t *testing.T) {
	g := NewISNGenerator(testKey(1))
	const now = mono.Time(123_456_789_000)
	l6 := netip.MustParseAddr("2001:2::1").As16()
	r6 := netip.MustParseAddr("2001:2::2").As16()
	other := netip.MustParseAddr("198.18.0.3").As16()
	isns := map[flow.Seq]string{}
	add := func(name string, isn flow.Seq) {
		t.Helper()
		if prev, ok := isns[isn]; ok {
			t.Errorf("%s and %s give the same ISN %#x", name, prev, uint32(isn))
		}
		isns[isn] = name
	}
	add("base", g.ISN(testLocal, testRemote, 80, 41668, now))
	add("remote port+1", g.ISN(testLocal, testRemote, 80, 41669, now))
	add("local port", g.ISN(testLocal, testRemote, 81, 41668, now))
	add("ports swapped", g.ISN(testLocal, testRemote, 41668, 80, now))
	add("addresses swapped", g.ISN(testRemote, testLocal, 80, 41668, now))
	add("reverse direction", g.ISN(testRemote, testLocal, 41668, 80, now))
	add("remote address", g.ISN(testLocal, other, 80, 41668, now))
	add("local address", g.ISN(other, testRemote, 80, 41668, now))
	add("IPv6", g.ISN(l6, r6, 80, 41668, now))
	// Consecutive client ports, as an ephemeral port allocator hands them
	// out, land far apart.
	for p := uint16(50000); p < 50100; p++ {
		add("port sweep", g.ISN(testLocal, testRemote, 80, p, now))
	}
	// Another key gives other ISNs; rekeying back gives the first again.
	base := g.ISN(testLocal, testRemote, 80, 41668, now)
	h := NewISNGenerator(testKey(2))
	if h.ISN(testLocal, testRemote, 80, 41668, now) == base {
		t.Error("two keys give the same ISN")
	}
	g.Rekey(testKey(2))
	if g.ISN(testLocal, testRemote, 80, 41668, now) != h.ISN(testLocal, testRemote, 80, 41668, now) {
		t.Error("Rekey(k) differs from NewISNGenerator(k)")
	}
	g.Rekey(testKey(1))
	if g.ISN(testLocal, testRemote, 80, 41668, now) != base {
		t.Error("Rekey back does not restore the ISNs")
	}
}

// The ISN is M plus the low 32 bits of SipHash-2-4 over
// laddr, lport, raddr, rport (ports big-endian), keyed with the secret.
func TestISNDefinition(t *testing.T) {
	key := testKey(7)
	g := NewISNGenerator(key)
	var in []byte
	in = append(in, testLocal[:]...)
	in = append(in, 0x00, 0x50)
	in = append(in, testRemote[:]...)
	in = append(in, 0xa2, 0xc4)
	const now = mono.Time(4000*1000 + 3999)
	want := flow.Seq(uint32(SipHash24(key, in)) + 1000)
	if got := g.ISN(testLocal, testRemote, 80, 0xa2c4, now); got != want {
		t.Errorf("ISN = %#x, want %#x", uint32(got), uint32(want))
	}
}

func TestISNAllocs(t *testing.T) {
	g := NewISNGenerator(testKey(1))
	data := make([]byte, 36)
	key := testKey(3)
	var sink uint64
	if a := testing.AllocsPerRun(1000, func() {
		sink += uint64(g.ISN(testLocal, testRemote, 80, 41668, 1e9))
		sink += SipHash24(key, data)
	}); a != 0 {
		t.Errorf("%v allocs", a)
	}
	_ = sink
}

func BenchmarkISN(b *testing.B) {
	g := NewISNGenerator(testKey(1))
	var sink flow.Seq
	now := mono.Time(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 1000
		sink += g.ISN(testLocal, testRemote, 80, 41668, now)
	}
	_ = sink
}

func BenchmarkSipHash24(b *testing.B) {
	key := testKey(1)
	for _, n := range []int{8, 36, 64} {
		data := make([]byte, n)
		b.Run(strconv.Itoa(n)+"B", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var sink uint64
			for b.Loop() {
				sink += SipHash24(key, data)
			}
			_ = sink
		})
	}
}
