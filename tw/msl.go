package tw

import (
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// A change of msl applies to the entries made (or re-armed) after it; the
// others keep the expiry they were given. The 2MSL queue is a FIFO whose
// expiries never decrease, so when msl shrinks the entries already there
// move to a retired generation — their rings, marks and indexes as they
// are — and new entries start a fresh queue. Lookup, Remove, Rearm (which
// moves the entry to the live queue), Expire, NextExpiry and recycling see
// every generation; a generation goes when its last entry does, at most
// 2*(the old msl) later. Each generation costs one more index probe on a
// lookup that misses, so at most maxRetired are kept; a shrink beyond them
// leaves the entries in the live queue, where a new entry may then expire
// late (with the run before it) but never early.

// gen is a retired generation's entries.
type gen struct {
	v4 store[entry4, *entry4]
	v6 store[entry6, *entry6]
}

// maxRetired bounds the retired generations.
const maxRetired = 8

// retire moves the live entries to a retired generation.
func (t *Table) retire() {
	if t.v4.live+t.v6.live == 0 || len(t.retired) >= maxRetired {
		return
	}
	t.retired = append(t.retired, gen{v4: t.v4, v6: t.v6})
	t.v4, t.v6 = store[entry4, *entry4]{}, store[entry6, *entry6]{}
}

// Generations returns the number of entry generations: 1 plus those
// retired by msl changes that still hold entries.
func (t *Table) Generations() int { return 1 + len(t.retired) }

func (t *Table) st4(g uint8) *store[entry4, *entry4] {
	if g == 0 {
		return &t.v4
	}
	return &t.retired[g-1].v4
}

func (t *Table) st6(g uint8) *store[entry6, *entry6] {
	if g == 0 {
		return &t.v6
	}
	return &t.retired[g-1].v6
}

func (t *Table) retiredLen() int {
	n := 0
	for i := range t.retired {
		n += t.retired[i].v4.live + t.retired[i].v6.live
	}
	return n
}

func (t *Table) retiredBytes() int {
	n := 0
	for i := range t.retired {
		n += t.retired[i].v4.bytes(24) + t.retired[i].v6.bytes(36)
	}
	return n
}

// lookupRetired finds tu (hash h) in the retired generations.
func (t *Table) lookupRetired(h uint64, tu *flow.Tuple) (Ref, bool) {
	v4 := tu.BothIPv4()
	for i := range t.retired {
		g := &t.retired[i]
		if v4 {
			if j, ok := g.v4.find(h, tu, &t.locals); ok {
				return Ref{h: h, slot: int32(j), gen: uint8(i + 1)}, true
			}
		} else if j, ok := g.v6.find(h, tu, &t.locals); ok {
			return Ref{h: h, slot: int32(j), v6: true, gen: uint8(i + 1)}, true
		}
	}
	return Ref{}, false
}

// rearmRetired restarts a retired entry's 2MSL at now in the live queue.
func (t *Table) rearmRetired(r Ref, now mono.Time) {
	if r.v6 {
		e := t.st6(r.gen).take(int(r.slot))
		t.v6.add(t, &e, r.h, t.expiry(now))
	} else {
		e := t.st4(r.gen).take(int(r.slot))
		t.v4.add(t, &e, r.h, t.expiry(now))
	}
	t.dropEmpty()
}

// take removes the entry in index slot i from the store and returns it,
// still holding its local address and port counts.
func (s *store[E, P]) take(i int) E {
	p := s.ix.pos(i)
	e := s.ring[p]
	P(&s.ring[p]).kill()
	s.ix.delete(i)
	s.live--
	s.dropDeadHead()
	return e
}

// recycleRetired ends the oldest retired entry; false when none is left.
func (t *Table) recycleRetired() bool {
	for len(t.retired) > 0 {
		g := &t.retired[0]
		if popOlder(t, &g.v4, &g.v6) {
			t.dropEmpty()
			return true
		}
		t.retired = t.retired[1:]
	}
	return false
}

// popOlder ends the older of v4's and v6's oldest entries; false when both
// are empty.
func popOlder(t *Table, v4 *store[entry4, *entry4], v6 *store[entry6, *entry6]) bool {
	v4.dropDeadHead()
	v6.dropDeadHead()
	switch {
	case v4.n > 0 && (v6.n == 0 || v4.marks.front().exp <= v6.marks.front().exp):
		v4.popHead(t)
	case v6.n > 0:
		v6.popHead(t)
	default:
		return false
	}
	return true
}

// expireRetired ends the retired entries due at now.
func (t *Table) expireRetired(now mono.Time) int {
	n := 0
	for i := range t.retired {
		n += t.retired[i].v4.expire(t, now) + t.retired[i].v6.expire(t, now)
	}
	t.dropEmpty()
	return n
}

// dropEmpty forgets the retired generations that hold no entry.
func (t *Table) dropEmpty() {
	k := 0
	for _, g := range t.retired {
		if g.v4.live+g.v6.live > 0 {
			t.retired[k] = g
			k++
		}
	}
	clear(t.retired[k:])
	t.retired = t.retired[:k]
	if k == 0 {
		t.retired = nil
	}
}

// nextRetired folds the retired generations' earliest expiry into at.
func (t *Table) nextRetired(at mono.Time, ok bool) (mono.Time, bool) {
	for i := range t.retired {
		g := &t.retired[i]
		if g.v4.n > 0 && (!ok || g.v4.marks.front().exp < at) {
			at, ok = g.v4.marks.front().exp, true
		}
		if g.v6.n > 0 && (!ok || g.v6.marks.front().exp < at) {
			at, ok = g.v6.marks.front().exp, true
		}
	}
	return at, ok
}

// Trim recycles the oldest entries until the table holds no more than its
// limit — after SetLimit lowered it below Len — and returns how many it
// ended (counted as Recycled). A run-time maxtcptw change uses it so the
// lower limit holds at once rather than at the next Insert.
func (t *Table) Trim() int {
	n := 0
	for t.Len() > t.limit && t.recycle() {
		n++
	}
	return n
}
