// Package mono is the engine's instant type: a Time is a reading of the
// engine's monotonic clock in nanoseconds, counted from an origin the engine
// chooses (its start), not from any calendar epoch. Durations between
// instants are time.Duration.
//
// Every pure layer (tcp, tw) takes the current instant as a Time argument
// named now; none of them reads a clock. The package itself reads none
// either: the engine's loops read the clock (cores.Now) and hand the reading
// down. Anything may import mono.
package mono
