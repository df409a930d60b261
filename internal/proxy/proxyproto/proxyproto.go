package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"github.com/pollstack/pollstack/flow"
)

// Command is a header's command: what the connection carrying it is.
type Command uint8

const (
	// Local: the proxy opened the connection on its own behalf (a health
	// check); the receiver uses the connection's own addresses.
	Local Command = 0
	// Proxy: the connection is relayed; the header names the original
	// endpoints (unless its family is unknown or unspecified).
	Proxy Command = 1
)

func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// Registered v2 TLV types.
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02 // the host name the client asked for (TLS SNI)
	TypeCRC32C    = 0x03 // CRC32c of the whole header, checked by the parser
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30
)

// Sizes and limits.
const (
	// MaxV1Len is the longest v1 line, CRLF included.
	MaxV1Len = 107
	// V2HeaderLen is the fixed part of a v2 header: signature,
	// version/command, family/transport, length.
	V2HeaderLen = 16
	// DefaultMaxHeader is the parser's default limit on a v2 header's
	// total size: room for the addresses and a few kilobytes of TLVs.
	DefaultMaxHeader = 4096
	// MaxHeaderLimit is the largest limit a Parser accepts: a v2 header
	// bigger than this is refused whatever the configuration.
	MaxHeaderLimit = 16 << 10
	// MinHeaderLimit is the smallest: a v2 header with the largest address
	// block the protocol defines (AF_UNIX, 216 bytes) and no TLVs.
	MinHeaderLimit = V2HeaderLen + 216
)

// v2Sig is the v2 signature; v1Prefix starts every v1 line.
const (
	v2Sig    = "\r\n\r\n\x00\r\nQUIT\n"
	v1Prefix = "PROXY "
)

// Errors the parser returns, and the encoder for headers it cannot write.
// All mean the connection must be dropped.
var (
	ErrNotProxy = errors.New("proxyproto: not a PROXY protocol header")
	ErrV1Syntax = errors.New("proxyproto: malformed v1 line")
	ErrV1Long   = errors.New("proxyproto: v1 line without CRLF in its first 107 bytes")
	ErrVersion  = errors.New("proxyproto: v2 version is not 2")
	ErrCommand  = errors.New("proxyproto: v2 command is neither LOCAL nor PROXY")
	ErrFamily   = errors.New("proxyproto: v2 address family or transport is not defined")
	ErrAddrLen  = errors.New("proxyproto: v2 length shorter than its family's address block")
	ErrTooLarge = errors.New("proxyproto: v2 header larger than the limit")
	ErrTLV      = errors.New("proxyproto: malformed v2 TLV")
	ErrChecksum = errors.New("proxyproto: v2 CRC32C TLV does not match the header")
)

// Header is a PROXY protocol header.
//
// Src and Dst are the original connection's client (source) and server
// (destination) ends. Both are the zero AddrPort when the header names no
// addresses: a LOCAL command, a v1 UNKNOWN line, or a v2 family the parser
// does not use (AF_UNSPEC, UDP, AF_UNIX); the receiver then uses the
// connection's own addresses, as the protocol says.
type Header struct {
	Version  uint8   // 1 or 2; set by the parser, not read by the encoders
	Command  Command // v1 lines are always Proxy
	Src, Dst netip.AddrPort
	// TLVs holds a v2 header's TLV vectors as they are on the wire (type,
	// 16-bit length, value, repeated). From the parser it aliases the bytes
	// fed or the parser's own buffer: valid until the next Feed or Reset.
	TLVs []byte
	// Len is how many bytes the header took on the wire (set by the parser).
	Len int
}

// HasAddr reports whether h names the original connection's addresses.
func (h *Header) HasAddr() bool { return h.Src.IsValid() && h.Dst.IsValid() }

// TLV returns the value of the first TLV of type typ in h.TLVs, aliasing
// them, and whether there was one.
func (h *Header) TLV(typ byte) ([]byte, bool) {
	for t := h.TLVs; len(t) >= 3; {
		n := 3 + int(binary.BigEndian.Uint16(t[1:3]))
		if n > len(t) {
			break
		}
		if t[0] == typ {
			return t[3:n], true
		}
		t = t[n:]
	}
	return nil, false
}

// Authority returns the PP2_TYPE_AUTHORITY value (the client's requested
// host name), or nil.
func (h *Header) Authority() []byte {
	v, _ := h.TLV(TypeAuthority)
	return v
}

// FromTuple returns the source and destination a header names for a
// connection seen from our side: its remote end is the source (the client)
// and its local end the destination. IPv4-mapped addresses become IPv4.
func FromTuple(t *flow.Tuple) (src, dst netip.AddrPort) {
	return netip.AddrPortFrom(netip.AddrFrom16(t.RemoteAddr).Unmap(), t.RemotePort),
		netip.AddrPortFrom(netip.AddrFrom16(t.LocalAddr).Unmap(), t.LocalPort)
}

// family says how src and dst are written: 4 (both IPv4), 6 (both IPv6) or
// 0 (no address). A pair of mixed families is written as IPv4 when the IPv6
// one is IPv4-mapped, else as IPv6 with the IPv4 one mapped.
func family(src, dst netip.AddrPort) (int, netip.Addr, netip.Addr) {
	s, d := src.Addr(), dst.Addr()
	if !s.IsValid() || !d.IsValid() {
		return 0, s, d
	}
	switch {
	case s.Is4() && d.Is4():
		return 4, s, d
	case s.Is6() && d.Is6():
		// drop zones, which neither version can carry
		return 6, netip.AddrFrom16(s.As16()), netip.AddrFrom16(d.As16())
	case s.Unmap().Is4() && d.Unmap().Is4():
		return 4, s.Unmap(), d.Unmap()
	}
	return 6, netip.AddrFrom16(s.As16()), netip.AddrFrom16(d.As16())
}

// AppendV1 appends h as a v1 line: "PROXY TCP4 src dst sport dport\r\n",
// TCP6 likewise, or "PROXY UNKNOWN\r\n" for a LOCAL command or a header
// without addresses. h.TLVs are not written (v1 has none).
func AppendV1(b []byte, h *Header) []byte {
	fam, s, d := family(h.Src, h.Dst)
	if h.Command != Proxy {
		fam = 0
	}
	switch fam {
	case 4:
		b = append(b, "PROXY TCP4 "...)
	case 6:
		b = append(b, "PROXY TCP6 "...)
	default:
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	b = s.AppendTo(b)
	b = append(b, ' ')
	b = d.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Dst.Port()), 10)
	return append(b, "\r\n"...)
}

// AppendV2 appends h as a v2 header: TCP over IPv4 or IPv6 for a PROXY
// command with addresses, AF_UNSPEC with no address block otherwise (a LOCAL
// command, or PROXY without addresses), then h.TLVs as they are. It returns
// b unchanged and ErrTLV if h.TLVs is not a well-formed TLV sequence, or
// ErrTooLarge if the header would not fit in MaxHeaderLimit.
func AppendV2(b []byte, h *Header) ([]byte, error) {
	fam, s, d := family(h.Src, h.Dst)
	if h.Command != Proxy {
		fam = 0
	}
	alen := 0
	famByte := byte(0x00)
	switch fam {
	case 4:
		alen, famByte = 12, 0x11
	case 6:
		alen, famByte = 36, 0x21
	}
	if !validTLVs(h.TLVs) {
		return b, ErrTLV
	}
	n := alen + len(h.TLVs)
	if V2HeaderLen+n > MaxHeaderLimit {
		return b, ErrTooLarge
	}
	cmd := Local
	if h.Command == Proxy {
		cmd = Proxy
	}
	b = append(b, v2Sig...)
	b = append(b, 0x20|byte(cmd), famByte, byte(n>>8), byte(n))
	switch fam {
	case 4:
		s4, d4 := s.As4(), d.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	case 6:
		s16, d16 := s.As16(), d.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	if fam != 0 {
		b = binary.BigEndian.AppendUint16(b, h.Src.Port())
		b = binary.BigEndian.AppendUint16(b, h.Dst.Port())
	}
	return append(b, h.TLVs...), nil
}

// AppendTLV appends one TLV vector (type, 16-bit length, value) to b, for
// building Header.TLVs. It panics if value is longer than 65535 bytes.
func AppendTLV(b []byte, typ byte, value []byte) []byte {
	if len(value) > 0xffff {
		panic("proxyproto: TLV value longer than 65535 bytes")
	}
	b = append(b, typ, byte(len(value)>>8), byte(len(value)))
	return append(b, value...)
}

// validTLVs reports whether t is a sequence of whole TLV vectors.
func validTLVs(t []byte) bool {
	for len(t) > 0 {
		if len(t) < 3 {
			return false
		}
		n := 3 + int(binary.BigEndian.Uint16(t[1:3]))
		if n > len(t) {
			return false
		}
		t = t[n:]
	}
	return true
}
