// Package engine is pollstack's packet path and its public entry. A Core is
// one core's stack: it takes batches of frames from its Link, parses Ethernet,
// ARP, IPv4, IPv6, ICMP and ICMPv6 in place without allocating, answers what is
// addressed to it, resolves next hops through its own neighbour cache, and
// hands TCP segments to the TCP layer. An Engine wires one Core per CPU to the
// loops of package cores and owns configuration, start and stop.
//
// A Core is owned by its core's loop and is not safe for concurrent use; other
// goroutines read its counters only through the snapshot it publishes.
//
// # Flow steering
//
// Every TCP flow belongs to one core for life: the core that the Toeplitz
// hash of its 4-tuple names through the indirection table (Config.RSSKey
// and RSSTable; give them the NIC's so that the owner is the core whose
// queue the NIC picks). A core that receives a segment of another core's
// flow copies it into a hand-off ring for that core, one ring per pair of
// cores, and wakes it if it sleeps; what a core learns of its neighbours
// goes to every other core the same way. An active open picks a local port
// whose replies hash to the core it runs on (DialOn, Dial).
//
// # Sockets
//
// Socket is a TCP endpoint with BSD semantics (syscall.Errno results, the
// options of tcp(4)) for ordinary goroutines, after illumos' tcp_socket.c:
// a connection stays on its core, and its control calls (connect,
// shutdown, close, options) enter that core's squeue, the loop's mailbox,
// running there between batches. Its data calls do not: Send and Recv
// (and TCPConn's Read, Write, ReadFrom and WriteTo) copy into and out of a
// single-producer single-consumer byte ring per direction that the core
// drains and fills on its turn; rings left empty and untouched go back to
// a pool until the next byte. A listening socket has a listener and a
// lock-free accept ring on every core;
// bind and listen go through one machine-wide port table that sees the
// connections and TIME_WAIT entries of every core. TCPConn and TCPListener
// adapt sockets to net.Conn and net.Listener (Engine.Listen, Dial,
// DialContext), so net/http runs on the engine. On-core applications skip
// the socket layer: they implement tcp.Handler (Config.Listen, DialOn).
// docs/sockets.md has the calls, their errors and the options.
//
// # Tunables at run time
//
// Sysctl, Sysctls, SetSysctl and SetSysctls read and change the
// net.inet.tcp tunables (FreeBSD's names and units) while the engine runs.
// A change is checked once, on a copy of the current configuration under
// one lock, and refused whole when any part is bad; it is then applied to
// each core's shard through that core's loop (tcp.Shard.Reconfigure), so
// no shard is touched from another goroutine.
//
// # Metrics
//
// Counters are plain integers on the packet path. Every 10 ms, and when the
// engine stops, each core copies them (its drops by reason, its ring
// gauges, its TCP shard's tcpstat counters and connection states) into a
// published snapshot of atomics. Totals, Snapshot and the Prometheus Collector read only
// those snapshots: a scrape never reaches a core. The metric names keep
// FreeBSD's tcpstat names (pollstack_tcp_<name>_total), per core.
//
// # Who may call what
//
// The engine's owner, the goroutine that made it, configures, starts and
// stops it: New, AddCloser (before Start), Start, and at the end Drain and
// Stop (Stop may be called more than once). Once Start has returned, any
// goroutine may call Socket and the Socket methods, Listen, Dial,
// DialContext, DialOn, Source, Sysctl, Sysctls, SetSysctl, SetSysctls,
// Totals and Snapshot, and scrape a Collector; these reach a core only
// through its loop or what it published. Socket calls that wait when the
// engine stops return ErrEngineStopped, as do calls made after it. Cores
// and Loops return the engine's fixed slices; a Core's live state still
// belongs to its loop.
package engine
