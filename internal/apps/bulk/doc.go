// Package bulk is the bulk TCP sender of 'pollstack bench bulk': an on-core
// handler that streams a file's contents (or a pseudo-random pattern) into
// one connection, half-closes and waits for the peer to close, and Run, which
// dials it on an engine and reports the throughput, the longest stall in
// acknowledgements and the retransmissions.
//
// The Sender belongs to the core its connection lives on; Run may be called
// from any goroutine with a started engine.
package bulk
