// Command pollstack runs the pollstack packet engine: on an interface over
// AF_XDP (serve), as a traffic generator (bench), on the embedded in-memory
// link (demo), and it builds the two-namespace test bed (testbed); stat and
// sysctl talk to a running serve through its control socket.
//
// It holds flags, signals and the calls into the packages only; what a
// command does lives in engine, internal/apps, perf/load and perf/pps.
// docs/cli.md lists every command, flag rule and exit code.
package main
