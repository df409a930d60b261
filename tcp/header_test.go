package tcp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/pollstack/pollstack/flow"
)

func TestFlagsString(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want string
	}{
		{0, "-"},
		{FlagSYN, "S"},
		{FlagSYN | FlagACK, "SA"},
		{FlagFIN | FlagPSH | FlagACK, "FPA"},
		{FlagRST | FlagACK, "RA"},
		{FlagSYN | FlagECE | FlagCWR, "SEC"},
		{FlagURG | FlagACK, "AU"},
		{0xff, "FSRPAUEC"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint8(tc.f), got, tc.want)
		}
	}
	if !(FlagSYN | FlagACK).Has(FlagACK) || FlagSYN.Has(FlagSYN|FlagACK) {
		t.Error("Has")
	}
}

func TestParseErrorString(t *testing.T) {
	seen := map[string]bool{}
	for e := ParseError(0); int(e) < NumParseErrors; e++ {
		s := e.String()
		if s == "" || strings.HasPrefix(s, "unknown") || seen[s] {
			t.Errorf("ParseError(%d).String() = %q: empty, unknown or duplicate", e, s)
		}
		seen[s] = true
	}
	if s := ParseError(NumParseErrors).String(); !strings.HasPrefix(s, "unknown") {
		t.Errorf("out-of-range ParseError names itself %q", s)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeSeg writes s and its payload into a fresh buffer.
func writeSeg(s *Segment) []byte {
	b := make([]byte, HeaderLen+MaxOptionsLen+len(s.Payload))
	n := Write(b, s)
	n += copy(b[n:], s.Payload)
	return b[:n]
}

// normalized is what Parse should return for the bytes Write makes of s:
// options not written on this kind of segment are dropped, SACK blocks that
// did not fit are dropped, a clamped window shift reads back as 14 without
// the clamp mark, and an empty payload is nil-equivalent.
func normalized(s Segment) Segment {
	o := &s.Opts
	o.WScaleClamped = false
	if s.Flags&FlagSYN != 0 {
		o.NumSACK, o.SACK = 0, [MaxSACKBlocks]SACKBlock{}
	} else {
		o.MSS, o.HasMSS = 0, false
		o.WScale, o.HasWScale = 0, false
		o.SACKPermitted = false
	}
	if !o.HasMSS {
		o.MSS = 0
	}
	if !o.HasWScale {
		o.WScale = 0
	}
	if !o.HasTS {
		o.TSVal, o.TSEcr = 0, 0
	}
	k := max(o.NumSACK, 0)
	if s.Flags&FlagSYN == 0 {
		k = min(k, MaxSACKBlocks)
		if o.HasTS {
			k = min(k, 3)
		}
	}
	o.NumSACK = k
	for i := k; i < MaxSACKBlocks; i++ {
		o.SACK[i] = SACKBlock{}
	}
	return s
}

// sameSegment compares all fields, the payload by content.
func sameSegment(a, b *Segment) bool {
	return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Seq == b.Seq && a.Ack == b.Ack &&
		a.Flags == b.Flags && a.Window == b.Window && a.Urgent == b.Urgent && a.Opts == b.Opts &&
		bytes.Equal(a.Payload, b.Payload)
}

func TestWriteParseRoundTrip(t *testing.T) {
	flagSets := []Flags{FlagSYN, FlagSYN | FlagACK, FlagSYN | FlagECE | FlagCWR, FlagACK,
		FlagPSH | FlagACK, FlagFIN | FlagACK, FlagRST, FlagRST | FlagACK, FlagURG | FlagACK | FlagPSH, 0}
	payloads := [][]byte{nil, []byte("x"), bytes.Repeat([]byte("pollstack"), 200)}
	blocks := [MaxSACKBlocks]SACKBlock{
		{0xfffffff0, 0x10}, {1000, 2000}, {3000, 4000}, {0x7fffffff, 0x80000010},
	}
	n := 0
	for _, fl := range flagSets {
		for mask := 0; mask < 16; mask++ {
			for _, ws := range []uint8{0, 7, 14} {
				for nsack := 0; nsack <= MaxSACKBlocks; nsack++ {
					for _, p := range payloads {
						s := Segment{
							SrcPort: 41668, DstPort: 80,
							Seq: flow.Seq(0xfffffffe - uint32(n)), Ack: flow.Seq(uint32(n) * 7919),
							Flags: fl, Window: uint16(65535 - n), Urgent: uint16(n & 0xff),
							Payload: p,
						}
						o := &s.Opts
						if mask&1 != 0 {
							o.MSS, o.HasMSS = 1460, true
						}
						if mask&2 != 0 {
							o.WScale, o.HasWScale = ws, true
						}
						o.SACKPermitted = mask&4 != 0
						if mask&8 != 0 {
							o.HasTS, o.TSVal, o.TSEcr = true, 0xdeadbeef+uint32(n), uint32(n)
						}
						o.NumSACK, o.SACK = nsack, blocks
						n++
						checkRoundTrip(t, &s)
					}
				}
			}
		}
	}
	t.Logf("%d segments", n)
}

func checkRoundTrip(t *testing.T, s *Segment) {
	t.Helper()
	b := writeSeg(s)
	hl := len(b) - len(s.Payload)
	if hl != HeaderLen+s.OptionsLen() || hl%4 != 0 || hl > HeaderLen+MaxOptionsLen {
		t.Fatalf("%+v: header length %d, OptionsLen %d", s, hl, s.OptionsLen())
	}
	if b[16] != 0 || b[17] != 0 {
		t.Fatalf("checksum field not zero: % x", b[16:18])
	}
	var got Segment
	if e := Parse(b, &got); e != ParseOK {
		t.Fatalf("Parse(Write(%+v)) = %v\n% x", s, e, b)
	}
	want := normalized(*s)
	if !sameSegment(&got, &want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\nwire % x", got, want, b[:hl])
	}
	if got.Opts.NumSACK != s.SACKBlocksWritten() {
		t.Fatalf("SACKBlocksWritten = %d, parsed %d", s.SACKBlocksWritten(), got.Opts.NumSACK)
	}
	if len(got.Payload) > 0 && &got.Payload[0] != &b[hl] {
		t.Fatal("payload does not alias the input")
	}
	checkGopacket(t, b, ParseOK, &got)
}

// checkGopacket decodes b with gopacket's TCP layer and checks that it agrees
// with Parse's result e and segment s: gopacket frames options the same way
// (EOL, NOP, kind-length-value) but does not check the lengths of known
// options, so a segment it accepts may still be ErrBadOption here (Parse
// skips such an option and goes on, as Linux and FreeBSD do).
func checkGopacket(t *testing.T, b []byte, e ParseError, s *Segment) {
	t.Helper()
	var tcp layers.TCP
	err := tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
	if err != nil {
		if e == ParseOK {
			t.Fatalf("Parse accepted what gopacket rejects (%v): % x", err, b)
		}
		switch {
		case len(b) < HeaderLen:
			if e != ErrTruncated {
				t.Fatalf("gopacket: %v; Parse: %v", err, e)
			}
		case tcp.DataOffset < 5 || int(tcp.DataOffset)*4 > len(b):
			if e != ErrBadOffset {
				t.Fatalf("gopacket: %v; Parse: %v", err, e)
			}
		default:
			if e != ErrBadOption {
				t.Fatalf("gopacket: %v; Parse: %v", err, e)
			}
		}
		return
	}
	// gopacket accepted: compute the options from its framing.
	var want Options
	wantErr := ParseOK
	for _, o := range tcp.Options {
		d := o.OptionData
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if len(d) != 2 {
				wantErr = ErrBadOption
				break
			}
			want.MSS, want.HasMSS = binary.BigEndian.Uint16(d), true
		case layers.TCPOptionKindWindowScale:
			if len(d) != 1 {
				wantErr = ErrBadOption
				break
			}
			want.WScale, want.HasWScale, want.WScaleClamped = min(d[0], 14), true, d[0] > 14
		case layers.TCPOptionKindSACKPermitted:
			if len(d) != 0 {
				wantErr = ErrBadOption
				break
			}
			want.SACKPermitted = true
		case layers.TCPOptionKindTimestamps:
			if len(d) != 8 {
				wantErr = ErrBadOption
				break
			}
			want.HasTS, want.TSVal, want.TSEcr = true, binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		case layers.TCPOptionKindSACK:
			if len(d) == 0 || len(d)%8 != 0 || len(d) > 8*MaxSACKBlocks {
				wantErr = ErrBadOption
				break
			}
			want.NumSACK, want.SACK = len(d)/8, [MaxSACKBlocks]SACKBlock{}
			for i := range want.NumSACK {
				want.SACK[i] = SACKBlock{flow.Seq(binary.BigEndian.Uint32(d[8*i:])), flow.Seq(binary.BigEndian.Uint32(d[8*i+4:]))}
			}
		}
	}
	if e != wantErr {
		t.Fatalf("Parse = %v, gopacket's framing says %v: % x", e, wantErr, b)
	}
	if e != ParseOK && e != ErrBadOption {
		return
	}
	got := Segment{
		SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort),
		Seq: flow.Seq(tcp.Seq), Ack: flow.Seq(tcp.Ack), Window: tcp.Window, Urgent: tcp.Urgent,
		Opts: want, Payload: tcp.Payload,
	}
	for i, f := range []bool{tcp.FIN, tcp.SYN, tcp.RST, tcp.PSH, tcp.ACK, tcp.URG, tcp.ECE, tcp.CWR} {
		if f {
			got.Flags |= 1 << i
		}
	}
	if !sameSegment(&got, s) {
		t.Fatalf("gopacket disagrees:\ngopacket %+v\n   Parse %+v\nwire % x", got, *s, b)
	}
}

// Captures written down by hand from what stock stacks send.
func TestParseCaptures(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire string
		want Segment
		// rewrite says Write of want reproduces wire exactly (the stack
		// lays its options out as Linux does).
		rewrite bool
	}{
		{
			name: "Linux SYN",
			wire: "a2c4 0050 1a2b3c4d 00000000 a002 faf0 0000 0000" +
				"020405b4 0402080a 0abc1234 00000000 01030307",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4d, Flags: FlagSYN, Window: 64240,
				Opts: Options{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true, TSVal: 0x0abc1234,
					WScale: 7, HasWScale: true}},
			rewrite: true,
		},
		{
			name: "Linux SYN-ACK",
			wire: "0050 a2c4 99887766 1a2b3c4e a012 fe88 0000 0000" +
				"020405b4 0402080a 00112233 0abc1234 01030307",
			want: Segment{SrcPort: 80, DstPort: 41668, Seq: 0x99887766, Ack: 0x1a2b3c4e, Flags: FlagSYN | FlagACK,
				Window: 65160, Opts: Options{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true,
					TSVal: 0x00112233, TSEcr: 0x0abc1234, WScale: 7, HasWScale: true}},
			rewrite: true,
		},
		{
			name: "Linux SYN, no SACK, ECN setup",
			wire: "a2c4 0050 1a2b3c4d 00000000 a0c2 faf0 0000 0000" +
				"020405b4 0101080a 0abc1234 00000000 01030307",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4d, Flags: FlagSYN | FlagECE | FlagCWR,
				Window: 64240, Opts: Options{MSS: 1460, HasMSS: true, HasTS: true, TSVal: 0x0abc1234,
					WScale: 7, HasWScale: true}},
			rewrite: true,
		},
		{
			name: "Linux SYN, no timestamps (net.ipv4.tcp_timestamps=0)",
			wire: "a2c4 0050 1a2b3c4d 00000000 8002 faf0 0000 0000" +
				"020405b4 01030307 01010402",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4d, Flags: FlagSYN, Window: 64240,
				Opts: Options{MSS: 1460, HasMSS: true, SACKPermitted: true, WScale: 7, HasWScale: true}},
			rewrite: true,
		},
		{
			name: "Linux data with timestamps",
			wire: "a2c4 0050 1a2b3c4e 99887767 8018 01f6 0000 0000" +
				"0101080a 0abc1240 00112233" + "474554202f20485454502f312e310d0a",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4e, Ack: 0x99887767, Flags: FlagPSH | FlagACK,
				Window: 502, Opts: Options{HasTS: true, TSVal: 0x0abc1240, TSEcr: 0x00112233},
				Payload: []byte("GET / HTTP/1.1\r\n")},
			rewrite: true,
		},
		{
			name: "Linux ACK with timestamps and 2 SACK blocks",
			wire: "a2c4 0050 1a2b3c4e 99887767 d010 01f6 0000 0000" +
				"0101080a 0abc1240 00112233 0101 0512 99888000 99888b68 998875c0 99887b70",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4e, Ack: 0x99887767, Flags: FlagACK,
				Window: 502, Opts: Options{HasTS: true, TSVal: 0x0abc1240, TSEcr: 0x00112233, NumSACK: 2,
					SACK: [MaxSACKBlocks]SACKBlock{{0x99888000, 0x99888b68}, {0x998875c0, 0x99887b70}}}},
			rewrite: true,
		},
		{
			name: "Linux ACK with timestamps and 3 SACK blocks (40 bytes)",
			wire: "a2c4 0050 1a2b3c4e 99887767 f010 01f6 0000 0000" +
				"0101080a 0abc1240 00112233 0101 051a 00000010 00000020 00000030 00000040 00000050 00000060",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4e, Ack: 0x99887767, Flags: FlagACK,
				Window: 502, Opts: Options{HasTS: true, TSVal: 0x0abc1240, TSEcr: 0x00112233, NumSACK: 3,
					SACK: [MaxSACKBlocks]SACKBlock{{0x10, 0x20}, {0x30, 0x40}, {0x50, 0x60}}}},
			rewrite: true,
		},
		{
			name: "4 SACK blocks without timestamps",
			wire: "a2c4 0050 1a2b3c4e 99887767 e010 01f6 0000 0000" +
				"0101 0522 00000010 00000020 00000030 00000040 00000050 00000060 00000070 00000080",
			want: Segment{SrcPort: 41668, DstPort: 80, Seq: 0x1a2b3c4e, Ack: 0x99887767, Flags: FlagACK,
				Window: 502, Opts: Options{NumSACK: 4,
					SACK: [MaxSACKBlocks]SACKBlock{{0x10, 0x20}, {0x30, 0x40}, {0x50, 0x60}, {0x70, 0x80}}}},
			rewrite: true,
		},
		{
			name: "FreeBSD SYN (MSS, NOP WS, SACKOK, TS)",
			wire: "c350 0016 00000001 00000000 a002 ffff 0000 0000" +
				"020405b4 01030306 0402080a 11223344 00000000",
			want: Segment{SrcPort: 50000, DstPort: 22, Seq: 1, Flags: FlagSYN, Window: 65535,
				Opts: Options{MSS: 1460, HasMSS: true, WScale: 6, HasWScale: true, SACKPermitted: true,
					HasTS: true, TSVal: 0x11223344}},
		},
		{
			name: "Windows SYN (MSS, NOP WS, NOP NOP SACKOK)",
			wire: "c350 01bb 00000001 00000000 8002 faf0 0000 0000" +
				"020405b4 01030308 01010402",
			want: Segment{SrcPort: 50000, DstPort: 443, Seq: 1, Flags: FlagSYN, Window: 64240,
				Opts: Options{MSS: 1460, HasMSS: true, WScale: 8, HasWScale: true, SACKPermitted: true}},
		},
		{
			name: "EOL then padding (bytes after EOL ignored)",
			wire: "0001 0002 00000003 00000004 7002 0400 0000 0000" +
				"02040218 00 ff ff ff",
			want: Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagSYN, Window: 1024,
				Opts: Options{MSS: 536, HasMSS: true}},
		},
		{
			name: "unknown options skipped (TFO cookie, MPTCP, experimental)",
			wire: "0001 0002 00000003 00000004 c002 0400 0000 0000" +
				"220a 0102030405060708 0101 1e04 0081 fe04 f989 020405b4 01030300",
			want: Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagSYN, Window: 1024,
				Opts: Options{MSS: 1460, HasMSS: true, HasWScale: true}},
		},
		{
			name: "window shift 15 clamped to 14 (RFC 7323 2.3)",
			wire: "0001 0002 00000003 00000000 6002 0400 0000 0000" +
				"0103030f",
			want: Segment{SrcPort: 1, DstPort: 2, Seq: 3, Flags: FlagSYN, Window: 1024,
				Opts: Options{WScale: 14, HasWScale: true, WScaleClamped: true}},
		},
		{
			name: "urgent pointer, no options",
			wire: "1f90 c001 01020304 05060708 5039 1000 0000 0003 616263",
			want: Segment{SrcPort: 8080, DstPort: 49153, Seq: 0x01020304, Ack: 0x05060708,
				Flags: FlagFIN | FlagPSH | FlagACK | FlagURG, Window: 4096, Urgent: 3, Payload: []byte("abc")},
			rewrite: true,
		},
		{
			name: "reserved bits and NS ignored, checksum ignored",
			wire: "0001 0002 00000003 00000004 5f10 0400 beef 0000",
			want: Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK, Window: 1024},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.wire)
			var got Segment
			if e := Parse(b, &got); e != ParseOK {
				t.Fatalf("Parse = %v", e)
			}
			if !sameSegment(&got, &tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tc.want)
			}
			checkGopacket(t, b, ParseOK, &got)
			if tc.rewrite {
				if w := writeSeg(&tc.want); !bytes.Equal(w, b) {
					t.Fatalf("Write:\n got % x\nwant % x", w, b)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const base = "0001 0002 00000003 00000004"
	for _, tc := range []struct {
		name string
		wire string
		want ParseError
	}{
		{"empty", "", ErrTruncated},
		{"19 bytes", base + "5010 0400 0000 00", ErrTruncated},
		{"offset 0", base + "0010 0400 0000 0000", ErrBadOffset},
		{"offset 4", base + "4010 0400 0000 0000", ErrBadOffset},
		{"offset 6, 20 bytes", base + "6010 0400 0000 0000", ErrBadOffset},
		{"offset 15, 56 bytes", base + "f010 0400 0000 0000" + strings.Repeat("01", 36), ErrBadOffset},
		{"option length 0", base + "6010 0400 0000 0000 fe00 0000", ErrBadOption},
		{"option length 1", base + "6010 0400 0000 0000 fe01 0101", ErrBadOption},
		{"option runs past header", base + "6010 0400 0000 0000 0101 fe03", ErrBadOption},
		{"option kind in last byte", base + "6010 0400 0000 0000 0101 01fe", ErrBadOption},
		{"MSS in last byte", base + "6010 0400 0000 0000 0101 0102", ErrBadOption},
		{"MSS length 3", base + "6012 0400 0000 0000 0203 0500", ErrBadOption},
		{"MSS length 5", base + "7012 0400 0000 0000 0205 05b4 0000 0000", ErrBadOption},
		{"WS length 2", base + "6012 0400 0000 0000 0302 0101", ErrBadOption},
		{"WS length 4", base + "6012 0400 0000 0000 0304 0700", ErrBadOption},
		{"SACKOK length 3", base + "6012 0400 0000 0000 0403 0001", ErrBadOption},
		{"TS length 8", base + "7010 0400 0000 0000 0808 0000 0000 0000", ErrBadOption},
		{"TS length 12", base + "8010 0400 0000 0000 080c 0000 0000 0000 0000 0000", ErrBadOption},
		{"SACK length 2", base + "6010 0400 0000 0000 0502 0101", ErrBadOption},
		{"SACK length 6", base + "7010 0400 0000 0000 0506 0000 0000 0000", ErrBadOption},
		{"SACK length 11", base + "8010 0400 0000 0000 050b 0000 0000 0000 0000 0001", ErrBadOption},
		{"SACK length 42", base + "f010 0400 0000 0000 052a" + strings.Repeat("00", 38), ErrBadOption},
		{"bad option after a good one", base + "9010 0400 0000 0000 0101 080a 0000 0001 0000 0002 0203 0000", ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.wire)
			var s Segment
			if e := Parse(b, &s); e != tc.want {
				t.Fatalf("Parse = %v, want %v", e, tc.want)
			}
			checkGopacket(t, b, tc.want, &s)
		})
	}
}

// On ErrBadOption the fixed header, the payload and the options before the
// bad one are still there.
func TestParseBadOptionKeepsHeader(t *testing.T) {
	b := mustHex(t, "0001 0002 00000003 00000004 9018 0400 0000 0000"+
		"0101 080a 0000 0001 0000 0002 0203 0000"+"6869")
	var s Segment
	if e := Parse(b, &s); e != ErrBadOption {
		t.Fatalf("Parse = %v", e)
	}
	want := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagPSH | FlagACK, Window: 1024,
		Opts: Options{HasTS: true, TSVal: 1, TSEcr: 2}, Payload: []byte("hi")}
	if !sameSegment(&s, &want) {
		t.Fatalf("\n got %+v\nwant %+v", s, want)
	}
}

// Parse into a Segment that held a previous segment leaves nothing behind.
func TestParseReusesSegment(t *testing.T) {
	var s Segment
	full := Segment{Flags: FlagACK, Payload: []byte("abc"), Opts: Options{HasTS: true, TSVal: 9, NumSACK: 4,
		SACK: [MaxSACKBlocks]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}}
	if e := Parse(writeSeg(&full), &s); e != ParseOK || s.Opts.NumSACK != 3 {
		t.Fatalf("Parse = %v, %+v", e, s)
	}
	bare := Segment{SrcPort: 7, Flags: FlagRST}
	if e := Parse(writeSeg(&bare), &s); e != ParseOK || !sameSegment(&s, &bare) {
		t.Fatalf("Parse = %v, %+v", e, s)
	}
	// A second SACK option with fewer blocks replaces the first entirely.
	b := mustHex(t, "0001 0002 00000003 00000004 d010 0400 0000 0000"+
		"0512 00000001 00000002 00000003 00000004 0101 050a 00000009 0000000a 0101")
	if e := Parse(b, &s); e != ParseOK || s.Opts.NumSACK != 1 || s.Opts.SACK != [MaxSACKBlocks]SACKBlock{{9, 10}} {
		t.Fatalf("Parse = %v, %+v", e, s.Opts)
	}
}

func TestWriteOptionBudget(t *testing.T) {
	s := Segment{Flags: FlagACK, Opts: Options{HasTS: true, NumSACK: 4}}
	if n, k := s.OptionsLen(), s.SACKBlocksWritten(); n != 40 || k != 3 {
		t.Errorf("TS + 4 SACK: OptionsLen %d, blocks %d; want 40, 3", n, k)
	}
	s.Opts.HasTS = false
	if n, k := s.OptionsLen(), s.SACKBlocksWritten(); n != 36 || k != 4 {
		t.Errorf("4 SACK: OptionsLen %d, blocks %d; want 36, 4", n, k)
	}
	s.Opts.NumSACK = 99
	if n, k := s.OptionsLen(), s.SACKBlocksWritten(); n != 36 || k != 4 {
		t.Errorf("NumSACK 99: OptionsLen %d, blocks %d; want 36, 4", n, k)
	}
	s.Opts.NumSACK = -1
	if n := s.OptionsLen(); n != 0 {
		t.Errorf("NumSACK -1: OptionsLen %d", n)
	}
	// SYN-only options are dropped from other segments; SACK blocks from SYNs.
	s = Segment{Flags: FlagACK, Opts: Options{HasMSS: true, MSS: 1460, HasWScale: true, SACKPermitted: true}}
	if n := s.OptionsLen(); n != 0 {
		t.Errorf("ACK with SYN options: OptionsLen %d", n)
	}
	s = Segment{Flags: FlagSYN, Opts: Options{HasMSS: true, HasWScale: true, SACKPermitted: true, HasTS: true, NumSACK: 4}}
	if n, k := s.OptionsLen(), s.SACKBlocksWritten(); n != 20 || k != 0 {
		t.Errorf("full SYN: OptionsLen %d, blocks %d; want 20, 0", n, k)
	}
	// Write fits in HeaderLen+MaxOptionsLen exactly, and into a buffer that
	// only has the header's room.
	s = Segment{Flags: FlagACK, Opts: Options{HasTS: true, NumSACK: 3}}
	b := make([]byte, HeaderLen+MaxOptionsLen)
	if n := Write(b, &s); n != len(b) {
		t.Errorf("Write = %d", n)
	}
	if n := Write(make([]byte, HeaderLen), &Segment{}); n != HeaderLen {
		t.Errorf("Write bare = %d", n)
	}
}

// Write overwrites every header byte, whatever the buffer held.
func TestWriteDirtyBuffer(t *testing.T) {
	s := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagSYN,
		Opts: Options{HasMSS: true, MSS: 1460, HasTS: true, TSVal: 5, HasWScale: true, WScale: 3}}
	clean := make([]byte, 60)
	dirty := bytes.Repeat([]byte{0xff}, 60)
	n := Write(clean, &s)
	if m := Write(dirty, &s); m != n || !bytes.Equal(clean[:n], dirty[:n]) {
		t.Fatalf("\nclean % x\ndirty % x", clean[:n], dirty[:m])
	}
}

func TestParseWriteAllocs(t *testing.T) {
	syn := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Flags: FlagSYN, Window: 65535,
		Opts: Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 7, HasWScale: true, WScale: 7}}
	ack := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK, Window: 502,
		Opts: Options{HasTS: true, TSVal: 7, TSEcr: 8, NumSACK: 3}, Payload: make([]byte, 1448)}
	bs, ba := writeSeg(&syn), writeSeg(&ack)
	buf := make([]byte, HeaderLen+MaxOptionsLen)
	var s Segment
	if a := testing.AllocsPerRun(1000, func() {
		Parse(bs, &s)
		Parse(ba, &s)
	}); a != 0 {
		t.Errorf("Parse: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		Write(buf, &syn)
		Write(buf, &ack)
	}); a != 0 {
		t.Errorf("Write: %v allocs", a)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []Segment{
		{SrcPort: 41668, DstPort: 80, Seq: 1, Flags: FlagSYN, Window: 64240, Opts: Options{HasMSS: true,
			MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, HasWScale: true, WScale: 7}},
		{Flags: FlagSYN | FlagACK, Opts: Options{HasMSS: true, MSS: 536, SACKPermitted: true, HasWScale: true}},
		{Flags: FlagACK | FlagPSH, Opts: Options{HasTS: true, TSVal: 1, TSEcr: 2}, Payload: []byte("hello")},
		{Flags: FlagACK, Opts: Options{HasTS: true, NumSACK: 3, SACK: [MaxSACKBlocks]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}},
		{Flags: FlagACK, Opts: Options{NumSACK: 4, SACK: [MaxSACKBlocks]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}},
		{Flags: FlagRST | FlagACK},
	} {
		f.Add(writeSeg(&s))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Segment
		e := Parse(b, &s)
		checkGopacket(t, b, e, &s)
		if e != ParseOK {
			return
		}
		w := writeSeg(&s)
		var again Segment
		if e := Parse(w, &again); e != ParseOK {
			t.Fatalf("Parse(Write(Parse(b))) = %v\nb % x\nw % x", e, b, w)
		}
		want := normalized(s)
		if !sameSegment(&again, &want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v\nb % x\nw % x", again, want, b, w)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		s    Segment
	}{
		{"SYN", Segment{Flags: FlagSYN, Opts: Options{HasMSS: true, MSS: 1460, SACKPermitted: true,
			HasTS: true, TSVal: 7, HasWScale: true, WScale: 7}}},
		{"ACK-TS", Segment{Flags: FlagACK, Opts: Options{HasTS: true, TSVal: 7, TSEcr: 8}}},
		{"ACK-TS-SACK3", Segment{Flags: FlagACK, Opts: Options{HasTS: true, TSVal: 7, TSEcr: 8, NumSACK: 3}}},
		{"data-noopts", Segment{Flags: FlagACK | FlagPSH, Payload: make([]byte, 1460)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := writeSeg(&bc.s)
			var s Segment
			b.ReportAllocs()
			for b.Loop() {
				if Parse(w, &s) != ParseOK {
					b.Fatal("parse")
				}
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		s    Segment
	}{
		{"SYN", Segment{Flags: FlagSYN, Opts: Options{HasMSS: true, MSS: 1460, SACKPermitted: true,
			HasTS: true, TSVal: 7, HasWScale: true, WScale: 7}}},
		{"ACK-TS", Segment{Flags: FlagACK, Opts: Options{HasTS: true, TSVal: 7, TSEcr: 8}}},
		{"ACK-TS-SACK3", Segment{Flags: FlagACK, Opts: Options{HasTS: true, TSVal: 7, TSEcr: 8, NumSACK: 3}}},
		{"noopts", Segment{Flags: FlagACK}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, HeaderLen+MaxOptionsLen)
			b.ReportAllocs()
			for b.Loop() {
				Write(buf, &bc.s)
			}
		})
	}
}
