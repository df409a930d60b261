package rings

import "errors"

// DefaultXDPRingSize is the number of descriptors in each of an AF_XDP
// socket's four rings (fill, completion, rx, tx) unless XDPConfig says
// otherwise.
const DefaultXDPRingSize = 2048

// MaxXDPRingSize bounds XDPConfig.RingSize.
const MaxXDPRingSize = 1 << 16

// xdpMaxKicks bounds the sendto calls one Transmit makes. In copy mode each
// call sends at most the kernel's tx budget (32 frames by default), so a
// batch may need more than one.
const xdpMaxKicks = 16

// ErrXDPInUse is what AttachXDP's error wraps when the interface already has
// an XDP program attached (another pollstack serve, or any other XDP user):
// the kernel refuses a second one in either mode.
var ErrXDPInUse = errors.New("interface already has an XDP program attached")

// XDPMode says how an XDP program is attached to an interface.
type XDPMode int

const (
	// XDPModeNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	XDPModeNative XDPMode = iota + 1
	// XDPModeSKB runs it in the generic, skb-based hook (XDP_FLAGS_SKB_MODE).
	XDPModeSKB
)

func (m XDPMode) String() string {
	switch m {
	case XDPModeNative:
		return "native"
	case XDPModeSKB:
		return "skb"
	}
	return "none"
}

// XDPConfig configures OpenXDP.
type XDPConfig struct {
	// Iface is the interface to bind to.
	Iface string
	// Netns is the named network namespace (/run/netns/NAME) that holds
	// Iface; empty for the current one.
	Netns string
	// Queue is the interface queue to bind to.
	Queue int
	// Program, when not nil, is the XDP program attached to Iface whose
	// XSKMAP the socket registers in for Queue. Nil makes a TX-only link.
	Program *XDPProgram
	// Pool holds the frames; nil means NewPool(PoolFrames(RingSize),
	// DefaultFrameSize). Closing the link does not release it.
	Pool *Pool
	// RingSize is the number of descriptors in each ring, a power of
	// two; 0 means DefaultXDPRingSize.
	RingSize int
	// Netpoller makes Wait park the calling goroutine in Go's netpoller
	// instead of blocking its thread in poll(2): for a loop that is an
	// ordinary goroutine (not pinned), so that the goroutines it wakes
	// run on its P while it waits, with no thread switch either way.
	Netpoller bool
	// TxChecksum says who computes transmitted frames' TCP checksums; the
	// zero value, TxChecksumEngine, registers no transmit metadata.
	TxChecksum TxChecksum
}
