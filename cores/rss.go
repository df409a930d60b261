package cores

import (
	"encoding/binary"
	"fmt"
)

// RSS computes the Toeplitz hash NICs use for receive-side scaling
// (Microsoft's RSS specification), so that software can tell which queue —
// and so which core — a flow's packets arrive on, and choose local ports
// whose replies land on the core that sent (issue: flow steering). The
// input is the source address, the destination address, then the source
// and destination ports, all in network byte order.
//
// An RSS is immutable after NewRSS and safe for concurrent use; Hash* never
// allocate.
type RSS struct {
	// table[i][b] is the hash contribution of byte value b at input offset i.
	table [rssMaxInput][256]uint32
}

// rssMaxInput is the longest hash input: two IPv6 addresses and two ports.
const rssMaxInput = 36

// RSSKeyLen is the key length the hash needs for the longest input.
const RSSKeyLen = rssMaxInput + 4

// SymmetricRSSKey hashes both directions of a flow alike (the repeated
// 0x6d5a pattern of Woo and Park), so a flow and its replies share a queue.
var SymmetricRSSKey = func() (k [RSSKeyLen]byte) {
	for i := range k {
		k[i] = [2]byte{0x6d, 0x5a}[i%2]
	}
	return k
}()

// MicrosoftRSSKey is the verification key of Microsoft's RSS specification
// (and many NICs' default).
var MicrosoftRSSKey = [RSSKeyLen]byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// NewRSS precomputes the hash for key, which must be RSSKeyLen bytes.
func NewRSS(key []byte) (*RSS, error) {
	if len(key) != RSSKeyLen {
		return nil, fmt.Errorf("cores: RSS key of %d bytes: want %d", len(key), RSSKeyLen)
	}
	r := &RSS{}
	for i := 0; i < rssMaxInput; i++ {
		// The 32-bit window of the key that input bit j (0 = the byte's
		// most significant) of byte i meets is key bits 8i+j .. 8i+j+31.
		for j := 0; j < 8; j++ {
			bit := 8*i + j
			w := binary.BigEndian.Uint64(append(key[bit/8:bit/8+5:bit/8+5], 0, 0, 0))
			window := uint32(w >> (32 - bit%8))
			for b := 0; b < 256; b++ {
				if b&(0x80>>j) != 0 {
					r.table[i][b] ^= window
				}
			}
		}
	}
	return r, nil
}

func (r *RSS) hash(input []byte) uint32 {
	var h uint32
	for i, b := range input {
		h ^= r.table[i][b]
	}
	return h
}

// HashIPv4 hashes the addresses only (the "IPv4 only" type).
func (r *RSS) HashIPv4(src, dst [4]byte) uint32 {
	var in [8]byte
	copy(in[0:4], src[:])
	copy(in[4:8], dst[:])
	return r.hash(in[:])
}

// HashTCP4 hashes the addresses and ports (the "IPv4 with TCP" type).
func (r *RSS) HashTCP4(src, dst [4]byte, sport, dport uint16) uint32 {
	var in [12]byte
	copy(in[0:4], src[:])
	copy(in[4:8], dst[:])
	binary.BigEndian.PutUint16(in[8:], sport)
	binary.BigEndian.PutUint16(in[10:], dport)
	return r.hash(in[:])
}

// HashIPv6 hashes the addresses only.
func (r *RSS) HashIPv6(src, dst [16]byte) uint32 {
	var in [32]byte
	copy(in[0:16], src[:])
	copy(in[16:32], dst[:])
	return r.hash(in[:])
}

// HashTCP6 hashes the addresses and ports.
func (r *RSS) HashTCP6(src, dst [16]byte, sport, dport uint16) uint32 {
	var in [36]byte
	copy(in[0:16], src[:])
	copy(in[16:32], dst[:])
	binary.BigEndian.PutUint16(in[32:], sport)
	binary.BigEndian.PutUint16(in[34:], dport)
	return r.hash(in[:])
}
