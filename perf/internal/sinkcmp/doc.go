// Package sinkcmp measures pollstack's raw sink (perf/pps.Sink over an
// AF_XDP link) against dpdk-testpmd --forward-mode=rxonly with the
// net_af_xdp PMD on one test bed, both fed by the same in-process AF_XDP
// generator, receivers taking turns: Compare builds the bed, CompareOn runs
// on one the caller made. Used by perf/cmd/sinkcmp (all of it) and
// perf/cmd/compare (the scoreboard's sink row).
//
// It needs root, AF_XDP and dpdk-testpmd; it is for tools and tests, never
// for the packet path.
package sinkcmp
