package main

import (
	"os"
	"slices"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	tools := []string{"ip", "ethtool", "wrk", "curl", "taskset", "nginx", "sysctl"}
	if slices.Contains(o.Proxies, pxHAProxy) {
		tools = append(tools, "haproxy")
	}
	if slices.Contains(o.Proxies, pxPollstack) && o.Pollstack == "" {
		tools = append(tools, "go")
	}
	ctx, stop, ok := harness.Prepare("proxycmp", "it builds a test bed (network namespaces, a veth pair), runs proxies and servers in it, and pollstack needs AF_XDP", tools...)
	if !ok {
		return 1
	}
	defer stop()
	rep, err := compare(ctx, o, os.Stderr)
	return harness.Finish("proxycmp", rep, err, harness.TableOrJSON(o.JSON, printReport))
}
