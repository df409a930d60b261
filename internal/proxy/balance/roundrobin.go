package balance

// SmoothRoundRobin is smooth weighted round robin, as nginx does it: on each
// pick every backend in rotation adds its weight to its current value, the
// backend with the highest current value is picked, and the total weight is
// taken off its current value. Over any run of total-weight picks each
// backend is picked weight times, and the picks of a heavy backend are
// spread among the others' rather than bunched.
type SmoothRoundRobin struct {
	s   *Set
	cur []int64
}

// NewRoundRobin returns a smooth weighted round robin balancer over s.
func NewRoundRobin(s *Set) *SmoothRoundRobin {
	return &SmoothRoundRobin{s: s, cur: make([]int64, s.Len())}
}

// Algorithm returns RoundRobin.
func (b *SmoothRoundRobin) Algorithm() Algorithm { return RoundRobin }

// Pick returns the next backend in the weighted rotation; the key is
// ignored. A backend out of rotation loses its place: it starts afresh
// when it comes back.
func (b *SmoothRoundRobin) Pick(uint64) (int, bool) {
	s := b.s
	for len(b.cur) < len(s.weight) {
		b.cur = append(b.cur, 0)
	}
	best := -1
	var total int64
	for i, w := range s.weight {
		if w == 0 || !s.up[i] {
			b.cur[i] = 0
			continue
		}
		b.cur[i] += int64(w)
		total += int64(w)
		if best < 0 || b.cur[i] > b.cur[best] {
			best = i
		}
	}
	if best < 0 {
		return -1, false
	}
	b.cur[best] -= total
	return best, true
}
