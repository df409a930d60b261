package tcp

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// ISNGenerator makes initial sequence numbers as RFC 6528 3 describes:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a timer that ticks every 4 microseconds, taken from the now the
// caller passes; F is SipHash-2-4 keyed with the secret over the
// connection's four-tuple, of which the low 32 bits are used. Within one key
// the ISNs of one four-tuple therefore advance with time at 250,000 per
// second, wrapping every 4.77 hours, as RFC 9293 3.4.1 asks, while an
// off-path attacker cannot guess the ISNs of a four-tuple it has not seen.
//
// A generator is owned by one core's loop and is not safe for concurrent
// use; cores that share a key give the same ISN for the same tuple and time.
type ISNGenerator struct {
	k0, k1 uint64
	// isn_reseed_interval: with interval > 0 the key in use is derived
	// from base and the number of the interval now falls in (epoch).
	base     [16]byte
	interval time.Duration
	epoch    int64
}

// NewISNGenerator returns a generator keyed with key, which should come from
// a cryptographic random source.
func NewISNGenerator(key [16]byte) *ISNGenerator {
	g := new(ISNGenerator)
	g.Rekey(key)
	return g
}

// Rekey replaces the secret; the isn_reseed_interval tunable does this
// periodically. Afterwards F, and so the ISN of every four-tuple, jumps to a
// new value: a new incarnation of a connection still in TIME_WAIT may get an
// ISN below its predecessor's and be refused. FreeBSD's tcp(4) says of the
// same tunable: "Reseeding should not be necessary, and will break TIME_WAIT
// recycling for a few minutes."
func (g *ISNGenerator) Rekey(key [16]byte) {
	g.base = key
	g.setKey(key)
	if g.interval > 0 {
		g.reseed(g.epoch)
	}
}

func (g *ISNGenerator) setKey(key [16]byte) {
	g.k0 = binary.LittleEndian.Uint64(key[0:8])
	g.k1 = binary.LittleEndian.Uint64(key[8:16])
}

// SetReseedInterval sets isn_reseed_interval: with a
// positive interval the key changes whenever now enters a new interval
// (now/interval), to SipHash-2-4 of the interval's number under the key
// Rekey gave (the base key), so the generator needs no random source of
// its own and generators that share a base key and a clock, as the
// engine's cores do, change keys together. Knowing one interval's key
// tells nothing of another's without the base key. 0 uses the base key
// itself, for ever.
func (g *ISNGenerator) SetReseedInterval(interval time.Duration) {
	g.interval = max(interval, 0)
	if g.interval == 0 {
		g.setKey(g.base)
		return
	}
	g.epoch = 0
	g.reseed(0)
}

// reseed switches to interval epoch's key.
func (g *ISNGenerator) reseed(epoch int64) {
	g.epoch = epoch
	var in [16]byte
	copy(in[:8], "isnseed\x00")
	binary.BigEndian.PutUint64(in[8:], uint64(epoch))
	var k [16]byte
	binary.LittleEndian.PutUint64(k[0:8], SipHash24(g.base, in[:]))
	in[7] = 1
	binary.LittleEndian.PutUint64(k[8:16], SipHash24(g.base, in[:]))
	g.setKey(k)
}

// isnTick is M's period: RFC 6528 3 (after RFC 793) asks for a timer
// incremented every 4 microseconds.
const isnTick = 4 * time.Microsecond

// ISN returns the initial sequence number for the connection from
// laddr:lport to raddr:rport at time now.
// IPv4 addresses are passed in their IPv4-mapped IPv6 form (::ffff:a.b.c.d),
// as netip.Addr.As16 gives them. ISN does not allocate.
func (g *ISNGenerator) ISN(laddr, raddr [16]byte, lport, rport uint16, now mono.Time) flow.Seq {
	if g.interval > 0 {
		if e := now.Div(g.interval); e != g.epoch {
			g.reseed(e)
		}
	}
	var in [36]byte
	copy(in[0:16], laddr[:])
	binary.BigEndian.PutUint16(in[16:18], lport)
	copy(in[18:34], raddr[:])
	binary.BigEndian.PutUint16(in[34:36], rport)
	f := sipHash24(g.k0, g.k1, in[:])
	m := now.Div(isnTick) // floor, so M ticks evenly across now = 0
	return flow.Seq(uint32(m) + uint32(f))
}

// SipHash24 returns SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) of data under the 128-bit key, the key's bytes
// read as two little-endian words as in the reference implementation. It
// does not allocate.
func SipHash24(key [16]byte, data []byte) uint64 {
	return sipHash24(binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16]), data)
}

func sipHash24(k0, k1 uint64, m []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	b := uint64(len(m)) << 56

	for len(m) >= 8 {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
		m = m[8:]
	}
	// The last 0 to 7 bytes, little-endian, under the length byte.
	for i := len(m) - 1; i >= 0; i-- {
		b |= uint64(m[i]) << (8 * i)
	}
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b

	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// sipRound is one SipRound: add-rotate-xor on the four state words.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
