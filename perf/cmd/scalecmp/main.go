package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"

	"os"
)

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	ctx, stop, ok := harness.Prepare("scalecmp", "it builds a test bed (network namespaces, a veth pair, XPS settings) and pollstack needs AF_XDP", "ip", "ethtool", "wrk", "curl")
	if !ok {
		return 1
	}
	defer stop()
	rep, err := compare(ctx, o, os.Stderr)
	return harness.Finish("scalecmp", rep, err, harness.TableOrJSON(o.JSON, printReport))
}
