package flow

import (
	"math"
	"testing"
)

// RFC 9293 3.4: sequence numbers compare modulo 2^32.
func TestSeqCompareWrap(t *testing.T) {
	const top = Seq(math.MaxUint32)
	for _, tc := range []struct {
		a, b             Seq
		lt, leq, gt, geq bool
		name             string
	}{
		{0, 1, true, true, false, false, "0 < 1"},
		{1, 1, false, true, false, true, "equal"},
		{top, 0, true, true, false, false, "2^32-1 is before 0"},
		{0, top, false, false, true, true, "0 is after 2^32-1"},
		{top - 10, 10, true, true, false, false, "21 bytes across the wrap"},
		{10, top - 10, false, false, true, true, "21 bytes across the wrap, reversed"},
		{0, 1<<31 - 1, true, true, false, false, "2^31-1 apart: still before"},
		{1<<31 - 1, 0, false, false, true, true, "2^31-1 apart, reversed"},
		{0x80000000, 0xffffffff, true, true, false, false, "upper half"},
		{0x7fffffff, 0x80000000, true, true, false, false, "across the sign boundary"},
	} {
		a, b := tc.a, tc.b
		if a.LT(b) != tc.lt || a.LEQ(b) != tc.leq || a.GT(b) != tc.gt || a.GEQ(b) != tc.geq {
			t.Errorf("%s: %#x vs %#x: LT %v LEQ %v GT %v GEQ %v; want %v %v %v %v", tc.name, uint32(a), uint32(b),
				a.LT(b), a.LEQ(b), a.GT(b), a.GEQ(b), tc.lt, tc.leq, tc.gt, tc.geq)
		}
	}
	// Exactly 2^31 apart the order is undefined; the implementation calls
	// each before the other. Pin that so a change is noticed.
	if a, b := Seq(0), Seq(1<<31); !a.LT(b) || !b.LT(a) {
		t.Errorf("2^31 apart: LT %v, reversed %v", a.LT(b), b.LT(a))
	}
}

func TestSeqAddSubWrap(t *testing.T) {
	for _, tc := range []struct {
		s    Seq
		n    uint32
		want Seq
	}{
		{0, 0, 0},
		{0xfffffff0, 0x20, 0x10},
		{0xffffffff, 1, 0},
		{1, math.MaxUint32, 0},
		{0x80000000, 0x80000000, 0},
	} {
		if got := tc.s.Add(tc.n); got != tc.want {
			t.Errorf("%#x.Add(%#x) = %#x, want %#x", uint32(tc.s), tc.n, uint32(got), uint32(tc.want))
		}
		if got := tc.want.Sub(tc.s); got != tc.n {
			t.Errorf("%#x.Sub(%#x) = %#x, want %#x", uint32(tc.want), uint32(tc.s), got, tc.n)
		}
	}
}

func TestSeqRangeWindowWrap(t *testing.T) {
	lo, hi := Seq(0xfffffff0), Seq(0x10) // 32 bytes across the wrap
	for _, tc := range []struct {
		s    Seq
		want bool
	}{
		{0xffffffef, false}, {0xfffffff0, true}, {0xffffffff, true}, {0, true}, {0xf, true},
		{0x10, false}, {0x11, false}, {0x7ffffff0, false}, {0x80000000, false},
	} {
		if got := tc.s.InRange(lo, hi); got != tc.want {
			t.Errorf("%#x.InRange(%#x, %#x) = %v", uint32(tc.s), uint32(lo), uint32(hi), got)
		}
		if got := tc.s.InWindow(lo, 32); got != tc.want {
			t.Errorf("%#x.InWindow(%#x, 32) = %v", uint32(tc.s), uint32(lo), got)
		}
	}
	// A zero window holds nothing (RFC 9293 3.10.7.4: with RCV.WND 0 only
	// SEG.SEQ = RCV.NXT is acceptable, and only for a zero-length segment;
	// that test is the caller's, not InWindow's).
	if Seq(5).InWindow(5, 0) || Seq(5).InRange(5, 5) {
		t.Error("empty window contains its start")
	}
	// The largest window, 2^30 with window scale 14, across the wrap.
	const w = 1 << 30
	start := Seq(0xc0000001)
	if !start.Add(w-1).InWindow(start, w) || start.Add(w).InWindow(start, w) || start.Add(math.MaxUint32).InWindow(start, w) {
		t.Error("2^30 window across the wrap")
	}
}

func TestSeqMaxMinWrap(t *testing.T) {
	for _, tc := range []struct{ a, b, max, min Seq }{
		{1, 2, 2, 1},
		{2, 1, 2, 1},
		{0xffffffff, 0, 0, 0xffffffff},
		{0, 0xffffffff, 0, 0xffffffff},
		{0xfffffff0, 0x10, 0x10, 0xfffffff0},
		{7, 7, 7, 7},
	} {
		if got := tc.a.Max(tc.b); got != tc.max {
			t.Errorf("%#x.Max(%#x) = %#x, want %#x", uint32(tc.a), uint32(tc.b), uint32(got), uint32(tc.max))
		}
		if got := tc.a.Min(tc.b); got != tc.min {
			t.Errorf("%#x.Min(%#x) = %#x, want %#x", uint32(tc.a), uint32(tc.b), uint32(got), uint32(tc.min))
		}
	}
}

func FuzzSeq(f *testing.F) {
	f.Add(uint32(0), uint32(1), uint32(0))
	f.Add(uint32(math.MaxUint32), uint32(0), uint32(1))
	f.Add(uint32(0), uint32(1<<31), uint32(1<<31))
	f.Add(uint32(0x7fffffff), uint32(0x80000000), uint32(1<<30))
	f.Add(uint32(0xfffffff0), uint32(0x10), uint32(0x20))
	f.Fuzz(func(t *testing.T, x, y, n uint32) {
		a, b := Seq(x), Seq(y)
		half := b.Sub(a) == 1<<31 // exactly half the space apart: order undefined

		// Add and Sub are inverse.
		if got := a.Add(n).Sub(a); got != n {
			t.Fatalf("%#x.Add(%#x).Sub = %#x", x, n, got)
		}
		if got := a.Add(b.Sub(a)); got != b {
			t.Fatalf("%#x.Add(%#x.Sub(%#x)) = %#x", x, y, x, uint32(got))
		}
		// Each comparison is the negation of its complement.
		if a.LT(b) == a.GEQ(b) || a.GT(b) == a.LEQ(b) {
			t.Fatalf("%#x vs %#x: LT %v GEQ %v GT %v LEQ %v", x, y, a.LT(b), a.GEQ(b), a.GT(b), a.LEQ(b))
		}
		// LEQ is LT or equal.
		if a.LEQ(b) != (a.LT(b) || a == b) {
			t.Fatalf("%#x vs %#x: LEQ %v LT %v", x, y, a.LEQ(b), a.LT(b))
		}
		// Exactly 2^31 apart, a-b and b-a are both -2^31: each is before
		// the other and neither after. Elsewhere the order is total.
		if half {
			if !a.LT(b) || !b.LT(a) || a.GT(b) || b.GT(a) {
				t.Fatalf("%#x vs %#x, 2^31 apart: LT %v/%v GT %v/%v", x, y, a.LT(b), b.LT(a), a.GT(b), b.GT(a))
			}
		} else {
			// GT and LT swap with the operands.
			if a.GT(b) != b.LT(a) || a.GEQ(b) != b.LEQ(a) {
				t.Fatalf("%#x vs %#x: GT/GEQ are not LT/LEQ swapped", x, y)
			}
			// Antisymmetry.
			if a != b && a.LT(b) == b.LT(a) {
				t.Fatalf("%#x vs %#x: LT both ways or neither", x, y)
			}
			if a.LEQ(b) && b.LEQ(a) && a != b {
				t.Fatalf("%#x vs %#x: LEQ both ways", x, y)
			}
		}
		// Comparisons do not change when both sides move by the same amount.
		if a.LT(b) != a.Add(n).LT(b.Add(n)) {
			t.Fatalf("LT not translation invariant: %#x %#x + %#x", x, y, n)
		}
		// Max and Min pick one of each, and not the same one unless equal.
		mx, mn := a.Max(b), a.Min(b)
		if !(mx == a && mn == b || mx == b && mn == a) {
			t.Fatalf("Max %#x Min %#x of %#x %#x", uint32(mx), uint32(mn), x, y)
		}
		if !half && (mx.LT(a) || mx.LT(b) || mn.GT(a) || mn.GT(b)) {
			t.Fatalf("Max %#x Min %#x of %#x %#x out of order", uint32(mx), uint32(mn), x, y)
		}
		// InWindow is InRange over [start, start+size) while size <= 2^31,
		// and is exactly "distance from start < size" for any size.
		if n <= 1<<31 && b.InWindow(a, n) != b.InRange(a, a.Add(n)) {
			t.Fatalf("%#x.InWindow(%#x, %#x) = %v, InRange = %v", y, x, n, b.InWindow(a, n), b.InRange(a, a.Add(n)))
		}
		if b.InWindow(a, n) != (b.Sub(a) < n) {
			t.Fatalf("%#x.InWindow(%#x, %#x) = %v", y, x, n, b.InWindow(a, n))
		}
		// A window's start is in it unless it is empty; its end never is.
		if a.InWindow(a, n) != (n > 0) || (n > 0 && a.Add(n).InWindow(a, n)) {
			t.Fatalf("window [%#x, +%#x) edges", x, n)
		}
		// InRange is GEQ lo and LT hi.
		if b.InRange(a, a.Add(n)) != (b.GEQ(a) && b.LT(a.Add(n))) {
			t.Fatalf("InRange definition")
		}
	})
}
