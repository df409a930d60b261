package cores

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// A pinned loop's thread runs at the nice value SetNice gave it, and
// only that thread does: the process's other threads keep theirs. Raising
// a nice value needs no privilege, so the test runs anywhere.
func TestPinnedLoopRunsAtItsNiceValue(t *testing.T) {
	before, err := Nice()
	if err != nil {
		t.Fatal(err)
	}
	if before > 16 {
		t.Skipf("the test runs at nice %d: no room above it", before)
	}
	l := NewLoop(0, true, &countingWorker{}, IdlePolicy{})
	l.SetNice(before + 3)
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	var got int
	var gotErr error
	if err := l.Call(func(now mono.Time) { got, gotErr = Nice() }); err != nil {
		t.Fatal(err)
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if got != before+3 {
		t.Errorf("the loop's thread runs at nice %d, want %d", got, before+3)
	}
	if now, _ := Nice(); now != before {
		t.Errorf("the test's thread is at nice %d after the loop started, want %d as before", now, before)
	}
}

// A pinned loop's thread runs in SCHED_FIFO at the priority SetRTPriority
// gave it, and only that thread does. It needs CAP_SYS_NICE: without it the
// loop does not start and says why.
func TestPinnedLoopRunsAtItsRTPriority(t *testing.T) {
	if before, err := RTPriority(); err != nil || before != 0 {
		t.Fatalf("the test's thread: SCHED_FIFO priority %d, %v; want 0 (normal class)", before, err)
	}
	l := NewLoop(0, true, &countingWorker{}, IdlePolicy{})
	l.SetRTPriority(7)
	if err := l.Start(); err != nil {
		if os.Geteuid() != 0 && errors.Is(err, syscall.EPERM) {
			if os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
				t.Fatalf("needs CAP_SYS_NICE: %v", err)
			}
			t.Skipf("needs CAP_SYS_NICE: %v", err)
		}
		t.Fatal(err)
	}
	defer l.Stop()
	var got int
	var gotErr error
	if err := l.Call(func(now mono.Time) { got, gotErr = RTPriority() }); err != nil {
		t.Fatal(err)
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if got != 7 {
		t.Errorf("the loop's thread runs at SCHED_FIFO priority %d, want 7", got)
	}
	if now, _ := RTPriority(); now != 0 {
		t.Errorf("the test's thread is at SCHED_FIFO priority %d after the loop started, want the normal class as before", now)
	}
}

// SetThreads sets every thread of the process but the ones it is told to
// pass over, and a thread the runtime makes afterwards takes the nice
// value, the slice and the CPUs too.
func TestSetThreadsPassesOverTheLoops(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("needs CAP_SYS_NICE (a negative nice value)")
		}
		t.Skip("needs CAP_SYS_NICE (a negative nice value)")
	}
	loopTID := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		loopTID <- ThreadID()
		<-release
	}()
	loop := <-loopTID
	defer close(release)
	before, err := ThreadNice(loop)
	if err != nil {
		t.Fatal(err)
	}
	sliceBefore, err := ThreadSlice(loop)
	if err != nil {
		t.Fatal(err)
	}
	cpusBefore, err := Online()
	if err != nil {
		t.Fatal(err)
	}
	// The loop's thread keeps all its CPUs; the others get the last one.
	one := cpusBefore[len(cpusBefore)-1:]
	defer SetThreads(ThreadSettings{Renice: true, CPUs: cpusBefore}, func(int) bool { return false })
	n, err := SetThreads(ThreadSettings{Renice: true, Nice: -7, Slice: 200 * time.Microsecond, CPUs: one}, func(tid int) bool { return tid == loop })
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no thread set")
	}
	if got, _ := ThreadNice(loop); got != before {
		t.Errorf("the passed-over thread is at nice %d, want %d", got, before)
	}
	if got, _ := ThreadSlice(loop); got != sliceBefore {
		t.Errorf("the passed-over thread has a slice of %v, want %v as before", got, sliceBefore)
	}
	if got, _ := ThreadCPUs(loop); !slices.Equal(got, cpusBefore) {
		t.Errorf("the passed-over thread is on CPUs %v, want %v as before", got, cpusBefore)
	}
	runtime.LockOSThread()
	self := ThreadID()
	got, _ := ThreadNice(self)
	cpus, _ := ThreadCPUs(self)
	runtime.UnlockOSThread()
	if self != loop && (got != -7 || !slices.Equal(cpus, one)) {
		t.Errorf("thread %d is at nice %d on CPUs %v, want -7 on %v", self, got, cpus, one)
	}
	// A thread made now (a goroutine locked to a new thread while the
	// others are busy) takes -7 from the runtime's thread that made it.
	newTID := make(chan int)
	var extra []chan struct{}
	for range runtime.GOMAXPROCS(0) + 2 {
		c := make(chan struct{})
		extra = append(extra, c)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			newTID <- ThreadID()
			<-c
		}()
	}
	seen := 0
	for range extra {
		tid := <-newTID
		if tid == loop {
			continue
		}
		if got, _ := ThreadNice(tid); got != -7 {
			t.Errorf("thread %d, made after, is at nice %d, want -7", tid, got)
		}
		if got, _ := ThreadSlice(tid); got != 200*time.Microsecond {
			t.Errorf("thread %d, made after, has a slice of %v, want 200µs", tid, got)
		}
		if got, _ := ThreadCPUs(tid); !slices.Equal(got, one) {
			t.Errorf("thread %d, made after, is on CPUs %v, want %v", tid, got, one)
		}
		seen++
	}
	for _, c := range extra {
		close(c)
	}
	if seen == 0 {
		t.Fatal("no other thread seen")
	}
}
