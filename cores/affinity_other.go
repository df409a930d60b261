//go:build !linux

package cores

import (
	"runtime"
	"time"
)

// Pin is a no-op where the OS has no affinity call we use.
func Pin(cpu int) error { return nil }

// SetNice is a no-op where the OS has no per-thread priority call we use.
func SetNice(n int) error { return nil }

// SetRTPriority is a no-op where the OS has no real-time class call we use.
func SetRTPriority(prio int) error { return nil }

// RTPriority returns 0 where SetRTPriority does nothing.
func RTPriority() (int, error) { return 0, nil }

// Nice returns 0 where SetNice does nothing.
func Nice() (int, error) { return 0, nil }

// Online returns CPUs 0..NumCPU-1.
func Online() ([]int, error) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, nil
}

// PinThread is a no-op where the OS has no affinity call we use.
func PinThread(tid, cpu int) error { return nil }

// DisableTHP does nothing: transparent huge pages are Linux's.
func DisableTHP() error { return nil }

// THPDisabled reports false: transparent huge pages are Linux's.
func THPDisabled() bool { return false }

// ThreadID returns 0 where threads have no id we use.
func ThreadID() int { return 0 }

// ThreadRTPriority returns 0 where SetRTPriority does nothing.
func ThreadRTPriority(tid int) (int, error) { return 0, nil }

// SetThreads does nothing where SetNice and Pin do nothing.
func SetThreads(s ThreadSettings, skip func(tid int) bool) (int, error) { return 0, nil }

// ThreadCPUs returns Online's answer where threads have no CPUs of their own.
func ThreadCPUs(tid int) ([]int, error) { return Online() }

// ThreadSlice returns 0 where SetThreads does nothing.
func ThreadSlice(tid int) (time.Duration, error) { return 0, nil }

// ThreadNice returns 0 where SetNice does nothing.
func ThreadNice(tid int) (int, error) { return 0, nil }
