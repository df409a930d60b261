package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"

	"errors"
	"fmt"
	"io"
	"os"
)

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	ctx, stop, ok := harness.Prepare("gencmp", "it builds a test bed and a third namespace (network namespaces, veth pairs), runs nginx in one, and pollstack needs AF_XDP", "ip", "ethtool", "wrk", "curl", "nginx", "taskset")
	if !ok {
		return 1
	}
	defer stop()
	rep, err := compare(ctx, o, os.Stderr)
	if rep != nil {
		if o.JSON {
			if jerr := writeJSON(os.Stdout, rep); jerr != nil {
				err = errors.Join(err, jerr)
			}
		} else {
			printReport(os.Stdout, rep)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencmp: %v\n", err)
		return 1
	}
	return 0
}

func writeJSON(w io.Writer, rep *report) error { return harness.WriteJSON(w, rep) }
