package tcp

import "math/bits"

// Control blocks are allocated 64 at a time, in slabs. A connection is
// about 800 bytes: allocated one by one, a million of them take some
// 200,000 of the runtime's small-object spans, whose descriptors the Go
// runtime keeps for good once the connections are gone (36 MiB of resident
// memory that never goes back to the system, measured at a million
// connections). A slab is one large object with one span.
//
// The shard keeps the slabs that have a free slot; a slab all of whose
// slots are free is dropped when another one is free too, and the
// collector then gives its memory back. So a shard's spare control blocks
// are at most one slab more than the holes the live ones leave.
const slabConns = 64

type connSlab struct {
	conns [slabConns]Conn
	free  uint64 // bit i set: conns[i] is free
	pos   int    // index in Shard.partial; -1 while the slab is full
}

const slabAllFree = ^uint64(0)

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
	i := bits.TrailingZeros64(sl.free)
	sl.free &^= 1 << i
	if sl.free == 0 {
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
	if sl.free == 0 {
		sl.pos = len(s.partial)
		s.partial = append(s.partial, sl)
	}
	sl.free |= 1 << c.slot
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
