package rings

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// DefaultDelayQueue is the number of frames each direction of a Faulty link
// holds back for Delay.
const DefaultDelayQueue = 1024

// faultOut is the capacity, in frames, of each direction's queue of frames
// ready to go out (to the caller on receive, to the inner link on transmit).
const faultOut = 4 * IdealBatch

// faultMaxFanout is the most frames one input frame can add to the out
// queue at once: itself, its duplicate and a frame held back for reordering.
const faultMaxFanout = 3

// Faults are the faults injected on the frames of one direction. The
// probabilities are per frame, between 0 and 1, and apply in this order:
//
//   - Drop: the frame is returned to the pool.
//   - Corrupt: one random bit of one random byte of the frame is flipped.
//   - Duplicate: a copy is made in a second frame from the pool (none if the
//     pool is empty); the copy follows the original through what comes next.
//   - Reorder: the frame is held back until the next frame of the direction
//     has gone past it, or until the end of the next call in that direction
//     (Receive for Rx; Transmit or Wait for Tx), whichever comes first. A frame
//     picked while another is held lets the held one go and takes its place.
//   - Delay, DelayJitter: every frame is held until Delay plus a uniform
//     random part of DelayJitter has passed on the clock. Frames leave in the
//     order they entered: a frame whose jitter would let it overtake the one
//     ahead of it leaves with that one instead.
//
// Each probability counts over the frames that reach its stage (Corrupt,
// Duplicate over the frames not dropped; Reorder over those and the copies).
type Faults struct {
	Drop, Duplicate, Reorder, Corrupt float64
	Delay                             time.Duration
	DelayJitter                       time.Duration
}

// FaultConfig configures NewFaulty.
type FaultConfig struct {
	Rx, Tx Faults // faults on received and on transmitted frames
	// Seed seeds the pseudo-random choices; the same seed, configuration and
	// calls give the same faults, so a failing run replays exactly.
	Seed uint64
	// Clock returns the time; it drives Delay, so a test can
	// pass a virtual clock. nil means the monotonic clock.
	Clock func() mono.Time
	// DelayQueue is the capacity in frames of each direction's delay queue;
	// when it is full a frame goes at once (counted in DelayOverflow).
	// 0 means DefaultDelayQueue.
	DelayQueue int
}

// FaultCounts counts the faults injected in one direction.
type FaultCounts struct {
	Frames        uint64 // frames that entered the direction
	Dropped       uint64
	Corrupted     uint64
	Duplicated    uint64 // copies made
	DupSkipped    uint64 // copies not made: the pool was empty
	Reordered     uint64 // frames held back
	Delayed       uint64 // frames put on the delay queue
	DelayOverflow uint64 // frames that went at once: the delay queue was full
}

// FaultStats holds the counters of both directions.
type FaultStats struct {
	Rx, Tx FaultCounts
}

// Faulty wraps a Link and injects faults into the frames it receives and
// transmits: drop, corrupt, duplicate, reorder and delay, chosen by a seeded
// pseudo-random generator. It holds frames it delays or reorders in queues of
// fixed size and does not allocate once made. It uses the inner link's pool
// and, like every Link, is owned by one goroutine; not safe for concurrent use.
//
// On transmit, the frames Faulty accepts become its own: it may keep them
// until they are due and until the inner link takes them. When its queue is
// full it refuses frames (counted in Stats().TxRingFull). A call to Receive
// or Wait also hands due frames to the inner link.
type Faulty struct {
	inner   Link
	pool    *Pool
	clock   func() mono.Time
	rx, tx  faultDir
	scratch []Desc
	refused uint64
	closed  bool
}

// timedDesc is a delayed frame and the time it is due.
type timedDesc struct {
	d   Desc
	due mono.Time
}

// faultDir is one direction: the fault stages, then a FIFO of delayed frames,
// then a queue of frames ready to go out.
type faultDir struct {
	f       Faults
	none    bool // no faults: frames go straight to out
	delays  bool
	rng     splitmix
	pool    *Pool
	tick    uint64 // calls in this direction
	held    Desc   // reordered frame
	holding bool
	heldAt  uint64 // tick at which held was held back
	dq      []timedDesc
	dqHead  int
	dqLen   int
	lastDue mono.Time
	out     []Desc // cap faultOut; never grows
	counts  FaultCounts
}

// NewFaulty returns inner wrapped in fault injection. It panics if cfg has a
// probability outside [0, 1] or a negative duration.
func NewFaulty(inner Link, cfg FaultConfig) *Faulty {
	checkFaults("Rx", cfg.Rx)
	checkFaults("Tx", cfg.Tx)
	if cfg.DelayQueue <= 0 {
		cfg.DelayQueue = DefaultDelayQueue
	}
	clock := cfg.Clock
	if clock == nil {
		start := time.Now()
		clock = func() mono.Time { return mono.Time(time.Since(start)) }
	}
	seeds := splitmix{cfg.Seed}
	f := &Faulty{
		inner:   inner,
		pool:    inner.Pool(),
		clock:   clock,
		scratch: make([]Desc, faultOut/faultMaxFanout),
	}
	f.rx.init(cfg.Rx, seeds.next(), f.pool, cfg.DelayQueue)
	f.tx.init(cfg.Tx, seeds.next(), f.pool, cfg.DelayQueue)
	return f
}

func checkFaults(dir string, f Faults) {
	for _, p := range [...]float64{f.Drop, f.Duplicate, f.Reorder, f.Corrupt} {
		if !(p >= 0 && p <= 1) {
			panic(fmt.Sprintf("rings: NewFaulty: %s probability %v outside [0, 1]", dir, p))
		}
	}
	if f.Delay < 0 || f.DelayJitter < 0 {
		panic(fmt.Sprintf("rings: NewFaulty: %s delay %v jitter %v: want ≥ 0", dir, f.Delay, f.DelayJitter))
	}
}

func (p *faultDir) init(f Faults, seed uint64, pool *Pool, delayQueue int) {
	p.f = f
	p.none = f == Faults{}
	p.delays = f.Delay > 0 || f.DelayJitter > 0
	p.rng = splitmix{seed}
	p.pool = pool
	if p.delays {
		p.dq = make([]timedDesc, delayQueue)
	}
	p.out = make([]Desc, 0, faultOut)
	p.lastDue = math.MinInt64
}

// Pool returns the inner link's pool.
func (f *Faulty) Pool() *Pool { return f.pool }

// TxOffloads implements TxOffloader: the inner link's room, and its
// checksums unless frames may be corrupted on their way out (the kernel
// would checksum the corrupted bytes, and the receiver take them).
func (f *Faulty) TxOffloads() TxOffloads {
	o := TxOffloadsOf(f.inner)
	o.Checksum = o.Checksum && f.tx.f.Corrupt == 0
	return o
}

// Inner returns the wrapped link.
func (f *Faulty) Inner() Link { return f.inner }

// Receive takes frames from the inner link, injects the Rx faults and fills
// descs with the frames that are due.
func (f *Faulty) Receive(descs []Desc) int {
	if f.closed {
		return 0
	}
	now := f.clock()
	f.serviceTx(now)
	p := &f.rx
	p.tick++
	p.releaseDue(now)
	want := len(descs) - len(p.out)
	if room := p.room(); want > room {
		want = room
	}
	if want > len(f.scratch) {
		want = len(f.scratch)
	}
	if want > 0 {
		n := f.inner.Receive(f.scratch[:want])
		for _, d := range f.scratch[:n] {
			p.push(d, now)
		}
	}
	p.endCall(now)
	n := copy(descs, p.out)
	p.out = p.out[:copy(p.out, p.out[n:])]
	return n
}

// Transmit injects the Tx faults into descs and hands the frames that are due
// to the inner link. It accepts frames while its queue has room; the frames
// it refuses stay the caller's.
func (f *Faulty) Transmit(descs []Desc) int {
	if f.closed {
		return 0
	}
	now := f.clock()
	p := &f.tx
	p.tick++
	p.releaseDue(now)
	if len(descs) > p.room() && len(p.out) > 0 {
		f.flushTx()
	}
	n := 0
	for n < len(descs) && p.room() > 0 {
		p.push(descs[n], now)
		n++
	}
	f.refused += uint64(len(descs) - n)
	p.endCall(now)
	f.flushTx()
	return n
}

// Wake implements Waker when the inner link does.
func (f *Faulty) Wake() { WakeLink(f.inner) }

// Wait lets a held transmit frame go, then waits on the inner link, for no
// longer than until the next delayed frame is due (on the clock). It returns
// at once if received frames are ready.
func (f *Faulty) Wait(timeout time.Duration) {
	if f.closed {
		return
	}
	now := f.clock()
	f.tx.tick++
	f.tx.endCall(now)
	f.serviceTx(now)
	if len(f.rx.out) > 0 || f.rx.holding {
		return
	}
	for _, p := range [...]*faultDir{&f.rx, &f.tx} {
		if p.dqLen > 0 {
			d := p.dq[p.dqHead].due.Sub(now)
			if d <= 0 {
				return
			}
			timeout = min(timeout, d)
		}
	}
	if len(f.tx.out) > 0 {
		// The inner link refused frames; try again soon.
		timeout = min(timeout, 100*time.Microsecond)
	}
	f.inner.Wait(timeout)
	f.serviceTx(f.clock())
}

// Stats returns the inner link's counters, with the frames Faulty itself
// refused to transmit added to TxRingFull.
func (f *Faulty) Stats() LinkStats {
	s := f.inner.Stats()
	s.TxRingFull += f.refused
	return s
}

// FaultStats returns the faults injected so far.
func (f *Faulty) FaultStats() FaultStats {
	return FaultStats{Rx: f.rx.counts, Tx: f.tx.counts}
}

// Pending returns the number of frames Faulty holds in both directions:
// delayed, held back for reordering, or waiting for the caller or the inner
// link.
func (f *Faulty) Pending() int {
	return f.rx.pending() + f.tx.pending()
}

// Close returns every frame Faulty holds to the pool and closes the inner link.
func (f *Faulty) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.rx.discard()
	f.tx.discard()
	return f.inner.Close()
}

// serviceTx moves due transmit frames towards the inner link.
func (f *Faulty) serviceTx(now mono.Time) {
	f.tx.releaseDue(now)
	if len(f.tx.out) > 0 {
		f.flushTx()
	}
}

// flushTx hands the ready transmit frames to the inner link and keeps what it
// refuses.
func (f *Faulty) flushTx() {
	p := &f.tx
	n := f.inner.Transmit(p.out)
	p.out = p.out[:copy(p.out, p.out[n:])]
}

// room returns how many more input frames the direction can take now.
func (p *faultDir) room() int { return (cap(p.out) - len(p.out)) / faultMaxFanout }

func (p *faultDir) pending() int {
	n := len(p.out) + p.dqLen
	if p.holding {
		n++
	}
	return n
}

// push runs one frame through the fault stages. The out queue must have room
// for faultMaxFanout frames.
func (p *faultDir) push(d Desc, now mono.Time) {
	p.counts.Frames++
	if p.none {
		p.out = append(p.out, d)
		return
	}
	if p.f.Drop > 0 && p.rng.float() < p.f.Drop {
		p.counts.Dropped++
		p.pool.Put(d.Addr)
		return
	}
	if p.f.Corrupt > 0 && p.rng.float() < p.f.Corrupt {
		p.counts.Corrupted++
		if b := p.pool.Bytes(d); len(b) > 0 {
			r := p.rng.next()
			hi, _ := bits.Mul64(r, uint64(len(b)))
			b[hi] ^= 1 << (r & 7)
		}
	}
	if p.f.Duplicate > 0 && p.rng.float() < p.f.Duplicate {
		if addr, ok := p.pool.Get(); ok {
			p.counts.Duplicated++
			// The copy keeps the frame's place in its pool frame and
			// what lies before it (transmit metadata).
			off := d.Addr & (p.pool.frameSize - 1)
			n := copy(p.pool.Frame(addr), p.pool.Frame(d.Addr - off)[:off+uint64(d.Len)])
			c := Desc{Addr: addr + off, Len: uint32(n) - uint32(off), Options: d.Options}
			p.reorder(d, now)
			p.reorder(c, now)
			return
		}
		p.counts.DupSkipped++
	}
	p.reorder(d, now)
}

func (p *faultDir) reorder(d Desc, now mono.Time) {
	if p.f.Reorder > 0 && p.rng.float() < p.f.Reorder {
		p.counts.Reordered++
		if p.holding {
			p.delay(p.held, now)
		}
		p.held, p.holding, p.heldAt = d, true, p.tick
		return
	}
	p.delay(d, now)
	if p.holding {
		p.holding = false
		p.delay(p.held, now)
	}
}

func (p *faultDir) delay(d Desc, now mono.Time) {
	if !p.delays {
		p.out = append(p.out, d)
		return
	}
	due := now.Add(p.f.Delay)
	if p.f.DelayJitter > 0 {
		due = due.Add(time.Duration(p.rng.next() % (uint64(p.f.DelayJitter) + 1)))
	}
	if p.dqLen == len(p.dq) {
		p.counts.DelayOverflow++
		p.out = append(p.out, d)
		return
	}
	if due < p.lastDue {
		due = p.lastDue
	}
	p.lastDue = due
	i := p.dqHead + p.dqLen
	if i >= len(p.dq) {
		i -= len(p.dq)
	}
	p.dq[i] = timedDesc{d: d, due: due}
	p.dqLen++
	p.counts.Delayed++
}

// releaseDue moves the delayed frames that are due to the out queue, as many
// as it has room for.
func (p *faultDir) releaseDue(now mono.Time) {
	for p.dqLen > 0 && len(p.out) < cap(p.out) && p.dq[p.dqHead].due <= now {
		p.out = append(p.out, p.dq[p.dqHead].d)
		p.dq[p.dqHead] = timedDesc{}
		p.dqHead++
		if p.dqHead == len(p.dq) {
			p.dqHead = 0
		}
		p.dqLen--
	}
}

// endCall lets go a frame held back since an earlier call, then releases
// what is due.
func (p *faultDir) endCall(now mono.Time) {
	if p.holding && p.heldAt != p.tick && len(p.out) < cap(p.out) {
		p.holding = false
		p.delay(p.held, now)
	}
	p.releaseDue(now)
}

// discard returns every frame the direction holds to the pool.
func (p *faultDir) discard() {
	for _, d := range p.out {
		p.pool.Put(d.Addr)
	}
	p.out = p.out[:0]
	if p.holding {
		p.holding = false
		p.pool.Put(p.held.Addr)
	}
	for ; p.dqLen > 0; p.dqLen-- {
		p.pool.Put(p.dq[p.dqHead].d.Addr)
		p.dqHead = (p.dqHead + 1) % len(p.dq)
	}
}

// splitmix is the SplitMix64 generator: small, fast and good enough to pick
// faults; its whole state is one word, so a seed replays exactly.
type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform float64 in [0, 1).
func (r *splitmix) float() float64 { return float64(r.next()>>11) * 0x1p-53 }

var _ Link = (*Faulty)(nil)
