// Package balance chooses a backend for each new client connection of the
// proxy. It owns the backend set's bookkeeping (names, weights, whether each
// backend is up, active-connection counts) and the balancing algorithms:
// roundrobin, leastconn, random2 and maghash.
//
// It owns no health checking: whether a backend is up is decided elsewhere
// and handed in with Set.SetUp. It reads no clock, starts no goroutine and
// takes no lock. A picked backend's connection is counted only when the
// caller says so (Set.Acquire on the pick, Set.Release when it closes).
//
// A Set and the Balancers built on it belong to one core's loop: the proxy
// runs one of each per core, and only that core's loop may call them. They
// are not safe for concurrent use. Pick does not allocate in steady state;
// the first Pick after the set changes (a backend added, a weight changed,
// a backend marked up or down) brings the balancer's derived state up to
// date, which may allocate when the set has grown.
package balance
