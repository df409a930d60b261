package cores

import (
	"net/netip"
	"testing"
)

// The verification values of Microsoft's RSS specification ("Verifying the
// RSS Hash Calculation"), with its key.
func TestRSSMatchesMicrosoftVerificationValues(t *testing.T) {
	r, err := NewRSS(MicrosoftRSSKey[:])
	if err != nil {
		t.Fatal(err)
	}
	v4 := []struct {
		dst, src     string
		dport, sport uint16
		ip, tcp      uint32
	}{
		{"161.142.100.80", "66.9.149.187", 1766, 2794, 0x323e8fc2, 0x51ccc178},
		{"65.69.140.83", "199.92.111.2", 4739, 14230, 0xd718262a, 0xc626b0ea},
		{"12.22.207.184", "24.19.198.95", 38024, 12898, 0xd2d0a5de, 0x5c2b394a},
		{"209.142.163.6", "38.27.205.30", 2217, 48228, 0x82989176, 0xafc7327f},
		{"202.188.127.2", "153.39.163.191", 1303, 44251, 0x5d1809c5, 0x10e828a2},
	}
	for _, tc := range v4 {
		src, dst := netip.MustParseAddr(tc.src).As4(), netip.MustParseAddr(tc.dst).As4()
		if got := r.HashIPv4(src, dst); got != tc.ip {
			t.Errorf("IPv4 %s -> %s: %#08x, want %#08x", tc.src, tc.dst, got, tc.ip)
		}
		if got := r.HashTCP4(src, dst, tc.sport, tc.dport); got != tc.tcp {
			t.Errorf("TCP/IPv4 %s:%d -> %s:%d: %#08x, want %#08x", tc.src, tc.sport, tc.dst, tc.dport, got, tc.tcp)
		}
	}
	v6 := []struct {
		dst, src     string
		dport, sport uint16
		ip, tcp      uint32
	}{
		{"3ffe:2501:200:3::1", "3ffe:2501:200:1fff::7", 1766, 2794, 0x2cc18cd5, 0x40207d3d},
		{"ff02::1", "3ffe:501:8::260:97ff:fe40:efab", 4739, 14230, 0x0f0c461c, 0xdde51bbf},
		{"fe80::200:f8ff:fe21:67cf", "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 38024, 44251, 0x4b61e985, 0x02d1feef},
	}
	for _, tc := range v6 {
		src, dst := netip.MustParseAddr(tc.src).As16(), netip.MustParseAddr(tc.dst).As16()
		if got := r.HashIPv6(src, dst); got != tc.ip {
			t.Errorf("IPv6 %s -> %s: %#08x, want %#08x", tc.src, tc.dst, got, tc.ip)
		}
		if got := r.HashTCP6(src, dst, tc.sport, tc.dport); got != tc.tcp {
			t.Errorf("TCP/IPv6 %s.%d -> %s.%d: %#08x, want %#08x", tc.src, tc.sport, tc.dst, tc.dport, got, tc.tcp)
		}
	}
}

// With the symmetric key a flow and its replies hash alike.
func TestSymmetricRSSKeyHashesBothDirectionsAlike(t *testing.T) {
	r, _ := NewRSS(SymmetricRSSKey[:])
	a, b := netip.MustParseAddr("198.18.0.1").As4(), netip.MustParseAddr("198.18.0.2").As4()
	a6, b6 := netip.MustParseAddr("2001:2::1").As16(), netip.MustParseAddr("2001:2::2").As16()
	for p := 0; p < 65536; p += 97 {
		sp, dp := uint16(p), uint16(65535-p)
		if r.HashTCP4(a, b, sp, dp) != r.HashTCP4(b, a, dp, sp) || r.HashTCP6(a6, b6, sp, dp) != r.HashTCP6(b6, a6, dp, sp) {
			t.Fatalf("ports %d/%d: the two directions hash differently", sp, dp)
		}
	}
	if r.HashTCP4(a, b, 1000, 80) == r.HashTCP4(a, b, 1001, 80) && r.HashTCP4(a, b, 1000, 80) == r.HashTCP4(a, b, 1002, 80) {
		t.Fatal("ports do not change the hash")
	}
	if _, err := NewRSS(make([]byte, 10)); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestRSSHashAllocatesNothing(t *testing.T) {
	r, _ := NewRSS(SymmetricRSSKey[:])
	var a, b [16]byte
	if n := testing.AllocsPerRun(100, func() { r.HashTCP6(a, b, 1, 2) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkRSSHashTCP4(b *testing.B) {
	r, _ := NewRSS(SymmetricRSSKey[:])
	src, dst := [4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}
	var h uint32
	for i := 0; i < b.N; i++ {
		h ^= r.HashTCP4(src, dst, uint16(i), 80)
	}
	_ = h
}
