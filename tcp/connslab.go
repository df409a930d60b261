package tcp

import "math/bits"

// Control blocks are allocated 256 at a time, in slabs. A connection is
// about 800 bytes: allocated one by one, a million of them take some
// 110,000 of the runtime's small-object spans, and the Go runtime keeps
// the descriptor of every span it ever made, and the GC's bitmaps sized
// for them, once the connections are gone (36 MiB of resident memory that
// never goes back to the system, measured at a million connections). A
// slab is one large object with one span. At 64 a slab a million
// connections still left 3.9 MiB of descriptors; at 256 (a slab is 200 KiB)
// they leave 1.5 MiB (docs/benchmarks.md).
//
// The shard keeps the slabs that have a free slot; a slab all of whose
// slots are free is dropped when another one is free too, and the
// collector then gives its memory back. So a shard's spare control blocks
// are at most one slab more than the holes the live ones leave.
const (
	slabWords = 4
	slabConns = slabWords * 64
)

// Conn.slot, a uint8, names a block in its slab.
var _ [256 - slabConns]struct{}

// slabMask has bit i set when conns[i] is free.
type slabMask [slabWords]uint64

var slabAllFree = slabMask{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

func (m *slabMask) full() bool { return *m == slabMask{} }

// take clears and returns the lowest set bit; the mask must not be full.
func (m *slabMask) take() int {
	for w := range m {
		if m[w] != 0 {
			i := bits.TrailingZeros64(m[w])
			m[w] &^= 1 << i
			return w*64 + i
		}
	}
	panic("tcp: take from a full slab")
}

func (m *slabMask) give(i int) { m[i/64] |= 1 << (i % 64) }

type connSlab struct {
	conns [slabConns]Conn
	free  slabMask
	pos   int // index in Shard.partial; -1 while the slab is full
}

// allocConn takes a zeroed control block.
func (s *Shard) allocConn() *Conn {
	if len(s.partial) == 0 {
		s.partial = append(s.partial, &connSlab{free: slabAllFree})
		s.emptySlabs++
	}
	sl := s.partial[len(s.partial)-1]
	if sl.free == slabAllFree {
		s.emptySlabs--
	}
	i := sl.free.take()
	if sl.free.full() {
		s.partial = s.partial[:len(s.partial)-1]
		sl.pos = -1
	}
	c := &sl.conns[i]
	*c = Conn{slab: sl, slot: uint8(i)}
	return c
}

// releaseConn gives a control block back to its slab. The block keeps its
// contents (an application may still look at a closed connection's
// state) until it is taken again.
func (s *Shard) releaseConn(c *Conn) {
	sl := c.slab
	if sl.free.full() {
		sl.pos = len(s.partial)
		s.partial = append(s.partial, sl)
	}
	sl.free.give(int(c.slot))
	if sl.free != slabAllFree {
		return
	}
	if s.emptySlabs == 0 {
		s.emptySlabs++
		return
	}
	// Another slab is free already: this one goes to the collector.
	last := s.partial[len(s.partial)-1]
	last.pos = sl.pos
	s.partial[sl.pos] = last
	s.partial[len(s.partial)-1] = nil
	s.partial = s.partial[:len(s.partial)-1]
	sl.pos = -1
}
