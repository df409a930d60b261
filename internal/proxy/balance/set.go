package balance

import (
	"errors"
	"fmt"
)

// Weights are HAProxy's: 1 to MaxWeight, and 0 for a drained backend, which
// keeps the connections it has but is never picked for a new one.
const (
	MaxWeight = 256
	// DefaultWeight is the weight of a backend configured without one.
	DefaultWeight = 1
	// MaxBackends bounds a Set (maghash keeps backend indices in 16 bits).
	MaxBackends = 65535
)

// Errors of the Set's validation.
var (
	ErrWeight        = errors.New("weight out of range (0 to 256)")
	ErrName          = errors.New("backend name is empty")
	ErrDuplicateName = errors.New("duplicate backend name")
	ErrTooMany       = errors.New("too many backends")
)

// Backend describes one backend for NewSet.
type Backend struct {
	// Name identifies the backend; maghash's table is derived from it, so
	// it should be stable across restarts and the same on every core
	// (its address, say, or its configured name). Names are unique.
	Name string
	// Weight is 0 (drained) to MaxWeight.
	Weight int
}

// Set is the proxy's backends as one core sees them: each is known by its
// index (the order it was added in, which never changes), with a weight,
// whether it is up, and how many connections it carries now. Backends start
// up; the health checker marks them down and up again. A backend is in
// rotation, and may be picked, when it is up and its weight is above 0.
//
// A Set is not safe for concurrent use (see the package comment).
type Set struct {
	names  []string
	weight []int32
	up     []bool
	conns  []int32
	// gen counts the changes that alter what may be picked and how
	// often; balancers compare it with the generation they were built
	// for.
	gen uint64
}

// NewSet returns a Set of the given backends, all up, at indices 0 to
// len(backends)-1.
func NewSet(backends []Backend) (*Set, error) {
	s := &Set{}
	for _, b := range backends {
		if _, err := s.Add(b.Name, b.Weight); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add appends a backend, up, and returns its index.
func (s *Set) Add(name string, weight int) (int, error) {
	if name == "" {
		return -1, fmt.Errorf("balance: %w", ErrName)
	}
	if weight < 0 || weight > MaxWeight {
		return -1, fmt.Errorf("balance: backend %q: %w: %d", name, ErrWeight, weight)
	}
	if len(s.names) >= MaxBackends {
		return -1, fmt.Errorf("balance: backend %q: %w (at most %d)", name, ErrTooMany, MaxBackends)
	}
	for _, n := range s.names {
		if n == name {
			return -1, fmt.Errorf("balance: %w %q", ErrDuplicateName, name)
		}
	}
	s.names = append(s.names, name)
	s.weight = append(s.weight, int32(weight))
	s.up = append(s.up, true)
	s.conns = append(s.conns, 0)
	s.gen++
	return len(s.names) - 1, nil
}

// Len returns the number of backends.
func (s *Set) Len() int { return len(s.names) }

// Name returns backend i's name.
func (s *Set) Name(i int) string { return s.names[i] }

// Weight returns backend i's weight.
func (s *Set) Weight(i int) int { return int(s.weight[i]) }

// SetWeight changes backend i's weight; 0 drains it.
func (s *Set) SetWeight(i, weight int) error {
	if weight < 0 || weight > MaxWeight {
		return fmt.Errorf("balance: backend %q: %w: %d", s.names[i], ErrWeight, weight)
	}
	if s.weight[i] != int32(weight) {
		s.weight[i] = int32(weight)
		s.gen++
	}
	return nil
}

// Up reports whether backend i is up.
func (s *Set) Up(i int) bool { return s.up[i] }

// SetUp marks backend i up or down, as the health checker found it.
func (s *Set) SetUp(i int, up bool) {
	if s.up[i] != up {
		s.up[i] = up
		s.gen++
	}
}

// InRotation reports whether backend i may be picked: up, and not drained.
func (s *Set) InRotation(i int) bool { return s.up[i] && s.weight[i] > 0 }

// Conns returns backend i's active connections, as Acquire and Release
// counted them.
func (s *Set) Conns(i int) int { return int(s.conns[i]) }

// Acquire counts a new connection to backend i (the caller's pick).
func (s *Set) Acquire(i int) { s.conns[i]++ }

// Release counts the end of a connection to backend i. A count never goes
// below 0: a Release without its Acquire is ignored.
func (s *Set) Release(i int) {
	if s.conns[i] > 0 {
		s.conns[i]--
	}
}

// Gen returns the Set's generation, which changes whenever a backend is
// added, reweighted, or marked up or down.
func (s *Set) Gen() uint64 { return s.gen }

// lighter reports whether backend i carries less load than backend j
// relative to their weights, counting ci and cj connections: ci/wi < cj/wj,
// compared without division. Both weights are above 0.
func (s *Set) lighter(i, j int, ci, cj int64) bool {
	return ci*int64(s.weight[j]) < cj*int64(s.weight[i])
}
