package flow

// Seq is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293
// 3.4): a is before b when the signed difference a-b is negative, which is
// meaningful while the two are less than 2^31 apart. The same arithmetic
// orders RFC 7323 timestamps (TSval, TSecr), which wrap alike: compare them
// as Seq(ts).
type Seq uint32

// LT reports whether s is before t.
func (s Seq) LT(t Seq) bool { return int32(s-t) < 0 }

// LEQ reports whether s is before or equal to t.
func (s Seq) LEQ(t Seq) bool { return int32(s-t) <= 0 }

// GT reports whether s is after t.
func (s Seq) GT(t Seq) bool { return int32(s-t) > 0 }

// GEQ reports whether s is after or equal to t.
func (s Seq) GEQ(t Seq) bool { return int32(s-t) >= 0 }

// Add returns s advanced by n bytes.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the distance from t to s (s-t), meaningful when t ≤ s.
func (s Seq) Sub(t Seq) uint32 { return uint32(s - t) }

// InRange reports whether lo ≤ s < hi.
func (s Seq) InRange(lo, hi Seq) bool { return s.GEQ(lo) && s.LT(hi) }

// InWindow reports whether s lies in the window of size bytes starting at
// start: start ≤ s < start+size.
func (s Seq) InWindow(start Seq, size uint32) bool { return uint32(s-start) < size }

// Max returns the later of s and t.
func (s Seq) Max(t Seq) Seq {
	if s.LT(t) {
		return t
	}
	return s
}

// Min returns the earlier of s and t.
func (s Seq) Min(t Seq) Seq {
	if s.LT(t) {
		return s
	}
	return t
}
