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
