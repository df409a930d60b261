package engine

import (
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/rings"
)

// RuntimeCPUs puts every thread of the process but the pinned loops' on
// the CPUs it names while the engine runs, and Stop puts them back.
func TestRuntimeCPUsHoldTheOtherThreads(t *testing.T) {
	online, err := cores.Online()
	if err != nil {
		t.Fatal(err)
	}
	loopCPU, runtimeCPUs := online[0], online[len(online)-1:]
	e, stop := startEngine(t, Config{MAC: ourMAC, CPUs: []int{loopCPU}, Pin: true, RuntimeCPUs: runtimeCPUs,
		Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}})
	loop := e.Loops()[0].ThreadID()
	if got, _ := cores.ThreadCPUs(loop); !slices.Equal(got, []int{loopCPU}) {
		t.Errorf("the loop's thread is on CPUs %v, want [%d]", got, loopCPU)
	}
	others := 0
	for _, tid := range threads(t) {
		if tid == loop {
			continue
		}
		others++
		if got, _ := cores.ThreadCPUs(tid); !slices.Equal(got, runtimeCPUs) {
			t.Errorf("thread %d is on CPUs %v while the engine runs, want %v", tid, got, runtimeCPUs)
		}
	}
	if others == 0 {
		t.Fatal("no thread beside the loop's")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, tid := range threads(t) {
		if got, _ := cores.ThreadCPUs(tid); tid != loop && !slices.Equal(got, online) {
			t.Errorf("thread %d is on CPUs %v after Stop, want %v as before", tid, got, online)
		}
	}
}

// RuntimeCPUs without pinned loops is refused.
func TestRuntimeCPUsNeedPinnedLoops(t *testing.T) {
	_, err := New(Config{MAC: ourMAC, CPUs: []int{0}, RuntimeCPUs: []int{0},
		Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}}, []rings.Link{newFakeLink(t)})
	if err == nil {
		t.Fatal("New took RuntimeCPUs with unpinned loops")
	}
}

// startEngine makes and starts an engine on a fake link with cfg. stop
// stops it; the test's clean-up stops it if the test did not.
func startEngine(t *testing.T, cfg Config) (e *Engine, stop func() error) {
	t.Helper()
	e, err := New(cfg, []rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	return e, e.Stop
}

// threads lists the process's threads.
func threads(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// RuntimeRTPriority puts every thread but the loops' in SCHED_FIFO at its
// priority, below the loops', while the engine runs; Stop puts them back
// in the normal class. It needs loops at a higher real-time priority.
func TestRuntimeRTPriorityBelowTheLoops(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("needs CAP_SYS_NICE (SCHED_FIFO)")
		}
		t.Skip("needs CAP_SYS_NICE (SCHED_FIFO)")
	}
	addrs := []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}
	for _, c := range []struct{ loop, runtime int }{{0, 1}, {5, 5}, {5, 6}} {
		if _, err := New(Config{MAC: ourMAC, CPUs: []int{0}, Pin: true, LoopRTPriority: c.loop, RuntimeRTPriority: c.runtime, Addrs: addrs},
			[]rings.Link{newFakeLink(t)}); err == nil {
			t.Errorf("New took RuntimeRTPriority %d with loops at %d", c.runtime, c.loop)
		}
	}
	e, stop := startEngine(t, Config{MAC: ourMAC, CPUs: []int{0}, Pin: true, LoopRTPriority: 10, RuntimeRTPriority: 3, Addrs: addrs})
	loop := e.Loops()[0].ThreadID()
	if got, _ := cores.ThreadRTPriority(loop); got != 10 {
		t.Errorf("the loop's thread is at SCHED_FIFO %d, want 10", got)
	}
	for _, tid := range threads(t) {
		if got, _ := cores.ThreadRTPriority(tid); tid != loop && got != 3 {
			t.Errorf("thread %d is at SCHED_FIFO %d while the engine runs, want 3", tid, got)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, tid := range threads(t) {
		if got, _ := cores.ThreadRTPriority(tid); tid != loop && got != 0 {
			t.Errorf("thread %d is at SCHED_FIFO %d after Stop, want the normal class", tid, got)
		}
	}
}
