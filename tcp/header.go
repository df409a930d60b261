package tcp

import (
	"encoding/binary"

	"github.com/pollstack/pollstack/flow"
)

// Flags are the eight control bits of the TCP header (RFC 9293 3.1, RFC 3168
// 6.1 for ECE and CWR). The ninth bit that RFC 3540 called NS (now AE,
// RFC 9768) sits in the reserved field and is neither parsed nor written.
type Flags uint8

// The control bits, in wire order.
const (
	FlagFIN Flags = 0x01
	FlagSYN Flags = 0x02
	FlagRST Flags = 0x04
	FlagPSH Flags = 0x08
	FlagACK Flags = 0x10
	FlagURG Flags = 0x20
	FlagECE Flags = 0x40
	FlagCWR Flags = 0x80
)

// flagLetters are the letters String uses, one per bit from FIN to CWR.
const flagLetters = "FSRPAUEC"

// String returns one letter per set bit, in wire order from FIN to CWR:
// F S R P A U E C. SYN|ACK is "SA", FIN|PSH|ACK is "FPA", and no flags at
// all is "-". It is meant for logs and tests, not for the packet path.
func (f Flags) String() string {
	if f == 0 {
		return "-"
	}
	var buf [8]byte
	n := 0
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			buf[n] = flagLetters[i]
			n++
		}
	}
	return string(buf[:n])
}

// Has reports whether every bit of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// SACKBlock is one block of a SACK option (RFC 2018 3): the receiver holds
// the bytes from Left up to but not including Right.
type SACKBlock struct{ Left, Right flow.Seq }

// Header and option sizes, in bytes.
const (
	// HeaderLen is the length of the TCP header without options.
	HeaderLen = 20
	// MaxOptionsLen is the most option space a header can have: the 4-bit
	// data offset counts at most 15 words, 5 of which are the fixed header.
	MaxOptionsLen = 40
	// MaxSACKBlocks is the most SACK blocks one option can carry (2+8*4 = 34
	// bytes). With timestamps on, Write fits only 3 (RFC 2018 3).
	MaxSACKBlocks = 4
	// MaxWScale is the largest window shift (RFC 7323 2.3).
	MaxWScale = 14
)

// Option kinds (IANA "TCP Option Kind Numbers") and their lengths.
const (
	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWS        = 3
	optSACKOK    = 4
	optSACK      = 5
	optTS        = 8
	optMSSLen    = 4
	optWSLen     = 3
	optSACKOKLen = 2
	optTSLen     = 10
)

// Options are the TCP options this stack understands. A Has* field (or
// SACKPermitted, or NumSACK > 0) says the option is present.
//
// Parse fills every option it finds, whatever the segment's flags; Write
// emits MSS, window scale and SACK-permitted only on segments with SYN set
// (RFC 9293 3.7.1, RFC 7323 2.2, RFC 2018 2 allow them only there) and SACK
// blocks only on segments without SYN.
type Options struct {
	// MSS is the maximum segment size the sender can receive (RFC 9293
	// 3.7.1), present when HasMSS.
	MSS    uint16
	HasMSS bool

	// WScale is the sender's window shift (RFC 7323 2), present when
	// HasWScale. A shift above 14 is received as 14 (RFC 7323 2.3: the
	// receiver "MUST use 14 instead of the specified value"); Parse then
	// sets WScaleClamped so the caller can count it. Write writes WScale as
	// it is: callers keep it at most MaxWScale.
	WScale        uint8
	HasWScale     bool
	WScaleClamped bool

	// SACKPermitted is the SACK-permitted option (RFC 2018 2).
	SACKPermitted bool

	// TSVal and TSEcr are the timestamps option (RFC 7323 3), present when
	// HasTS.
	HasTS bool
	TSVal uint32
	TSEcr uint32

	// NumSACK is how many blocks of SACK are in use, 0 to MaxSACKBlocks;
	// SACK[0] is the first block of the option (RFC 2018 4: the one that
	// reports the most recently received data).
	NumSACK int
	SACK    [MaxSACKBlocks]SACKBlock
}

// Segment is a TCP segment: the header fields, the options and the payload.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         flow.Seq
	Flags            Flags
	// Window is the window field as on the wire, not yet scaled.
	Window uint16
	Urgent uint16
	Opts   Options
	// Payload is the data after the header. Parse makes it alias the input
	// buffer; Write does not write it.
	Payload []byte
}

// ParseError is why Parse rejected a segment; ParseOK (0) is success. The
// reasons map to FreeBSD's tcpstat counters where one exists.
type ParseError uint8

// Parse results.
const (
	// ParseOK means the segment parsed.
	ParseOK ParseError = iota
	// ErrTruncated: the buffer is shorter than the 20-byte fixed header
	// (tcps_rcvshort).
	ErrTruncated
	// ErrBadOffset: the data offset is below 5 words, or points past the
	// end of the buffer (tcps_rcvbadoff; FreeBSD's tcp_input counts both
	// under that name).
	ErrBadOffset
	// ErrBadOption: an option's length byte is below 2 or runs past the
	// header (parsing stopped there), or a known option (MSS, window
	// scale, SACK-permitted, timestamps, SACK) has the wrong length (that
	// option was skipped). The segment is still usable, as in Linux and
	// FreeBSD (tcp_parse_options, tcp_dooptions), which process it with the
	// options they could read.
	ErrBadOption
	numParseErrors
)

// NumParseErrors is the number of ParseError values, ParseOK included, for
// arrays of counters indexed by reason.
const NumParseErrors = int(numParseErrors)

var parseErrorNames = [numParseErrors]string{
	ParseOK:      "ok",
	ErrTruncated: "truncated",
	ErrBadOffset: "bad data offset",
	ErrBadOption: "bad option",
}

// String names the reason.
func (e ParseError) String() string {
	if e < numParseErrors {
		return parseErrorNames[e]
	}
	return "unknown parse error"
}

// Parse decodes the TCP segment in b into s. b is the TCP header and payload
// as the IP layer delivered it: cut to the IP payload length, checksum
// already verified. It returns ParseOK on success.
//
// On ErrTruncated and ErrBadOffset s is left in an unspecified state. On
// ErrBadOption the fixed header fields and Payload are valid and s.Opts holds
// the options Linux and FreeBSD would take: those before an option whose
// length byte is below 2 or runs past the header (parsing stops there), less
// any known option of the wrong length (skipped by its length byte).
//
// Unknown options are skipped by their length; NOP is skipped; EOL ends the
// list. A later occurrence of an option overwrites an earlier one. Parse does
// not allocate, and does not panic on any input.
func Parse(b []byte, s *Segment) ParseError {
	if len(b) < HeaderLen {
		return ErrTruncated
	}
	off := int(b[12]>>4) * 4
	if off < HeaderLen || off > len(b) {
		return ErrBadOffset
	}
	s.SrcPort = binary.BigEndian.Uint16(b[0:2])
	s.DstPort = binary.BigEndian.Uint16(b[2:4])
	s.Seq = flow.Seq(binary.BigEndian.Uint32(b[4:8]))
	s.Ack = flow.Seq(binary.BigEndian.Uint32(b[8:12]))
	s.Flags = Flags(b[13])
	s.Window = binary.BigEndian.Uint16(b[14:16])
	s.Urgent = binary.BigEndian.Uint16(b[18:20])
	s.Payload = b[off:]
	s.Opts = Options{}
	if off == HeaderLen {
		return ParseOK
	}
	return parseOptions(b[HeaderLen:off], &s.Opts)
}

// parseOptions decodes the option bytes o (the header from byte 20 up to the
// data offset) into opts, which the caller has zeroed.
func parseOptions(o []byte, opts *Options) ParseError {
	bad := ParseOK
	for len(o) > 0 {
		kind := o[0]
		if kind == optEOL {
			return bad
		}
		if kind == optNOP {
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return ErrBadOption
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return ErrBadOption
		}
		v := o[2:n]
		switch kind {
		case optMSS:
			if n != optMSSLen {
				bad, o = ErrBadOption, o[n:]
				continue
			}
			opts.MSS = binary.BigEndian.Uint16(v)
			opts.HasMSS = true
		case optWS:
			if n != optWSLen {
				bad, o = ErrBadOption, o[n:]
				continue
			}
			opts.WScale, opts.WScaleClamped = v[0], false
			if opts.WScale > MaxWScale {
				opts.WScale, opts.WScaleClamped = MaxWScale, true
			}
			opts.HasWScale = true
		case optSACKOK:
			if n != optSACKOKLen {
				bad, o = ErrBadOption, o[n:]
				continue
			}
			opts.SACKPermitted = true
		case optTS:
			if n != optTSLen {
				bad, o = ErrBadOption, o[n:]
				continue
			}
			opts.TSVal = binary.BigEndian.Uint32(v[0:4])
			opts.TSEcr = binary.BigEndian.Uint32(v[4:8])
			opts.HasTS = true
		case optSACK:
			k := (n - 2) / 8
			if (n-2)%8 != 0 || k < 1 || k > MaxSACKBlocks {
				bad, o = ErrBadOption, o[n:]
				continue
			}
			for i := 0; i < k; i++ {
				opts.SACK[i] = SACKBlock{
					Left:  flow.Seq(binary.BigEndian.Uint32(v[8*i:])),
					Right: flow.Seq(binary.BigEndian.Uint32(v[8*i+4:])),
				}
			}
			for i := k; i < MaxSACKBlocks; i++ {
				opts.SACK[i] = SACKBlock{}
			}
			opts.NumSACK = k
		}
		o = o[n:]
	}
	return bad
}

// optionsLen returns the option bytes Write writes for s (a multiple of 4)
// and how many SACK blocks are among them.
func (s *Segment) optionsLen() (n, sack int) {
	o := &s.Opts
	if s.Flags&FlagSYN != 0 {
		// MSS; SACKOK TS or NOP NOP TS; NOP WS; NOP NOP SACKOK when there
		// is no TS to pair SACKOK with: at most 4+12+4 = 20 bytes.
		if o.HasMSS {
			n += 4
		}
		if o.HasTS {
			n += 12
		} else if o.SACKPermitted {
			n += 4
		}
		if o.HasWScale {
			n += 4
		}
		return n, 0
	}
	// NOP NOP TS; NOP NOP SACK with as many blocks as fit in what is left
	// of the 40 bytes: 4 without TS, 3 with.
	if o.HasTS {
		n = 12
	}
	if o.NumSACK > 0 {
		sack = min(o.NumSACK, (MaxOptionsLen-4-n)/8)
		n += 4 + 8*sack
	}
	return n, sack
}

// OptionsLen returns how many bytes of options Write writes for s: a
// multiple of 4, at most MaxOptionsLen.
func (s *Segment) OptionsLen() int {
	n, _ := s.optionsLen()
	return n
}

// SACKBlocksWritten returns how many of s's SACK blocks Write writes: all of
// them up to 4 without timestamps, up to 3 with, none on a SYN.
func (s *Segment) SACKBlocksWritten() int {
	_, k := s.optionsLen()
	return k
}

// Write writes the TCP header of s, options included, into b and returns its
// length, HeaderLen+s.OptionsLen(). It writes neither the payload nor the
// checksum (the checksum field is left 0: it covers the IP pseudo-header,
// which the IP layer fills in). b must hold at least the header; a buffer of
// HeaderLen+MaxOptionsLen bytes always does. Write does not allocate.
//
// The options are laid out as Linux emits them, so captures look ordinary.
// On SYN: MSS; then SACK-permitted and timestamps together (kinds 4 and 8,
// 12 bytes), or NOP NOP TS without SACK-permitted; then NOP WS; then
// NOP NOP SACK-permitted if there was no timestamp to pair it with. On other
// segments: NOP NOP TS; then NOP NOP SACK with as many blocks as fit (4
// without timestamps, 3 with). Options not allowed on the segment (see
// Options) are left out.
func Write(b []byte, s *Segment) int {
	n, sack := s.optionsLen()
	hl := HeaderLen + n
	b = b[:hl:hl]
	binary.BigEndian.PutUint16(b[0:2], s.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], s.DstPort)
	binary.BigEndian.PutUint32(b[4:8], uint32(s.Seq))
	binary.BigEndian.PutUint32(b[8:12], uint32(s.Ack))
	b[12] = byte(hl/4) << 4
	b[13] = byte(s.Flags)
	binary.BigEndian.PutUint16(b[14:16], s.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], s.Urgent)
	if n == 0 {
		return hl
	}

	o := &s.Opts
	p := b[HeaderLen:]
	if s.Flags&FlagSYN != 0 {
		if o.HasMSS {
			p[0], p[1] = optMSS, optMSSLen
			binary.BigEndian.PutUint16(p[2:4], o.MSS)
			p = p[4:]
		}
		if o.HasTS {
			if o.SACKPermitted {
				p[0], p[1] = optSACKOK, optSACKOKLen
			} else {
				p[0], p[1] = optNOP, optNOP
			}
			p = putTS(p[2:], o)
		}
		if o.HasWScale {
			p[0], p[1], p[2], p[3] = optNOP, optWS, optWSLen, o.WScale
			p = p[4:]
		}
		if o.SACKPermitted && !o.HasTS {
			p[0], p[1], p[2], p[3] = optNOP, optNOP, optSACKOK, optSACKOKLen
		}
		return hl
	}
	if o.HasTS {
		p[0], p[1] = optNOP, optNOP
		p = putTS(p[2:], o)
	}
	if sack > 0 {
		p[0], p[1], p[2], p[3] = optNOP, optNOP, optSACK, byte(2+8*sack)
		p = p[4:]
		for i := range sack {
			binary.BigEndian.PutUint32(p[8*i:], uint32(o.SACK[i].Left))
			binary.BigEndian.PutUint32(p[8*i+4:], uint32(o.SACK[i].Right))
		}
	}
	return hl
}

// putTS writes the 10-byte timestamps option at p and returns what follows.
func putTS(p []byte, o *Options) []byte {
	p[0], p[1] = optTS, optTSLen
	binary.BigEndian.PutUint32(p[2:6], o.TSVal)
	binary.BigEndian.PutUint32(p[6:10], o.TSEcr)
	return p[10:]
}
