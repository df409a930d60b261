package engine

import (
	"encoding/binary"
	"math/bits"
)

// csumAdd adds b to the ones'-complement running sum s (not folded).
//
// The body is summed eight bytes at a time as little-endian words with
// end-around carry (ADC on amd64 and arm64): the Internet checksum does
// not depend on byte order (RFC 1071, section 2(B)), so that sum, folded
// to 16 bits and byte-swapped, is the big-endian one. The tail of fewer
// than eight bytes is added in big-endian order, as before; as before, only
// the last piece of a checksummed range may have an odd length.
func csumAdd(s uint64, b []byte) uint64 {
	if len(b) >= 8 {
		var acc, c uint64
		for len(b) >= 32 {
			acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
			acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
			acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
			acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
			b = b[32:]
		}
		for len(b) >= 8 {
			acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
			b = b[8:]
		}
		acc, c = bits.Add64(acc, 0, c)
		acc += c // c was 1 only if acc wrapped to 0: no carry out now
		s += uint64(bits.ReverseBytes16(csumFold(acc)))
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// csumFold folds a running sum to 16 bits (not complemented).
func csumFold(s uint64) uint16 {
	for s>>16 != 0 {
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}

// Checksum returns the Internet checksum (RFC 1071) of b, seeded with the
// running sum initial (0 for none, or a pseudo-header sum).
func Checksum(b []byte, initial uint64) uint16 {
	return ^csumFold(csumAdd(initial, b))
}

// PseudoSum returns the running sum of a pseudo-header, to seed Checksum
// with: the source and destination addresses (4 bytes each for IPv4, 16
// for IPv6), the protocol and the upper-layer length.
func PseudoSum(src, dst []byte, proto uint8, length int) uint64 {
	s := csumAdd(0, src)
	s = csumAdd(s, dst)
	return s + uint64(proto) + uint64(length)
}

// pseudoSum4 returns the running sum of the IPv4 pseudo-header.
func pseudoSum4(src, dst []byte, proto uint8, length int) uint64 {
	return PseudoSum(src[:4], dst[:4], proto, length)
}

// pseudoSum6 returns the running sum of the IPv6 pseudo-header.
func pseudoSum6(src, dst []byte, proto uint8, length int) uint64 {
	return PseudoSum(src[:16], dst[:16], proto, length)
}

// csumUpdate16 returns checksum c updated for a 16-bit field changed from old
// to new (RFC 1624, eqn. 3).
func csumUpdate16(c, old, new uint16) uint16 {
	s := uint64(^c) + uint64(^old) + uint64(new)
	return ^csumFold(s)
}
