package proxyproto

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Parser reads one PROXY protocol header, v1 or v2 (told apart by the first
// bytes), from bytes fed as they arrive. It is owned by its connection's
// core and not safe for concurrent use. The zero value is ready, with the
// DefaultMaxHeader limit.
type Parser struct {
	// MaxHeader limits a v2 header's total size, bytes; 0 means
	// DefaultMaxHeader, and values are clamped to
	// [MinHeaderLimit, MaxHeaderLimit]. Set it before the first Feed.
	MaxHeader int

	buf  []byte // the header's bytes so far when it came split
	hdr  Header
	done bool
	err  error
}

// Reset readies p for the next connection, keeping its buffer and limit.
func (p *Parser) Reset() {
	p.buf = p.buf[:0]
	p.hdr = Header{}
	p.done = false
	p.err = nil
}

// Header returns the header parsed; it is valid once Feed has reported done,
// its TLVs until the next Feed or Reset.
func (p *Parser) Header() Header { return p.hdr }

func (p *Parser) limit() int {
	switch {
	case p.MaxHeader == 0:
		return DefaultMaxHeader
	case p.MaxHeader < MinHeaderLimit:
		return MinHeaderLimit
	case p.MaxHeader > MaxHeaderLimit:
		return MaxHeaderLimit
	}
	return p.MaxHeader
}

// Feed consumes bytes received on the connection and returns how many of
// them belong to the header:
//   - err != nil: the bytes are not a valid header; drop the connection.
//     Every later Feed returns the same error.
//   - done: the header is complete (see Header); in[n:] is payload. Later
//     Feeds consume nothing and report done again.
//   - otherwise the header needs more bytes: all of in was consumed
//     (n == len(in)) and the parser keeps what it needs.
//
// It never consumes a byte past the header's end.
func (p *Parser) Feed(in []byte) (n int, done bool, err error) {
	if p.err != nil {
		return 0, false, p.err
	}
	if p.done {
		return 0, true, nil
	}
	if len(p.buf) == 0 {
		// Usually the whole header comes in one segment: parse in place.
		hlen, err := p.parse(in)
		switch {
		case err != nil:
			p.err = err
			return 0, false, err
		case hlen > 0:
			p.done = true
			return hlen, true, nil
		}
		p.buf = append(p.buf, in...) // a prefix, shorter than the limit
		return len(in), false, nil
	}
	for n < len(in) {
		k := min(len(in)-n, p.want()-len(p.buf))
		p.buf = append(p.buf, in[n:n+k]...)
		n += k
		hlen, err := p.parse(p.buf)
		switch {
		case err != nil:
			p.err = err
			return 0, false, err
		case hlen > 0:
			p.done = true
			return n - (len(p.buf) - hlen), true, nil
		}
	}
	return n, false, nil
}

// want returns how many bytes p.buf (a valid prefix) should hold before
// parsing it again can tell more.
func (p *Parser) want() int {
	if p.buf[0] == 'P' {
		return MaxV1Len
	}
	if len(p.buf) < V2HeaderLen {
		return V2HeaderLen
	}
	return V2HeaderLen + int(binary.BigEndian.Uint16(p.buf[14:16]))
}

// parse parses a header at the start of d. It returns the header's length
// (having set p.hdr), or 0 and nil if d is a valid prefix too short to tell,
// or an error. A prefix it accepts is never longer than the limit.
func (p *Parser) parse(d []byte) (int, error) {
	if len(d) == 0 {
		return 0, nil
	}
	switch d[0] {
	case 'P':
		return p.parseV1(d)
	case '\r':
		return p.parseV2(d)
	}
	return 0, ErrNotProxy
}

// hasPrefix reports whether d and prefix agree on their common length.
func hasPrefix(d []byte, prefix string) bool {
	m := min(len(d), len(prefix))
	return string(d[:m]) == prefix[:m]
}

func (p *Parser) parseV1(d []byte) (int, error) {
	if !hasPrefix(d, v1Prefix) {
		return 0, ErrNotProxy
	}
	// Find the CRLF in the first MaxV1Len bytes; a lone CR or LF is an
	// error.
	end := -1
	for i, c := range d[:min(len(d), MaxV1Len)] {
		if c == '\n' {
			return 0, ErrV1Syntax
		}
		if c == '\r' {
			if i+1 == MaxV1Len {
				return 0, ErrV1Long
			}
			if i+1 == len(d) {
				return 0, nil
			}
			if d[i+1] != '\n' {
				return 0, ErrV1Syntax
			}
			end = i
			break
		}
	}
	if end < 0 {
		if len(d) >= MaxV1Len {
			return 0, ErrV1Long
		}
		return 0, nil
	}
	line := d[len(v1Prefix):end]
	h := Header{Version: 1, Command: Proxy, Len: end + 2}
	// UNKNOWN: whatever follows (after a space) is ignored.
	if bytes.HasPrefix(line, []byte("UNKNOWN")) && (len(line) == 7 || line[7] == ' ') {
		p.hdr = h
		return h.Len, nil
	}
	if len(line) < 5 || string(line[:3]) != "TCP" || line[4] != ' ' {
		return 0, ErrV1Syntax
	}
	v6 := false
	switch line[3] {
	case '4':
	case '6':
		v6 = true
	default:
		return 0, ErrV1Syntax
	}
	line = line[5:]
	var f [4][]byte
	for i := range f {
		sp := bytes.IndexByte(line, ' ')
		if i == len(f)-1 {
			if sp >= 0 {
				return 0, ErrV1Syntax
			}
			f[i] = line
			break
		}
		if sp < 0 {
			return 0, ErrV1Syntax
		}
		f[i], line = line[:sp], line[sp+1:]
	}
	parseAddr := parseIPv4
	if v6 {
		parseAddr = parseIPv6
	}
	src, ok1 := parseAddr(f[0])
	dst, ok2 := parseAddr(f[1])
	sport, ok3 := parsePort(f[2])
	dport, ok4 := parsePort(f[3])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, ErrV1Syntax
	}
	h.Src = netip.AddrPortFrom(src, sport)
	h.Dst = netip.AddrPortFrom(dst, dport)
	p.hdr = h
	return h.Len, nil
}

// parsePort parses a decimal port, 0..65535, without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if v > 0xffff {
		return 0, false
	}
	return uint16(v), true
}

// parseIPv4 parses a dotted quad: four decimal numbers 0..255 without
// leading zeros.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	if !parseDotted(b, &a) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a), true
}

func parseDotted(b []byte, a *[4]byte) bool {
	for i := range a {
		j := 0
		for j < len(b) && b[j] != '.' {
			j++
		}
		if i < 3 && j == len(b) || i == 3 && j != len(b) {
			return false
		}
		if j == 0 || j > 3 || j > 1 && b[0] == '0' {
			return false
		}
		v := 0
		for _, c := range b[:j] {
			if c < '0' || c > '9' {
				return false
			}
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return false
		}
		a[i] = byte(v)
		if i < 3 {
			b = b[j+1:]
		}
	}
	return true
}

// parseIPv6 parses an IPv6 address in the text forms of RFC 4291 2.2:
// groups of 1 to 4 hex digits, at most one "::", and optionally a dotted
// IPv4 address in place of the last two groups. Zones are refused.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var a [16]byte
	gap := -1 // byte index of "::"
	i := 0    // bytes of a written
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		gap = 0
		b = b[2:]
		if len(b) == 0 {
			return netip.AddrFrom16(a), true
		}
	}
	for len(b) > 0 {
		if i == 16 {
			return netip.Addr{}, false
		}
		// A group, or a dotted IPv4 address ending the address.
		j, v := 0, 0
		for ; j < len(b) && j <= 4; j++ {
			x := hexVal(b[j])
			if x < 0 {
				break
			}
			v = v<<4 | x
		}
		if j < len(b) && b[j] == '.' {
			if i > 12 {
				return netip.Addr{}, false
			}
			var q [4]byte
			if !parseDotted(b, &q) {
				return netip.Addr{}, false
			}
			copy(a[i:], q[:])
			i += 4
			break
		}
		if j == 0 || j > 4 {
			return netip.Addr{}, false
		}
		a[i], a[i+1] = byte(v>>8), byte(v)
		i += 2
		b = b[j:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if gap >= 0 {
				return netip.Addr{}, false
			}
			gap = i
			b = b[1:]
		}
	}
	switch {
	case gap < 0 && i != 16:
		return netip.Addr{}, false
	case gap >= 0:
		if i == 16 {
			return netip.Addr{}, false // "::" stands for at least one group
		}
		n := i - gap
		copy(a[16-n:], a[gap:i])
		clear(a[gap : 16-n])
	}
	return netip.AddrFrom16(a), true
}

// hexVal returns the value of hex digit c, or -1.
func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func (p *Parser) parseV2(d []byte) (int, error) {
	if !hasPrefix(d, v2Sig) {
		return 0, ErrNotProxy
	}
	if len(d) <= len(v2Sig) {
		return 0, nil
	}
	if d[12]>>4 != 2 {
		return 0, ErrVersion
	}
	cmd := Command(d[12] & 0x0f)
	if cmd != Local && cmd != Proxy {
		return 0, ErrCommand
	}
	if len(d) < V2HeaderLen {
		return 0, nil
	}
	fam := d[13]
	total := V2HeaderLen + int(binary.BigEndian.Uint16(d[14:16]))
	if total > p.limit() {
		return 0, ErrTooLarge
	}
	// The family must be a defined one (for LOCAL it is ignored).
	alen := -1
	switch fam {
	case 0x00:
		alen = 0
	case 0x11, 0x12: // TCP, UDP over IPv4
		alen = 12
	case 0x21, 0x22: // TCP, UDP over IPv6
		alen = 36
	case 0x31, 0x32: // UNIX stream, datagram
		alen = 216
	}
	if alen < 0 && cmd == Proxy {
		return 0, ErrFamily
	}
	if V2HeaderLen+alen > total {
		return 0, ErrAddrLen
	}
	if len(d) < total {
		return 0, nil
	}
	body := d[V2HeaderLen:total]
	h := Header{Version: 2, Command: cmd, Len: total}
	if alen < 0 {
		// LOCAL with an unknown family: the whole block is ignored.
		p.hdr = h
		return total, nil
	}
	if cmd == Proxy {
		switch fam {
		case 0x11:
			h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
			h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		case 0x21:
			h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
			h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
		}
	}
	tlvs := body[alen:]
	if !validTLVs(tlvs) {
		return 0, ErrTLV
	}
	if len(tlvs) > 0 {
		h.TLVs = tlvs
		if !checkCRC(d[:total], total-len(tlvs)) {
			return 0, ErrChecksum
		}
	}
	p.hdr = h
	return total, nil
}

// checkCRC checks the first CRC32C TLV of header hdr, whose TLVs start at
// off, if it has one: the CRC32c of the header with the TLV's value zeroed
// must equal the value.
func checkCRC(hdr []byte, off int) bool {
	for off+3 <= len(hdr) {
		n := int(binary.BigEndian.Uint16(hdr[off+1 : off+3]))
		if hdr[off] == TypeCRC32C {
			if n != 4 {
				return false
			}
			v := off + 3
			var zero [4]byte
			c := crc32.Update(0, castagnoli, hdr[:v])
			c = crc32.Update(c, castagnoli, zero[:])
			c = crc32.Update(c, castagnoli, hdr[v+4:])
			return c == binary.BigEndian.Uint32(hdr[v:v+4])
		}
		off += 3 + n
	}
	return true
}
