// Package tcptrace is pollstack's per-connection TCP trace, in the manner
// of FreeBSD's siftr(4): the file format (a header, then fixed-size
// little-endian records; docs/tcptrace.md), the per-core rings that take
// a shard's records on its core (Ring implements tcp.Tracer), the Writer
// that drains them to a file from a goroutine of its own, and the readers
// behind `pollstack trace dump` and `pollstack trace plot` (an SVG drawn
// here, without a plotting library).
//
// A Ring has one producer, its core's loop, and one consumer, the Writer:
// the core never blocks or allocates on it, and a record that finds the
// ring full is dropped and counted (tcp's trace_dropped, Writer.Dropped).
package tcptrace
