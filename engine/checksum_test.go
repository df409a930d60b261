package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refChecksum is RFC 1071's definition, one big-endian 16-bit word at a
// time: what Checksum must equal.
func refChecksum(b []byte, initial uint64) uint16 {
	s := initial
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = (s & 0xffff) + (s >> 16)
	}
	return ^uint16(s)
}

func TestChecksumMatchesRFC1071(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9001)
	for i := range 20000 {
		n := r.IntN(len(buf) + 1)
		if i < 100 {
			n = i // every short length
		}
		b := buf[:n]
		switch i % 4 {
		case 0:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1:
			for j := range b {
				b[j] = 0xff // every carry
			}
		case 2:
			clear(b)
		default:
			for j := range b {
				b[j] = byte(0xfe + r.IntN(2))
			}
		}
		seed := uint64(r.Uint32()) // a pseudo-header sum, not folded
		if i%8 == 0 {
			seed = 0
		}
		if got, want := Checksum(b, seed), refChecksum(b, seed); got != want {
			t.Fatalf("length %d, seed %#x, fill %d: Checksum %#04x, RFC 1071 %#04x", n, seed, i%4, got, want)
		}
	}
}

// A range summed in even-length pieces, as the pseudo-header and the
// segment are, gives the checksum of the whole.
func TestChecksumInPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 1500)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	for cut := 0; cut <= len(b); cut += 2 {
		got := ^csumFold(csumAdd(csumAdd(0, b[:cut]), b[cut:]))
		if want := refChecksum(b, 0); got != want {
			t.Fatalf("cut at %d: %#04x, want %#04x", cut, got, want)
		}
	}
}

func BenchmarkChecksum1448(b *testing.B) {
	buf := make([]byte, 1448)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf, 12345)
	}
}
