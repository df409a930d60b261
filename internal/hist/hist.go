package hist

import (
	"math"
	"math/bits"
)

const (
	subBits    = 6
	subBuckets = 1 << subBits
	// groups covers values up to 2^63.
	groups     = 64 - subBits
	numBuckets = (groups + 1) * subBuckets
)

// Histogram counts non-negative int64 values (nanoseconds, say).
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

// index returns v's bucket.
func index(v int64) int {
	u := uint64(v)
	if u < subBuckets {
		return int(u)
	}
	e := bits.Len64(u) - subBits // ≥ 1
	return e*subBuckets + int(u>>(e-1)) - subBuckets
}

// lowest returns the smallest value in bucket i.
func lowest(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	e := i / subBuckets
	m := i%subBuckets + subBuckets
	return int64(m) << (e - 1)
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[index(v)]++
	h.n++
	h.sum += float64(v)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the extremes recorded (exact).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest value recorded.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean of the values recorded.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the upper end of the
// bucket that holds it, capped by the largest value recorded.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := lowest(i+1) - 1
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.max
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
