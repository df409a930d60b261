package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// v2 builds a v2 header from its parts.
func v2(verCmd, fam byte, body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	h := append([]byte(v2Sig), verCmd, fam, byte(len(b)>>8), byte(len(b)))
	return append(h, b...)
}

func hexb(s string) []byte {
	var b []byte
	for i := 0; i+1 < len(s); i += 2 {
		b = append(b, byte(hexVal(s[i])<<4|hexVal(s[i+1])))
	}
	return b
}

type parseCase struct {
	name string
	in   string
	err  error  // the error, or nil
	len  int    // header length when done; 0 = need more
	src  string // "" = no address
	dst  string
	cmd  Command
	ver  uint8
}

var parseCases = []parseCase{
	// v1, from the specification's examples and limits.
	{name: "v1 spec example", in: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n", len: 47, src: "192.168.0.1:56324", dst: "192.168.0.11:443", cmd: Proxy, ver: 1},
	{name: "v1 longest TCP4", in: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", len: 56, src: "255.255.255.255:65535", dst: "255.255.255.255:65535", cmd: Proxy, ver: 1},
	{name: "v1 zeros", in: "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", len: 32, src: "0.0.0.0:0", dst: "0.0.0.0:0", cmd: Proxy, ver: 1},
	{name: "v1 longest TCP6", in: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n", len: 104, src: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", dst: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", cmd: Proxy, ver: 1},
	{name: "v1 TCP6 short forms", in: "PROXY TCP6 2001:db8::1 ::ffff:198.18.0.1 1 2\r\n", len: 46, src: "[2001:db8::1]:1", dst: "[::ffff:198.18.0.1]:2", cmd: Proxy, ver: 1},
	{name: "v1 TCP6 ::", in: "PROXY TCP6 :: ::1 1 2\r\n", len: 23, src: "[::]:1", dst: "[::1]:2", cmd: Proxy, ver: 1},
	{name: "v1 UNKNOWN short", in: "PROXY UNKNOWN\r\n", len: 15, cmd: Proxy, ver: 1},
	{name: "v1 UNKNOWN worst case", in: "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", len: 107, cmd: Proxy, ver: 1},
	{name: "v1 UNKNOWN junk ignored", in: "PROXY UNKNOWN what ever\r\n", len: 25, cmd: Proxy, ver: 1},
	{name: "v1 partial", in: "PROXY TCP4 192.168.0.1 192.168", cmd: Proxy},
	{name: "v1 partial CR", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"},
	{name: "v1 partial prefix", in: "PROX"},

	{name: "v1 too long", in: "PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n", err: ErrV1Long},
	{name: "v1 no CRLF in 107", in: "PROXY UNKNOWN " + strings.Repeat("x", 100), err: ErrV1Long},
	{name: "v1 bare LF", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", err: ErrV1Syntax},
	{name: "v1 CR without LF", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", err: ErrV1Syntax},
	{name: "v1 two spaces", in: "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 trailing space", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", err: ErrV1Syntax},
	{name: "v1 tab", in: "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 leading zero port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", err: ErrV1Syntax},
	{name: "v1 port too big", in: "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", err: ErrV1Syntax},
	{name: "v1 signed port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", err: ErrV1Syntax},
	{name: "v1 leading zero octet", in: "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 octet too big", in: "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 three octets", in: "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 TCP4 with IPv6", in: "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 TCP6 with IPv4", in: "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 TCP6 zone", in: "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 TCP6 two gaps", in: "PROXY TCP6 1::2::3 ::1 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 TCP6 five digits", in: "PROXY TCP6 00001:: ::1 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 missing port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", err: ErrV1Syntax},
	{name: "v1 TCP5", in: "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", err: ErrV1Syntax},
	{name: "v1 UNKNOWNX", in: "PROXY UNKNOWNX\r\n", err: ErrV1Syntax},
	{name: "v1 lower case", in: "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", err: ErrNotProxy},
	{name: "v1 no space", in: "PROXYTCP4", err: ErrNotProxy},
	{name: "v1 empty", in: "PROXY \r\n", err: ErrV1Syntax},
	{name: "not proxy", in: "GET / HTTP/1.1\r\n", err: ErrNotProxy},
	{name: "not proxy CR", in: "\r\n\r\n", len: 0},
	{name: "not proxy CR junk", in: "\r\n\r\nX", err: ErrNotProxy},

	// v2.
	{name: "v2 TCP4", in: string(v2(0x21, 0x11, hexb("c0a80001c0a8000bdc0401bb"))) + "payload", len: 28, src: "192.168.0.1:56324", dst: "192.168.0.11:443", cmd: Proxy, ver: 2},
	{name: "v2 TCP6", in: string(v2(0x21, 0x21, hexb("20010db8000000000000000000000001"), hexb("20010db8000000000000000000000002"), hexb("00500051"))), len: 52, src: "[2001:db8::1]:80", dst: "[2001:db8::2]:81", cmd: Proxy, ver: 2},
	{name: "v2 LOCAL", in: string(v2(0x20, 0x00)), len: 16, cmd: Local, ver: 2},
	{name: "v2 LOCAL with address ignored", in: string(v2(0x20, 0x11, hexb("c0a80001c0a8000bdc0401bb"))), len: 28, cmd: Local, ver: 2},
	{name: "v2 LOCAL unknown family", in: string(v2(0x20, 0x77, []byte("xyz"))), len: 19, cmd: Local, ver: 2},
	{name: "v2 PROXY UNSPEC", in: string(v2(0x21, 0x00)), len: 16, cmd: Proxy, ver: 2},
	{name: "v2 UDP4 no address", in: string(v2(0x21, 0x12, hexb("c0a80001c0a8000bdc0401bb"))), len: 28, cmd: Proxy, ver: 2},
	{name: "v2 UNIX no address", in: string(v2(0x21, 0x31, make([]byte, 216))), len: 232, cmd: Proxy, ver: 2},
	{name: "v2 TLVs", in: string(v2(0x21, 0x11, hexb("c0a80001c0a8000bdc0401bb"), AppendTLV(nil, TypeAuthority, []byte("example.com")), AppendTLV(nil, TypeNoop, nil))), len: 28 + 14 + 3, src: "192.168.0.1:56324", dst: "192.168.0.11:443", cmd: Proxy, ver: 2},
	{name: "v2 partial signature", in: v2Sig[:7]},
	{name: "v2 partial fixed", in: v2Sig + "\x21\x11\x00"},
	{name: "v2 partial body", in: string(v2(0x21, 0x11, hexb("c0a80001c0a8000bdc0401bb"))[:20])},

	{name: "v2 bad signature", in: "\r\n\r\n\x00\r\nQUIT\r", err: ErrNotProxy},
	{name: "v2 version 1", in: v2Sig + "\x11", err: ErrVersion},
	{name: "v2 version 3", in: v2Sig + "\x31", err: ErrVersion},
	{name: "v2 command 2", in: v2Sig + "\x22", err: ErrCommand},
	{name: "v2 family 4", in: string(v2(0x21, 0x41, make([]byte, 12))), err: ErrFamily},
	{name: "v2 transport 3", in: string(v2(0x21, 0x13, make([]byte, 12))), err: ErrFamily},
	{name: "v2 short IPv4 block", in: string(v2(0x21, 0x11, make([]byte, 11))), err: ErrAddrLen},
	{name: "v2 short IPv6 block", in: string(v2(0x21, 0x21, make([]byte, 12))), err: ErrAddrLen},
	{name: "v2 short block, partial", in: string(v2(0x21, 0x21, make([]byte, 12))[:16]), err: ErrAddrLen},
	{name: "v2 too large", in: v2Sig + "\x21\x11\xff\xff", err: ErrTooLarge},
	{name: "v2 TLV truncated header", in: string(v2(0x21, 0x11, make([]byte, 12), []byte{1, 0})), err: ErrTLV},
	{name: "v2 TLV overruns", in: string(v2(0x21, 0x11, make([]byte, 12), []byte{2, 0, 5, 'a'})), err: ErrTLV},
	{name: "v2 CRC32C wrong", in: string(v2(0x21, 0x11, make([]byte, 12), []byte{TypeCRC32C, 0, 4, 1, 2, 3, 4})), err: ErrChecksum},
	{name: "v2 CRC32C short", in: string(v2(0x21, 0x11, make([]byte, 12), []byte{TypeCRC32C, 0, 2, 1, 2})), err: ErrChecksum},
}

// feedAll feeds in to a fresh parser in pieces of the given sizes (the last
// repeated) and returns what the parser ended with: consumed header bytes,
// done, error.
func feedAll(p *Parser, in []byte, size int) (int, bool, error) {
	p.Reset()
	total := 0
	for off := 0; ; {
		k := min(size, len(in)-off)
		n, done, err := p.Feed(in[off : off+k])
		total += n
		if err != nil || done {
			return total, done, err
		}
		if n != k {
			panic("need-more without consuming everything")
		}
		off += k
		if off == len(in) {
			return total, false, nil
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= len(tc.in)+1; size++ {
				var p Parser
				n, done, err := feedAll(&p, []byte(tc.in), size)
				if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
					t.Fatalf("pieces of %d: err %v, want %v", size, err, tc.err)
				}
				if err != nil {
					continue
				}
				if done != (tc.len > 0) || done && n != tc.len {
					t.Fatalf("pieces of %d: n %d done %v, want length %d", size, n, done, tc.len)
				}
				if !done {
					continue
				}
				h := p.Header()
				if h.Len != tc.len || h.Command != tc.cmd || h.Version != tc.ver {
					t.Fatalf("header %+v", h)
				}
				if tc.src == "" {
					if h.HasAddr() || h.Src.IsValid() || h.Dst.IsValid() {
						t.Fatalf("addresses %v %v, want none", h.Src, h.Dst)
					}
					continue
				}
				if h.Src != ap(tc.src) || h.Dst != ap(tc.dst) {
					t.Fatalf("src %v dst %v, want %v %v", h.Src, h.Dst, tc.src, tc.dst)
				}
			}
		})
	}
}

func TestAfterDoneAndError(t *testing.T) {
	var p Parser
	n, done, err := p.Feed([]byte("PROXY UNKNOWN\r\nabc"))
	if n != 15 || !done || err != nil {
		t.Fatalf("%d %v %v", n, done, err)
	}
	if n, done, err = p.Feed([]byte("more")); n != 0 || !done || err != nil {
		t.Fatalf("after done: %d %v %v", n, done, err)
	}
	p.Reset()
	if _, _, err = p.Feed([]byte("X")); err != ErrNotProxy {
		t.Fatal(err)
	}
	if n, done, err = p.Feed([]byte("PROXY UNKNOWN\r\n")); n != 0 || done || err != ErrNotProxy {
		t.Fatalf("after error: %d %v %v", n, done, err)
	}
}

func TestLimit(t *testing.T) {
	tlv := AppendTLV(nil, TypeNoop, make([]byte, 5000))
	h := Header{Command: Proxy, Src: ap("1.2.3.4:1"), Dst: ap("5.6.7.8:2"), TLVs: tlv}
	b, err := AppendV2(nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	var p Parser
	if _, _, err := p.Feed(b[:16]); err != ErrTooLarge {
		t.Fatalf("default limit: %v", err)
	}
	p = Parser{MaxHeader: 8192}
	if n, done, err := p.Feed(b); n != len(b) || !done || err != nil {
		t.Fatalf("limit 8192: %d %v %v", n, done, err)
	}
	for _, c := range []struct{ set, want int }{{0, DefaultMaxHeader}, {1, MinHeaderLimit}, {1 << 20, MaxHeaderLimit}, {1000, 1000}} {
		if got := (&Parser{MaxHeader: c.set}).limit(); got != c.want {
			t.Errorf("MaxHeader %d: limit %d, want %d", c.set, got, c.want)
		}
	}
	big := Header{Command: Proxy, TLVs: AppendTLV(nil, TypeNoop, make([]byte, MaxHeaderLimit))}
	if _, err := AppendV2(nil, &big); err != ErrTooLarge {
		t.Fatalf("AppendV2 of a huge header: %v", err)
	}
	if _, err := AppendV2(nil, &Header{TLVs: []byte{1, 0}}); err != ErrTLV {
		t.Fatalf("AppendV2 of bad TLVs: %v", err)
	}
}

func TestCRC32C(t *testing.T) {
	h := Header{Command: Proxy, Src: ap("[2001:db8::1]:1000"), Dst: ap("[2001:db8::2]:443"),
		TLVs: AppendTLV(AppendTLV(nil, TypeAuthority, []byte("a.example")), TypeCRC32C, make([]byte, 4))}
	b, err := AppendV2(nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	var p Parser
	if _, done, err := p.Feed(b); !done || err != nil {
		t.Fatalf("good checksum: %v %v", done, err)
	}
	if got := p.Header(); string(got.Authority()) != "a.example" {
		t.Fatalf("authority %q", got.Authority())
	}
	b[20] ^= 1
	p.Reset()
	if _, _, err := p.Feed(b); err != ErrChecksum {
		t.Fatalf("bad checksum: %v", err)
	}
}

func TestEncode(t *testing.T) {
	cases := []struct {
		name   string
		h      Header
		v1, v2 string
	}{
		{"spec example", Header{Command: Proxy, Src: ap("192.168.0.1:56324"), Dst: ap("192.168.0.11:443")},
			"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
			v2Sig + "\x21\x11\x00\x0c\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"},
		{"IPv6", Header{Command: Proxy, Src: ap("[2001:db8::1]:80"), Dst: ap("[::ffff:1.2.3.4]:81")},
			"PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 80 81\r\n",
			v2Sig + "\x21\x21\x00\x24" + string(hexb("20010db8000000000000000000000001")) + string(hexb("00000000000000000000ffff01020304")) + "\x00\x50\x00\x51"},
		{"mixed, mapped", Header{Command: Proxy, Src: ap("1.2.3.4:1"), Dst: ap("[::ffff:5.6.7.8]:2")},
			"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
			v2Sig + "\x21\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"},
		{"mixed", Header{Command: Proxy, Src: ap("1.2.3.4:1"), Dst: ap("[::1]:2")},
			"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
			v2Sig + "\x21\x21\x00\x24" + string(hexb("00000000000000000000ffff01020304")) + string(hexb("00000000000000000000000000000001")) + "\x00\x01\x00\x02"},
		{"zone dropped", Header{Command: Proxy, Src: ap("[fe80::1%eth0]:1"), Dst: ap("[fe80::2]:2")},
			"PROXY TCP6 fe80::1 fe80::2 1 2\r\n",
			v2Sig + "\x21\x21\x00\x24" + string(hexb("fe800000000000000000000000000001")) + string(hexb("fe800000000000000000000000000002")) + "\x00\x01\x00\x02"},
		{"LOCAL", Header{Command: Local, Src: ap("1.2.3.4:1"), Dst: ap("5.6.7.8:2")},
			"PROXY UNKNOWN\r\n", v2Sig + "\x20\x00\x00\x00"},
		{"no address", Header{Command: Proxy},
			"PROXY UNKNOWN\r\n", v2Sig + "\x21\x00\x00\x00"},
		{"TLV", Header{Command: Proxy, Src: ap("1.2.3.4:1"), Dst: ap("5.6.7.8:2"), TLVs: AppendTLV(nil, TypeAuthority, []byte("h"))},
			"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
			v2Sig + "\x21\x11\x00\x10\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02\x02\x00\x01h"},
	}
	for _, c := range cases {
		if got := string(AppendV1([]byte("x"), &c.h)); got != "x"+c.v1 {
			t.Errorf("%s: v1 %q, want %q", c.name, got, c.v1)
		}
		got, err := AppendV2([]byte("x"), &c.h)
		if err != nil || string(got) != "x"+c.v2 {
			t.Errorf("%s: v2 %q %v, want %q", c.name, got, err, c.v2)
		}
	}
}

func TestFromTuple(t *testing.T) {
	var tu flow.Tuple
	tu.LocalAddr = netip.MustParseAddr("::ffff:198.18.0.1").As16()
	tu.RemoteAddr = netip.MustParseAddr("::ffff:198.18.0.2").As16()
	tu.LocalPort, tu.RemotePort = 80, 40000
	src, dst := FromTuple(&tu)
	if src != ap("198.18.0.2:40000") || dst != ap("198.18.0.1:80") {
		t.Fatalf("%v %v", src, dst)
	}
	h := Header{Command: Proxy, Src: src, Dst: dst}
	if got := string(AppendV1(nil, &h)); got != "PROXY TCP4 198.18.0.2 198.18.0.1 40000 80\r\n" {
		t.Fatal(got)
	}
	tu.LocalAddr = netip.MustParseAddr("2001:2::1").As16()
	tu.RemoteAddr = netip.MustParseAddr("2001:2::2").As16()
	if src, dst = FromTuple(&tu); src != ap("[2001:2::2]:40000") || dst != ap("[2001:2::1]:80") {
		t.Fatalf("%v %v", src, dst)
	}
}

// TestParseIPv6 checks the v1 IPv6 parser against netip.ParseAddr.
func TestParseIPv6(t *testing.T) {
	for _, s := range []string{
		"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6::7:8", "1:2:3:4:5:6:7::8", ":1::", "1::2:",
		"::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4", "::1.2.3", "::1.2.3.04",
		"1.2.3.4", "abcd::EF01", "0000:0000::0", "00000::", ":::", "1:::2", "fe80::1%eth0", "", ":", "g::",
		"1::2::3", "::ffff:1.2.3.4:5", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "12345::", "::1.2.3.4.5",
	} {
		got, ok := parseIPv6([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is6() && want.Zone() == ""
		if ok != wantOK || ok && got != want {
			t.Errorf("%q: got %v %v, netip %v %v", s, got, ok, want, err)
		}
	}
}

func TestAllocs(t *testing.T) {
	h4 := Header{Command: Proxy, Src: ap("192.168.0.1:56324"), Dst: ap("192.168.0.11:443")}
	h6 := Header{Command: Proxy, Src: ap("[2001:db8::1]:80"), Dst: ap("[2001:db8::2]:81"), TLVs: AppendTLV(nil, TypeAuthority, []byte("example.com"))}
	buf := make([]byte, 0, 256)
	if a := testing.AllocsPerRun(1000, func() {
		b := AppendV1(buf[:0], &h4)
		b = AppendV1(b, &h6)
		b, _ = AppendV2(b, &h4)
		_, _ = AppendV2(b, &h6)
	}); a != 0 {
		t.Errorf("encode: %v allocations", a)
	}
	v1 := AppendV1(nil, &h6)
	v2b, _ := AppendV2(nil, &h6)
	var p Parser
	feedAll(&p, v2b, 1) // the parser's buffer grows once
	for _, in := range [][]byte{v1, v2b} {
		for _, size := range []int{len(in), 7, 1} {
			if a := testing.AllocsPerRun(1000, func() {
				n, done, err := feedAll(&p, in, size)
				if n != len(in) || !done || err != nil {
					panic("parse failed")
				}
				h := p.Header()
				_ = h.Authority()
			}); a != 0 {
				t.Errorf("parse %q in pieces of %d: %v allocations", in[:6], size, a)
			}
		}
	}
	bad := []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n")
	if a := testing.AllocsPerRun(1000, func() { feedAll(&p, bad, 3) }); a != 0 {
		t.Errorf("refuse: %v allocations", a)
	}
}

func BenchmarkParseV2(b *testing.B) {
	h := Header{Command: Proxy, Src: ap("[2001:db8::1]:80"), Dst: ap("[2001:db8::2]:81")}
	in, _ := AppendV2(nil, &h)
	in = append(in, "GET / HTTP/1.1\r\n"...)
	var p Parser
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, _ := p.Feed(in); !done {
			b.Fatal("not done")
		}
	}
}

func BenchmarkParseV1(b *testing.B) {
	in := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\nGET / HTTP/1.1\r\n")
	var p Parser
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, _ := p.Feed(in); !done {
			b.Fatal("not done")
		}
	}
}

// equalHeader compares the fields a round trip keeps.
func equalHeader(a, b *Header) bool {
	return a.Command == b.Command && a.Src == b.Src && a.Dst == b.Dst && bytes.Equal(a.TLVs, b.TLVs)
}
