package rings_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/rings/ringtest"
)

// small is a MemConfig that keeps test pools small.
var small = rings.MemConfig{Frames: 64, WireSlots: 16}

func TestNewMemPairConfig(t *testing.T) {
	for _, cfg := range []rings.MemConfig{
		{WireSlots: 3},
		{WireSlots: 1},
		{WireSlots: -4},
		{FrameSize: 1000},
		{Frames: -1},
		{Frames: rings.MaxFrames + 1},
		{SlotSize: 2049},
		{FrameSize: 4096, SlotSize: 4097},
		{SlotSize: -1},
	} {
		if _, _, err := rings.NewMemPair(cfg); err == nil {
			t.Errorf("NewMemPair(%+v): no error", cfg)
		}
	}
	a, b := ringtest.Pair(t, rings.MemConfig{})
	for _, l := range []*rings.MemLink{a, b} {
		if p := l.Pool(); p.Frames() != rings.DefaultFrames || p.FrameSize() != rings.DefaultFrameSize {
			t.Errorf("default pool: %d frames of %d bytes", p.Frames(), p.FrameSize())
		}
	}
	if a.Pool() == b.Pool() {
		t.Error("the two ends share a pool")
	}
}

func frameOf(n, seed int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(seed*31 + i)
	}
	return f
}

func TestMemRoundTrip(t *testing.T) {
	a, b := ringtest.Pair(t, small)
	sizes := []int{0, 1, 14, 60, 1514, 2048}
	for i, n := range sizes {
		ringtest.Send(t, a, frameOf(n, i))
	}
	if a.Pool().Free() != small.Frames {
		t.Fatalf("sender's pool has %d free frames after Transmit, want all %d", a.Pool().Free(), small.Frames)
	}
	got := ringtest.RecvAll(b)
	if len(got) != len(sizes) {
		t.Fatalf("received %d frames, want %d", len(got), len(sizes))
	}
	for i, n := range sizes {
		if !bytes.Equal(got[i], frameOf(n, i)) {
			t.Errorf("frame %d (%d bytes) differs", i, n)
		}
	}
	if b.Pool().Free() != small.Frames {
		t.Fatalf("receiver's pool has %d free frames after RecvAll, want %d", b.Pool().Free(), small.Frames)
	}
	// And back, from a frame with an offset (headroom).
	p := b.Pool()
	addr, _ := p.Get()
	copy(p.Frame(addr+256), "pong")
	if n := b.Transmit([]rings.Desc{{Addr: addr + 256, Len: 4}}); n != 1 {
		t.Fatalf("Transmit from an offset: %d", n)
	}
	if got := ringtest.RecvAll(a); len(got) != 1 || string(got[0]) != "pong" {
		t.Fatalf("b→a: %q", got)
	}
	if p.Free() != small.Frames {
		t.Fatalf("frame sent from an offset did not come back: %d free", p.Free())
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.TxFrames != uint64(len(sizes)) || sb.RxFrames != uint64(len(sizes)) || sb.TxFrames != 1 || sa.RxFrames != 1 {
		t.Fatalf("stats: a %+v b %+v", sa, sb)
	}
	if sb.RxRingEmpty == 0 || sa.RxRingEmpty == 0 {
		t.Fatalf("RxRingEmpty not counted: a %+v b %+v", sa, sb)
	}
}

// getN takes n frames from p, fills each with its index and returns descs.
func getN(t *testing.T, p *rings.Pool, n, size int) []rings.Desc {
	t.Helper()
	ds := make([]rings.Desc, n)
	for i := range ds {
		addr, ok := p.Get()
		if !ok {
			t.Fatalf("pool empty after %d frames", i)
		}
		f := p.Frame(addr)[:size]
		binary.BigEndian.PutUint32(f, uint32(i))
		ds[i] = rings.Desc{Addr: addr, Len: uint32(size)}
	}
	return ds
}

func TestMemTxRingFull(t *testing.T) {
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 16, WireSlots: 4})
	ds := getN(t, a.Pool(), 6, 64)
	if n := a.Transmit(ds); n != 4 {
		t.Fatalf("Transmit 6 into 4 slots: %d", n)
	}
	if got := a.Stats().TxRingFull; got != 2 {
		t.Fatalf("TxRingFull %d, want 2", got)
	}
	// The refused frames are still the caller's.
	if free := a.Pool().Free(); free != 16-2 {
		t.Fatalf("Free %d, want 14 (2 refused frames held by the caller)", free)
	}
	if n := a.Transmit(ds[4:]); n != 0 {
		t.Fatalf("Transmit into a full wire: %d", n)
	}
	if got := ringtest.RecvAll(b); len(got) != 4 {
		t.Fatalf("received %d, want 4", len(got))
	}
	if n := a.Transmit(ds[4:]); n != 2 {
		t.Fatalf("Transmit after the wire drained: %d", n)
	}
	got := ringtest.RecvAll(b)
	if len(got) != 2 || binary.BigEndian.Uint32(got[0]) != 4 || binary.BigEndian.Uint32(got[1]) != 5 {
		t.Fatalf("after refusal: %d frames", len(got))
	}
}

func TestMemFillRingEmpty(t *testing.T) {
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 4, WireSlots: 8})
	for k := 0; k < 2; k++ {
		if n := a.Transmit(getN(t, a.Pool(), 4, 60)); n != 4 {
			t.Fatalf("Transmit: %d", n)
		}
	}
	descs := make([]rings.Desc, 8)
	n := b.Receive(descs)
	if n != 4 {
		t.Fatalf("Receive with 4 free frames: %d", n)
	}
	if b.Stats().FillRingEmpty != 1 {
		t.Fatalf("FillRingEmpty %d, want 1", b.Stats().FillRingEmpty)
	}
	if m := b.Receive(descs[n:]); m != 0 {
		t.Fatalf("Receive from an empty pool: %d", m)
	}
	for _, d := range descs[:n] {
		b.Pool().Put(d.Addr)
	}
	// The frames that found no room stayed on the wire.
	if n := b.Receive(descs); n != 4 {
		t.Fatalf("Receive of the frames left on the wire: %d", n)
	}
}

func TestMemInvalidRefused(t *testing.T) {
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 8, WireSlots: 8, SlotSize: 100})
	p := a.Pool()
	ds := getN(t, p, 3, 100)
	ds[1].Len = 101
	if n := a.Transmit(ds); n != 1 {
		t.Fatalf("Transmit with a frame longer than the slot: %d, want 1", n)
	}
	st := a.Stats()
	if st.KernelTxInvalid != 1 || st.TxRingFull != 0 {
		t.Fatalf("stats %+v, want KernelTxInvalid 1", st)
	}
	ds[1].Len = 100
	if n := a.Transmit(ds[1:]); n != 2 {
		t.Fatalf("Transmit after fixing the frame: %d", n)
	}
	// A frame that runs past its frame's end, or lies outside the pool.
	for _, d := range []rings.Desc{
		{Addr: uint64(p.FrameSize()) - 10, Len: 20},
		{Addr: uint64(len(p.Mem())), Len: 1},
	} {
		if n := a.Transmit([]rings.Desc{d}); n != 0 {
			t.Errorf("Transmit(%+v) = %d, want 0", d, n)
		}
	}
	if got := ringtest.RecvAll(b); len(got) != 3 {
		t.Fatalf("received %d, want 3", len(got))
	}
}

func TestMemClose(t *testing.T) {
	a, b, err := rings.NewMemPair(small)
	if err != nil {
		t.Fatal(err)
	}
	ringtest.Send(t, a, []byte("left on the wire"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	descs := make([]rings.Desc, 4)
	for _, l := range []*rings.MemLink{a, b} {
		if n := l.Receive(descs); n != 0 {
			t.Errorf("Receive after Close: %d", n)
		}
		ds := getN(t, l.Pool(), 1, 10)
		if n := l.Transmit(ds); n != 0 {
			t.Errorf("Transmit after Close: %d", n)
		}
		l.Pool().Put(ds[0].Addr)
		start := time.Now()
		l.Wait(time.Second)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("Wait after Close took %v", d)
		}
		if l.Pool().Free() != small.Frames {
			t.Errorf("pool: %d free", l.Pool().Free())
		}
	}
}

func TestMemWait(t *testing.T) {
	a, b := ringtest.Pair(t, small)

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		b.Wait(20 * time.Millisecond)
		if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
			t.Fatalf("Wait(20ms) on an idle link took %v", d)
		}
		start = time.Now()
		b.Wait(0)
		b.Wait(-time.Second)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Wait(0) took %v", d)
		}
	})

	t.Run("ready", func(t *testing.T) {
		ringtest.Send(t, a, []byte("x"))
		start := time.Now()
		b.Wait(5 * time.Second)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Wait with a frame ready took %v", d)
		}
		ringtest.RecvAll(b)
	})

	t.Run("wake", func(t *testing.T) {
		// b waits on its own goroutine; a transmits from this one.
		for i := 0; i < 20; i++ {
			woke := make(chan time.Duration)
			go func() {
				start := time.Now()
				b.Wait(5 * time.Second)
				woke <- time.Since(start)
			}()
			time.Sleep(time.Millisecond)
			ringtest.Send(t, a, []byte("wake"))
			if d := <-woke; d > time.Second {
				t.Fatalf("round %d: Wait woke after %v", i, d)
			}
			if got := ringtest.RecvAll(b); len(got) != 1 {
				t.Fatalf("round %d: %d frames", i, len(got))
			}
		}
	})

	t.Run("close", func(t *testing.T) {
		a, b, err := rings.NewMemPair(small)
		if err != nil {
			t.Fatal(err)
		}
		woke := make(chan time.Duration)
		go func() {
			start := time.Now()
			b.Wait(5 * time.Second)
			woke <- time.Since(start)
		}()
		time.Sleep(5 * time.Millisecond)
		a.Close()
		if d := <-woke; d > time.Second {
			t.Fatalf("Wait woke %v after the peer closed", d)
		}
	})
}

// TestMemConcurrent runs two engines' worth of traffic: a sends numbered
// frames of varying length from its goroutine, b echoes each back from its
// own, and a checks that every echo comes back once, in order and intact.
// Both idle in Wait, so the wake-up path is exercised under -race.
func TestMemConcurrent(t *testing.T) {
	total := 200_000
	if rings.UnderRace {
		total = 20_000
	}
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 256, WireSlots: 64})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // b: echo
		defer wg.Done()
		var descs [rings.IdealBatch]rings.Desc
		var pending []rings.Desc
		for {
			select {
			case <-stop:
				for _, d := range pending {
					b.Pool().Put(d.Addr)
				}
				return
			default:
			}
			if len(pending) < 2*rings.IdealBatch {
				n := b.Receive(descs[:])
				pending = append(pending, descs[:n]...)
			}
			if len(pending) == 0 {
				b.Wait(10 * time.Millisecond)
				continue
			}
			m := b.Transmit(pending)
			pending = pending[:copy(pending, pending[m:])]
			if m == 0 {
				runtime.Gosched()
			}
		}
	}()

	p := a.Pool()
	var out, in [rings.IdealBatch]rings.Desc
	sent, got := 0, 0
	idle := 0
	for got < total {
		k := 0
		for k < len(out) && sent+k < total {
			addr, ok := p.Get()
			if !ok {
				break
			}
			size := 8 + (sent+k)%1500
			f := p.Frame(addr)[:size]
			binary.BigEndian.PutUint64(f, uint64(sent+k))
			f[size-1] = byte(sent + k)
			out[k] = rings.Desc{Addr: addr, Len: uint32(size)}
			k++
		}
		m := a.Transmit(out[:k])
		for _, d := range out[m:k] {
			p.Put(d.Addr)
		}
		sent += m
		n := a.Receive(in[:])
		for _, d := range in[:n] {
			f := p.Bytes(d)
			seq := int(binary.BigEndian.Uint64(f))
			if seq != got || len(f) != 8+seq%1500 || f[len(f)-1] != byte(seq) {
				close(stop)
				wg.Wait()
				t.Fatalf("echo %d: seq %d len %d", got, seq, len(f))
			}
			got++
			p.Put(d.Addr)
		}
		if n == 0 && m == 0 {
			idle++
			a.Wait(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if p.Free() != p.Frames() {
		t.Fatalf("a's pool: %d of %d free", p.Free(), p.Frames())
	}
	t.Logf("%d frames echoed; a idled %d times; a %+v; b %+v", total, idle, a.Stats(), b.Stats())
}

func TestMemAllocs(t *testing.T) {
	a, b := ringtest.Pair(t, small)
	out := getN(t, a.Pool(), 8, 1514)
	in := make([]rings.Desc, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		// Send 8 frames a→b, receive them, and send them back b→a.
		a.Transmit(out)
		n := b.Receive(in)
		b.Transmit(in[:n])
		a.Receive(out)
	})
	if allocs != 0 {
		t.Fatalf("Transmit+Receive round trip: %v allocations per run, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() { b.Wait(time.Microsecond) })
	if allocs != 0 {
		t.Fatalf("Wait: %v allocations per run, want 0", allocs)
	}
}

// BenchmarkMemLink sends a batch of IdealBatch frames from a to b and
// receives it, on one goroutine: the cost of the copies and the ring.
func BenchmarkMemLink(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			x, y, err := rings.NewMemPair(rings.MemConfig{Frames: 256, WireSlots: 256})
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			out := make([]rings.Desc, rings.IdealBatch)
			in := make([]rings.Desc, rings.IdealBatch)
			b.ReportAllocs()
			b.SetBytes(int64(size * rings.IdealBatch))
			for b.Loop() {
				for i := range out {
					addr, _ := x.Pool().Get()
					out[i] = rings.Desc{Addr: addr, Len: uint32(size)}
				}
				x.Transmit(out)
				n := y.Receive(in)
				for _, d := range in[:n] {
					y.Pool().Put(d.Addr)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rings.IdealBatch), "ns/frame")
		})
	}
}

// BenchmarkMemLinkStream streams 64-byte frames from a sender goroutine to
// the receiver (the benchmark goroutine), which idles in Wait when empty.
func BenchmarkMemLinkStream(b *testing.B) {
	x, y, err := rings.NewMemPair(rings.MemConfig{Frames: 1024, WireSlots: 512})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	total := b.N * rings.IdealBatch
	go func() {
		out := make([]rings.Desc, rings.IdealBatch)
		p := x.Pool()
		for sent := 0; sent < total; {
			k := min(len(out), total-sent)
			for i := range out[:k] {
				addr, _ := p.Get()
				out[i] = rings.Desc{Addr: addr, Len: 64}
			}
			m := x.Transmit(out[:k])
			for _, d := range out[m:k] {
				p.Put(d.Addr)
			}
			sent += m
			if m == 0 {
				runtime.Gosched()
			}
		}
	}()
	in := make([]rings.Desc, rings.IdealBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < total; {
		n := y.Receive(in)
		for _, d := range in[:n] {
			y.Pool().Put(d.Addr)
		}
		got += n
		if n == 0 {
			y.Wait(time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/frame")
}

// A Wake that comes before the Wait it is meant for still ends that Wait:
// the loop decides to sleep, another goroutine wakes it, then it sleeps.
func TestMemLinkWakeBeforeWaitIsNotLost(t *testing.T) {
	a, b, err := rings.NewMemPair(rings.MemConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_ = b
	a.Wake()
	done := make(chan struct{})
	go func() {
		a.Wait(time.Hour)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Wait slept through a Wake made just before it")
	}
}

// Occupancy counts the frames on the wire from each end's side.
func TestMemLinkOccupancy(t *testing.T) {
	a, b, err := rings.NewMemPair(rings.MemConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var ds [3]rings.Desc
	for i := range ds {
		addr, ok := a.Pool().Get()
		if !ok {
			t.Fatal("pool empty")
		}
		ds[i] = rings.Desc{Addr: addr, Len: 60}
	}
	if n := a.Transmit(ds[:]); n != 3 {
		t.Fatalf("transmitted %d", n)
	}
	if o := b.Occupancy(); o.Rx != 3 {
		t.Fatalf("receiver sees %+v, want 3 waiting", o)
	}
	if o := a.Occupancy(); o.Tx != 3 {
		t.Fatalf("sender sees %+v, want 3 queued", o)
	}
	var got [4]rings.Desc
	n := b.Receive(got[:])
	for _, d := range got[:n] {
		b.Pool().Put(d.Addr)
	}
	if o := b.Occupancy(); n != 3 || o.Rx != 0 {
		t.Fatalf("after receiving %d: %+v", n, o)
	}
}
