// Package netconn measures pollstack's net.Conn against the kernel's: a
// 64-byte Write+Read echo round trip through two engines joined by the
// in-memory link, and the same over a kernel TCP loopback socket.
//
// It is for perf/cmd/echocmp and tests, never for the packet path.
package netconn
