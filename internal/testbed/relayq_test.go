package testbed

import (
	"bytes"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// put queues frame at now through Slot and Commit.
func put(t *testing.T, q *frameQueue, frame []byte, now mono.Time) bool {
	t.Helper()
	s := q.Slot()
	if s == nil {
		q.Drop()
		return false
	}
	q.Commit(copy(s, frame), now, false, 0, 0)
	return true
}

// Each frame is due exactly delay after it arrived, frames leave in arrival
// order, and nothing is due early.
func TestFrameQueueDelay(t *testing.T) {
	const d = 5 * time.Millisecond
	q := newFrameQueue(8, d, 0, 1)
	if _, ok := q.Due(); ok {
		t.Fatal("empty queue has a due frame")
	}
	var now mono.Time = 1000
	for i := 0; i < 3; i++ {
		put(t, q, []byte{byte(i), 1, 2, 3}, now.Add(time.Duration(i)*time.Microsecond))
	}
	for i := 0; i < 3; i++ {
		due, ok := q.Due()
		if want := now.Add(d + time.Duration(i)*time.Microsecond); !ok || due != want {
			t.Fatalf("frame %d due %v, %v; want %v", i, due, ok, want)
		}
		if f := q.Front(); !bytes.Equal(f, []byte{byte(i), 1, 2, 3}) {
			t.Fatalf("frame %d = %x", i, f)
		}
		q.Pop()
	}
	if q.Len() != 0 || q.Passed != 3 {
		t.Fatalf("after 3 pops: len %d, passed %d", q.Len(), q.Passed)
	}
}

// A full queue takes nothing more until a frame leaves; what it refused is
// counted.
func TestFrameQueueBound(t *testing.T) {
	q := newFrameQueue(4, time.Millisecond, 0, 1)
	for i := 0; i < 6; i++ {
		put(t, q, []byte{byte(i)}, mono.Time(i))
	}
	if q.Len() != 4 || q.Dropped != 2 || !q.Full() {
		t.Fatalf("len %d dropped %d full %v; want 4, 2, true", q.Len(), q.Dropped, q.Full())
	}
	q.Pop()
	if !put(t, q, []byte{9}, 10) {
		t.Fatal("a slot freed by Pop was not taken")
	}
	var got []byte
	for q.Len() > 0 {
		got = append(got, q.Front()[0])
		q.Pop()
	}
	if !bytes.Equal(got, []byte{1, 2, 3, 9}) {
		t.Fatalf("order %v, want [1 2 3 9]", got)
	}
}

// Jitter spreads the due times over delay ± jitter but never reorders:
// each due time is at or after the one before.
func TestFrameQueueJitterKeepsOrder(t *testing.T) {
	const d, j = 10 * time.Millisecond, 2 * time.Millisecond
	q := newFrameQueue(1024, d, j, 42)
	var last mono.Time
	spread := false
	for i := 0; i < 1000; i++ {
		now := mono.Time(i) * mono.Time(100*time.Microsecond)
		put(t, q, []byte{1}, now)
		due, _ := q.Due()
		for q.Len() > 1 { // look at the newest: pop all but it
			q.Pop()
			due, _ = q.Due()
		}
		if due.Before(last) {
			t.Fatalf("frame %d due %v before the one ahead of it (%v)", i, due, last)
		}
		if lo, hi := now.Add(d-j), now.Add(d+j); due.Before(lo) || due.After(hi) {
			t.Fatalf("frame %d due %v outside %v..%v", i, due.Sub(now), d-j, d+j)
		}
		if due.Sub(now) != d {
			spread = true
		}
		last = due
	}
	if !spread {
		t.Fatal("jitter 2ms left every frame due exactly at the delay")
	}
}

// A VLAN tag the kernel took off (PACKET_AUXDATA) goes back after the MAC
// addresses.
func TestFrameQueueVLANTag(t *testing.T) {
	q := newFrameQueue(2, 0, 0, 1)
	frame := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45}
	q.Commit(copy(q.Slot(), frame), 0, true, 0x8100, 0x0064)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45}
	if got := q.Front(); !bytes.Equal(got, want) {
		t.Fatalf("tagged frame %x, want %x", got, want)
	}
}

// Queueing and sending a frame allocates nothing.
func TestFrameQueueNoAlloc(t *testing.T) {
	q := newFrameQueue(64, time.Millisecond, 100*time.Microsecond, 7)
	frame := make([]byte, 1514)
	var lat lateness
	var now mono.Time
	allocs := testing.AllocsPerRun(1000, func() {
		now += 1000
		q.Commit(copy(q.Slot(), frame), now, true, 0x8100, 5)
		if due, ok := q.Due(); ok {
			_ = q.Front()
			lat.add(now.Sub(due))
			q.Pop()
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

func TestLateness(t *testing.T) {
	var l lateness
	for _, d := range []time.Duration{-time.Microsecond, 5 * time.Microsecond, 80 * time.Microsecond, 3 * time.Millisecond} {
		l.add(d)
	}
	if got := l.within(2); got != 0.75 { // <= 100µs
		t.Errorf("within 100µs: %v, want 0.75", got)
	}
	if l.max != 3*time.Millisecond {
		t.Errorf("max %v", l.max)
	}
}

// A batch read into SlotAt's slots is committed in order, and At and DueAt
// see the frames behind the oldest; the ring wraps.
func TestFrameQueueBatch(t *testing.T) {
	q := newFrameQueue(4, time.Millisecond, 0, 1)
	put(t, q, []byte{0}, 0)
	put(t, q, []byte{1}, 0)
	q.Pop()
	q.Pop() // head and tail at 2: a batch of 4 wraps
	if q.Free() != 4 {
		t.Fatalf("free %d, want 4", q.Free())
	}
	for i := 0; i < 4; i++ {
		q.SlotAt(i)[0] = byte(10 + i)
	}
	for i := 0; i < 4; i++ {
		q.Commit(1, mono.Time(i), false, 0, 0)
	}
	for k := 0; k < 4; k++ {
		if f, due := q.At(k), q.DueAt(k); len(f) != 1 || f[0] != byte(10+k) || due != mono.Time(k).Add(time.Millisecond) {
			t.Errorf("At(%d) = %v due %v", k, f, due)
		}
	}
}
