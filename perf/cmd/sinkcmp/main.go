package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

func main() { harness.Main(parseFlags, run) }

func run(o sinkcmp.Options) int {
	ctx, stop, ok := harness.Prepare("sinkcmp", "it builds a test bed (network namespaces, a veth pair), and pollstack and testpmd need AF_XDP", "ip", "ethtool")
	if !ok {
		return 1
	}
	defer stop()
	// The loops pin two threads; the spare Ps keep this goroutine and the
	// runtime's from preempting them.
	runtime.GOMAXPROCS(max(4, runtime.NumCPU()+2))

	name := testbed.Unique("sinkcmp")
	defer func() {
		if err := testbed.Down(name); err != nil {
			fmt.Fprintf(os.Stderr, "sinkcmp: remove bed %s: %v\n", name, err)
		}
	}()
	rep, err := sinkcmp.Compare(ctx, name, o, os.Stderr)
	if rep != nil {
		sinkcmp.PrintReport(os.Stdout, rep)
		if o.JSON != "" {
			if jerr := writeJSON(o.JSON, rep); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sinkcmp: %v\n", err)
		return 1
	}
	return 0
}

func writeJSON(path string, rep *sinkcmp.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
