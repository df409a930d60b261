package tw

import (
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// mark is the expiry of a run of entries: those from logical position at
// up to the next mark's. Entries made in the same expiry tick share one.
type mark struct {
	at  uint64    // logical position of the run's first entry
	exp mono.Time // when the run expires
}

// marks is a FIFO of marks in a ring buffer.
type marks struct {
	buf  []mark
	head int
	n    int
}

func (q *marks) get(i int) *mark {
	i += q.head
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	return &q.buf[i]
}

func (q *marks) front() *mark { return &q.buf[q.head] }
func (q *marks) back() *mark  { return q.get(q.n - 1) }

func (q *marks) push(m mark) {
	if q.n == len(q.buf) {
		nb := make([]mark, max(2*len(q.buf), 16))
		for i := 0; i < q.n; i++ {
			nb[i] = *q.get(i)
		}
		q.buf, q.head = nb, 0
	}
	q.n++
	*q.get(q.n - 1) = m
}

func (q *marks) popFront() {
	if q.head++; q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
}

// store is one address family's entries: a ring in creation order, the
// expiry marks over it and the index into it. Logical positions count
// entries from the store's creation (headL is the head's); the ring slot of
// a logical position is its distance from the head, wrapped.
type store[E any, P entryPtr[E]] struct {
	ring  []E
	head  int    // ring slot of the oldest slot in use
	n     int    // slots in use: entries and tombstones
	live  int    // entries
	headL uint64 // logical position of ring[head]
	marks marks
	ix    index
	scale int // index slots per 8 ring slots: 10 keeps the load at most 0.8
}

func (s *store[E, P]) next(p int) int {
	if p++; p == len(s.ring) {
		p = 0
	}
	return p
}

// logical returns the logical position of ring slot p (which is in use).
func (s *store[E, P]) logical(p int) uint64 {
	d := p - s.head
	if d < 0 {
		d += len(s.ring)
	}
	return s.headL + uint64(d)
}

// find returns the index slot of t's entry.
func (s *store[E, P]) find(h uint64, t *flow.Tuple, locals *[256][16]byte) (int, bool) {
	ix := &s.ix
	if ix.n == 0 {
		return 0, false
	}
	shift := ix.posBits
	tag := ix.tag(h)
	i := ix.home(h)
	n := len(ix.slots)
	for d := uint32(0); ; d++ {
		v := ix.slots[i]
		if v == 0 {
			return 0, false
		}
		vd := v >> shift & maxDIB
		if vd < d {
			return 0, false
		}
		if vd == d && v>>(shift+dibBits) == tag && P(&s.ring[int(v&ix.posMask)-1]).match(*t, locals) {
			return i, true
		}
		if i++; i == n {
			i = 0
		}
	}
}

// add appends an entry at the tail, expiring at exp, and indexes it.
func (s *store[E, P]) add(tb *Table, e *E, h uint64, exp mono.Time) {
	s.makeRoom(tb)
	p := s.head + s.n
	if p >= len(s.ring) {
		p -= len(s.ring)
	}
	s.ring[p] = *e
	tail := s.headL + uint64(s.n)
	if s.marks.n == 0 || s.marks.back().exp < exp {
		s.marks.push(mark{at: tail, exp: exp})
	}
	s.n++
	s.live++
	if !s.ix.insert(h, p) {
		s.scale++
		s.rebuild(tb)
	}
}

// makeRoom makes sure the ring has a free slot: it drops tombstones from
// the head, compacts a ring that is one eighth tombstones, or grows it.
func (s *store[E, P]) makeRoom(tb *Table) {
	if s.n < len(s.ring) {
		return
	}
	s.dropDeadHead()
	if s.n < len(s.ring) {
		return
	}
	if dead := s.n - s.live; dead > 0 && dead*8 >= s.n {
		s.compact(tb)
		return
	}
	c := nextCap(len(s.ring), tb.limit)
	if len(s.ring) == 0 {
		c = max(c, tb.reserve)
	}
	s.grow(tb, c)
}

// nextCap is the ring size after c when the table keeps at most limit
// entries: half again, but no further than the limit when below it; past
// the limit (tombstones fill the ring) an eighth more.
func nextCap(c, limit int) int {
	n := max(c+c/2, 16)
	if c < limit && n > limit {
		n = limit
	}
	if n <= c {
		n = c + max(c/8, 16)
	}
	return min(n, 1<<maxPosBits-2)
}

// grow moves the entries to a ring of c slots, the head at slot 0.
func (s *store[E, P]) grow(tb *Table, c int) {
	nr := make([]E, c)
	k := copy(nr, s.ring[s.head:min(s.head+s.n, len(s.ring))])
	copy(nr[k:s.n], s.ring)
	s.ring, s.head = nr, 0
	s.rebuild(tb)
}

// compact squeezes the tombstones out of the ring in place and renumbers
// the marks.
func (s *store[E, P]) compact(tb *Table) {
	s.marks.front().at = s.headL
	mi := 0
	r, w := s.head, s.head
	oldL, newL := s.headL, s.headL
	for i := 0; i < s.n; i++ {
		for mi < s.marks.n && s.marks.get(mi).at == oldL {
			s.marks.get(mi).at = newL
			mi++
		}
		if P(&s.ring[r]).live() {
			s.ring[w] = s.ring[r]
			w = s.next(w)
			newL++
		}
		r = s.next(r)
		oldL++
	}
	for ; mi < s.marks.n; mi++ {
		s.marks.get(mi).at = newL
	}
	s.n = s.live
	// Keep only the marks that still cover an entry.
	tail := s.headL + uint64(s.n)
	k := 0
	for i := 0; i < s.marks.n; i++ {
		end := tail
		if i+1 < s.marks.n {
			end = s.marks.get(i + 1).at
		}
		if s.marks.get(i).at < end {
			*s.marks.get(k) = *s.marks.get(i)
			k++
		}
	}
	s.marks.n = k
	s.rebuild(tb)
}

// rebuild indexes the ring's entries afresh, growing the index until no
// element lies farther than maxDIB from home.
func (s *store[E, P]) rebuild(tb *Table) {
	if s.scale == 0 {
		s.scale = 10
	}
	for {
		s.ix.reset(max(len(s.ring)*s.scale/8, 8), posBitsFor(len(s.ring)))
		ok := true
		for i, p := 0, s.head; i < s.n && ok; i, p = i+1, s.next(p) {
			if e := P(&s.ring[p]); e.live() {
				t := e.tuple(&tb.locals)
				ok = s.ix.insert(tb.hash(&t), p)
			}
		}
		if ok {
			return
		}
		s.scale++
	}
}

// dropDeadHead pops the tombstones at the head.
func (s *store[E, P]) dropDeadHead() {
	for s.n > 0 && !P(&s.ring[s.head]).live() {
		s.advance()
	}
}

// advance pops the head slot, whatever it holds.
func (s *store[E, P]) advance() {
	s.head = s.next(s.head)
	s.n--
	s.headL++
	if s.n == 0 {
		s.marks.n, s.marks.head = 0, 0
		return
	}
	for s.marks.n > 1 && s.marks.get(1).at <= s.headL {
		s.marks.popFront()
	}
}

// popHead ends the entry at the head (expiry, recycling).
func (s *store[E, P]) popHead(tb *Table) {
	e := P(&s.ring[s.head])
	t := e.tuple(&tb.locals)
	s.ix.delete(s.ix.findPos(tb.hash(&t), s.head))
	tb.release(e.localIdx())
	tb.ports.del(e.port(), e.reusePort())
	s.live--
	s.advance()
}

// remove ends the entry in index slot i.
func (s *store[E, P]) remove(tb *Table, i int) {
	e := P(&s.ring[s.ix.pos(i)])
	tb.release(e.localIdx())
	tb.ports.del(e.port(), e.reusePort())
	e.kill()
	s.ix.delete(i)
	s.live--
	s.dropDeadHead()
}

// rearm moves the entry in index slot i (hash h) to the tail with a new expiry.
func (s *store[E, P]) rearm(tb *Table, i int, h uint64, exp mono.Time) {
	e := s.take(i)
	s.add(tb, &e, h, exp)
}

// expire ends the entries due at now and returns how many.
func (s *store[E, P]) expire(tb *Table, now mono.Time) int {
	k := 0
	for s.n > 0 && s.marks.front().exp <= now {
		if P(&s.ring[s.head]).live() {
			s.popHead(tb)
			k++
		} else {
			s.advance()
		}
	}
	return k
}

// expiry returns when the entry at ring slot p expires.
func (s *store[E, P]) expiry(p int) mono.Time {
	l := s.logical(p)
	lo, hi := 0, s.marks.n-1 // the last mark at or before l
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.marks.get(mid).at <= l {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s.marks.get(lo).exp
}

// bytes is the memory the store's arrays hold.
func (s *store[E, P]) bytes(entrySize int) int {
	return len(s.ring)*entrySize + cap(s.ix.slots)*4 + len(s.marks.buf)*16
}
