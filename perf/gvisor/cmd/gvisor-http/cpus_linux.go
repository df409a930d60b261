package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// parseCPUList parses a list such as "0", "1,3" or "0-2,5" into CPU numbers,
// ascending and without repeats.
func parseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		if b >= 1024 { // CPU_SETSIZE of unix.CPUSet
			return nil, fmt.Errorf("bad CPU list %q: CPU %d out of range", s, b)
		}
		for c := a; c <= b; c++ {
			if !seen[c] {
				seen[c] = true
				cpus = append(cpus, c)
			}
		}
	}
	for i := 1; i < len(cpus); i++ {
		for j := i; j > 0 && cpus[j] < cpus[j-1]; j-- {
			cpus[j], cpus[j-1] = cpus[j-1], cpus[j]
		}
	}
	return cpus, nil
}

// pinProcess sets the CPU affinity of every thread of the process to cpus.
// Threads the Go runtime starts later inherit it from the thread that
// creates them, which is one of these.
func pinProcess(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	// Twice: a thread started while the first pass ran may have copied
	// the old mask.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity(%d, %v): %w", tid, cpus, err)
			}
		}
	}
	return nil
}
