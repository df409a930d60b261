// Command gohttpcmp measures net/http's server on pollstack (`pollstack
// serve --app gohttp`) against the same handler and server settings
// (internal/gohttp) on the Linux kernel, on one fresh test bed: wrk in the
// peer namespace, keep-alive and `Connection: close`, on 1 and 64
// connections, the two servers taking turns every round (the order
// reversed each round), each pinned to the same CPU. It prints the median
// requests/s of each, their ratio and the errors wrk saw.
//
//	sudo go run ./perf/cmd/gohttpcmp [--rounds 3] [--duration 5s] [--json]
//
// Run it from the repository's top directory (it builds ./cmd/pollstack
// unless --pollstack names a binary). See --help and docs/benchmarks.md.
package main
