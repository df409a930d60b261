package sinkcmp

import (
	"errors"
	"os"
	"strconv"
	"unsafe"

	"fmt"

	"golang.org/x/sys/unix"
)

// enableBusyPoll turns on preferred busy polling on an AF_XDP socket, as
// DPDK's net_af_xdp PMD does by default (busy_budget=64): SO_PREFER_BUSY_POLL,
// SO_BUSY_POLL (µs) and SO_BUSY_POLL_BUDGET (packets per poll). With it, a
// recvfrom(2) on the socket runs the interface's NAPI poll on the calling
// CPU instead of leaving it to softirq on whichever CPU scheduled it.
//
// This belongs in rings.XDPConfig; it lives here until rings has it.
func enableBusyPoll(fd, budget int) error {
	for _, o := range []struct{ opt, val int }{
		{unix.SO_PREFER_BUSY_POLL, 1},
		{unix.SO_BUSY_POLL, 20},
		{unix.SO_BUSY_POLL_BUDGET, budget},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.opt, o.val); err != nil {
			return fmt.Errorf("busy poll: setsockopt %#x=%d: %w", o.opt, o.val, err)
		}
	}
	return nil
}

// busyPollKick is what the PMD does after an empty rx burst: a non-blocking
// recvfrom(2) that drives NAPI. It does not allocate.
func busyPollKick(fd int) {
	_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, // EAGAIN is the usual answer, and every answer means: go look
		uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

// setNice sets the scheduling niceness of the calling thread (Linux applies
// setpriority(PRIO_PROCESS, tid) to one thread).
func setNice(nice int) error {
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice); err != nil {
		return fmt.Errorf("setpriority %d: %w", nice, err)
	}
	return nil
}

// xdpStats reads the kernel's XDP_STATISTICS of an AF_XDP socket, which the
// link sums up; the parts say why frames were dropped.
func xdpStats(fd int) (unix.XDPStatistics, error) {
	var s unix.XDPStatistics
	n := uint32(unsafe.Sizeof(s))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&s)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return s, e
	}
	return s, nil
}

// confine puts every thread of this process on cpu at niceness nice;
// threads made later inherit both. The pinned loops move themselves
// afterwards. The point is Go's scheduler: sysmon preempts a goroutine that
// has run 10 ms, and a goroutine locked to its thread then waits until
// another thread of the process takes its P and hands it back. If that
// helper thread has to queue behind a nice -20 spinning loop on the other
// CPU, the receiver stalls for milliseconds and its fill ring runs dry.
// Kept on the receiver's CPU, which is idle while the receiver is parked,
// and at the receivers' niceness, the helper runs at once.
//
// restore puts every thread back on the CPUs and at the niceness the
// calling thread had before (so that a process which goes on to start
// other programs does not hand them CPU cpu and nice -20). It is never nil.
func confine(cpu, nice int) (restore func() error, err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return func() error { return nil }, fmt.Errorf("sched_getaffinity: %w", err)
	}
	// The raw getpriority(2) answers 20 - nice.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return func() error { return nil }, fmt.Errorf("getpriority: %w", err)
	}
	oldNice := 20 - prio
	var set unix.CPUSet
	set.Set(cpu)
	restore = func() error { return eachThread(old, oldNice) }
	return restore, eachThread(set, nice)
}

// eachThread puts every thread of the process on set at niceness nice.
func eachThread(set unix.CPUSet, nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("set CPUs of thread %d: %w", tid, err)
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("setpriority thread %d: %w", tid, err)
		}
	}
	return nil
}
