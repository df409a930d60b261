package balance

// LeastConnections picks the backend in rotation with the least load
// relative to its weight, counting the connection about to be made: the
// one with the smallest (conns+1)/weight. (With equal weights that is the
// one with the fewest connections; counting the new connection lets a
// heavier backend take the first connections while all are idle.) Ties go
// round robin: the scan starts after the backend last picked.
//
// It scans the whole set on each pick, which is cheap for the tens of
// backends a proxy has.
type LeastConnections struct {
	s    *Set
	next int
}

// NewLeastConn returns a least-connections balancer over s.
func NewLeastConn(s *Set) *LeastConnections { return &LeastConnections{s: s} }

// Algorithm returns LeastConn.
func (b *LeastConnections) Algorithm() Algorithm { return LeastConn }

// Pick returns the least loaded backend in rotation; the key is ignored.
func (b *LeastConnections) Pick(uint64) (int, bool) {
	s := b.s
	n := len(s.weight)
	if b.next >= n {
		b.next = 0
	}
	best := -1
	var bestLoad int64
	for k := range n {
		i := b.next + k
		if i >= n {
			i -= n
		}
		if s.weight[i] == 0 || !s.up[i] {
			continue
		}
		load := int64(s.conns[i]) + 1
		if best < 0 || s.lighter(i, best, load, bestLoad) {
			best, bestLoad = i, load
		}
	}
	if best < 0 {
		return -1, false
	}
	b.next = best + 1
	return best, true
}
