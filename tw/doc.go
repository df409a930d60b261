// Package tw is pollstack's compressed TIME_WAIT: one table per core (per
// tcp.Shard) holding what a connection needs after it has gone (RFC 9293
// 3.6, FreeBSD tcp_timewait.c) in 24 bytes per IPv4 entry and 36 per IPv6
// entry, with a 2MSL queue and the input rules for segments that find an
// entry.
//
// Entries live in creation order in a ring (one per address family): 2MSL
// is the same for every entry made at one msl setting, so the queue is a
// FIFO: Insert appends at the tail and Expire pops from the head, O(1)
// each. A re-armed entry (a retransmitted FIN) moves to the tail and leaves
// a tombstone behind. Expiry times are not stored per entry but per run of
// entries created in the same millisecond. A Robin Hood hash index of
// 32-bit slots (ring position, probe distance and tag bits) finds an entry
// by its 4-tuple; no entry is a heap object of its own and there is no Go
// map. When the table holds its limit (maxtcptw's share), Insert recycles
// the oldest entry, as FreeBSD's tcp_tw_2msl_scan(reuse) does.
//
// Input applies the TIME_WAIT rules to a segment (see Decide) and tells the
// caller what to send. The package is pure: it reads no clock (every call
// that needs the time takes now, a mono.Time), does no I/O and starts no
// goroutine; the caller (tcp) builds and sends the segments.
//
// A Table is owned by its core's loop and is not safe for concurrent use.
// tw does not import tcp; tcp imports tw.
package tw
