// Package tcp is pollstack's TCP: the segment and option codec, sequence
// arithmetic, the RFC 9293 state machine, the per-core connection table
// (a shard), its timers and congestion control.
//
// The package is pure: it takes (state, segment, now) and returns segments to
// send through the shard's Sender and timer changes; it reads no clock,
// starts no goroutine and does no I/O, so tests drive it with a virtual
// clock. A Shard and its connections are owned by one core's loop and are not
// safe for concurrent use.
package tcp
