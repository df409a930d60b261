package balance

import (
	"errors"
	"fmt"
	"math/bits"
)

// Maglev table sizes. The size is a prime; the Maglev paper keeps it at
// least 100 times the number of backends so that each backend's share of
// the table is within about 1% of its due.
const (
	DefaultTableSize = 65537
	MinTableSize     = 7
	MaxTableSize     = 1 << 24
)

// ErrTableSize is the error NewMagHash wraps for a size that is not a prime
// in range.
var ErrTableSize = errors.New("maghash table size must be a prime")

// empty marks a table slot not yet filled during a rebuild; it is never a
// backend's index, since a Set holds at most MaxBackends.
const empty = 0xffff

// Maglev is consistent hashing through a Maglev lookup table (Eisenbud et
// al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI
// 2016). Each backend has a permutation of the table's slots, fixed by two
// hashes of its name: an offset and a skip. The backends in rotation take
// turns claiming their next preferred slot still free until the table is
// full; a pick is one table lookup by the key.
//
// Weights: the turns are dealt in steps. At each step every backend in
// rotation adds its weight to a credit and takes a turn when the credit
// reaches the heaviest backend's weight, which it then gives back: the
// heaviest backend takes a turn at every step, one of half its weight at
// every other step. A backend's share of the table follows its weight.
//
// The table depends only on the table size and the names, weights and
// health of the backends (not on anything a core saw before), so every
// core builds the same one. It is rebuilt on the first pick after the set
// changes (or at Sync), into the same buffers, without allocating unless
// the set has grown; a rebuild of the default table takes a couple of
// milliseconds of the core's loop. When a backend leaves rotation its
// slots go to the others, and the others keep nearly all of theirs (the
// Maglev paper's small disruption; in the tests, about 1% of the keys or
// less with 10 backends). When it comes back the table is what it was.
type Maglev struct {
	s     *Set
	size  uint64
	gen   uint64
	table []uint16
	live  int
	// By backend index: the permutation (offset, skip), fixed at the
	// backend's arrival; and the rebuild's scratch: the next slot of its
	// permutation to try and its accrued weight.
	offset, skip []uint32
	pos          []uint32
	credit       []int32
	rot          []uint16
}

// NewMagHash returns a Maglev balancer over s with a lookup table of the
// given size (a prime from MinTableSize to MaxTableSize; 0 means
// DefaultTableSize).
func NewMagHash(s *Set, size int) (*Maglev, error) {
	if size == 0 {
		size = DefaultTableSize
	}
	if size < MinTableSize || size > MaxTableSize || !isPrime(size) {
		return nil, fmt.Errorf("balance: %w from %d to %d, not %d", ErrTableSize, MinTableSize, MaxTableSize, size)
	}
	b := &Maglev{s: s, size: uint64(size), table: make([]uint16, size)}
	b.rebuild()
	return b, nil
}

// Algorithm returns MagHash.
func (b *Maglev) Algorithm() Algorithm { return MagHash }

// TableSize returns the lookup table's size.
func (b *Maglev) TableSize() int { return int(b.size) }

// Pick returns the backend the key's table slot holds. The key is mixed
// before it is reduced to a slot, so any 64-bit hash of the client's
// address serves, even a weak one.
func (b *Maglev) Pick(key uint64) (int, bool) {
	if b.gen != b.s.gen {
		b.rebuild()
	}
	if b.live == 0 {
		return -1, false
	}
	slot, _ := bits.Mul64(mix64(key), b.size)
	return int(b.table[slot]), true
}

// Sync brings the table up to date with the set now, rather than on the
// next pick: a caller that changes the set may call it then, so that no
// connection waits for the rebuild.
func (b *Maglev) Sync() {
	if b.gen != b.s.gen {
		b.rebuild()
	}
}

// rebuild fills the table from the set as it is now.
func (b *Maglev) rebuild() {
	s := b.s
	b.gen = s.gen
	for i := len(b.offset); i < len(s.names); i++ {
		name := s.names[i]
		b.offset = append(b.offset, uint32(nameHash(name, 0)%b.size))
		b.skip = append(b.skip, uint32(nameHash(name, 0x5bd1e9955bd1e995)%(b.size-1)+1))
		b.pos = append(b.pos, 0)
		b.credit = append(b.credit, 0)
	}
	b.rot = b.rot[:0]
	var maxW int32
	for i, w := range s.weight {
		if w == 0 || !s.up[i] {
			continue
		}
		b.rot = append(b.rot, uint16(i))
		b.pos[i], b.credit[i] = b.offset[i], 0
		maxW = max(maxW, w)
	}
	b.live = len(b.rot)
	if b.live == 0 {
		return
	}
	for j := range b.table {
		b.table[j] = empty
	}
	size := uint32(b.size)
	for filled := uint32(0); ; {
		for _, i := range b.rot {
			b.credit[i] += s.weight[i]
			if b.credit[i] < maxW {
				continue
			}
			b.credit[i] -= maxW
			// The skip and the prime size make the permutation visit
			// every slot, so a free one turns up while any is left.
			c := b.pos[i]
			for b.table[c] != empty {
				if c += b.skip[i]; c >= size {
					c -= size
				}
			}
			b.table[c] = i
			if c += b.skip[i]; c >= size {
				c -= size
			}
			b.pos[i] = c
			if filled++; filled == size {
				return
			}
		}
	}
}

// nameHash is FNV-1a over the name from a seeded basis, then mixed.
func nameHash(name string, seed uint64) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is SplitMix64's finaliser: every input bit moves every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// isPrime reports whether n is prime, by trial division (n is at most
// MaxTableSize).
func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := 3; d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
