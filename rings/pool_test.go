package rings

import (
	"runtime"
	"testing"
	"unsafe"
)

func TestNewPoolRefusesBadSizes(t *testing.T) {
	for _, c := range []struct{ n, size int }{
		{0, 2048}, {-1, 2048}, {MaxFrames + 1, 2048},
		{16, 0}, {16, 1024}, {16, 3000}, {16, 8192}, {16, -2048},
	} {
		if p, err := NewPool(c.n, c.size); err == nil {
			t.Errorf("NewPool(%d, %d) = %v, want an error", c.n, c.size, p)
		}
	}
}

func TestPoolShape(t *testing.T) {
	for _, size := range []int{2048, 4096} {
		p, err := NewPool(8, size)
		if err != nil {
			t.Fatal(err)
		}
		if p.Frames() != 8 || p.FrameSize() != size || p.Free() != 8 || len(p.Mem()) != 8*size {
			t.Fatalf("size %d: Frames %d FrameSize %d Free %d len(Mem) %d",
				size, p.Frames(), p.FrameSize(), p.Free(), len(p.Mem()))
		}
		if runtime.GOOS == "linux" {
			if a := uintptr(unsafe.Pointer(&p.Mem()[0])); a%4096 != 0 {
				t.Errorf("size %d: memory at %#x is not page aligned", size, a)
			}
		}
	}
}

func TestPoolGetPut(t *testing.T) {
	const n, size = 4, 2048
	p, err := NewPool(n, size)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := 0; i < n; i++ {
		addr, ok := p.Get()
		if !ok {
			t.Fatalf("Get %d: pool empty", i)
		}
		if addr%size != 0 || addr >= n*size || seen[addr] {
			t.Fatalf("Get %d: bad or repeated address %#x", i, addr)
		}
		seen[addr] = true
	}
	if p.Free() != 0 {
		t.Fatalf("Free %d after taking every frame", p.Free())
	}
	if addr, ok := p.Get(); ok {
		t.Fatalf("Get from an exhausted pool: %#x", addr)
	}
	for addr := range seen {
		p.Put(addr)
	}
	if p.Free() != n {
		t.Fatalf("Free %d after putting every frame back", p.Free())
	}
	// The free list is a stack: the last frame put back comes out first.
	a, _ := p.Get()
	b, _ := p.Get()
	p.Put(a)
	if c, _ := p.Get(); c != a {
		t.Fatalf("Get after Put(%#x) = %#x", a, c)
	}
	p.Put(a)
	p.Put(b)
}

func TestPoolPutRoundsDown(t *testing.T) {
	p, err := NewPool(4, 2048)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := p.Get()
	p.Put(addr + 256) // AF_XDP completions can point past the headroom
	got, _ := p.Get()
	if got != addr {
		t.Fatalf("Put(%#x) then Get = %#x, want %#x", addr+256, got, addr)
	}
	p.Put(addr + 2047)
	if got, _ := p.Get(); got != addr {
		t.Fatalf("Put(last byte) then Get = %#x, want %#x", got, addr)
	}
}

func TestPoolFrameBytesBounds(t *testing.T) {
	const size = 2048
	p, err := NewPool(4, size)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(2 * size)
	f := p.Frame(base)
	if len(f) != size || cap(f) != size || &f[0] != &p.Mem()[base] {
		t.Fatalf("Frame(base): len %d cap %d", len(f), cap(f))
	}
	f = p.Frame(base + 100)
	if len(f) != size-100 || cap(f) != size-100 {
		t.Fatalf("Frame(base+100): len %d cap %d, want %d", len(f), cap(f), size-100)
	}
	b := p.Bytes(Desc{Addr: base + 14, Len: 60})
	if len(b) != 60 || cap(b) != 60 || &b[0] != &p.Mem()[base+14] {
		t.Fatalf("Bytes: len %d cap %d", len(b), cap(b))
	}
	// Appending to a packet must not write into the frame's memory.
	_ = append(b, 0xff)
	if p.Mem()[base+14+60] == 0xff {
		t.Fatal("append to Bytes wrote into the pool")
	}
	if b := p.Bytes(Desc{Addr: base, Len: 0}); len(b) != 0 {
		t.Fatalf("empty Desc: len %d", len(b))
	}
	last := uint64(3 * size)
	if f := p.Frame(last); len(f) != size {
		t.Fatalf("last frame: len %d", len(f))
	}
	mustPanic(t, "Frame past the end", func() { p.Frame(4 * size) })
	mustPanic(t, "Bytes past the end", func() { p.Bytes(Desc{Addr: last + 10, Len: size}) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

func TestPoolAllocs(t *testing.T) {
	p, err := NewPool(64, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var addrs [32]uint64
	allocs := testing.AllocsPerRun(1000, func() {
		for i := range addrs {
			addrs[i], _ = p.Get()
		}
		for _, a := range addrs {
			p.Put(a + 7)
		}
		_ = p.Frame(addrs[0])
		_ = p.Bytes(Desc{Addr: addrs[1], Len: 64})
	})
	if allocs != 0 {
		t.Fatalf("Get/Put/Frame/Bytes: %v allocations per run, want 0", allocs)
	}
	if p.Free() != 64 {
		t.Fatalf("Free %d after the runs, want 64", p.Free())
	}
}

func BenchmarkPoolGetPut(b *testing.B) {
	p, err := NewPool(DefaultFrames, DefaultFrameSize)
	if err != nil {
		b.Fatal(err)
	}
	var addrs [IdealBatch]uint64
	b.ReportAllocs()
	for b.Loop() {
		for i := range addrs {
			addrs[i], _ = p.Get()
		}
		for _, a := range addrs {
			p.Put(a)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*IdealBatch), "ns/frame")
}

func TestPoolCloseReleasesAndIsIdempotent(t *testing.T) {
	p, err := NewPool(16, DefaultFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get on a closed pool gave a frame")
	}
}

func TestPoolResetReturnsEveryFrame(t *testing.T) {
	p, err := NewPool(8, DefaultFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 5; i++ {
		p.Get()
	}
	p.Reset()
	seen := map[uint64]bool{}
	for {
		a, ok := p.Get()
		if !ok {
			break
		}
		seen[a] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d distinct frames after Reset, want 8", len(seen))
	}
}
