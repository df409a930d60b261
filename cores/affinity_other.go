//go:build !linux

package cores

import "runtime"

// Pin is a no-op where the OS has no affinity call we use.
func Pin(cpu int) error { return nil }

// Online returns CPUs 0..NumCPU-1.
func Online() ([]int, error) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, nil
}
