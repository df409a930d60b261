package cores

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/mono"
)

// MonotonicBase returns the system's monotonic clock (CLOCK_MONOTONIC, the
// same in every process) at the instant Now counts from: Now().Add(
// MonotonicBase()) is the system's monotonic time.
func MonotonicBase() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return mono.Time(ts.Nano()).Sub(Now())
}
