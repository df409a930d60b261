package engine

import (
	"net/netip"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var memHold, memGarbage [][]byte

// waitChecks waits until the engine has made n more memory checks than
// it had made when called, and fails the test if it does not within 10 s.
func waitChecks(t *testing.T, e *Engine, n uint64) {
	t.Helper()
	want := e.memChecks.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for e.memChecks.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d memory checks in 10 s, want %d", e.memChecks.Load(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A heap that shrank is given back to the system within a period or two;
// a heap that holds what it has is left alone.
func TestEngineGivesBackAShrunkHeap(t *testing.T) {
	e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		MemoryReturn: 20 * time.Millisecond}, []rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	debug.FreeOSMemory() // what earlier tests left
	// Steady: 64 MiB live, nothing freed.
	for range 64 {
		memHold = append(memHold, make([]byte, 1<<20))
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	time.Sleep(200 * time.Millisecond)
	if n := e.MemoryReturns(); n != 0 {
		t.Fatalf("a steady heap was given back %d times", n)
	}
	// Shrunk: the 64 MiB dropped, and collected.
	memHold = nil
	runtime.GC()
	if f := heapFree(); f < memReturnFloor {
		t.Fatalf("only %d bytes free after dropping 64 MiB", f)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.MemoryReturns() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.MemoryReturns() == 0 {
		t.Fatalf("64 MiB freed and never given back (%d bytes free)", heapFree())
	}
	if f := heapFree(); f >= memReturnFloor {
		t.Fatalf("%d bytes still free after giving back", f)
	}
}

// Connections that fell to less than half their peak are given back too,
// though no collection has run since they went.
func TestEngineGivesBackAfterConnectionsWent(t *testing.T) {
	e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		MemoryReturn: 20 * time.Millisecond}, []rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	debug.FreeOSMemory()
	// No TCP shard publishes here: the test sets the counts.
	states := &e.cores[0].tcpPub.states
	states[tcp.Established].Store(5000)
	states[tcp.Listen].Store(1)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	time.Sleep(100 * time.Millisecond)
	states[tcp.Established].Store(3000) // down by 2000, not by half
	time.Sleep(100 * time.Millisecond)
	if n := e.MemoryReturns(); n != 0 {
		t.Fatalf("given back %d times with the connections above half their peak", n)
	}
	states[tcp.Established].Store(2000)
	deadline := time.Now().Add(5 * time.Second)
	for e.MemoryReturns() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.MemoryReturns(); n == 0 {
		t.Fatal("not given back after the connections fell to 2000 of 5000")
	}
	// The follow-up checks (memReturnFollowUps) may give back what the
	// race detector's own garbage left; past them, a peak still at 5000
	// would make every check a fall and a return.
	waitChecks(t, e, memReturnFollowUps+1)
	before := e.MemoryReturns()
	waitChecks(t, e, 5)
	if n := e.MemoryReturns(); n != before {
		t.Fatalf("given back %d times more with the connections steady at 2000: the peak should start again from 2000", n-before)
	}
}

// What the connections leave to the collector after the return their fall
// made (pools trimmed later) is given back at the next checks, even while
// the heap keeps more than twice as much live; past those checks, free heap
// that small is left alone again.
func TestEngineGivesBackWhatGoneConnectionsLeaveLater(t *testing.T) {
	e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		MemoryReturn: 50 * time.Millisecond}, []rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	debug.FreeOSMemory()
	for range 64 { // live, so that 16 MiB free is less than twice the live heap
		memHold = append(memHold, make([]byte, 1<<20))
	}
	defer func() { memHold = nil }()
	states := &e.cores[0].tcpPub.states
	states[tcp.Established].Store(5000)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	time.Sleep(100 * time.Millisecond)
	states[tcp.Established].Store(0)
	waitReturns := func(want uint64, within time.Duration) uint64 {
		deadline := time.Now().Add(within)
		for e.MemoryReturns() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return e.MemoryReturns()
	}
	if n := waitReturns(1, 5*time.Second); n == 0 {
		t.Fatal("not given back after the connections went")
	}
	first := e.MemoryReturns()
	garbage := func(mib int) {
		for range mib {
			memGarbage = append(memGarbage, make([]byte, 1<<20))
		}
		memGarbage = nil
		runtime.GC()
	}
	// What the connections left, collected after the first return: 2 MiB,
	// under the floor of the other checks but not the follow-ups'.
	// The first follow-up check comes 50 ms after the first return.
	garbage(2)
	if n := waitReturns(first+1, 5*time.Second); n <= first {
		t.Fatalf("the 2 MiB the connections left later were not given back (%d bytes free)", heapFree())
	}
	// Past the follow-up checks a steady heap is left alone.
	waitChecks(t, e, memReturnFollowUps+1)
	before := e.MemoryReturns()
	garbage(16)
	waitChecks(t, e, 5)
	if n := e.MemoryReturns(); n != before {
		t.Fatalf("given back %d times more with no fall of the connections and 16 MiB free of 80", n-before)
	}
}
