//go:build !linux

package cores

// MonotonicBase returns 0 where the system's monotonic clock is not read.
func MonotonicBase() int64 { return 0 }
