package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/pollstack/pollstack/internal/testbed"
)

func runTestbed(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(stdout, testbedUsage)
			return nil
		}
		return usagef("testbed: want 'testbed up' or 'testbed down' (see 'pollstack testbed --help')")
	}
	verb := args[0]
	fs := newFlags("testbed "+verb, "testbed "+verb+" [--name NAME]"+map[string]string{"up": " [--queues N]", "down": ""}[verb], stdout)
	name := fs.String("name", "pst", "bed name: namespaces and veth ends NAME-a and NAME-b (letters, digits, '-'; at most 12)")
	var queues *int
	if verb == "up" {
		queues = fs.Int("queues", 1, "rx and tx queues on each veth end (1..64)")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := testbed.ValidName(*name); err != nil {
		return &usageError{err.Error()}
	}
	if queues != nil && (*queues < 1 || *queues > 64) {
		return usagef("testbed up: --queues %d: want 1..64", *queues)
	}
	err := func() error {
		if verb == "down" {
			if err := testbed.Down(*name); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "testbed %s: removed (netns %s-a, %s-b and the veth pair)\n", *name, *name, *name)
			return nil
		}
		bed, err := testbed.Up(*name, *queues)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, bed)
		return nil
	}()
	if errors.Is(err, testbed.ErrNotRoot) {
		return usagef("testbed %s: must run as root", verb)
	}
	return err
}

const testbedUsage = `Usage:
  pollstack testbed up [--name NAME] [--queues N]
  pollstack testbed down [--name NAME]

up makes two network namespaces NAME-a and NAME-b joined by a veth pair whose
ends are NAME-a (in NAME-a, no kernel address: pollstack owns it) and NAME-b
(in NAME-b, with 198.18.0.2/24 and 2001:2::2/64, TX checksum offload off).
down removes all of it. Both are idempotent. NAME defaults to pst.
`
