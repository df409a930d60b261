package engine

import "github.com/pollstack/pollstack/rings"

// pendQueue holds a core's frames waiting for address resolution. Its slots
// are the core's budget of waiting frames (rings.PendingFrames of the pool,
// 1/8): a flood of unresolved neighbours cannot take more, however many
// entries it makes. Each neighbour's frames are a list in arrival order (at
// most NeighPending), and all of them are on one age list, oldest first:
// when the budget is full the oldest frame of the core is dropped for the
// new one. The slots name their neighbour by address, since entries move
// in the table. Owned by the core; never allocates after creation.
type pendQueue struct {
	slots          []pendSlot
	free           int32 // first free slot, -1 none
	oldest, newest int32 // the age list, -1 when empty
	n              int   // frames waiting
}

type pendSlot struct {
	d            rings.Desc
	ip           [16]byte // the neighbour the frame waits for
	next         int32    // the neighbour's next frame, or the next free slot; -1 none
	older, newer int32    // the age list
}

func newPendQueue(budget int) pendQueue {
	q := pendQueue{slots: make([]pendSlot, budget), free: -1, oldest: -1, newest: -1}
	for i := budget - 1; i >= 0; i-- {
		q.slots[i].next = q.free
		q.free = int32(i)
	}
	return q
}

// unlink takes slot i off the age list and frees it.
func (q *pendQueue) unlink(i int32) {
	s := &q.slots[i]
	if s.older >= 0 {
		q.slots[s.older].newer = s.newer
	} else {
		q.oldest = s.newer
	}
	if s.newer >= 0 {
		q.slots[s.newer].older = s.older
	} else {
		q.newest = s.older
	}
	s.next = q.free
	q.free = i
	q.n--
}

// queuePending makes d wait for e's address. It is dropped when e already has
// NeighPending frames waiting (unresolved). When the core's budget is full,
// or the pool is down to its reserve, the core's oldest waiting frame is
// dropped for it (neigh_budget): waiting frames never hold the reserve,
// which is for receive refills and control segments.
func (c *Core) queuePending(e *neighEntry, d rings.Desc) {
	if int(e.npending) == NeighPending {
		c.drop(d, DropUnresolved)
		return
	}
	q := &c.pend
	if q.free < 0 || c.pool.Free() < c.pool.Reserve() {
		if q.n == 0 {
			c.drop(d, DropNeighBudget)
			return
		}
		c.dropOldestPending()
	}
	i := q.free
	s := &q.slots[i]
	q.free = s.next
	q.n++
	*s = pendSlot{d: d, ip: e.ip, next: -1, older: q.newest, newer: -1}
	if q.newest >= 0 {
		q.slots[q.newest].newer = i
	} else {
		q.oldest = i
	}
	q.newest = i
	if e.npending == 0 {
		e.head = i
	} else {
		q.slots[e.tail].next = i
	}
	e.tail = i
	e.npending++
}

// dropOldestPending drops the core's oldest waiting frame. It is the first
// of its neighbour's list: both lists keep arrival order.
func (c *Core) dropOldestPending() {
	q := &c.pend
	i := q.oldest
	s := &q.slots[i]
	if e := c.neigh.lookup(&s.ip); e != nil && e.npending > 0 && e.head == i {
		e.head = s.next
		e.npending--
	}
	d := s.d
	q.unlink(i)
	c.drop(d, DropNeighBudget)
}

// releasePending sends e's waiting frames to mac, or drops them as
// unresolved when mac is nil.
func (c *Core) releasePending(e *neighEntry, mac []byte) {
	q := &c.pend
	i := e.head
	for k := 0; k < int(e.npending); k++ {
		s := &q.slots[i]
		d, next := s.d, s.next
		q.unlink(i)
		if mac != nil {
			copy(c.pool.Bytes(d)[0:6], mac)
			c.send(d)
		} else {
			c.drop(d, DropUnresolved)
		}
		i = next
	}
	e.npending = 0
}

// neighEvictScan bounds the slots evictIncomplete looks at.
const neighEvictScan = 64

// evictIncomplete makes room in a full neighbour table for ip: it removes
// an unresolved entry near ip's home slot (where the keyed hash puts it,
// which the sender cannot aim at), dropping what waited for it
// (unresolved). Resolved entries are never removed for room. Without it a
// flood of unresolvable on-link sources keeps the table full of entries that
// will never resolve, and a real client, whether it announces itself (ARP
// request, NS) or we must ask for it (a SYN-ACK to a peer that has our
// address cached), is not learned until they time out (3 s, over and over).
// It reports whether it made room.
func (c *Core) evictIncomplete(ip *[16]byte) bool {
	t := c.neigh
	mask := uint64(len(t.slots) - 1)
	i := t.hash(ip) & mask
	for k := 0; k < neighEvictScan; k, i = k+1, (i+1)&mask {
		if e := &t.slots[i]; e.state == neighIncomplete {
			c.releasePending(e, nil)
			t.remove(e)
			return true
		}
	}
	return false
}
