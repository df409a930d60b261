package cores

import "golang.org/x/sys/unix"

// MonotonicBase returns the system's monotonic clock (CLOCK_MONOTONIC, the
// same in every process) at the instant Now counts from, in nanoseconds:
// MonotonicBase()+Now() is the system's monotonic time.
func MonotonicBase() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano() - Now()
}
