package cores

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Pin binds the calling OS thread to cpu. The caller must hold
// runtime.LockOSThread.
func Pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("cores: pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// SetNice gives the calling OS thread the nice value n (lower values
// run first; below the current one needs CAP_SYS_NICE). The caller must
// hold runtime.LockOSThread: on Linux a thread's nice value is its own.
func SetNice(n int) error {
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), n); err != nil {
		return fmt.Errorf("cores: set the loop thread's nice value to %d: %w", n, err)
	}
	return nil
}

// Nice returns the calling OS thread's nice value.
func Nice() (int, error) {
	// The raw getpriority syscall returns 20 - nice, never negative.
	r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, uintptr(unix.Gettid()), 0)
	if e != 0 {
		return 0, fmt.Errorf("cores: read the thread's nice value: %w", e)
	}
	return 20 - int(r), nil
}

// Online returns the CPUs this process may run on.
func Online() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("cores: read affinity: %w", err)
	}
	var cpus []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}
