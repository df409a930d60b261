package balance

import (
	"math/bits"
	"math/rand/v2"
)

// PowerOfTwo is the power of two choices: it draws two backends at random,
// each in proportion to its weight, and picks the one with fewer active
// connections relative to its weight, or the first drawn when they carry
// the same. Picks follow the weights while the load is even, and lean away
// from a backend that is slow to finish its connections.
//
// Its generator is its own (a PCG), seeded when it is made: no global
// state, no lock.
type PowerOfTwo struct {
	s   *Set
	rng rand.PCG
	gen uint64
	// idx lists the backends in rotation; cum[k] is the sum of the
	// weights of idx[0] to idx[k], and total the sum of them all.
	idx   []int32
	cum   []uint32
	total uint64
}

// NewRandom2 returns a power-of-two-choices balancer over s whose
// generator is seeded with seed.
func NewRandom2(s *Set, seed uint64) *PowerOfTwo {
	b := &PowerOfTwo{s: s}
	b.rng.Seed(seed, seed^0x9e3779b97f4a7c15)
	b.sync()
	return b
}

// Algorithm returns Random2.
func (b *PowerOfTwo) Algorithm() Algorithm { return Random2 }

// sync rebuilds the cumulative weights from the set.
func (b *PowerOfTwo) sync() {
	s := b.s
	b.idx, b.cum, b.total = b.idx[:0], b.cum[:0], 0
	for i, w := range s.weight {
		if w == 0 || !s.up[i] {
			continue
		}
		b.total += uint64(w)
		b.idx = append(b.idx, int32(i))
		b.cum = append(b.cum, uint32(b.total))
	}
	b.gen = s.gen
}

// draw returns a backend in rotation at random, in proportion to weight.
func (b *PowerOfTwo) draw() int {
	r, _ := bits.Mul64(b.rng.Uint64(), b.total) // uniform in [0, total)
	lo, hi := 0, len(b.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if uint64(b.cum[m]) > r {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return int(b.idx[lo])
}

// Pick returns the less loaded of two weighted random draws; the key is
// ignored.
func (b *PowerOfTwo) Pick(uint64) (int, bool) {
	if b.gen != b.s.gen {
		b.sync()
	}
	if b.total == 0 {
		return -1, false
	}
	x, y := b.draw(), b.draw()
	if b.s.lighter(y, x, int64(b.s.conns[y]), int64(b.s.conns[x])) {
		return y, true
	}
	return x, true
}
