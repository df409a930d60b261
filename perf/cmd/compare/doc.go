// Command compare is pollstack's scoreboard: on one fresh test bed it
// measures the same generator (pollstack's 'bench cps' and 'bench rps')
// against pollstack's 'serve --app http', against nginx on the Linux
// kernel and against gVisor's netstack (perf/gvisor's gvisor-http over
// AF_XDP), each server on one CPU, and pollstack's raw sink against
// dpdk-testpmd rxonly (perf/internal/sinkcmp), and prints rates, p99 latencies,
// ratios and the targets pollstack is held to.
//
//	sudo go run ./perf/cmd/compare [--rounds 3] [--duration 5s] [--conns 32] [--json FILE]
//
// Run it from the repository's top directory (it builds ./cmd/pollstack
// and, inside the perf/gvisor module, gvisor-http). See --help and
// docs/benchmarks.md.
package main
