package rings

import "fmt"

// A core's pool is cut three ways: the frames its rings and batches may hold
// at once, a reserve that only receive refills and control segments may
// take (Pool.SetReserve), and a budget of frames that may wait for address
// resolution. The engine applies the reserve and the budget; the sizes live
// here so that the pool's size can be derived from them.
const (
	// ReserveDiv: a pool of n frames keeps n/ReserveDiv in reserve.
	ReserveDiv = 16
	// PendingDiv: at most n/PendingDiv frames of a pool of n wait for a
	// neighbour's address.
	PendingDiv = 8
)

// ReserveFrames returns the reserve of a core's pool of n frames: n/16.
func ReserveFrames(n int) int { return n / ReserveDiv }

// PendingFrames returns how many frames of a core's pool of n frames may
// wait for address resolution: n/8.
func PendingFrames(n int) int { return n / PendingDiv }

// usableFrames returns the frames of a pool of n left for the rings and the
// batches once the reserve and the pending budget are set aside.
func usableFrames(n int) int { return n - ReserveFrames(n) - PendingFrames(n) }

// PoolFrames returns the frames a core's pool needs with AF_XDP rings of
// ringSize descriptors each: the smallest n with
//
//	n - n/16 - n/8 >= 4*ringSize + 2*IdealBatch
//
// so that the fill, rx, tx and completion rings full, a received batch and a
// batch being sent all fit beside the reserve and the pending budget
// (10238 frames, 20 MiB of 2 KiB frames, for rings of 2048).
func PoolFrames(ringSize int) int { return framesFor(4*ringSize + 2*IdealBatch) }

// MinPoolFrames returns the smallest pool a core works with for rings of
// ringSize descriptors: a full fill ring and a batch each way beside the
// reserve and the pending budget (2677 frames for rings of 2048).
func MinPoolFrames(ringSize int) int { return framesFor(ringSize + 2*IdealBatch) }

func framesFor(need int) int {
	n := max(need*(ReserveDiv*PendingDiv)/(ReserveDiv*PendingDiv-PendingDiv-ReserveDiv)-2, need)
	for usableFrames(n) < need {
		n++
	}
	return n
}

// CheckPoolFrames refuses a core's pool of frames too small for rings of
// ringSize descriptors, or too large for a pool.
func CheckPoolFrames(frames, ringSize int) error {
	lo := MinPoolFrames(ringSize)
	if frames < lo || frames > MaxFrames {
		return fmt.Errorf("want %d..%d frames per core with rings of %d (a full fill ring and a batch each way beside the reserve of 1/%d and the pending budget of 1/%d; by default %d)",
			lo, MaxFrames, ringSize, ReserveDiv, PendingDiv, PoolFrames(ringSize))
	}
	return nil
}
