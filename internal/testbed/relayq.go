package testbed

import (
	"time"

	"github.com/pollstack/pollstack/mono"
)

// Bounds of the relay's queue of one direction (see Relay in Bed).
const (
	// RelaySlots is how many frames the relay holds in one direction; a
	// frame that finds them all taken is dropped and counted. 4096 full
	// frames held for 5 ms (one way of a 10 ms delay) is 9.9 Gbit/s, far
	// above what the relay moves.
	RelaySlots = 4096
	// RelaySlotSize is the room for one frame: an Ethernet frame of MTU
	// 1500 with a VLAN tag put back (1518 bytes) and headroom.
	RelaySlotSize = 2048
)

// vlanRoom is the headroom before each frame in a slot, where the relay
// moves the MAC addresses to put back a VLAN tag the kernel took off.
const vlanRoom = 4

// frameQueue holds the frames of one direction for their delay, in arrival
// order: a ring of fixed slots, filled by Slot and Commit and emptied by
// Front and Pop, with nothing allocated after newFrameQueue. Each frame is
// due delay after it arrived, plus a draw of the jitter in
// [-jitter, +jitter] that never makes it due before the frame ahead of it:
// jitter does not reorder. With reorder, a frame drawn for it is held
// behind the next frame: when that one is committed the two swap slots
// (the follower leaves first, the held frame right after it), and a held
// frame no frame follows leaves ReorderWait after its due time. With
// duplicate, a frame drawn for it is sent twice (Copies). Behind a
// bottleneck (setBottleneck) a frame is due delay after the link has sent
// it. Owned by the relay's loop; not safe for concurrent use.
type frameQueue struct {
	buf    []byte      // slots of slotSize bytes, vlanRoom of headroom each
	off    []uint16    // where each slot's frame starts (0 or vlanRoom)
	n      []uint16    // each slot's frame length
	due    []mono.Time // each slot's due time
	copies []uint8     // each slot's sends left: 1, or 2 for a duplicated frame
	mask   uint64
	head   uint64 // the oldest frame's index (mod len)
	tail   uint64 // the next free slot's index

	delay, jitter time.Duration
	// reorder and duplicate are the probabilities as thresholds on a
	// 53-bit draw (0: never, 1<<53: always).
	reorder, duplicate uint64
	rng                uint64    // xorshift64 state for the draws
	lastDue            mono.Time // due time of the newest frame (a held one's before its hold)
	// holding says the newest frame, index held, is held for reordering.
	holding bool
	held    uint64
	swap    []byte // one slot, to swap two

	// Dropped counts frames that found every slot taken, Passed the
	// frames popped. Reordered counts frames that left behind the frame
	// that followed them, HeldAlone frames held for reordering that no
	// frame followed in time (they left late, in order), Duplicated
	// frames sent twice.
	Dropped, Passed                  uint64
	Reordered, HeldAlone, Duplicated uint64

	// The bottleneck (setBottleneck): rate bytes/s, 0 for none; the
	// queue's limit and ECN threshold in bytes; when the link is done
	// with the frames queued so far. Marked counts frames marked CE,
	// LinkDropped frames the full queue refused; depth the backlog each
	// frame found (window: since the last report).
	rate, markAbove, limit uint64
	linkFree               mono.Time
	Marked, LinkDropped    uint64
	depth, window          depthStats
}

// newFrameQueue returns a queue of slots frames (a power of 2) for delay,
// with the jitter drawn from seed. It neither reorders nor duplicates
// until setShuffle.
func newFrameQueue(slots int, delay, jitter time.Duration, seed uint64) *frameQueue {
	if slots <= 0 || slots&(slots-1) != 0 {
		panic("testbed: frame queue slots must be a power of 2")
	}
	if seed == 0 {
		seed = 0x9e3779b97f4a7c15
	}
	return &frameQueue{
		buf:    make([]byte, slots*RelaySlotSize),
		off:    make([]uint16, slots),
		n:      make([]uint16, slots),
		due:    make([]mono.Time, slots),
		copies: make([]uint8, slots),
		swap:   make([]byte, RelaySlotSize),
		mask:   uint64(slots - 1),
		delay:  delay, jitter: jitter, rng: seed,
	}
}

// setShuffle makes the queue hold a frame back behind the next one with
// probability reorder and send a frame twice with probability duplicate
// (both 0..1).
func (q *frameQueue) setShuffle(reorder, duplicate float64) {
	q.reorder = threshold(reorder)
	q.duplicate = threshold(duplicate)
}

// threshold turns a probability into a bound on a 53-bit draw.
func threshold(p float64) uint64 {
	return uint64(min(max(p, 0), 1) * (1 << 53))
}

// chance draws with the threshold thr (threshold).
func (q *frameQueue) chance(thr uint64) bool {
	return thr != 0 && q.next()>>11 < thr
}

// next steps the xorshift64 generator.
func (q *frameQueue) next() uint64 {
	q.rng ^= q.rng << 13
	q.rng ^= q.rng >> 7
	q.rng ^= q.rng << 17
	return q.rng
}

// Len is how many frames the queue holds.
func (q *frameQueue) Len() int { return int(q.tail - q.head) }

// Full reports whether every slot is taken.
func (q *frameQueue) Full() bool { return q.tail-q.head > q.mask }

// Free is how many slots are free.
func (q *frameQueue) Free() int { return len(q.n) - q.Len() }

// Slot is the free slot to read the next frame into, vlanRoom bytes after
// the slot's start (the headroom stays free). It is nil when the queue is
// full: the caller drops the frame and calls Drop.
func (q *frameQueue) Slot() []byte {
	if q.Full() {
		return nil
	}
	return q.SlotAt(0)
}

// SlotAt is the free slot i places after Slot's (i < Free), to read a
// batch of frames into at once: Commit takes them in order.
func (q *frameQueue) SlotAt(i int) []byte {
	j := int((q.tail + uint64(i)) & q.mask)
	return q.buf[j*RelaySlotSize+vlanRoom : (j+1)*RelaySlotSize]
}

// Drop counts a frame that found the queue full.
func (q *frameQueue) Drop() { q.Dropped++ }

// Commit queues the n bytes read into Slot as a frame that arrived at now.
// With tagged, the frame had its VLAN tag (tpid, tci) taken off by the
// kernel, and Commit puts it back after the MAC addresses. Behind a
// bottleneck (setBottleneck) a frame that finds the link's queue at its
// limit is not queued: Commit counts it and reports false.
func (q *frameQueue) Commit(n int, now mono.Time, tagged bool, tpid, tci uint16) bool {
	i := int(q.tail & q.mask)
	base := i * RelaySlotSize
	var linkDone mono.Time // when the bottleneck has sent the frame
	if q.rate > 0 {
		backlog := q.Backlog(now)
		q.depth.add(backlog)
		q.window.add(backlog)
		if backlog+uint64(n) > q.limit {
			q.LinkDropped++
			return false
		}
		if q.markAbove > 0 && backlog > q.markAbove {
			if markCE(q.buf[base+vlanRoom : base+vlanRoom+n]) {
				q.Marked++
			}
		}
		start := max(now, q.linkFree)
		q.linkFree = start.Add(time.Duration(uint64(n) * uint64(time.Second) / q.rate))
		linkDone = q.linkFree
	}
	off := vlanRoom
	if tagged && n >= 12 {
		s := q.buf[base : base+vlanRoom+n]
		copy(s[0:12], s[vlanRoom:vlanRoom+12])
		s[12], s[13] = byte(tpid>>8), byte(tpid)
		s[14], s[15] = byte(tci>>8), byte(tci)
		off, n = 0, n+vlanRoom
	}
	due := now.Add(q.delay)
	if q.rate > 0 {
		due = linkDone.Add(q.delay)
	}
	if q.jitter > 0 {
		due = due.Add(q.draw())
	}
	if due.Before(q.lastDue) {
		due = q.lastDue // never ahead of the frame before it
	}
	q.off[i], q.n[i], q.due[i], q.copies[i] = uint16(off), uint16(n), due, 1
	if q.chance(q.duplicate) {
		q.copies[i] = 2
		q.Duplicated++
	}
	q.lastDue = due
	if q.holding && q.held+1 == q.tail && q.head <= q.held {
		// The held frame is still here: this one goes ahead of it, and
		// it leaves right after.
		q.swapSlots(int(q.held&q.mask), i)
		q.due[q.held&q.mask] = due
		q.holding = false
		q.Reordered++
	} else if q.chance(q.reorder) {
		q.due[i] = due.Add(ReorderWait)
		q.holding, q.held = true, q.tail
	}
	q.tail++
	return true
}

// setBottleneck puts a link of rate bytes/s in front of the delay: each
// frame waits until the frames ahead of it have been sent at the rate,
// the queue holds at most limit bytes (more are dropped, LinkDropped),
// and an ECN-capable frame that finds more than markAbove bytes queued
// (0: never) is marked CE.
func (q *frameQueue) setBottleneck(rate, markAbove, limit uint64) {
	q.rate, q.markAbove, q.limit = rate, markAbove, limit
}

// Backlog is how many bytes the bottleneck has still to send at now.
func (q *frameQueue) Backlog(now mono.Time) uint64 {
	if q.rate == 0 || !q.linkFree.After(now) {
		return 0
	}
	return uint64(q.linkFree.Sub(now)) * q.rate / uint64(time.Second)
}

// markCE sets CE on an Ethernet frame (one VLAN tag at most) carrying an
// ECN-capable (ECT(0) or ECT(1)) IPv4 or IPv6 packet, the IPv4 header
// checksum updated; it reports whether it did.
func markCE(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	et, ip := uint16(f[12])<<8|uint16(f[13]), 14
	if (et == 0x8100 || et == 0x88a8) && len(f) >= 18 {
		et, ip = uint16(f[16])<<8|uint16(f[17]), 18
	}
	switch {
	case et == 0x0800 && len(f) >= ip+20 && f[ip]>>4 == 4:
		tos := f[ip+1]
		if e := tos & 3; e != 1 && e != 2 {
			return false
		}
		// RFC 1624: HC' = ~(~HC + ~m + m') over the word holding the TOS.
		old := uint32(f[ip])<<8 | uint32(tos)
		neu := old | 3
		sum := uint32(^(uint16(f[ip+10])<<8 | uint16(f[ip+11])))
		sum += uint32(^uint16(old)) + neu
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		c := ^uint16(sum)
		f[ip+1] = tos | 3
		f[ip+10], f[ip+11] = byte(c>>8), byte(c)
		return true
	case et == 0x86dd && len(f) >= ip+40 && f[ip]>>4 == 6:
		if e := f[ip+1] >> 4 & 3; e != 1 && e != 2 {
			return false
		}
		f[ip+1] |= 0x30
		return true
	}
	return false
}

// depthStats sums the bottleneck's backlog as each frame found it.
type depthStats struct {
	n, sum, max uint64
}

func (d *depthStats) add(b uint64) {
	d.n++
	d.sum += b
	d.max = max(d.max, b)
}

func (d *depthStats) mean() uint64 {
	if d.n == 0 {
		return 0
	}
	return d.sum / d.n
}

// swapSlots swaps the frames in slots i and j (their due times stay).
func (q *frameQueue) swapSlots(i, j int) {
	a := q.buf[i*RelaySlotSize : (i+1)*RelaySlotSize]
	b := q.buf[j*RelaySlotSize : (j+1)*RelaySlotSize]
	copy(q.swap, a)
	copy(a, b)
	copy(b, q.swap)
	q.off[i], q.off[j] = q.off[j], q.off[i]
	q.n[i], q.n[j] = q.n[j], q.n[i]
	q.copies[i], q.copies[j] = q.copies[j], q.copies[i]
}

// draw returns a uniform draw from [-jitter, +jitter].
func (q *frameQueue) draw() time.Duration {
	span := uint64(2*q.jitter) + 1
	return time.Duration(q.next()%span) - q.jitter
}

// Due is the oldest frame's due time; ok is false when the queue is empty.
func (q *frameQueue) Due() (due mono.Time, ok bool) {
	if q.head == q.tail {
		return 0, false
	}
	return q.due[q.head&q.mask], true
}

// Front is the oldest frame; the queue must not be empty. It stays valid
// until Pop.
func (q *frameQueue) Front() []byte { return q.At(0) }

// At is the frame k places behind the oldest (k < Len).
func (q *frameQueue) At(k int) []byte {
	i := int((q.head + uint64(k)) & q.mask)
	base := i*RelaySlotSize + int(q.off[i])
	return q.buf[base : base+int(q.n[i])]
}

// DueAt is the due time of the frame k places behind the oldest (k < Len).
func (q *frameQueue) DueAt(k int) mono.Time { return q.due[(q.head+uint64(k))&q.mask] }

// CopiesAt is how many times the frame k places behind the oldest is
// still to be sent (k < Len): 1, or 2 for a duplicated frame not sent yet.
func (q *frameQueue) CopiesAt(k int) int { return int(q.copies[(q.head+uint64(k))&q.mask]) }

// Sent records that one copy of the oldest frame went out; after its last
// copy it is popped. It reports whether it was.
func (q *frameQueue) Sent() bool {
	i := q.head & q.mask
	if q.copies[i] > 1 {
		q.copies[i]--
		return false
	}
	q.Pop()
	return true
}

// Pop removes the oldest frame, whatever copies of it are left.
func (q *frameQueue) Pop() {
	if q.holding && q.head == q.held {
		q.holding = false // no frame followed it in time
		q.HeldAlone++
	}
	q.head++
	q.Passed++
}

// Lateness buckets of the relay: how long after its due time a frame left,
// the upper bound of each bucket (the last holds the rest).
var latenessBounds = [...]time.Duration{
	10 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
}

// lateness is a histogram of how late frames left; the zero value is
// empty.
type lateness struct {
	count [len(latenessBounds) + 1]uint64
	max   time.Duration
	sum   time.Duration
}

func (l *lateness) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(latenessBounds) && d > latenessBounds[i] {
		i++
	}
	l.count[i]++
	l.sum += d
	l.max = max(l.max, d)
}

// within is the share of frames no later than latenessBounds[b].
func (l *lateness) within(b int) float64 {
	var in, all uint64
	for i, c := range l.count {
		all += c
		if i <= b {
			in += c
		}
	}
	if all == 0 {
		return 1
	}
	return float64(in) / float64(all)
}
