// Command gencmp measures, in one run, requests/s of pollstack's HTTP load
// generator ('pollstack bench rps') against wrk, both driving the same
// kernel nginx on one test bed, each on one generator core, and prints the
// medians and the ratio pollstack/wrk per generator core.
//
//	sudo go run ./perf/cmd/gencmp [--rounds 5] [--duration 5s] [--json]
//
// nginx (one worker, internal/nsproc.NginxConf) runs in the bed's kernel
// namespace NAME-b, pinned to --nginx-cpu, and listens on 198.18.0.2:80
// and 198.18.1.2:80. pollstack's generator runs on the bed's NAME-a end
// (its XDP program owns that veth end, so wrk cannot run there) on
// --cpu. wrk runs from a third namespace, NAME-c, joined to NAME-b by a
// second veth pair (NAME-c 198.18.1.1/24 <-> NAME-d 198.18.1.2/24),
// pinned by taskset to the same --cpu. Rounds alternate which generator
// goes first. Everything is removed at the end, on error and on SIGINT.
package main
