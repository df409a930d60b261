package harness

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// OnCPU runs fn on the calling goroutine's own OS thread, allowed only on
// cpu, and gives the thread its former CPUs back afterwards. A negative cpu
// runs fn as it is. For the kernel sockets a comparison drives from its own
// process: the blocking calls fn makes run on that CPU, and so does the
// kernel's work done in them, instead of wherever the scheduler puts them
// (beside a busy-polling pollstack on a small machine, where the program
// then waits for the CPU and stalls its peer).
func OnCPU(cpu int, fn func() error) error {
	if cpu < 0 {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("reading the thread's CPUs: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("moving the thread to CPU %d: %w", cpu, err)
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, &old); err != nil {
			panic(fmt.Sprintf("harness: giving the thread its CPUs back: %v", err))
		}
	}()
	return fn()
}
