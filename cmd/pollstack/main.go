package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `pollstack: a poll-mode packet engine with its own TCP/IP stack.

Usage:
  pollstack <command> [flags]

Commands:
  demo      run two stacks in this process over the in-memory link (no root, no NIC)
  serve     run the engine on an interface over AF_XDP
  proxy     a TCP (L4) proxy frontend on an interface over AF_XDP
  bench     generate traffic over AF_XDP (bench pps, bulk, rps, cps)
  stat      show a running engine's rates, connections and drops
  sysctl    read or set a running engine's TCP tunables (net.inet.tcp.*)
  testbed   build or remove the two-namespace veth test bed (testbed up|down|impair)
  trace     read a --trace file: trace dump (text, CSV) or trace plot (SVG)

Run 'pollstack <command> --help' for a command's flags.

Exit codes: 0 done; 1 failed (one line on stderr); 2 a bad flag or an
impossible request, refused before anything is touched (one line on stderr);
3 stat or sysctl found no running engine (one line on stderr).
`

// exitUsage is the exit code for bad flags and impossible requests.
const exitUsage = 2

// exitNoEngine is the exit code of stat and sysctl when no engine answers
// on a control socket.
const exitNoEngine = 3

// noEngineError says no running engine was found: one line, exit code 3.
type noEngineError struct{ msg string }

func (e *noEngineError) Error() string { return e.msg }

// usageError is a bad flag or an impossible request: one line, exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// writeJSON writes v to w as indented JSON, as every --json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "demo":
		err = runDemo(rest, stdout, stderr)
	case "serve":
		err = runServe(rest, stdout, stderr)
	case "proxy":
		err = runProxy(rest, stdout, stderr)
	case "bench":
		err = runBench(rest, stdout, stderr)
	case "testbed":
		err = runTestbed(rest, stdout, stderr)
	case "stat":
		err = runStat(rest, stdout, stderr)
	case "sysctl":
		err = runSysctl(rest, stdout, stderr)
	case "trace":
		err = runTrace(rest, stdout, stderr)
	default:
		err = usagef("unknown command %q (commands: demo, serve, proxy, bench, stat, sysctl, testbed, trace)", cmd)
	}
	return report(err, stderr)
}

// report prints err as one line and returns the exit code.
func report(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "pollstack: %v\n", err)
		return exitUsage
	case errors.As(err, new(*noEngineError)):
		fmt.Fprintf(stderr, "pollstack: %v\n", err)
		return exitNoEngine
	default:
		fmt.Fprintf(stderr, "pollstack: %v\n", err)
		return 1
	}
}

// newFlags returns a flag set that prints its usage on --help and returns
// errors instead of exiting.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: pollstack %s\n\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args; a parse error becomes a usage error, --help prints the
// usage and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) error {
	err := parseQuiet(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err // the flag set printed the usage
	}
	if err != nil {
		return usagef("%s: %v (see 'pollstack %s --help')", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (see 'pollstack %s --help')", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func requireRoot(what string) error {
	if os.Geteuid() != 0 {
		return usagef("%s: must run as root (AF_XDP sockets and XDP programs need CAP_NET_ADMIN and CAP_BPF)", what)
	}
	return nil
}
