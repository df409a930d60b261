package rings

import "time"

// IdealBatch is the number of frames a loop turn moves at most per direction.
const IdealBatch = 64

// Link moves batches of frames between a core and a wire. Every descriptor it
// returns or takes refers to the link's Pool. A Link is owned by one core's
// loop; not safe for concurrent use.
//
// Receive hands received frames to the caller, who owns them from then on and
// must either Put them back into the pool or pass them to Transmit. Transmit
// takes ownership of the frames it accepts and returns them to the pool once
// they are on the wire; frames it does not accept stay the caller's.
type Link interface {
	// Pool returns the frame pool the link's descriptors point into.
	Pool() *Pool
	// Receive fills descs with received frames and returns how many.
	Receive(descs []Desc) int
	// Transmit queues descs for sending and returns how many it accepted.
	Transmit(descs []Desc) int
	// Wait blocks until frames may be ready to receive or timeout passes; it
	// is the idle policy's sleep (poll(2) on an AF_XDP socket).
	Wait(timeout time.Duration)
	// Stats returns the link's own counters.
	Stats() LinkStats
	// Close releases the link; it does not close the pool's memory.
	Close() error
}

// LinkStats counts a link's events, as seen by its owner.
type LinkStats struct {
	RxFrames, TxFrames      uint64
	RxRingEmpty, TxRingFull uint64 // polls that found nothing / frames refused for lack of room
	FillRingEmpty           uint64 // times the pool had no frame to give the kernel
	KernelRxDropped         uint64 // AF_XDP: dropped by the kernel (no fill frame, rx ring full)
	KernelRxInvalid         uint64
	KernelTxInvalid         uint64
}

// Occupancy is how full a link's rings are at one moment, in descriptors.
type Occupancy struct {
	Rx   int // received, waiting for Receive
	Tx   int // queued for sending, not yet taken by the kernel
	Fill int // frames lent to the kernel for receiving
}

// Occupier is implemented by links that can tell their rings' occupancy.
// Owner only, like Receive.
type Occupier interface {
	Occupancy() Occupancy
}

// Waker is implemented by links whose Wait another goroutine can cut
// short: Wake makes the current or the next Wait return at once. The core
// loop uses it when work arrives from outside the link (its mailbox, a
// hand-off ring) while it sleeps.
type Waker interface {
	Wake()
}

// WakeLink wakes l's Wait when l can be woken, and reports whether it can.
func WakeLink(l Link) bool {
	w, ok := l.(Waker)
	if ok {
		w.Wake()
	}
	return ok
}
