package harness

import (
	"fmt"
	"time"
)

// The checks below are the flags the tools share; each returns nil for a
// good value and otherwise what is wrong with it, for Check.

// NoArgs refuses positional arguments.
func NoArgs(args []string) error {
	return Want(len(args) == 0, "unexpected arguments %q", args)
}

// Rounds checks --rounds: at least 1.
func Rounds(n int) error { return Want(n >= 1, "--rounds %d: want at least 1", n) }

// Duration checks --duration: whole seconds, at least 1s.
func Duration(d time.Duration) error {
	return Want(d >= time.Second && d%time.Second == 0, "--duration %v: want whole seconds, at least 1s", d)
}

// Warmup checks --warmup: whole seconds, or 0.
func Warmup(d time.Duration) error {
	return Want(d >= 0 && d%time.Second == 0, "--warmup %v: want whole seconds, or 0", d)
}

// Conns checks a generator's --conns: 1..10000.
func Conns(n int) error { return Want(n >= 1 && n <= 10000, "--conns %d: want 1..10000", n) }

// CPU checks --name, a CPU number.
func CPU(name string, n int) error {
	return Want(n >= 0 && n <= 4095, "--%s %d: want a CPU number", name, n)
}

// Want returns nil when ok, else the error format and a describe.
func Want(ok bool, format string, a ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, a...)
}
