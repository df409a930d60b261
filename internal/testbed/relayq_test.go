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
	q.setShuffle(0.3, 0.3) // swaps and copies too
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

// drain sends what is due by now as the relay's send does, each copy of a
// frame, and appends the first byte of each sent frame to out. It checks
// that due times never go back along the queue.
func drain(t *testing.T, q *frameQueue, now mono.Time, out []byte) []byte {
	t.Helper()
	for k := 1; k < q.Len(); k++ {
		if q.DueAt(k).Before(q.DueAt(k - 1)) {
			t.Fatalf("frame %d due %v before the one ahead of it (%v)", k, q.DueAt(k), q.DueAt(k-1))
		}
	}
	for q.Len() > 0 {
		if due, _ := q.Due(); due.After(now) {
			break
		}
		out = append(out, q.Front()[0])
		q.Sent()
	}
	return out
}

// With reorder 1 every frame is held behind the next one, which is not
// drawn itself: pairs leave swapped, both at the follower's due time.
func TestFrameQueueReorderBehindNext(t *testing.T) {
	const d = time.Millisecond
	q := newFrameQueue(16, d, 0, 1)
	q.setShuffle(1, 0)
	var out []byte
	for i := range 6 {
		now := mono.Time(i) * mono.Time(10*time.Microsecond)
		put(t, q, []byte{byte(i), 0xee}, now)
		if i%2 == 0 {
			// The held frame waits for a follower past its own due time.
			if due, _ := q.Due(); due != now.Add(d+ReorderWait) {
				t.Fatalf("held frame %d due %v, want %v", i, due, now.Add(d+ReorderWait))
			}
		} else if due0, due1 := q.DueAt(0), q.DueAt(1); due0 != now.Add(d) || due1 != due0 {
			t.Fatalf("pair %d: due %v and %v, want both %v", i, due0, due1, now.Add(d))
		}
		out = drain(t, q, now.Add(d), out)
	}
	if want := []byte{1, 0, 3, 2, 5, 4}; !bytes.Equal(out, want) {
		t.Fatalf("order %v, want %v", out, want)
	}
	if q.Reordered != 3 || q.HeldAlone != 0 || q.Passed != 6 {
		t.Fatalf("reordered %d held-alone %d passed %d; want 3, 0, 6", q.Reordered, q.HeldAlone, q.Passed)
	}
}

// A held frame no frame follows in time leaves alone ReorderWait after its
// due time; the next frame is then queued behind nothing and drawn itself.
func TestFrameQueueReorderHeldAlone(t *testing.T) {
	q := newFrameQueue(4, 0, 0, 1)
	q.setShuffle(1, 0)
	put(t, q, []byte{7}, 100)
	if out := drain(t, q, 100, nil); len(out) != 0 {
		t.Fatalf("held frame left at once: %v", out)
	}
	if out := drain(t, q, mono.Time(100).Add(ReorderWait), nil); !bytes.Equal(out, []byte{7}) {
		t.Fatalf("held frame after the wait: %v, want [7]", out)
	}
	if q.HeldAlone != 1 || q.Reordered != 0 {
		t.Fatalf("held-alone %d reordered %d; want 1, 0", q.HeldAlone, q.Reordered)
	}
	put(t, q, []byte{8}, 200+mono.Time(ReorderWait))
	if due, _ := q.Due(); due != mono.Time(200).Add(2*ReorderWait) {
		t.Fatalf("next frame due %v, want held itself", due)
	}
}

// With duplicate 1 every frame leaves twice, the copy right behind it.
func TestFrameQueueDuplicate(t *testing.T) {
	q := newFrameQueue(8, 0, 0, 1)
	q.setShuffle(0, 1)
	var out []byte
	for i := range 3 {
		put(t, q, []byte{byte(i)}, mono.Time(i))
		if q.CopiesAt(q.Len()-1) != 2 {
			t.Fatalf("frame %d: %d copies, want 2", i, q.CopiesAt(q.Len()-1))
		}
	}
	out = drain(t, q, 10, out)
	if want := []byte{0, 0, 1, 1, 2, 2}; !bytes.Equal(out, want) {
		t.Fatalf("sent %v, want %v", out, want)
	}
	if q.Duplicated != 3 || q.Passed != 3 {
		t.Fatalf("duplicated %d passed %d; want 3, 3", q.Duplicated, q.Passed)
	}
}

// Seeded draws: the same seed shuffles the same frames the same way; the
// shares are about what was asked (a frame that overtook a held one is not
// drawn, so p/(1+p) of the frames are reordered on a busy path); each frame
// leaves once or twice, at most one place from where it came, and the
// queue's due times never go back.
func TestFrameQueueShuffleSeeded(t *testing.T) {
	const n, reorder, dup = 100000, 0.1, 0.05
	run := func(seed uint64) ([]byte, *frameQueue) {
		q := newFrameQueue(64, 200*time.Microsecond, 50*time.Microsecond, seed)
		q.setShuffle(reorder, dup)
		var out []byte
		var seq []int
		send := func(now mono.Time) {
			for q.Len() > 0 {
				if due, _ := q.Due(); due.After(now) {
					return
				}
				f := q.Front()
				id := int(f[0]) | int(f[1])<<8 | int(f[2])<<16
				if len(seq) == 0 || seq[len(seq)-1] != id { // a copy is no new place
					seq = append(seq, id)
				}
				out = append(out, f...)
				q.Sent()
			}
		}
		for i := range n {
			now := mono.Time(i) * mono.Time(5*time.Microsecond)
			frame := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
			if !put(t, q, frame, now) {
				t.Fatalf("queue full at frame %d", i)
			}
			send(now)
		}
		send(mono.Time(1 << 62))
		if len(seq) != n {
			t.Fatalf("%d distinct frames left, want %d", len(seq), n)
		}
		for j, id := range seq {
			if id < j-1 || id > j+1 {
				t.Fatalf("frame %d left in place %d", id, j)
			}
		}
		return out, q
	}
	a, qa := run(42)
	b, _ := run(42)
	c, _ := run(43)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave another order")
	}
	if bytes.Equal(a, c) {
		t.Fatal("another seed gave the same order")
	}
	wantR := float64(n) * reorder / (1 + reorder)
	if r := float64(qa.Reordered); r < 0.9*wantR || r > 1.1*wantR {
		t.Errorf("reordered %v of %d, want about %.0f", r, n, wantR)
	}
	if d := float64(qa.Duplicated); d < 0.9*n*dup || d > 1.1*n*dup {
		t.Errorf("duplicated %v of %d, want about %.0f", d, n, n*dup)
	}
	if len(a) != 3*(n+int(qa.Duplicated)) || qa.Passed != n {
		t.Errorf("sent %d frames, passed %d; want %d and %d", len(a)/3, qa.Passed, n+int(qa.Duplicated), n)
	}
	t.Logf("%d frames: reordered %d, held alone %d, duplicated %d", n, qa.Reordered, qa.HeldAlone, qa.Duplicated)
}
