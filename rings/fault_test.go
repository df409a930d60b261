package rings_test

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/rings/ringtest"
)

// fakeLink is a Link a test drives by hand: Receive hands out the frames in
// rx, Transmit appends to tx (up to txRoom frames while txRoom ≥ 0) and keeps
// them; the test returns them to the pool.
type fakeLink struct {
	pool   *rings.Pool
	rx, tx []rings.Desc
	txRoom int
	waited time.Duration // the last Wait's timeout
}

func newFake(t testing.TB, frames int) *fakeLink {
	p, err := rings.NewPool(frames, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeLink{pool: p, txRoom: -1}
}

func (f *fakeLink) Pool() *rings.Pool { return f.pool }
func (f *fakeLink) Receive(descs []rings.Desc) int {
	n := copy(descs, f.rx)
	f.rx = f.rx[:copy(f.rx, f.rx[n:])]
	return n
}
func (f *fakeLink) Transmit(descs []rings.Desc) int {
	n := len(descs)
	if f.txRoom >= 0 {
		n = min(n, f.txRoom)
		f.txRoom -= n
	}
	f.tx = append(f.tx, descs[:n]...)
	return n
}
func (f *fakeLink) Wait(d time.Duration)   { f.waited = d }
func (f *fakeLink) Stats() rings.LinkStats { return rings.LinkStats{} }
func (f *fakeLink) Close() error           { return nil }

const fakeFrameLen = 64

// fill writes frame seq's contents: its number, then a pattern from it.
func fill(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq*7 + uint64(i))
	}
}

// newFrame takes a frame from p and fills it as frame seq.
func newFrame(t testing.TB, p *rings.Pool, seq uint64) rings.Desc {
	addr, ok := p.Get()
	if !ok {
		t.Fatalf("pool empty at frame %d", seq)
	}
	d := rings.Desc{Addr: addr, Len: fakeFrameLen}
	fill(p.Bytes(d), seq)
	return d
}

// deliver queues frames first..first+n-1 for the fake's Receive.
func (f *fakeLink) deliver(t testing.TB, first uint64, n int) {
	for i := 0; i < n; i++ {
		f.rx = append(f.rx, newFrame(t, f.pool, first+uint64(i)))
	}
}

// seqs returns the numbers of frames and puts them back into p.
func seqs(p *rings.Pool, ds []rings.Desc) []uint64 {
	var out []uint64
	for _, d := range ds {
		out = append(out, binary.BigEndian.Uint64(p.Bytes(d)))
		p.Put(d.Addr)
	}
	return out
}

// takeTx returns the numbers of the frames the fake transmitted and frees them.
func (f *fakeLink) takeTx() []uint64 {
	s := seqs(f.pool, f.tx)
	f.tx = f.tx[:0]
	return s
}

// recv receives from l until it has nothing, returning the frames' numbers.
func recv(l rings.Link) []uint64 {
	var out []uint64
	descs := make([]rings.Desc, rings.IdealBatch)
	for {
		n := l.Receive(descs)
		if n == 0 {
			return out
		}
		out = append(out, seqs(l.Pool(), descs[:n])...)
	}
}

func iota(first uint64, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = first + uint64(i)
	}
	return s
}

func TestFaultyPassThrough(t *testing.T) {
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 256, WireSlots: 256})
	fa := rings.NewFaulty(a, rings.FaultConfig{Seed: 1})
	fb := rings.NewFaulty(b, rings.FaultConfig{Seed: 2})
	var frames [][]byte
	for i := 0; i < 200; i++ {
		frames = append(frames, frameOf(14+i, i))
	}
	ringtest.SendAll(t, fa, frames...)
	got := ringtest.RecvAll(fb)
	if !slices.EqualFunc(got, frames, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Fatalf("received %d frames, not the %d sent", len(got), len(frames))
	}
	if fs := fa.FaultStats(); fs.Tx.Frames != 200 || fs.Tx != (rings.FaultCounts{Frames: 200}) {
		t.Fatalf("fault stats with no faults: %+v", fs)
	}
	if fb.Pending() != 0 || fa.Pending() != 0 {
		t.Fatal("frames pending with no faults")
	}
}

func TestNewFaultyRefusesBadConfig(t *testing.T) {
	inner := newFake(t, 4)
	for _, f := range []rings.Faults{
		{Drop: -0.1}, {Duplicate: 1.5}, {Reorder: math.NaN()}, {Corrupt: 2},
		{Delay: -time.Millisecond}, {DelayJitter: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFaulty with %+v: no panic", f)
				}
			}()
			rings.NewFaulty(inner, rings.FaultConfig{Tx: f})
		}()
	}
}

func TestFaultyDrop(t *testing.T) {
	inner := newFake(t, 64)
	f := rings.NewFaulty(inner, rings.FaultConfig{Rx: rings.Faults{Drop: 1}, Tx: rings.Faults{Drop: 1}})
	inner.deliver(t, 0, 32)
	if got := recv(f); len(got) != 0 {
		t.Fatalf("received %d frames with Drop 1", len(got))
	}
	ds := []rings.Desc{newFrame(t, inner.pool, 1), newFrame(t, inner.pool, 2)}
	if n := f.Transmit(ds); n != 2 || len(inner.tx) != 0 {
		t.Fatalf("Transmit with Drop 1: accepted %d, sent %d", n, len(inner.tx))
	}
	if inner.pool.Free() != 64 {
		t.Fatalf("pool: %d free, want 64", inner.pool.Free())
	}
	if fs := f.FaultStats(); fs.Rx.Dropped != 32 || fs.Tx.Dropped != 2 {
		t.Fatalf("stats %+v", fs)
	}
}

func TestFaultyDuplicate(t *testing.T) {
	inner := newFake(t, 16)
	f := rings.NewFaulty(inner, rings.FaultConfig{Rx: rings.Faults{Duplicate: 1}})
	inner.deliver(t, 0, 4)
	if got := recv(f); !slices.Equal(got, []uint64{0, 0, 1, 1, 2, 2, 3, 3}) {
		t.Fatalf("Duplicate 1: got %v", got)
	}
	// With the pool empty the copies are skipped, not the frames.
	inner.deliver(t, 10, 16)
	descs := make([]rings.Desc, 32)
	n := f.Receive(descs)
	if got := seqs(inner.pool, descs[:n]); !slices.Equal(got, iota(10, 16)) {
		t.Fatalf("Duplicate with an empty pool: got %v", got)
	}
	if fs := f.FaultStats().Rx; fs.Duplicated != 4 || fs.DupSkipped != 16 {
		t.Fatalf("stats %+v", fs)
	}
	if inner.pool.Free() != 16 {
		t.Fatalf("pool: %d free", inner.pool.Free())
	}
}

// TestFaultyReorder checks when a held frame is let go: after the next
// frame, or at the end of the next call.
func TestFaultyReorder(t *testing.T) {
	inner := newFake(t, 64)
	f := rings.NewFaulty(inner, rings.FaultConfig{Rx: rings.Faults{Reorder: 1}})
	descs := make([]rings.Desc, 8)
	inner.deliver(t, 0, 1)
	if n := f.Receive(descs); n != 0 {
		t.Fatalf("Reorder 1: the first frame came through at once")
	}
	if f.Pending() != 1 {
		t.Fatalf("Pending %d, want 1", f.Pending())
	}
	n := f.Receive(descs)
	if got := seqs(inner.pool, descs[:n]); !slices.Equal(got, []uint64{0}) {
		t.Fatalf("next call: got %v, want the held frame", got)
	}

	// With probability 1/2, frames come out as a permutation with some
	// frames out of order, and no more inversions than frames held back.
	f = rings.NewFaulty(inner, rings.FaultConfig{Seed: 7, Rx: rings.Faults{Reorder: 0.5}})
	inner.deliver(t, 0, 40)
	var got []uint64
	for i := 0; i < 4; i++ {
		got = append(got, recv(f)...)
	}
	if len(got) != 40 {
		t.Fatalf("got %d frames, want 40", len(got))
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, iota(0, 40)) {
		t.Fatalf("not a permutation: %v", got)
	}
	swaps := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			swaps++
		}
	}
	if swaps == 0 || uint64(swaps) > f.FaultStats().Rx.Reordered {
		t.Fatalf("%d inversions for %d frames held back: %v", swaps, f.FaultStats().Rx.Reordered, got)
	}

	// On transmit, Wait lets the held frame go.
	f = rings.NewFaulty(inner, rings.FaultConfig{Tx: rings.Faults{Reorder: 1}})
	f.Transmit([]rings.Desc{newFrame(t, inner.pool, 5)})
	if len(inner.tx) != 0 {
		t.Fatal("Reorder 1: transmitted at once")
	}
	f.Wait(time.Millisecond)
	if got := inner.takeTx(); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("after Wait: %v", got)
	}
	if inner.pool.Free() != 64 {
		t.Fatalf("pool: %d free", inner.pool.Free())
	}
}

func TestFaultyCorruptFlipsOneBit(t *testing.T) {
	inner := newFake(t, 256)
	f := rings.NewFaulty(inner, rings.FaultConfig{Seed: 3,
		Rx: rings.Faults{Corrupt: 1}, Tx: rings.Faults{Corrupt: 1}})
	want := make([]byte, fakeFrameLen)
	// Corrupt alone keeps the order, so the i-th frame out is frame i.
	check := func(dir string, p *rings.Pool, ds []rings.Desc, next *uint64) {
		for _, d := range ds {
			b := p.Bytes(d)
			fill(want, *next)
			diff := 0
			for i := range b {
				diff += bits.OnesCount8(b[i] ^ want[i])
			}
			if diff != 1 {
				t.Errorf("%s frame %d: %d bits differ, want 1", dir, *next, diff)
			}
			*next++
			p.Put(d.Addr)
		}
	}
	inner.deliver(t, 0, 200)
	descs := make([]rings.Desc, rings.IdealBatch)
	var rxNext, txNext uint64
	for n := f.Receive(descs); n > 0; n = f.Receive(descs) {
		check("rx", inner.pool, descs[:n], &rxNext)
	}
	for i := uint64(0); i < 200; i++ {
		f.Transmit([]rings.Desc{newFrame(t, inner.pool, i)})
	}
	check("tx", inner.pool, inner.tx, &txNext)
	inner.tx = inner.tx[:0]
	if rxNext != 200 || txNext != 200 {
		t.Fatalf("%d frames received, %d transmitted, want 200", rxNext, txNext)
	}
	if fs := f.FaultStats(); fs.Rx.Corrupted != 200 || fs.Tx.Corrupted != 200 {
		t.Fatalf("stats %+v", fs)
	}
}

func TestFaultyDelay(t *testing.T) {
	var clk ringtest.Clock
	inner := newFake(t, 256)
	const delay = 10 * time.Millisecond
	f := rings.NewFaulty(inner, rings.FaultConfig{Clock: clk.Now,
		Rx: rings.Faults{Delay: delay}, Tx: rings.Faults{Delay: delay}})

	inner.deliver(t, 0, 5)
	if got := recv(f); len(got) != 0 {
		t.Fatalf("rx at 0: %v", got)
	}
	clk.Advance(delay - 1)
	inner.deliver(t, 5, 5)
	if got := recv(f); len(got) != 0 {
		t.Fatalf("rx at delay-1ns: %v", got)
	}
	clk.Advance(1)
	if got := recv(f); !slices.Equal(got, iota(0, 5)) {
		t.Fatalf("rx at delay: %v", got)
	}
	clk.Advance(delay - 1)
	if got := recv(f); !slices.Equal(got, iota(5, 5)) {
		t.Fatalf("rx at 2·delay-1: %v", got)
	}

	clk.Set(0)
	f = rings.NewFaulty(inner, rings.FaultConfig{Clock: clk.Now, Tx: rings.Faults{Delay: delay}})
	f.Transmit([]rings.Desc{newFrame(t, inner.pool, 1), newFrame(t, inner.pool, 2)})
	clk.Advance(delay / 2)
	f.Transmit(nil)
	if len(inner.tx) != 0 {
		t.Fatal("tx before due")
	}
	// Wait sleeps on the inner link no longer than until the frames are due.
	f.Wait(time.Hour)
	if inner.waited != delay/2 {
		t.Fatalf("Wait(1h) waited %v on the inner link, want %v (until due)", inner.waited, delay/2)
	}
	clk.Advance(delay / 2)
	f.Receive(nil) // any call hands due frames to the inner link
	if got := inner.takeTx(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("tx at due: %v", got)
	}
	if inner.pool.Free() != 256 {
		t.Fatalf("pool: %d free", inner.pool.Free())
	}
}

// TestFaultyDelayJitter checks that every frame leaves no sooner than Delay
// and no later than Delay+DelayJitter after it came, in the order it came.
func TestFaultyDelayJitter(t *testing.T) {
	var clk ringtest.Clock
	inner := newFake(t, 512)
	const delay, jitter = 5 * time.Millisecond, 3 * time.Millisecond
	f := rings.NewFaulty(inner, rings.FaultConfig{Seed: 9, Clock: clk.Now,
		Rx: rings.Faults{Delay: delay, DelayJitter: jitter}})
	const step = 50 * time.Microsecond
	arrived := map[uint64]mono.Time{}
	var order []uint64
	var seq uint64
	for i := 0; i < 400; i++ {
		if i < 200 {
			inner.deliver(t, seq, 1)
			arrived[seq] = clk.Now()
			seq++
		}
		for _, s := range recv(f) {
			lat := clk.Now().Sub(arrived[s])
			if lat < delay || lat > delay+jitter {
				t.Fatalf("frame %d left after %v, want [%v, %v]", s, lat, delay, delay+jitter)
			}
			order = append(order, s)
		}
		clk.Advance(step)
	}
	if !slices.Equal(order, iota(0, 200)) {
		t.Fatalf("order: %v", order)
	}
}

func TestFaultyDelayOverflow(t *testing.T) {
	var clk ringtest.Clock
	inner := newFake(t, 64)
	f := rings.NewFaulty(inner, rings.FaultConfig{Clock: clk.Now, DelayQueue: 4,
		Rx: rings.Faults{Delay: time.Second}})
	inner.deliver(t, 0, 10)
	if got := recv(f); !slices.Equal(got, iota(4, 6)) {
		t.Fatalf("with a full delay queue: %v, want frames 4..9 at once", got)
	}
	if fs := f.FaultStats().Rx; fs.Delayed != 4 || fs.DelayOverflow != 6 {
		t.Fatalf("stats %+v", fs)
	}
	clk.Advance(time.Second)
	if got := recv(f); !slices.Equal(got, iota(0, 4)) {
		t.Fatalf("at due: %v", got)
	}
}

// TestFaultyTxBackpressure checks that frames the inner link refuses wait in
// Faulty, that Faulty refuses frames when its queue is full, and that any
// call hands the waiting frames on once the inner link has room.
func TestFaultyTxBackpressure(t *testing.T) {
	inner := newFake(t, 1024)
	inner.txRoom = 0
	f := rings.NewFaulty(inner, rings.FaultConfig{})
	var sent uint64
	for k := 0; k < 20; k++ {
		ds := make([]rings.Desc, rings.IdealBatch)
		for i := range ds {
			ds[i] = newFrame(t, inner.pool, sent+uint64(i))
		}
		n := f.Transmit(ds)
		sent += uint64(n)
		for _, d := range ds[n:] {
			inner.pool.Put(d.Addr)
		}
	}
	if f.Pending() != int(sent) || sent == 0 || sent >= 20*rings.IdealBatch {
		t.Fatalf("accepted %d, pending %d", sent, f.Pending())
	}
	if got := f.Stats().TxRingFull; got != 20*rings.IdealBatch-sent {
		t.Fatalf("TxRingFull %d, want %d", got, 20*rings.IdealBatch-sent)
	}
	inner.txRoom = -1
	f.Receive(make([]rings.Desc, 1))
	if got := inner.takeTx(); !slices.Equal(got, iota(0, int(sent))) {
		t.Fatalf("after the inner link made room: %d frames", len(got))
	}
	if f.Pending() != 0 || inner.pool.Free() != 1024 {
		t.Fatalf("pending %d, pool %d free", f.Pending(), inner.pool.Free())
	}
}

// within reports whether count/n is within 5 standard deviations of p.
func within(count, n uint64, p float64) bool {
	sd := math.Sqrt(p * (1 - p) / float64(n))
	return math.Abs(float64(count)/float64(n)-p) <= 5*sd+1e-9
}

func TestFaultyRates(t *testing.T) {
	const total = 100_000
	faults := rings.Faults{Drop: 0.1, Duplicate: 0.05, Reorder: 0.08, Corrupt: 0.02}
	inner := newFake(t, 1024)
	f := rings.NewFaulty(inner, rings.FaultConfig{Seed: 42, Rx: faults, Tx: faults})
	descs := make([]rings.Desc, rings.IdealBatch)
	var rxOut, txOut uint64
	for seq := uint64(0); seq < total; seq += rings.IdealBatch {
		k := min(rings.IdealBatch, total-int(seq))
		inner.deliver(t, seq, k)
		for n := f.Receive(descs); n > 0; n = f.Receive(descs) {
			rxOut += uint64(n)
			for _, d := range descs[:n] {
				inner.pool.Put(d.Addr)
			}
		}
		for i := range descs[:k] {
			descs[i] = newFrame(t, inner.pool, seq+uint64(i))
		}
		if n := f.Transmit(descs[:k]); n != k {
			t.Fatalf("Transmit accepted %d of %d", n, k)
		}
		txOut += uint64(len(inner.tx))
		for _, d := range inner.tx {
			inner.pool.Put(d.Addr)
		}
		inner.tx = inner.tx[:0]
	}
	rxOut += uint64(len(recv(f)))
	f.Wait(0)
	txOut += uint64(len(inner.takeTx()))
	fs := f.FaultStats()
	for _, c := range []struct {
		dir string
		c   rings.FaultCounts
		out uint64
	}{{"rx", fs.Rx, rxOut}, {"tx", fs.Tx, txOut}} {
		s := c.c
		kept := s.Frames - s.Dropped
		if s.Frames != total {
			t.Errorf("%s: %d frames counted, want %d", c.dir, s.Frames, total)
		}
		if c.out != kept+s.Duplicated {
			t.Errorf("%s: %d frames out, want %d kept + %d copies", c.dir, c.out, kept, s.Duplicated)
		}
		for _, r := range []struct {
			name     string
			count, n uint64
			p        float64
		}{
			{"drop", s.Dropped, s.Frames, faults.Drop},
			{"corrupt", s.Corrupted, kept, faults.Corrupt},
			{"duplicate", s.Duplicated + s.DupSkipped, kept, faults.Duplicate},
			{"reorder", s.Reordered, kept + s.Duplicated, faults.Reorder},
		} {
			if !within(r.count, r.n, r.p) {
				t.Errorf("%s %s: %d of %d = %.4f, want %.4f", c.dir, r.name, r.count, r.n, float64(r.count)/float64(r.n), r.p)
			}
		}
		t.Logf("%s: %+v", c.dir, s)
	}
	if inner.pool.Free() != 1024 {
		t.Fatalf("pool: %d free", inner.pool.Free())
	}
}

// faultRun sends frames a→b over a MemPair with Tx faults on a and Rx faults
// on b, on a virtual clock, and returns what b received: each frame's number
// and checksum, in order.
func faultRun(t *testing.T, seed uint64) (out [][2]uint64, fa, fb *rings.Faulty) {
	var clk ringtest.Clock
	faults := rings.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1, Corrupt: 0.05,
		Delay: time.Millisecond, DelayJitter: 500 * time.Microsecond}
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 512, WireSlots: 512})
	fa = rings.NewFaulty(a, rings.FaultConfig{Seed: seed, Clock: clk.Now, Tx: faults})
	fb = rings.NewFaulty(b, rings.FaultConfig{Seed: seed + 1, Clock: clk.Now, Rx: faults})
	descs := make([]rings.Desc, rings.IdealBatch)
	var seq uint64
	take := func() {
		for n := fb.Receive(descs); n > 0; n = fb.Receive(descs) {
			for _, d := range descs[:n] {
				p := b.Pool().Bytes(d)
				out = append(out, [2]uint64{binary.BigEndian.Uint64(p), uint64(crc32.ChecksumIEEE(p))})
				b.Pool().Put(d.Addr)
			}
		}
	}
	for step := 0; step < 600; step++ {
		k := step%9 + 1
		for i := 0; i < k; i++ {
			descs[i] = newFrame(t, a.Pool(), seq)
			seq++
		}
		n := fa.Transmit(descs[:k])
		for _, d := range descs[n:k] {
			a.Pool().Put(d.Addr)
		}
		take()
		clk.Advance(time.Duration(step%4) * 100 * time.Microsecond)
	}
	for i := 0; i < 10; i++ {
		clk.Advance(time.Millisecond)
		fa.Transmit(nil)
		take()
	}
	return out, fa, fb
}

func TestFaultyDeterministic(t *testing.T) {
	first, fa1, fb1 := faultRun(t, 1234)
	second, fa2, fb2 := faultRun(t, 1234)
	if !slices.Equal(first, second) {
		t.Fatalf("the same seed gave different output (%d and %d frames)", len(first), len(second))
	}
	if fa1.FaultStats() != fa2.FaultStats() || fb1.FaultStats() != fb2.FaultStats() {
		t.Fatalf("the same seed gave different counts")
	}
	other, _, _ := faultRun(t, 99)
	if slices.Equal(first, other) {
		t.Fatal("seeds 1234 and 99 gave the same output")
	}
	ts, rs := fa1.FaultStats().Tx, fb1.FaultStats().Rx
	if ts.Dropped == 0 || ts.Duplicated == 0 || ts.Reordered == 0 || ts.Corrupted == 0 || ts.Delayed == 0 ||
		rs.Dropped == 0 || rs.Duplicated == 0 || rs.Reordered == 0 || rs.Corrupted == 0 || rs.Delayed == 0 {
		t.Fatalf("some fault never happened: tx %+v rx %+v", ts, rs)
	}
	if fa1.Pending() != 0 || fb1.Pending() != 0 {
		t.Fatalf("pending after draining: %d, %d", fa1.Pending(), fb1.Pending())
	}
	for _, f := range []*rings.Faulty{fa1, fb1} {
		if p := f.Pool(); p.Free() != p.Frames() {
			t.Errorf("pool: %d of %d free after draining", p.Free(), p.Frames())
		}
	}
}

// TestFaultyNoLeak runs traffic both ways with faults on both ends and both
// directions, then checks that every frame is back in its pool after the
// links drain, and that Close gives back the frames still held.
func TestFaultyNoLeak(t *testing.T) {
	var clk ringtest.Clock
	faults := rings.Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.2, Corrupt: 0.1,
		Delay: 2 * time.Millisecond, DelayJitter: time.Millisecond}
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 256, WireSlots: 64})
	cfg := rings.FaultConfig{Clock: clk.Now, Rx: faults, Tx: faults, DelayQueue: 32}
	cfg.Seed = 5
	fa := rings.NewFaulty(a, cfg)
	cfg.Seed = 6
	fb := rings.NewFaulty(b, cfg)
	descs := make([]rings.Desc, rings.IdealBatch)
	var seq uint64
	pump := func(from, to *rings.Faulty, k int) {
		p := from.Pool()
		k = min(k, p.Free())
		for i := 0; i < k; i++ {
			descs[i] = newFrame(t, p, seq)
			seq++
		}
		n := from.Transmit(descs[:k])
		for _, d := range descs[n:k] {
			p.Put(d.Addr)
		}
		for n := to.Receive(descs); n > 0; n = to.Receive(descs) {
			for _, d := range descs[:n] {
				to.Pool().Put(d.Addr)
			}
		}
	}
	for step := 0; step < 2000; step++ {
		pump(fa, fb, step%17)
		pump(fb, fa, step%13)
		clk.Advance(time.Duration(step%5) * 100 * time.Microsecond)
	}
	for i := 0; i < 20; i++ {
		clk.Advance(time.Millisecond)
		pump(fa, fb, 0)
		pump(fb, fa, 0)
	}
	for _, f := range []*rings.Faulty{fa, fb} {
		if f.Pending() != 0 {
			t.Errorf("%d frames pending after draining", f.Pending())
		}
		if p := f.Pool(); p.Free() != p.Frames() {
			t.Errorf("pool: %d of %d free after draining", p.Free(), p.Frames())
		}
	}
	// Leave frames in both directions of fa and close it.
	pump(fb, fa, 40)
	clk.Advance(time.Millisecond / 2)
	pump(fa, fb, 40)
	if fa.Pending() == 0 {
		t.Fatal("nothing pending before Close")
	}
	fa.Close()
	if p := fa.Pool(); p.Free() != p.Frames() {
		t.Errorf("pool: %d of %d free after Close", p.Free(), p.Frames())
	}
	if n := fa.Receive(descs); n != 0 {
		t.Errorf("Receive after Close: %d", n)
	}
}

func TestFaultyAllocs(t *testing.T) {
	var clk ringtest.Clock
	faults := rings.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1, Corrupt: 0.05,
		Delay: 2 * time.Millisecond, DelayJitter: time.Millisecond}
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 512, WireSlots: 256})
	fa := rings.NewFaulty(a, rings.FaultConfig{Seed: 1, Clock: clk.Now, Tx: faults, Rx: faults})
	fb := rings.NewFaulty(b, rings.FaultConfig{Seed: 2, Clock: clk.Now, Tx: faults, Rx: faults})
	out := make([]rings.Desc, 16)
	in := make([]rings.Desc, rings.IdealBatch)
	allocs := testing.AllocsPerRun(2000, func() {
		k := 0
		for ; k < len(out); k++ {
			addr, ok := a.Pool().Get()
			if !ok {
				break
			}
			out[k] = rings.Desc{Addr: addr, Len: 128}
		}
		n := fa.Transmit(out[:k])
		for _, d := range out[n:k] {
			a.Pool().Put(d.Addr)
		}
		m := fb.Receive(in)
		m = fb.Transmit(in[:m]) // echo
		_ = m
		m = fa.Receive(in)
		for _, d := range in[:m] {
			a.Pool().Put(d.Addr)
		}
		clk.Advance(500 * time.Microsecond)
	})
	if allocs != 0 {
		t.Fatalf("Faulty round trip: %v allocations per run, want 0", allocs)
	}
	fs := fa.FaultStats()
	if fs.Tx.Frames == 0 || fs.Rx.Frames == 0 || fs.Tx.Delayed == 0 {
		t.Fatalf("no traffic: %+v", fs)
	}
}

// BenchmarkFaulty measures a batch of IdealBatch 64-byte frames through a
// MemPair wrapped at both ends, without faults and with moderate faults.
func BenchmarkFaulty(b *testing.B) {
	for _, c := range []struct {
		name string
		f    rings.Faults
	}{
		{"none", rings.Faults{}},
		{"moderate", rings.Faults{Drop: 0.01, Duplicate: 0.01, Reorder: 0.01, Corrupt: 0.01,
			Delay: time.Millisecond, DelayJitter: 100 * time.Microsecond}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var clk ringtest.Clock
			x, y, err := rings.NewMemPair(rings.MemConfig{Frames: 1024, WireSlots: 512})
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			fx := rings.NewFaulty(x, rings.FaultConfig{Seed: 1, Clock: clk.Now, Tx: c.f})
			fy := rings.NewFaulty(y, rings.FaultConfig{Seed: 2, Clock: clk.Now, Rx: c.f})
			out := make([]rings.Desc, rings.IdealBatch)
			in := make([]rings.Desc, rings.IdealBatch)
			b.ReportAllocs()
			for b.Loop() {
				k := 0
				for ; k < len(out); k++ {
					addr, ok := x.Pool().Get()
					if !ok {
						break
					}
					out[k] = rings.Desc{Addr: addr, Len: 64}
				}
				n := fx.Transmit(out[:k])
				for _, d := range out[n:k] {
					x.Pool().Put(d.Addr)
				}
				for m := fy.Receive(in); m > 0; m = fy.Receive(in) {
					for _, d := range in[:m] {
						y.Pool().Put(d.Addr)
					}
				}
				clk.Advance(100 * time.Microsecond)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rings.IdealBatch), "ns/frame")
		})
	}
}
