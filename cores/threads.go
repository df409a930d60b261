package cores

import "time"

// ThreadSettings is what SetThreads gives threads.
type ThreadSettings struct {
	// Renice has SetThreads give the nice value Nice (below the current
	// one needs CAP_SYS_NICE) and, where the kernel has it (Linux 6.12
	// and later), the scheduler slice Slice (sched_setattr's
	// sched_runtime for the normal class; 0: the kernel's default). A
	// thread that wakes with a shorter slice than the one running may
	// take the CPU at once, where otherwise it waits for the running
	// one's slice to end.
	Renice bool
	Nice   int
	Slice  time.Duration
	// RTPriority, when not 0, puts the threads in SCHED_FIFO at this
	// priority (1..99) instead; it goes without Renice.
	RTPriority int
	// CPUs, when not empty, are the CPUs the threads may run on.
	CPUs []int
}
