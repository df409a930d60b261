package engine

import (
	"testing"
	"time"
)

// A wake queued on the core reaches the goroutine once the turn ends (the
// flush), not before; wakes past the queue's room are made at once and
// counted; close wakes what is still queued.
func TestWakeQueue(t *testing.T) {
	q, err := newWakeQueue()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 1)
	q.add(ch)
	select {
	case <-ch:
		t.Fatal("woken before the flush")
	case <-time.After(20 * time.Millisecond):
	}
	q.flush()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken after the flush")
	}

	// More wakes than the queue holds, from one turn: all arrive.
	chans := make([]chan struct{}, wakeQueueSize+10)
	for i := range chans {
		chans[i] = make(chan struct{}, 1)
		q.add(chans[i])
	}
	if q.direct.Load() != 10 {
		t.Fatalf("%d wakes made directly, want 10", q.direct.Load())
	}
	q.flush()
	for i, c := range chans {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatalf("wake %d lost", i)
		}
	}

	// Queued and never flushed: close wakes it.
	last := make(chan struct{}, 1)
	q.add(last)
	q.close()
	select {
	case <-last:
	default:
		t.Fatal("close left a wake queued")
	}
}

// Queueing a wake and ending the turn allocate nothing.
func TestWakeQueueAllocatesNothing(t *testing.T) {
	q, err := newWakeQueue()
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	ch := make(chan struct{}, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		q.add(ch)
		q.flush()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per wake", allocs)
	}
}
