// Package engine is pollstack's packet path and its public entry. A Core is
// one core's stack: it takes batches of frames from its Link, parses Ethernet,
// ARP, IPv4, IPv6, ICMP and ICMPv6 in place without allocating, answers what is
// addressed to it, resolves next hops through its own neighbour cache, and
// hands TCP segments to the TCP layer. An Engine wires one Core per CPU to the
// loops of package cores and owns configuration, start and stop.
//
// A Core is owned by its core's loop and is not safe for concurrent use; other
// goroutines read its counters only through the snapshot it publishes.
package engine
