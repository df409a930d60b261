// Package rings owns the memory that packets live in and the queues that move
// them: a lock-free single-producer single-consumer ring, the UMEM frame pool,
// and the links that carry batches of frames in and out of a core (AF_XDP,
// an in-memory pair, and a fault-injecting wrapper around either).
//
// A Pool and a Link are owned by one core's loop and are not safe for
// concurrent use; the only structures meant to be shared between two goroutines
// are SPSC, with exactly one producer and one consumer, and the two ends of a
// MemLink pair, each driven by its own goroutine.
package rings
