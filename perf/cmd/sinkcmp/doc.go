// Command sinkcmp measures, in one run on a fresh test bed, how many packets
// per second pollstack's raw sink (perf/pps.Sink over an AF_XDP link)
// receives against dpdk-testpmd --forward-mode=rxonly with the net_af_xdp
// PMD, both fed by the same in-process AF_XDP generator, and prints both
// rates and their ratio.
//
//	sudo go run ./perf/cmd/sinkcmp [--duration 10s] [--size 64] [--json FILE]
//
// The generator sends from NAME-b (TX-only AF_XDP socket, pinned to
// --gen-cpu) to NAME-a's MAC address. The receivers take turns on NAME-a,
// pinned to --rx-cpu: pollstack's sink, then testpmd, repeated --rounds
// times so that drift on a noisy machine shows. Each turn warms up, then
// counts over --duration; the report gives every window, the medians and
// the ratio of the medians. Progress goes to stderr once a second. The bed
// is removed at the end, on error and on SIGINT/SIGTERM.
package main
