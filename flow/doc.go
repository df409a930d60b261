// Package flow holds the small value types that name and measure a TCP flow
// and that more than one layer speaks: Seq, a 32-bit sequence number that
// compares modulo 2^32, and Tuple, a connection's 4-tuple from our side.
//
// Both tcp and tw use them (tw keeps no copy of its own and converts
// nothing), and so do the engine and the tools above it. The package is pure
// and a leaf: it imports nothing of pollstack's, reads no clock and does no
// I/O; anything may import it.
package flow
