//go:build !linux

package cores

import "time"

// MonotonicBase returns 0 where the system's monotonic clock is not read.
func MonotonicBase() time.Duration { return 0 }
