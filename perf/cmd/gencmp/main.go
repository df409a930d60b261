package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"

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
	return harness.Finish("gencmp", rep, err, harness.TableOrJSON(o.JSON, printReport))
}
