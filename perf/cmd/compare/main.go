package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"

	"fmt"
	"io"
	"os"
	"runtime"
)

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	tools := []string{"ip", "ethtool", "curl", "nginx", "taskset"}
	if o.Pollstack == "" || (o.Gvisor && o.GvisorBin == "") {
		tools = append(tools, "go")
	}
	// The sink row pins two loops in this process; spare Ps keep the
	// runtime from preempting them (as sinkcmp does).
	runtime.GOMAXPROCS(max(4, runtime.NumCPU()+2))
	ctx, stop, ok := harness.Prepare("compare", "it builds a test bed (network namespaces, a veth pair), runs servers in it, and pollstack, gVisor and testpmd need AF_XDP", tools...)
	if !ok {
		return 1
	}
	defer stop()
	rep, err := compare(ctx, o, os.Stderr)
	if status := harness.Finish("compare", rep, err, harness.TableAndJSON(o.JSON, printReport)); status != 0 {
		return status
	}
	if len(rep.Failed) > 0 {
		for _, f := range rep.Failed {
			fmt.Fprintf(os.Stderr, "compare: no figure for %s\n", f)
		}
		return 1
	}
	return 0
}

// printReport writes the header, every run, the sink's windows and the
// scoreboard.
func printReport(w io.Writer, r *report) {
	o := r.Options
	fmt.Fprintf(w, "compare: bed %s, %d round(s), servers on CPU %d, generator on CPU %d, %d connections closed loop, %s windows after %s warm-up, load average %.2f at the start\n",
		r.Bed, o.Rounds, o.ServerCPU, o.GenCPU, o.Conns, secs(o.Duration), secs(o.Warmup), r.LoadAvg)
	for _, k := range []string{srvPollstack, srvNginx, srvGvisor, "bench cps", "bench rps"} {
		fmt.Fprintf(w, "%-10s %s\n", k+":", r.Commands[k])
	}
	fmt.Fprintln(w)
	printRuns(w, r.Runs)
	if r.Sink != nil {
		fmt.Fprintln(w)
		printSinkWindows(w, r.Sink)
	}
	fmt.Fprintln(w)
	printTable(w, r.Rows)
}
