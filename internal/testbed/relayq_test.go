package testbed

import (
	"bytes"
	"fmt"
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
	q.setShuffle(0.3, 0.3)            // swaps and copies too
	q.setBottleneck(1e9, 1000, 1<<20) // and marks
	frame := ipv4Frame(0x02, 1514)
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

// ipv4Frame is an Ethernet frame with an IPv4 header of TOS tos and a
// correct header checksum, padded to n bytes.
func ipv4Frame(tos byte, n int) []byte {
	f := make([]byte, n)
	f[12], f[13] = 0x08, 0x00
	h := f[14:34]
	h[0], h[1] = 0x45, tos
	h[2], h[3] = byte((n-14)>>8), byte(n-14)
	h[8], h[9] = 64, 6
	copy(h[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	h[10], h[11] = byte(c>>8), byte(c)
	return f
}

// ipv4HeaderOK reports whether the IPv4 header of f sums to 0xffff.
func ipv4HeaderOK(f []byte) bool {
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(f[i])<<8 | uint32(f[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// markCE sets CE on ECT(0) and ECT(1) IPv4 and IPv6 packets (behind a VLAN
// tag too), keeps the IPv4 header checksum right, and leaves Not-ECT, CE
// and other frames alone.
func TestMarkCE(t *testing.T) {
	for _, tc := range []struct {
		tos  byte
		mark bool
	}{{0x02, true}, {0x01, true}, {0xb8 | 0x02, true}, {0x00, false}, {0x03, false}, {0xfe, true}} {
		f := ipv4Frame(tc.tos, 60)
		if got := markCE(f); got != tc.mark || (tc.mark && f[15] != tc.tos|3) || !ipv4HeaderOK(f) {
			t.Errorf("IPv4 TOS %#x: marked %v, TOS now %#x, checksum ok %v; want marked %v", tc.tos, got, f[15], ipv4HeaderOK(f), tc.mark)
		}
	}
	tagged := ipv4Frame(0x02, 64)
	tagged = append(append(append([]byte{}, tagged[:12]...), 0x81, 0x00, 0x00, 0x05), tagged[12:]...)
	if !markCE(tagged) || tagged[19] != 0x03 {
		t.Errorf("tagged IPv4 ECT(0) not marked: TOS %#x", tagged[19])
	}
	v6 := make([]byte, 54)
	v6[12], v6[13] = 0x86, 0xdd
	v6[14], v6[15] = 0x60, 0x20 // traffic class 0x02: ECT(0)
	if !markCE(v6) || v6[14] != 0x60 || v6[15] != 0x30 {
		t.Errorf("IPv6 ECT(0): % x", v6[14:16])
	}
	v6[15] = 0x00
	if markCE(v6) {
		t.Error("IPv6 Not-ECT marked")
	}
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	if markCE(arp) || markCE(arp[:10]) {
		t.Error("a frame that is not IP marked")
	}
}

// Behind a bottleneck each frame leaves when the frames ahead of it have
// been sent at the rate, plus the delay; ECT frames that find more than the
// threshold queued are marked, and the queue drops at its limit.
func TestFrameQueueBottleneck(t *testing.T) {
	const rate = 1_000_000 // bytes/s: 1000 bytes take 1 ms
	const d = 5 * time.Millisecond
	q := newFrameQueue(64, d, 0, 1)
	q.setBottleneck(rate, 2500, 6000)
	var now mono.Time = 1000
	var marked []bool
	for i := range 8 { // a burst of eight 1000-byte frames at once
		f := ipv4Frame(0x02, 1000)
		s := q.Slot()
		ok := q.Commit(copy(s, f), now, false, 0, 0)
		if want := i < 6; ok != want {
			t.Fatalf("frame %d queued %v, want %v (limit 6000 bytes)", i, ok, want)
		}
		if ok {
			marked = append(marked, q.At(q.Len() - 1)[15] == 0x03)
			if due, want := q.DueAt(q.Len()-1), now.Add(time.Duration(i+1)*time.Millisecond+d); due != want {
				t.Errorf("frame %d due %v, want %v", i, due.Sub(now), want.Sub(now))
			}
		}
	}
	// Frames 0..2 found 0, 1000, 2000 bytes queued; 3..5 more than 2500.
	if want := []bool{false, false, false, true, true, true}; fmt.Sprint(marked) != fmt.Sprint(want) {
		t.Errorf("marked %v, want %v", marked, want)
	}
	if q.Marked != 3 || q.LinkDropped != 2 {
		t.Errorf("marked %d dropped %d, want 3 and 2", q.Marked, q.LinkDropped)
	}
	if b := q.Backlog(now.Add(2 * time.Millisecond)); b != 4000 {
		t.Errorf("backlog 2 ms later %d, want 4000", b)
	}
	if b := q.Backlog(now.Add(time.Second)); b != 0 {
		t.Errorf("backlog 1 s later %d, want 0", b)
	}
	// After the link has drained, a frame waits for nothing but the delay.
	later := now.Add(time.Second)
	if !q.Commit(copy(q.Slot(), ipv4Frame(0x02, 1000)), later, false, 0, 0) {
		t.Fatal("frame after the drain dropped")
	}
	if due := q.DueAt(q.Len() - 1); due != later.Add(time.Millisecond+d) {
		t.Errorf("frame after the drain due %v, want %v", due.Sub(later), time.Millisecond+d)
	}
	if q.depth.max != 6000 || q.depth.n != 9 { // the dropped frames found 6000
		t.Errorf("depth max %d over %d frames, want 6000 over 9", q.depth.max, q.depth.n)
	}
}
