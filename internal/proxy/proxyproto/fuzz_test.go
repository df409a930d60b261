package proxyproto

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// result is what a parser ends with after a feed.
type result struct {
	n    int
	done bool
	err  error
	h    Header
}

func (r result) String() string {
	return fmt.Sprintf("n %d done %v err %v header %+v", r.n, r.done, r.err, r.h)
}

func (r *result) equal(o *result) bool {
	return r.n == o.n && r.done == o.done && r.err == o.err &&
		r.h.Version == o.h.Version && r.h.Len == o.h.Len && equalHeader(&r.h, &o.h)
}

// parseSplit feeds data to p in two pieces, split at i.
func parseSplit(p *Parser, data []byte, i int) result {
	p.Reset()
	n, done, err := p.Feed(data[:i])
	if err != nil || done {
		return result{n, done, err, p.Header()}
	}
	m, done, err := p.Feed(data[i:])
	if err != nil {
		return result{0, false, err, Header{}}
	}
	return result{n + m, done, err, p.Header()}
}

// FuzzParse parses arbitrary bytes whole, split at every position and a
// byte at a time, and checks the results agree, that a done header is
// consistent (its length, addresses, TLVs), that a v1 line's addresses are
// what netip reads, and that re-encoding it parses back to the same header.
// It also builds a header from the bytes and checks parse(encode(h)) == h
// for both versions.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		whole := parseSplit(&p, data, len(data))
		check(t, data, &whole)
		step := 1
		if len(data) > 1024 {
			step = len(data)/512 + 1
		}
		for i := 0; i < len(data); i += step {
			if r := parseSplit(&p, data, i); !r.equal(&whole) {
				t.Fatalf("split at %d: %v\nwhole: %v", i, r, whole)
			}
		}
		n, done, err := feedAll(&p, data, 1)
		r := result{n, done, err, p.Header()}
		if err != nil {
			r = result{err: err} // what Feed returned last
		}
		if !r.equal(&whole) {
			t.Fatalf("byte at a time: %v\nwhole: %v", r, whole)
		}

		if whole.done {
			roundTrip(t, &whole.h, data[:whole.n])
		}
		if h, ok := headerFrom(data); ok {
			roundTrip(t, &h, nil)
		}
	})
}

// check checks a whole parse's result for consistency.
func check(t *testing.T, data []byte, r *result) {
	t.Helper()
	switch {
	case r.err != nil:
		if r.done || r.n != 0 {
			t.Fatalf("error with %v", r)
		}
		return
	case !r.done:
		if r.n != len(data) {
			t.Fatalf("need more after consuming %d of %d", r.n, len(data))
		}
		return
	}
	h := &r.h
	if h.Len != r.n || r.n > len(data) || h.Len < 15 {
		t.Fatalf("length %d, consumed %d of %d", h.Len, r.n, len(data))
	}
	if h.Src.IsValid() != h.Dst.IsValid() || h.HasAddr() && h.Src.Addr().Is4() != h.Dst.Addr().Is4() {
		t.Fatalf("addresses %v %v", h.Src, h.Dst)
	}
	if h.HasAddr() && h.Command != Proxy {
		t.Fatalf("%v with addresses", h.Command)
	}
	switch h.Version {
	case 1:
		line := string(data[:h.Len])
		if !strings.HasSuffix(line, "\r\n") || h.Len > MaxV1Len || len(h.TLVs) != 0 {
			t.Fatalf("v1 %q", line)
		}
		if !h.HasAddr() {
			return
		}
		f := strings.Split(strings.TrimSuffix(line, "\r\n"), " ")
		src, err1 := netip.ParseAddr(f[2])
		dst, err2 := netip.ParseAddr(f[3])
		if err1 != nil || err2 != nil || src != h.Src.Addr() || dst != h.Dst.Addr() || f[4] != fmt.Sprint(h.Src.Port()) || f[5] != fmt.Sprint(h.Dst.Port()) {
			t.Fatalf("v1 %q: %v %v", line, h.Src, h.Dst)
		}
	case 2:
		if !bytes.HasPrefix(data, []byte(v2Sig)) || !validTLVs(h.TLVs) || h.Len > DefaultMaxHeader {
			t.Fatalf("v2 %x: %+v", data[:h.Len], h)
		}
		if len(h.TLVs) > 0 && !bytes.HasSuffix(data[:h.Len], h.TLVs) {
			t.Fatalf("v2 TLVs %x not at the end of %x", h.TLVs, data[:h.Len])
		}
	default:
		t.Fatalf("version %d", h.Version)
	}
}

// roundTrip encodes h in both versions and checks each parses back to h
// (less what the version cannot carry). orig, if not nil, is the header h
// was parsed from: a v2 header with a CRC32C TLV re-encodes with the same
// checksum, valid only if the bytes come out the same.
func roundTrip(t *testing.T, h *Header, orig []byte) {
	t.Helper()
	var p Parser
	b := AppendV1(nil, h)
	want := Header{Command: Proxy}
	if h.Command == Proxy && h.HasAddr() {
		want.Src, want.Dst = h.Src, h.Dst
	}
	if n, done, err := p.Feed(b); n != len(b) || !done || err != nil {
		t.Fatalf("v1 %q of %+v: %d %v %v", b, h, n, done, err)
	}
	if got := p.Header(); !equalHeader(&got, &want) {
		t.Fatalf("v1 %q of %+v: parsed %+v", b, h, got)
	}

	b, err := AppendV2(nil, h)
	if err != nil {
		t.Fatalf("AppendV2 %+v: %v", h, err)
	}
	if _, crc := h.TLV(TypeCRC32C); crc && orig != nil && !bytes.Equal(b, orig) {
		return
	}
	want = Header{Command: h.Command, Src: want.Src, Dst: want.Dst, TLVs: h.TLVs}
	p = Parser{MaxHeader: MaxHeaderLimit}
	if n, done, err := p.Feed(b); n != len(b) || !done || err != nil {
		t.Fatalf("v2 %x of %+v: %d %v %v", b, h, n, done, err)
	}
	if got := p.Header(); !equalHeader(&got, &want) {
		t.Fatalf("v2 %x of %+v: parsed %+v", b, h, got)
	}
}

// headerFrom builds a header from fuzz bytes: a mode byte (bit 0: IPv6,
// bit 1: LOCAL, bit 2: mapped IPv4 in IPv6, bit 3: no address), the
// addresses and ports, and TLVs from the rest if they are well formed.
func headerFrom(data []byte) (Header, bool) {
	if len(data) < 37 {
		return Header{}, false
	}
	mode := data[0]
	var src, dst netip.Addr
	switch {
	case mode&1 != 0:
		src, dst = netip.AddrFrom16([16]byte(data[1:17])), netip.AddrFrom16([16]byte(data[17:33]))
	case mode&4 != 0:
		src = netip.AddrFrom16(netip.AddrFrom4([4]byte(data[1:5])).As16())
		dst = netip.AddrFrom16(netip.AddrFrom4([4]byte(data[17:21])).As16())
	default:
		src, dst = netip.AddrFrom4([4]byte(data[1:5])), netip.AddrFrom4([4]byte(data[17:21]))
	}
	h := Header{Command: Proxy}
	if mode&2 != 0 {
		h.Command = Local
	}
	if mode&8 == 0 {
		h.Src = netip.AddrPortFrom(src, uint16(data[33])<<8|uint16(data[34]))
		h.Dst = netip.AddrPortFrom(dst, uint16(data[35])<<8|uint16(data[36]))
	}
	if t := data[37:]; validTLVs(t) && len(t) < 8000 {
		if _, crc := (&Header{TLVs: t}).TLV(TypeCRC32C); !crc {
			h.TLVs = t
		}
	}
	return h, true
}

var writeSeeds = flag.Bool("seeds", false, "write the parse cases and encoder outputs to testdata/fuzz/FuzzParse")

// TestWriteSeeds writes every TestParse input, and headers made by the
// encoders, to the FuzzParse seed corpus when run with -seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -seeds to write the corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, in []byte) {
		name = strings.Map(func(c rune) rune {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				return c
			}
			return '-'
		}, name)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range parseCases {
		write("case-"+tc.name, []byte(tc.in))
	}
	tlvs := AppendTLV(AppendTLV(nil, TypeAuthority, []byte("www.example.com")), TypeUniqueID, []byte("0123456789"))
	for _, h := range []struct {
		name string
		h    Header
	}{
		{"ipv4", Header{Command: Proxy, Src: ap("198.18.0.2:40000"), Dst: ap("198.18.0.1:443")}},
		{"ipv6", Header{Command: Proxy, Src: ap("[2001:2::2]:40000"), Dst: ap("[2001:2::1]:443")}},
		{"local", Header{Command: Local}},
		{"tlvs", Header{Command: Proxy, Src: ap("198.18.0.2:40000"), Dst: ap("198.18.0.1:443"), TLVs: tlvs}},
	} {
		b := AppendV1(nil, &h.h)
		write("enc-v1-"+h.name, append(b, "GET / HTTP/1.1\r\n"...))
		b, _ = AppendV2(nil, &h.h)
		write("enc-v2-"+h.name, append(b, "GET / HTTP/1.1\r\n"...))
	}
	// Inputs for headerFrom: IPv4, IPv6 with TLVs, LOCAL, mapped.
	addrs := bytes.Repeat([]byte{0x20, 0x01, 0xdb, 0x8f}, 9)
	for _, mode := range []byte{0, 1, 2, 4, 8} {
		write(fmt.Sprintf("build-%d", mode), append(append([]byte{mode}, addrs...), tlvs...))
	}
}
