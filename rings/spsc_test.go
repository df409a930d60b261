package rings

import (
	"runtime"
	"testing"
)

func TestNewSPSCSize(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 3, 6, 1000} {
		if _, err := NewSPSC[int](n); err == nil {
			t.Errorf("NewSPSC(%d): no error", n)
		}
	}
	for _, n := range []int{2, 4, 1024} {
		r, err := NewSPSC[int](n)
		if err != nil {
			t.Fatalf("NewSPSC(%d): %v", n, err)
		}
		if r.Cap() != n || r.Len() != 0 {
			t.Errorf("NewSPSC(%d): Cap %d Len %d", n, r.Cap(), r.Len())
		}
	}
}

func TestSPSCBatch(t *testing.T) {
	r, _ := NewSPSC[int](8)
	if n := r.Enqueue([]int{1, 2, 3}); n != 3 {
		t.Fatalf("Enqueue 3: %d", n)
	}
	if n := r.Enqueue([]int{4, 5}); n != 2 {
		t.Fatalf("Enqueue 2: %d", n)
	}
	if r.Len() != 5 {
		t.Fatalf("Len %d, want 5", r.Len())
	}
	out := make([]int, 4)
	if n := r.Dequeue(out); n != 4 || out[0] != 1 || out[3] != 4 {
		t.Fatalf("Dequeue: %d %v", n, out)
	}
	if n := r.Dequeue(out); n != 1 || out[0] != 5 {
		t.Fatalf("Dequeue rest: %d %v", n, out)
	}
	if n := r.Enqueue(nil); n != 0 {
		t.Fatalf("Enqueue(nil): %d", n)
	}
	if n := r.Dequeue(nil); n != 0 {
		t.Fatalf("Dequeue(nil): %d", n)
	}
}

func TestSPSCFullEmpty(t *testing.T) {
	r, _ := NewSPSC[int](4)
	out := make([]int, 8)
	if n := r.Dequeue(out); n != 0 {
		t.Fatalf("Dequeue of empty ring: %d", n)
	}
	if n := r.Enqueue([]int{1, 2, 3, 4, 5, 6}); n != 4 {
		t.Fatalf("Enqueue 6 into 4 slots: %d", n)
	}
	if n := r.Enqueue([]int{7}); n != 0 {
		t.Fatalf("Enqueue into full ring: %d", n)
	}
	if r.Len() != 4 {
		t.Fatalf("Len of full ring %d", r.Len())
	}
	if n := r.Dequeue(out); n != 4 || out[0] != 1 || out[3] != 4 {
		t.Fatalf("Dequeue of full ring: %d %v", n, out[:n])
	}
	if n := r.Dequeue(out); n != 0 {
		t.Fatalf("Dequeue after draining: %d", n)
	}
}

// TestSPSCWrap runs the indices many times around a small ring with batches
// that straddle the end of the buffer.
func TestSPSCWrap(t *testing.T) {
	r, _ := NewSPSC[uint64](8)
	var next, want uint64
	in := make([]uint64, 5)
	out := make([]uint64, 3)
	for round := 0; round < 1000; round++ {
		for i := range in {
			in[i] = next + uint64(i)
		}
		next += uint64(r.Enqueue(in))
		for k := 0; k < 2; k++ {
			n := r.Dequeue(out)
			for _, v := range out[:n] {
				if v != want {
					t.Fatalf("round %d: got %d, want %d", round, v, want)
				}
				want++
			}
		}
	}
	if next < 1000 || next-want != uint64(r.Len()) {
		t.Fatalf("enqueued %d, dequeued %d, Len %d", next, want, r.Len())
	}
}

// TestSPSCDequeueClears checks that a dequeued slot no longer holds the
// item, so the ring does not keep pointers alive.
func TestSPSCDequeueClears(t *testing.T) {
	r, _ := NewSPSC[*int](2)
	x := new(int)
	r.Enqueue([]*int{x})
	out := make([]*int, 1)
	r.Dequeue(out)
	for i, p := range r.buf {
		if p != nil {
			t.Fatalf("slot %d still holds %p", i, p)
		}
	}
}

// TestSPSCStress has one producer and one consumer goroutine move a sequence
// through a small ring in batches of varying size; the consumer checks that
// every number arrives once and in order.
func TestSPSCStress(t *testing.T) {
	total := uint64(2_000_000)
	if underRace {
		total = 200_000
	}
	if testing.Short() {
		total /= 10
	}
	r, _ := NewSPSC[uint64](64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var batch [37]uint64
		var next uint64
		for k := 0; next < total; k++ {
			m := 1 + k%len(batch)
			if rest := total - next; uint64(m) > rest {
				m = int(rest)
			}
			for i := 0; i < m; i++ {
				batch[i] = next + uint64(i)
			}
			n := r.Enqueue(batch[:m])
			next += uint64(n)
			if n == 0 {
				runtime.Gosched()
			}
		}
	}()
	var out [29]uint64
	var want uint64
	for k := 0; want < total; k++ {
		m := 1 + k%len(out)
		n := r.Dequeue(out[:m])
		for _, v := range out[:n] {
			if v != want {
				t.Fatalf("got %d, want %d", v, want)
			}
			want++
		}
		if n == 0 {
			runtime.Gosched()
		}
	}
	<-done
	if n := r.Dequeue(out[:]); n != 0 {
		t.Fatalf("%d items left after the last one", n)
	}
}

// TestSPSCLenConcurrent reads Len from a third goroutine while both sides
// work; it must stay within [0, Cap].
func TestSPSCLenConcurrent(t *testing.T) {
	r, _ := NewSPSC[int](16)
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() {
		in := []int{1, 2, 3}
		for {
			select {
			case <-stop:
				done <- struct{}{}
				return
			default:
				r.Enqueue(in)
			}
		}
	}()
	go func() {
		out := make([]int, 5)
		for {
			select {
			case <-stop:
				done <- struct{}{}
				return
			default:
				r.Dequeue(out)
			}
		}
	}()
	for i := 0; i < 200_000; i++ {
		if n := r.Len(); n < 0 || n > r.Cap() {
			close(stop)
			t.Fatalf("Len %d outside [0, %d]", n, r.Cap())
		}
	}
	close(stop)
	<-done
	<-done
}

func TestSPSCAllocs(t *testing.T) {
	r, _ := NewSPSC[Desc](256)
	in := make([]Desc, IdealBatch)
	out := make([]Desc, IdealBatch)
	allocs := testing.AllocsPerRun(1000, func() {
		r.Enqueue(in)
		r.Dequeue(out)
	})
	if allocs != 0 {
		t.Fatalf("Enqueue+Dequeue: %v allocations per run, want 0", allocs)
	}
}

// BenchmarkSPSC moves batches of IdealBatch descriptors through a ring on
// one goroutine: the cost of the ring itself.
func BenchmarkSPSC(b *testing.B) {
	r, _ := NewSPSC[Desc](1024)
	in := make([]Desc, IdealBatch)
	out := make([]Desc, IdealBatch)
	b.ReportAllocs()
	for b.Loop() {
		r.Enqueue(in)
		r.Dequeue(out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*IdealBatch), "ns/item")
}

// BenchmarkSPSCStream streams descriptors from a producer goroutine to the
// consumer (the benchmark goroutine) in batches of IdealBatch.
func BenchmarkSPSCStream(b *testing.B) {
	r, _ := NewSPSC[Desc](1024)
	total := uint64(b.N) * IdealBatch
	go func() {
		in := make([]Desc, IdealBatch)
		for sent := uint64(0); sent < total; {
			m := min(uint64(len(in)), total-sent)
			n := r.Enqueue(in[:m])
			sent += uint64(n)
			if n == 0 {
				runtime.Gosched()
			}
		}
	}()
	out := make([]Desc, IdealBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for got := uint64(0); got < total; {
		n := r.Dequeue(out)
		got += uint64(n)
		if n == 0 {
			runtime.Gosched()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/item")
}
