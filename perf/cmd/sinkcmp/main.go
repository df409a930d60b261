package main

import (
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
	return harness.Finish("sinkcmp", rep, err, harness.TableAndJSON(o.JSON, sinkcmp.PrintReport))
}
