package rings

import (
	"encoding/binary"
	"fmt"
	"time"
)

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

// TxOffloads is what a link does for the frames it transmits beyond
// sending their bytes.
type TxOffloads struct {
	// Room is how many bytes each transmitted frame must leave free
	// before its first byte, in its pool frame: the frame's transmit
	// metadata goes there (AF_XDP's struct xsk_tx_metadata). A frame with
	// less room before it is refused by the kernel. 0: none needed.
	Room int
	// Checksum: the kernel, or the NIC, completes the TCP or UDP checksum
	// a frame's metadata asks for (SetTxChecksum), as for a packet of the
	// kernel's own stack (CHECKSUM_PARTIAL).
	Checksum bool
}

// TxOffloader is implemented by links that offer transmit offloads.
type TxOffloader interface {
	TxOffloads() TxOffloads
}

// TxOffloadsOf returns what l offers; nothing unless it is a TxOffloader.
func TxOffloadsOf(l Link) TxOffloads {
	if o, ok := l.(TxOffloader); ok {
		return o.TxOffloads()
	}
	return TxOffloads{}
}

// TxChecksum says who computes the TCP and UDP checksums of the frames an
// AF_XDP link transmits (XDPConfig.TxChecksum).
type TxChecksum uint8

const (
	// TxChecksumEngine: the engine computes every checksum; no transmit
	// metadata is registered.
	TxChecksumEngine TxChecksum = iota
	// TxChecksumOffload: each TCP segment's metadata asks the kernel to
	// complete its checksum (XDP_TXMD_FLAGS_CHECKSUM): in copy mode the
	// kernel makes a CHECKSUM_PARTIAL packet of it, as of its own TCP's,
	// which the interface completes (a NIC with checksum offload) or, on
	// veth, the receiving kernel takes as checked. Linux 6.11 or later;
	// where the kernel refuses the metadata, or the socket is bound in
	// zero-copy mode (the driver's support is not known), the engine
	// computes them.
	TxChecksumOffload
	// TxChecksumKernelSoftware is TxChecksumOffload with the kernel
	// computing the checksum in software as it takes the frame
	// (XDP_UMEM_TX_SW_CSUM): what goes out carries a complete checksum
	// that any receiver verifies, so a wrong request shows. For tests.
	TxChecksumKernelSoftware
)

// String is the name --tx-checksum takes.
func (c TxChecksum) String() string {
	switch c {
	case TxChecksumEngine:
		return "engine"
	case TxChecksumOffload:
		return "offload"
	case TxChecksumKernelSoftware:
		return "kernel-sw"
	}
	return fmt.Sprintf("TxChecksum(%d)", uint8(c))
}

// ParseTxChecksum reads a TxChecksum's name.
func ParseTxChecksum(s string) (TxChecksum, error) {
	for _, c := range []TxChecksum{TxChecksumEngine, TxChecksumOffload, TxChecksumKernelSoftware} {
		if s == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%q: want offload, engine or kernel-sw", s)
}

// TxMetaLen is the size of the transmit metadata a frame carries before
// its first byte when the link asks for room (struct xsk_tx_metadata:
// flags, then the request's csum_start, csum_offset and launch_time).
const TxMetaLen = 24

// xsk_tx_metadata's fields, by offset.
const (
	txMetaFlags      = 0
	txMetaCsumStart  = 8
	txMetaCsumOffset = 10
	txMetaLaunchTime = 16
)

// SetTxChecksum asks, in d's transmit metadata, for the checksum whose
// field lies offset bytes into the part of the frame that starts start
// bytes in (for TCP, start is the TCP header's offset in the frame and
// offset 16) to be completed over the frame from start to its end. The
// field must hold the pseudo-header's sum, folded, not complemented. d must
// have TxMetaLen bytes of room before it (TxOffloads.Room).
func (p *Pool) SetTxChecksum(d *Desc, start, offset int) {
	m := p.mem[d.Addr-TxMetaLen : d.Addr : d.Addr]
	binary.LittleEndian.PutUint64(m[txMetaFlags:], xdpTxMDFlagsChecksum)
	binary.LittleEndian.PutUint16(m[txMetaCsumStart:], uint16(start))
	binary.LittleEndian.PutUint16(m[txMetaCsumOffset:], uint16(offset))
	binary.LittleEndian.PutUint64(m[txMetaLaunchTime:], 0)
	d.Options |= xdpTxMetadata
}

// Kernel constants of the transmit metadata (linux/if_xdp.h), here for
// every platform.
const (
	xdpTxMetadata        = 1 << 1 // XDP_TX_METADATA, a descriptor's option
	xdpTxMDFlagsChecksum = 1 << 1 // XDP_TXMD_FLAGS_CHECKSUM
)
