package hist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsCoverEveryValueInOrder(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		i := index(v)
		if i <= prev && v > 0 {
			t.Fatalf("index(%d) = %d not above %d", v, i, prev)
		}
		if lowest(i) > v || lowest(i+1) <= v {
			t.Fatalf("value %d outside bucket %d [%d, %d)", v, i, lowest(i), lowest(i+1))
		}
		prev = i
	}
}

func TestQuantilesWithinRelativeError(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 50000)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if d := float64(got-exact) / float64(exact); d < -0.02 || d > 0.02 {
			t.Errorf("q%.3f = %d, exact %d (%.2f%% off)", q, got, exact, d*100)
		}
	}
	if h.Quantile(1) != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != 100000 {
		t.Fatal("max, min or count wrong")
	}
}

func TestMerge(t *testing.T) {
	var a, b Histogram
	a.Record(10)
	b.Record(1000)
	b.Record(5)
	a.Merge(&b)
	if a.Count() != 3 || a.Min() != 5 || a.Max() != 1000 {
		t.Fatalf("merged: n=%d min=%d max=%d", a.Count(), a.Min(), a.Max())
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Record(12345) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
