package rings

import "testing"

// The pool's size follows from the rings: its usable part (all but the
// reserve and the pending budget) holds the four rings and two batches, and
// it is the smallest that does.
func TestPoolFramesFromRings(t *testing.T) {
	if got := PoolFrames(DefaultXDPRingSize); got != 10238 {
		t.Errorf("PoolFrames(%d) = %d, want 10238", DefaultXDPRingSize, got)
	}
	for _, r := range []int{64, 128, 512, 2048, 4096, MaxXDPRingSize} {
		for _, c := range []struct {
			n, need int
		}{{PoolFrames(r), 4*r + 2*IdealBatch}, {MinPoolFrames(r), r + 2*IdealBatch}} {
			if usableFrames(c.n) < c.need || usableFrames(c.n-1) >= c.need {
				t.Errorf("ring %d: %d frames (usable %d) is not the smallest pool for %d", r, c.n, usableFrames(c.n), c.need)
			}
		}
		if err := CheckPoolFrames(PoolFrames(r), r); err != nil {
			t.Errorf("ring %d: the default is refused: %v", r, err)
		}
		if err := CheckPoolFrames(MinPoolFrames(r)-1, r); err == nil {
			t.Errorf("ring %d: %d frames accepted", r, MinPoolFrames(r)-1)
		}
	}
}

// Get leaves the reserve; GetReserved takes it; each refusal and each
// frame taken from the reserve is counted.
func TestPoolReserve(t *testing.T) {
	p, err := NewPool(8, DefaultFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetReserve(3)
	var got []uint64
	for {
		a, ok := p.Get()
		if !ok {
			break
		}
		got = append(got, a)
	}
	if len(got) != 5 || p.Free() != 3 || p.Stats().ReserveDenied != 1 {
		t.Fatalf("Get took %d, %d free, stats %+v; want 5, 3, 1 denied", len(got), p.Free(), p.Stats())
	}
	for i := 0; i < 3; i++ {
		a, ok := p.GetReserved()
		if !ok {
			t.Fatalf("GetReserved %d refused", i)
		}
		got = append(got, a)
	}
	if _, ok := p.GetReserved(); ok {
		t.Fatal("GetReserved from an empty pool")
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get from an empty pool")
	}
	if s := p.Stats(); s != (PoolStats{ReserveUsed: 3, ReserveDenied: 1, Empty: 2}) {
		t.Fatalf("stats %+v", s)
	}
	for _, a := range got {
		p.Put(a)
	}
	if p.Free() != 8 {
		t.Fatalf("%d free after all came back", p.Free())
	}
	p.SetReserve(100)
	if p.Reserve() != 7 {
		t.Fatalf("reserve %d, want it clamped to 7", p.Reserve())
	}
	if allocs := testing.AllocsPerRun(100, func() {
		a, _ := p.GetReserved()
		p.Put(a)
		if a, ok := p.Get(); ok {
			p.Put(a)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
