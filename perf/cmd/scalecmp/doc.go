// Command scalecmp measures, in one run on a fresh two-queue test bed,
// connections/s and requests/s of pollstack's 'serve --app http' with one
// and with two server cores, against the same generator (wrk in the
// kernel's namespace), and prints the medians and the 2-core/1-core
// ratios.
//
//	sudo go run ./perf/cmd/scalecmp [--rounds 5] [--duration 5s] [--json]
//
// Each round starts the 1-core server and then the 2-core one (the next
// round the other way round, so that drift falls on both). Against each
// server wrk runs twice from NAME-b: with 'Connection: close' (every
// request a new connection: connections/s) and with keep-alive
// (requests/s). For the 1-core server, XPS on the kernel's veth end puts
// every frame on transmit queue 0, hence on pollstack's queue 0 (a queue
// without a core would go unserved); for the 2-core server it maps CPU i
// to queue i mod 2. A wrk run with a socket error or a non-2xx response
// fails its round. The bed is removed at the end, on error and on
// SIGINT/SIGTERM.
package main
