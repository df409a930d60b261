package cores

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

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

// SetRTPriority puts the calling OS thread in the real-time class
// SCHED_FIFO at priority prio (1..99; needs CAP_SYS_NICE). Such a thread
// runs before every thread of the normal class on its CPU for as long as
// it is runnable, up to the kernel's real-time throttle
// (kernel.sched_rt_runtime_us of sched_rt_period_us, 95% by default). The
// caller must hold runtime.LockOSThread.
func SetRTPriority(prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("cores: put the loop thread in SCHED_FIFO at priority %d: %w", prio, err)
	}
	return nil
}

// RTPriority returns the calling OS thread's SCHED_FIFO priority, or 0
// when it is in another scheduling class.
func RTPriority() (int, error) { return ThreadRTPriority(0) }

// ThreadRTPriority returns thread tid's SCHED_FIFO priority, or 0 when
// it is in another scheduling class.
func ThreadRTPriority(tid int) (int, error) {
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, fmt.Errorf("cores: read thread %d's scheduling class: %w", tid, err)
	}
	if attr.Policy != unix.SCHED_FIFO {
		return 0, nil
	}
	return int(attr.Priority), nil
}

// Nice returns the calling OS thread's nice value.
func Nice() (int, error) { return ThreadNice(unix.Gettid()) }

// Online returns the CPUs the calling thread may run on.
func Online() ([]int, error) { return ThreadCPUs(0) }

// PinThread binds thread (or process) tid, which may be another
// process's or a kernel thread, to cpu.
func PinThread(tid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(tid, &set); err != nil {
		return fmt.Errorf("cores: pin thread %d to CPU %d: %w", tid, cpu, err)
	}
	return nil
}

// DisableTHP turns transparent huge pages off for the whole process
// (prctl PR_SET_THP_DISABLE): memory it faults in from now on comes in
// base pages, whatever madvise(MADV_HUGEPAGE) asks.
func DisableTHP() error {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("cores: transparent huge pages off: %w", err)
	}
	return nil
}

// THPDisabled reports whether transparent huge pages are off for the
// process (PR_GET_THP_DISABLE).
func THPDisabled() bool {
	r, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	return err == nil && r&1 != 0
}

// ThreadID returns the calling OS thread's id.
func ThreadID() int { return unix.Gettid() }

// SetThreads gives every thread of the process but those skip names the
// settings s. It returns how many threads it set. A thread takes its
// scheduling class, nice value, slice and CPUs from the thread that made
// it, so the Go runtime's threads made later take them too (it makes them
// from threads of its own, never from a locked one such as a pinned
// loop's). A thread that ends meanwhile is passed over.
func SetThreads(s ThreadSettings, skip func(tid int) bool) (int, error) {
	if !s.Renice && s.RTPriority == 0 && len(s.CPUs) == 0 {
		return 0, nil
	}
	if s.Renice && s.RTPriority != 0 {
		return 0, errors.New("cores: a real-time thread has no nice value: Renice and RTPriority together")
	}
	var set unix.CPUSet
	for _, c := range s.CPUs {
		set.Set(c)
	}
	// A thread not yet set may make a thread meanwhile, which then takes
	// the old settings: look again until a look finds no thread not seen.
	seen := map[int]bool{}
	n := 0
	for pass := 0; ; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return n, fmt.Errorf("cores: list the process's threads: %w", err)
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || seen[tid] {
				continue
			}
			seen[tid] = true
			fresh++
			if skip(tid) {
				continue
			}
			err = setThread(tid, s, &set)
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
		}
		if fresh == 0 {
			return n, nil
		}
		if pass == maxThreadPasses {
			return n, fmt.Errorf("cores: the process keeps making threads: %d new ones in pass %d", fresh, pass)
		}
	}
}

// maxThreadPasses bounds SetThreads's looks at the thread list.
const maxThreadPasses = 100

// setThread gives thread tid the settings s, with s.CPUs as set.
func setThread(tid int, s ThreadSettings, set *unix.CPUSet) error {
	if s.RTPriority != 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(s.RTPriority)}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
			return fmt.Errorf("cores: put thread %d in SCHED_FIFO at priority %d: %w", tid, s.RTPriority, err)
		}
	}
	if s.Renice {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(s.Nice), Runtime: uint64(max(s.Slice, 0))}
		err := unix.SchedSetAttr(tid, &attr, 0)
		if errors.Is(err, unix.EINVAL) && attr.Runtime != 0 {
			attr.Runtime = 0 // a kernel without slices of the normal class
			err = unix.SchedSetAttr(tid, &attr, 0)
		}
		if err != nil {
			return fmt.Errorf("cores: set thread %d's nice value to %d: %w", tid, s.Nice, err)
		}
	}
	if len(s.CPUs) > 0 {
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("cores: put thread %d on CPUs %s: %w", tid, FormatList(s.CPUs), err)
		}
	}
	return nil
}

// ThreadCPUs returns the CPUs thread tid may run on.
func ThreadCPUs(tid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return nil, fmt.Errorf("cores: read thread %d's CPUs: %w", tid, err)
	}
	var cpus []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// ThreadSlice returns thread tid's scheduler slice, as sched_getattr
// reports it (the kernel's default where none was set; 0 on a kernel
// without slices of the normal class).
func ThreadSlice(tid int) (time.Duration, error) {
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, fmt.Errorf("cores: read thread %d's scheduling attributes: %w", tid, err)
	}
	return time.Duration(attr.Runtime), nil
}

// ThreadNice returns thread tid's nice value.
func ThreadNice(tid int) (int, error) {
	// The raw getpriority syscall returns 20 - nice, never negative.
	r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, uintptr(tid), 0)
	if e != 0 {
		return 0, fmt.Errorf("cores: read thread %d's nice value: %w", tid, e)
	}
	return 20 - int(r), nil
}
