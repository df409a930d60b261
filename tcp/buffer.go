package tcp

import (
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Buffer memory follows data: a connection's send and receive buffers are
// rings of fixed-size chunks taken from its shard's pool when bytes arrive
// (or are written) and given back as soon as they are read (or
// acknowledged). An idle connection holds no chunk, only its ring's table
// of chunk pointers.
const (
	chunkShift = 12
	chunkSize  = 1 << chunkShift // bytes in a chunk
	chunkMask  = chunkSize - 1

	// maxFreeChunks bounds a pool's free list (32 MiB); chunks given back
	// past it are left to the garbage collector at once.
	maxFreeChunks = 8192
	// chunkFloor is how many free chunks a pool keeps however long they go
	// unused (1 MiB).
	chunkFloor = 256
	// maxFreeTables bounds the free slot tables a pool keeps of each
	// length, and maxFreeRangeSets its free range sets.
	maxFreeTables    = 4096
	maxFreeRangeSets = 1024
	// chunkTrimInterval is how often a pool drops the free chunks beyond
	// its floor that no connection took during the whole interval, so the
	// Go runtime can give their memory back to the system.
	chunkTrimInterval = 10 * time.Second
)

// chunk is a piece of a connection buffer.
type chunk [chunkSize]byte

// chunkPool is a shard's buffer memory: the chunks its connections hold and
// a bounded free list of chunks kept for reuse.
//
// limit is the memory-pressure point, as Linux's tcp_mem: while the chunks
// in use reach it, receive windows open no further than the room already
// advertised (plus two segments for a connection that holds next to
// nothing, so none stalls). The room a connection advertised is a promise
// the pool always keeps: data in an advertised window is never refused for
// want of memory, so use may pass limit by the windows advertised before
// the pressure began.
type chunkPool struct {
	free    []*chunk
	inUse   int // chunks held by rings
	limit   int // chunks; 0: no limit
	low     int // the fewest free chunks since the last trim
	trimmed mono.Time

	tables    map[int]*freeList[[]*chunk] // free slot tables by length
	rangeSets freeList[*rangeSet]         // free reassembly and scoreboard storage
	segRings  map[int]*freeList[[]txSeg]  // free transmit maps by length
	racks     freeList[*rackBlock]        // free loss-recovery blocks
}

// freeList is a bounded stack of free pieces of storage that remembers the
// fewest it held since it was last trimmed (low), as the chunks' free list
// does: what no connection took over a whole trim interval goes to the
// garbage collector, down to freeFloor.
type freeList[T any] struct {
	items []T
	low   int
}

// freeFloor is how many pieces of each kind a pool keeps however long they
// go unused.
const freeFloor = 64

func (f *freeList[T]) get() (T, bool) {
	n := len(f.items)
	if n == 0 {
		f.low = 0
		var zero T
		return zero, false
	}
	x := f.items[n-1]
	var zero T
	f.items[n-1] = zero
	f.items = f.items[:n-1]
	f.low = min(f.low, n-1)
	return x, true
}

// put keeps x unless the list holds limit already.
func (f *freeList[T]) put(x T, limit int) {
	if len(f.items) < limit {
		f.items = append(f.items, x)
	}
}

// trim drops the pieces beyond the floor that stayed unused since the last
// trim, and starts the next interval.
func (f *freeList[T]) trim() {
	if drop := min(f.low, len(f.items)-freeFloor); drop > 0 {
		n := len(f.items) - drop
		clear(f.items[n:])
		f.items = f.items[:n:n]
	}
	f.low = len(f.items)
}

// getRack takes a cleared loss-recovery block whose map's storage comes
// from this pool.
func (p *chunkPool) getRack() *rackBlock {
	if b, ok := p.racks.get(); ok {
		return b
	}
	return &rackBlock{txm: txMap{pool: p}}
}

// putRack gives back a block whose map is empty.
func (p *chunkPool) putRack(b *rackBlock) {
	*b = rackBlock{txm: txMap{pool: p}}
	p.racks.put(b, maxFreeRangeSets)
}

// getSegs takes a transmit map's storage of k records.
func (p *chunkPool) getSegs(k int) []txSeg {
	if l := p.segRings[k]; l != nil {
		if t, ok := l.get(); ok {
			return t
		}
	}
	return make([]txSeg, k)
}

// putSegs gives a transmit map's storage back; the free lists keep about
// as many records of each size as 1024 of the smallest maps hold.
func (p *chunkPool) putSegs(t []txSeg) {
	if p.segRings == nil {
		p.segRings = make(map[int]*freeList[[]txSeg])
	}
	l := p.segRings[len(t)]
	if l == nil {
		l = new(freeList[[]txSeg])
		p.segRings[len(t)] = l
	}
	l.put(t, max(1, maxFreeRangeSets*minTxSegs/len(t)))
}

// getTable takes a slot table of k slots, all nil.
func (p *chunkPool) getTable(k int) []*chunk {
	if l := p.tables[k]; l != nil {
		if t, ok := l.get(); ok {
			return t
		}
	}
	return make([]*chunk, k)
}

// putTable gives back an all-nil slot table.
func (p *chunkPool) putTable(t []*chunk) {
	if p.tables == nil {
		p.tables = make(map[int]*freeList[[]*chunk])
	}
	l := p.tables[len(t)]
	if l == nil {
		l = new(freeList[[]*chunk])
		p.tables[len(t)] = l
	}
	l.put(t, maxFreeTables)
}

// rangeSet is the storage of a reassembly queue or a SACK scoreboard,
// taken while it holds a range.
type rangeSet = [DefaultReassMaxQueueLen]seqRange

func (p *chunkPool) getRanges() *rangeSet {
	if r, ok := p.rangeSets.get(); ok {
		return r
	}
	return new(rangeSet)
}

func (p *chunkPool) putRanges(r *rangeSet) {
	if r != nil {
		p.rangeSets.put(r, maxFreeRangeSets)
	}
}

// get takes a chunk, from the free list or new.
func (p *chunkPool) get() *chunk {
	p.inUse++
	n := len(p.free)
	if n == 0 {
		p.low = 0
		return new(chunk)
	}
	c := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	p.low = min(p.low, n-1)
	return c
}

// put gives a chunk back.
func (p *chunkPool) put(c *chunk) {
	p.inUse--
	if len(p.free) < maxFreeChunks {
		p.free = append(p.free, c)
	}
}

// pressure reports whether the chunks in use reached the limit.
func (p *chunkPool) pressure() bool { return p.limit > 0 && p.inUse >= p.limit }

// trim drops, once per chunkTrimInterval, the free chunks beyond the floor
// that stayed unused through the whole interval.
func (p *chunkPool) trim(now mono.Time) {
	if p.trimmed == 0 {
		p.trimmed, p.low = now, len(p.free)
		return
	}
	if now.Sub(p.trimmed) < chunkTrimInterval {
		return
	}
	if drop := min(p.low, len(p.free)-chunkFloor); drop > 0 {
		n := len(p.free) - drop
		clear(p.free[n:])
		p.free = p.free[:n]
	}
	p.trimmed, p.low = now, len(p.free)
	// The storage connections take beside their chunks goes the same way.
	for _, l := range p.tables {
		l.trim()
	}
	for _, l := range p.segRings {
		l.trim()
	}
	p.rangeSets.trim()
	p.racks.trim()
}

// byteRing is a circular buffer of up to size bytes: n in-order bytes from
// head, and, in a receive buffer, out-of-order data further on (up to end).
// It is the storage of both the send buffer (bytes from snd_una on) and the
// receive buffer (unread bytes, then room where out-of-order data waits).
//
// The bytes live in chunks: slots is a ring of chunk pointers, nil where no
// byte is held, itself taken from the pool while the ring holds a byte (an
// empty ring holds no memory at all). Offsets count from head; the byte at offset off is at
// position head+off of the virtual ring of len(slots)*chunkSize bytes, one
// chunk more than size so that the live bytes never share a chunk with
// their own wrap-around.
type byteRing struct {
	slots []*chunk
	pool  *chunkPool
	size  int
	head  int // position of the first byte in the virtual ring
	n     int // in-order bytes
	end   int // offset past the last byte held (n ≤ end ≤ size)
}

// init sets the ring up empty for size bytes from pool.
func (r *byteRing) init(pool *chunkPool, size int) {
	if r.pool != nil {
		r.release()
	}
	r.pool, r.size = pool, size
}

// release gives every chunk and the slot table back and empties the ring.
func (r *byteRing) release() {
	for i, c := range r.slots {
		if c != nil {
			r.pool.put(c)
			r.slots[i] = nil
		}
	}
	r.emptied()
}

// emptied gives back the slot table of a ring that holds no chunk.
func (r *byteRing) emptied() {
	if r.slots != nil {
		r.pool.putTable(r.slots)
		r.slots = nil
	}
	r.head, r.n, r.end = 0, 0, 0
}

// grow raises the ring's size to size bytes, keeping what it holds. The
// chunks move to a larger slot table in their order from head's, so every
// offset keeps its byte; an empty ring only changes its size.
func (r *byteRing) grow(size int) {
	if size <= r.size {
		return
	}
	r.size = size
	if r.slots == nil {
		return
	}
	k := (size+chunkMask)>>chunkShift + 1
	if k <= len(r.slots) {
		return
	}
	t := r.pool.getTable(k)
	hs := r.head >> chunkShift
	for i := range r.slots {
		t[i] = r.slots[(hs+i)%len(r.slots)]
		r.slots[(hs+i)%len(r.slots)] = nil
	}
	r.pool.putTable(r.slots)
	r.slots = t
	r.head &= chunkMask
}

func (r *byteRing) cap() int  { return r.size }
func (r *byteRing) free() int { return r.size - r.n }

// drop releases the ring and leaves it with no room (a connection in
// TIME_WAIT or closed).
func (r *byteRing) drop() {
	if r.pool != nil {
		r.release()
	}
	r.size = 0
}

// chunks returns the number of chunks the ring holds.
func (r *byteRing) chunks() int {
	k := 0
	for _, c := range r.slots {
		if c != nil {
			k++
		}
	}
	return k
}

// pos is the virtual-ring position of offset off.
func (r *byteRing) pos(off int) int {
	p := r.head + off
	if v := len(r.slots) << chunkShift; p >= v {
		p -= v
	}
	return p
}

// write appends as much of p as fits and returns how much.
func (r *byteRing) write(p []byte) int {
	m := min(len(p), r.free())
	r.copyIn(r.n, p[:m])
	r.n += m
	return m
}

// copyIn copies p to offset off from head (off+len(p) ≤ size), taking the
// chunks it lands in.
func (r *byteRing) copyIn(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	if r.slots == nil {
		r.slots = r.pool.getTable((r.size+chunkMask)>>chunkShift + 1)
	}
	r.end = max(r.end, off+len(p))
	for i := r.pos(off); len(p) > 0; i = 0 {
		// One virtual-ring lap at most: i wraps to 0 once.
		for s := i >> chunkShift; s < len(r.slots) && len(p) > 0; s++ {
			c := r.slots[s]
			if c == nil {
				c = r.pool.get()
				r.slots[s] = c
			}
			k := copy(c[i&chunkMask:], p)
			p = p[k:]
			i = (s + 1) << chunkShift
		}
	}
}

// peek returns bytes at [off, off+n) from head, or a prefix of them, in at
// most two pieces (the rest of one chunk and the next).
func (r *byteRing) peek(off, n int) (a, b []byte) {
	if n <= 0 {
		return nil, nil
	}
	i := r.pos(off)
	s := i >> chunkShift
	a = r.slots[s][i&chunkMask:]
	if len(a) >= n {
		return a[:n], nil
	}
	if s++; s == len(r.slots) {
		s = 0
	}
	b = r.slots[s][:]
	return a, b[:min(len(b), n-len(a))]
}

// copyOut copies [off, off+len(p)) from head into p.
func (r *byteRing) copyOut(off int, p []byte) {
	for len(p) > 0 {
		a, b := r.peek(off, len(p))
		k := copy(p, a)
		k += copy(p[k:], b)
		off, p = off+k, p[k:]
	}
}

// discard drops n bytes from the front, giving back the chunks left
// behind; once nothing is held the next byte starts a chunk again.
func (r *byteRing) discard(n int) {
	if n <= 0 {
		return
	}
	r.n -= n
	r.end -= n
	s := r.head >> chunkShift
	for k := (r.head&chunkMask + n) >> chunkShift; k > 0; k-- {
		r.putSlot(s)
		if s++; s == len(r.slots) {
			s = 0
		}
	}
	if r.end == 0 {
		r.putSlot(s)
		r.emptied()
		return
	}
	r.head = r.pos(n)
}

func (r *byteRing) putSlot(s int) {
	if c := r.slots[s]; c != nil {
		r.pool.put(c)
		r.slots[s] = nil
	}
}

// trimTo gives back the chunks that lie wholly at or past offset keep (no
// lower than the in-order bytes) and forgets what they held.
func (r *byteRing) trimTo(keep int) {
	keep = max(keep, r.n)
	if keep >= r.end {
		return
	}
	first := (r.head&chunkMask + keep + chunkMask) >> chunkShift // chunks from head's, up to the one keep ends in
	last := (r.head&chunkMask + r.end + chunkMask) >> chunkShift
	s := r.head>>chunkShift + first
	for k := first; k < last; k++ {
		if s >= len(r.slots) {
			s -= len(r.slots)
		}
		r.putSlot(s)
		s++
	}
	r.end = keep
	if keep == 0 {
		r.putSlot(r.head >> chunkShift)
		r.emptied()
	}
}

// read copies up to len(p) bytes from the front and drops them.
func (r *byteRing) read(p []byte) int {
	m := min(len(p), r.n)
	r.copyOut(0, p[:m])
	r.discard(m)
	return m
}

// seqRange is [start, end) in sequence space; stamp orders a reassembly
// queue's ranges by when data last went into them (the scoreboard keeps 0).
type seqRange struct {
	start, end flow.Seq
	stamp      uint32
}

// reassembly tracks the out-of-order data held in a receive buffer beyond
// its in-order bytes: up to a fixed number of disjoint ranges, sorted, each
// stamped with when data last went into it, for the SACK blocks' order.
type reassembly struct {
	ranges *rangeSet // from pool while n > 0
	pool   *chunkPool
	n      int
	clock  uint32 // the last stamp given
}

// add records [s, e) and merges overlapping or adjacent ranges. It reports
// false when a new range would exceed limit.
func (q *reassembly) add(s, e flow.Seq, limit int) bool {
	// Find the first range that ends at or after s.
	i := 0
	for i < q.n && q.ranges[i].end.LT(s) {
		i++
	}
	if i == q.n || e.LT(q.ranges[i].start) {
		// A new, disjoint range at i.
		if q.n >= limit || q.n == len(q.ranges) {
			return false
		}
		if q.ranges == nil {
			q.ranges = q.pool.getRanges()
		}
		copy(q.ranges[i+1:q.n+1], q.ranges[i:q.n])
		q.clock++
		q.ranges[i] = seqRange{start: s, end: e, stamp: q.clock}
		q.n++
		return true
	}
	// Merge into range i and any following ranges it now touches.
	r := &q.ranges[i]
	r.start = r.start.Min(s)
	r.end = r.end.Max(e)
	j := i + 1
	for j < q.n && q.ranges[j].start.LEQ(r.end) {
		r.end = r.end.Max(q.ranges[j].end)
		j++
	}
	if j > i+1 {
		copy(q.ranges[i+1:], q.ranges[j:q.n])
		q.n -= j - i - 1
	}
	q.clock++
	r.stamp = q.clock
	return true
}

// covers reports whether [s, e) is all held already (a duplicate).
func (q *reassembly) covers(s, e flow.Seq) bool {
	for i := 0; i < q.n; i++ {
		r := q.ranges[i]
		if r.start.LEQ(s) && e.LEQ(r.end) {
			return true
		}
	}
	return false
}

// advance removes what lies below next (now in order) and returns the new
// in-order end: next, or the end of a range that started at or below it.
func (q *reassembly) advance(next flow.Seq) flow.Seq {
	k := 0
	for k < q.n && q.ranges[k].start.LEQ(next) {
		next = next.Max(q.ranges[k].end)
		k++
	}
	if k > 0 {
		copy(q.ranges[:], q.ranges[k:q.n])
		q.n -= k
		if q.n == 0 {
			q.reset()
		}
	}
	return next
}

// reset empties the queue and gives its storage back.
func (q *reassembly) reset() {
	if q.ranges != nil {
		q.pool.putRanges(q.ranges)
		q.ranges = nil
	}
	q.n, q.clock = 0, 0
}

// sackBlocks writes up to len(out) blocks, most recently changed first
// (RFC 2018 4: the first block holds the segment that triggered the ACK,
// the others repeat the most recently reported ones), and returns how many.
func (q *reassembly) sackBlocks(out []SACKBlock) int {
	n := 0
	var last uint32 = 1<<32 - 1
	for n < len(out) && n < q.n {
		best := -1
		for i := 0; i < q.n; i++ {
			if st := q.ranges[i].stamp; st < last && (best < 0 || st > q.ranges[best].stamp) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		r := q.ranges[best]
		out[n] = SACKBlock{Left: r.start, Right: r.end}
		last = r.stamp
		n++
	}
	return n
}

// reasEnd is the receive buffer offset just past the last out-of-order
// range held (the in-order bytes' end when none is).
func (c *Conn) reasEnd() int {
	if c.reas.n == 0 {
		return c.rcv.n
	}
	return int(c.reas.ranges[c.reas.n-1].end.Sub(c.rcvNxt)) + c.rcv.n
}
