package balance

import (
	"errors"
	"fmt"
)

// Algorithm names a balancing algorithm.
type Algorithm uint8

// The algorithms, under the names configuration uses.
const (
	// RoundRobin is smooth weighted round robin: picks follow the weights
	// and interleave, without long runs of one backend.
	RoundRobin Algorithm = iota + 1
	// LeastConn picks the backend with the fewest active connections
	// relative to its weight; ties go round robin.
	LeastConn
	// Random2 draws two backends at random (in proportion to weight) and
	// picks the less loaded one: the power of two choices.
	Random2
	// MagHash maps the key (a hash of the client's address) through a
	// Maglev lookup table: a client keeps its backend while the set
	// stays, and a backend leaving moves only its own clients.
	MagHash
)

var algorithmNames = [...]string{
	RoundRobin: "roundrobin",
	LeastConn:  "leastconn",
	Random2:    "random2",
	MagHash:    "maghash",
}

// ErrUnknownAlgorithm is the error ParseAlgorithm wraps for a name that is
// not an algorithm's.
var ErrUnknownAlgorithm = errors.New("unknown balancing algorithm")

// validAlgorithms lists the names for error messages.
const validAlgorithms = "roundrobin, leastconn, random2, maghash"

// ParseAlgorithm returns the algorithm of the given name: one of
// roundrobin, leastconn, random2 or maghash, spelt exactly so. Any other
// name is an error (wrapping ErrUnknownAlgorithm) that lists the valid ones.
func ParseAlgorithm(name string) (Algorithm, error) {
	for a, n := range algorithmNames {
		if n != "" && n == name {
			return Algorithm(a), nil
		}
	}
	return 0, fmt.Errorf("balance: %w %q (valid: %s)", ErrUnknownAlgorithm, name, validAlgorithms)
}

// String returns the algorithm's configuration name.
func (a Algorithm) String() string {
	if int(a) < len(algorithmNames) && algorithmNames[a] != "" {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Valid reports whether a is one of the algorithms.
func (a Algorithm) Valid() bool {
	return int(a) < len(algorithmNames) && algorithmNames[a] != ""
}

// Balancer picks a backend for a new connection among the backends of its
// Set that are in rotation (up, with a weight above 0).
type Balancer interface {
	// Pick returns the index of the chosen backend in the Set, or ok false
	// when no backend is in rotation. key is a hash of the client's
	// address; only maghash uses it.
	Pick(key uint64) (idx int, ok bool)
	// Algorithm returns the balancer's algorithm.
	Algorithm() Algorithm
}

// Options tune the balancers that have something to tune.
type Options struct {
	// Seed seeds random2's generator. Each core's balancer should have
	// its own; 0 is a valid seed.
	Seed uint64
	// TableSize is maghash's lookup table size: a prime, at least
	// MinTableSize and at most MaxTableSize, and best 100 times the
	// number of backends or more. 0 means DefaultTableSize.
	TableSize int
}

// New returns a balancer of the given algorithm over s.
func New(a Algorithm, s *Set, o Options) (Balancer, error) {
	switch a {
	case RoundRobin:
		return NewRoundRobin(s), nil
	case LeastConn:
		return NewLeastConn(s), nil
	case Random2:
		return NewRandom2(s, o.Seed), nil
	case MagHash:
		return NewMagHash(s, o.TableSize)
	}
	return nil, fmt.Errorf("balance: %w %v (valid: %s)", ErrUnknownAlgorithm, a, validAlgorithms)
}
