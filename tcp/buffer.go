package tcp

import "github.com/pollstack/pollstack/flow"

// byteRing is a circular byte buffer: n bytes starting at head. It is the
// storage of both the send buffer (bytes from snd_una on) and the receive
// buffer (unread bytes, then room where out-of-order data waits).
type byteRing struct {
	buf  []byte
	head int
	n    int
}

func (r *byteRing) cap() int  { return len(r.buf) }
func (r *byteRing) free() int { return len(r.buf) - r.n }

// write appends as much of p as fits and returns how much.
func (r *byteRing) write(p []byte) int {
	m := min(len(p), r.free())
	r.copyIn(r.n, p[:m])
	r.n += m
	return m
}

// copyIn copies p to offset off from head (off+len(p) ≤ cap).
func (r *byteRing) copyIn(off int, p []byte) {
	i := r.head + off
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	c := copy(r.buf[i:], p)
	copy(r.buf, p[c:])
}

// peek returns the bytes at [off, off+n) from head, in at most two pieces.
func (r *byteRing) peek(off, n int) (a, b []byte) {
	i := r.head + off
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	if i+n <= len(r.buf) {
		return r.buf[i : i+n], nil
	}
	return r.buf[i:], r.buf[:n-(len(r.buf)-i)]
}

// copyOut copies [off, off+len(p)) from head into p.
func (r *byteRing) copyOut(off int, p []byte) {
	a, b := r.peek(off, len(p))
	c := copy(p, a)
	copy(p[c:], b)
}

// discard drops n bytes from the front.
func (r *byteRing) discard(n int) {
	r.head += n
	if r.head >= len(r.buf) {
		r.head -= len(r.buf)
	}
	r.n -= n
}

// read copies up to len(p) bytes from the front and drops them.
func (r *byteRing) read(p []byte) int {
	m := min(len(p), r.n)
	r.copyOut(0, p[:m])
	r.discard(m)
	return m
}

// seqRange is [start, end) in sequence space.
type seqRange struct{ start, end flow.Seq }

// reassembly tracks the out-of-order data held in a receive buffer beyond
// its in-order bytes: up to a fixed number of disjoint ranges, sorted, the
// most recently changed one first in SACK order.
type reassembly struct {
	ranges [DefaultReassMaxQueueLen]seqRange
	n      int
	// recent is the index of the range the last segment went into, for the
	// first SACK block (RFC 2018 4).
	recent int
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
		copy(q.ranges[i+1:q.n+1], q.ranges[i:q.n])
		q.ranges[i] = seqRange{s, e}
		q.n++
		q.recent = i
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
	q.recent = i
	return true
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
		q.recent = 0
	}
	return next
}

func (q *reassembly) reset() { q.n, q.recent = 0, 0 }

// sackBlocks writes up to len(out) blocks, the most recent range first, then
// the others in order (RFC 2018 4), and returns how many.
func (q *reassembly) sackBlocks(out []SACKBlock) int {
	if q.n == 0 || len(out) == 0 {
		return 0
	}
	r := q.ranges[q.recent]
	out[0] = SACKBlock{Left: r.start, Right: r.end}
	n := 1
	for i := 0; i < q.n && n < len(out); i++ {
		if i == q.recent {
			continue
		}
		out[n] = SACKBlock{Left: q.ranges[i].start, Right: q.ranges[i].end}
		n++
	}
	return n
}
