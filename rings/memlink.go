package rings

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWireSlots is the number of frames one direction of a MemLink pair
// holds in flight.
const DefaultWireSlots = 1024

// MemConfig shapes a MemLink pair. Zero fields take their defaults.
type MemConfig struct {
	Frames    int // frames in each end's pool; 0 means DefaultFrames
	FrameSize int // bytes per frame, 2048 or 4096; 0 means DefaultFrameSize
	WireSlots int // frames in flight per direction, a power of two ≥ 2; 0 means DefaultWireSlots
	SlotSize  int // largest frame the wire carries, in bytes, at most FrameSize; 0 means FrameSize
}

// MemLink is one end of an in-memory link pair made by NewMemPair. Each
// direction is a "wire": a lock-free single-producer single-consumer ring of
// fixed-size byte slots. Transmit copies frames onto the wire and returns them
// to the sender's pool at once; Receive copies them off the wire into frames
// taken from the receiver's own pool. Nothing is shared between the ends but
// the wires, so the two ends may be driven by two goroutines (two engines in
// one process), each end by exactly one.
//
// A MemLink is owned by one goroutine; not safe for concurrent use. Close may
// be called from either end's goroutine and closes both ends.
type MemLink struct {
	pool   *Pool
	tx     *wire // this end produces
	rx     *wire // this end consumes
	shared *memShared
	timer  *time.Timer // for Wait, reused
	stats  LinkStats
}

// memShared is the state both ends of a pair see.
type memShared struct {
	closed atomic.Bool
	done   chan struct{} // closed by Close
	once   sync.Once
}

// wire is one direction of a pair: WireSlots slots of SlotSize bytes, with the
// producer's and consumer's indices on separate cache lines, as in SPSC.
type wire struct {
	_       pad
	tail    atomic.Uint64 // written by the producer
	_       pad
	head    atomic.Uint64 // written by the consumer
	_       pad
	waiting atomic.Bool // the consumer is in Wait; written by the consumer
	_       pad
	// producer-local
	ptail      uint64
	cachedHead uint64
	_          pad
	// consumer-local
	chead      uint64
	cachedTail uint64
	_          pad
	// read-only after construction
	mask     uint64
	slotSize uint64
	lens     []uint32      // length of the frame in each slot
	data     []byte        // WireSlots × SlotSize bytes
	notify   chan struct{} // capacity 1; wakes the consumer's Wait
	// wake is Wake's: unlike notify, Wait does not forget a token left in
	// it, so that a Wake between the caller's decision to sleep and the
	// sleep itself is not lost (the token costs at most one early return).
	wake chan struct{}
}

func newWire(slots, slotSize int) *wire {
	return &wire{
		mask:     uint64(slots - 1),
		slotSize: uint64(slotSize),
		lens:     make([]uint32, slots),
		data:     make([]byte, slots*slotSize),
		notify:   make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
	}
}

// NewMemPair returns the two ends of an in-memory link: what a transmits, b
// receives, and the other way round. Each end has its own pool of cfg.Frames
// frames of cfg.FrameSize bytes.
func NewMemPair(cfg MemConfig) (a, b *MemLink, err error) {
	if cfg.Frames == 0 {
		cfg.Frames = DefaultFrames
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	if cfg.WireSlots == 0 {
		cfg.WireSlots = DefaultWireSlots
	}
	if cfg.SlotSize == 0 {
		cfg.SlotSize = cfg.FrameSize
	}
	if cfg.WireSlots < 2 || cfg.WireSlots&(cfg.WireSlots-1) != 0 {
		return nil, nil, fmt.Errorf("rings: %d wire slots: want a power of two ≥ 2", cfg.WireSlots)
	}
	if cfg.SlotSize < 0 || cfg.SlotSize > cfg.FrameSize {
		return nil, nil, fmt.Errorf("rings: wire slot of %d bytes: want 1..%d (the frame size)", cfg.SlotSize, cfg.FrameSize)
	}
	pa, err := NewPool(cfg.Frames, cfg.FrameSize)
	if err != nil {
		return nil, nil, err
	}
	pb, err := NewPool(cfg.Frames, cfg.FrameSize)
	if err != nil {
		return nil, nil, err
	}
	ab := newWire(cfg.WireSlots, cfg.SlotSize)
	ba := newWire(cfg.WireSlots, cfg.SlotSize)
	sh := &memShared{done: make(chan struct{})}
	a = &MemLink{pool: pa, tx: ab, rx: ba, shared: sh, timer: stoppedTimer()}
	b = &MemLink{pool: pb, tx: ba, rx: ab, shared: sh, timer: stoppedTimer()}
	return a, b, nil
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// Pool returns this end's frame pool.
func (l *MemLink) Pool() *Pool { return l.pool }

// Transmit copies frames onto the wire in order and returns each one it
// accepts to the pool at once. It stops at the first frame it refuses: one
// for which the wire has no free slot (counted in TxRingFull, with every
// frame after it), one longer than a wire slot or not inside the pool
// (counted in KernelTxInvalid; the caller should drop it), or any frame once
// the pair is closed. Refused frames stay the caller's.
func (l *MemLink) Transmit(descs []Desc) int {
	if len(descs) == 0 || l.shared.closed.Load() {
		return 0
	}
	w := l.tx
	size := w.mask + 1
	free := size - (w.ptail - w.cachedHead)
	if free < uint64(len(descs)) {
		w.cachedHead = w.head.Load()
		free = size - (w.ptail - w.cachedHead)
	}
	fs := uint64(l.pool.FrameSize())
	memLen := uint64(len(l.pool.Mem()))
	n := 0
	invalid := false
	for n < len(descs) && uint64(n) < free {
		d := descs[n]
		ln := uint64(d.Len)
		if ln > w.slotSize || d.Addr >= memLen || d.Addr&(fs-1)+ln > fs {
			invalid = true
			break
		}
		off := ((w.ptail + uint64(n)) & w.mask) * w.slotSize
		copy(w.data[off:off+ln], l.pool.Bytes(d))
		w.lens[(w.ptail+uint64(n))&w.mask] = d.Len
		n++
	}
	if n > 0 {
		w.ptail += uint64(n)
		w.tail.Store(w.ptail)
		if w.waiting.Load() {
			select {
			case w.notify <- struct{}{}:
			default:
			}
		}
		for i := 0; i < n; i++ {
			l.pool.Put(descs[i].Addr)
		}
		l.stats.TxFrames += uint64(n)
	}
	if invalid {
		l.stats.KernelTxInvalid++
	} else {
		l.stats.TxRingFull += uint64(len(descs) - n)
	}
	return n
}

// Receive copies frames off the wire into frames from the pool and fills
// descs with them. When the pool runs out it counts FillRingEmpty and stops;
// the frames it could not take stay on the wire. Once the pair is closed it
// returns 0.
func (l *MemLink) Receive(descs []Desc) int {
	if len(descs) == 0 || l.shared.closed.Load() {
		return 0
	}
	w := l.rx
	avail := w.cachedTail - w.chead
	if avail < uint64(len(descs)) {
		w.cachedTail = w.tail.Load()
		avail = w.cachedTail - w.chead
	}
	if avail == 0 {
		l.stats.RxRingEmpty++
		return 0
	}
	n := 0
	for n < len(descs) && uint64(n) < avail {
		addr, ok := l.pool.GetReserved() // a receive refill: the reserve is for it too
		if !ok {
			l.stats.FillRingEmpty++
			break
		}
		slot := (w.chead + uint64(n)) & w.mask
		ln := w.lens[slot]
		off := slot * w.slotSize
		copy(l.pool.Frame(addr), w.data[off:off+uint64(ln)])
		descs[n] = Desc{Addr: addr, Len: ln}
		n++
	}
	if n > 0 {
		w.chead += uint64(n)
		w.head.Store(w.chead)
		l.stats.RxFrames += uint64(n)
	}
	return n
}

// Occupancy implements Occupier: the frames waiting on this end's wire,
// and those this end has put on the peer's and the peer has not taken.
func (l *MemLink) Occupancy() Occupancy {
	return Occupancy{Rx: int(l.rx.tail.Load() - l.rx.chead), Tx: int(l.tx.ptail - l.tx.head.Load())}
}

// Wake implements Waker.
func (l *MemLink) Wake() {
	select {
	case l.rx.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until the peer has put frames on the wire, timeout passes or
// the pair is closed. It returns at once if frames are already waiting. It
// sleeps on a channel, not by spinning; the peer's Transmit pays for the
// wake-up only while this end is waiting.
func (l *MemLink) Wait(timeout time.Duration) {
	w := l.rx
	if timeout <= 0 || l.shared.closed.Load() || w.tail.Load() != w.chead {
		return
	}
	// Forget a wake-up left over from an earlier Wait.
	select {
	case <-w.notify:
	default:
	}
	// Announce, then look again: either we see the peer's new tail or the
	// peer, publishing after our announcement, sees waiting and notifies.
	w.waiting.Store(true)
	if w.tail.Load() == w.chead {
		l.timer.Reset(timeout)
		select {
		case <-w.notify:
		case <-w.wake:
		case <-l.timer.C:
		case <-l.shared.done:
		}
		l.timer.Stop()
	}
	w.waiting.Store(false)
}

// Stats returns this end's counters. Owner only.
func (l *MemLink) Stats() LinkStats { return l.stats }

// Close closes both ends of the pair: from then on Receive returns 0,
// Transmit refuses every frame and Wait returns at once, on either end.
// Frames still on the wire are discarded; the pools stay usable.
func (l *MemLink) Close() error {
	l.shared.once.Do(func() {
		l.shared.closed.Store(true)
		close(l.shared.done)
	})
	return nil
}

var _ Link = (*MemLink)(nil)
