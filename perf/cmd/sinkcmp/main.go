// Command sinkcmp measures, in one run on a fresh test bed, how many packets
// per second pollstack's raw sink (perf/pps.Sink over an AF_XDP link)
// receives against dpdk-testpmd --forward-mode=rxonly with the net_af_xdp
// PMD, both fed by the same in-process AF_XDP generator, and prints both
// rates and their ratio.
//
//	sudo go run ./perf/cmd/sinkcmp [--duration 10s] [--size 64] [--json FILE]
//
// The generator sends from NAME-b (TX-only AF_XDP socket, pinned to
// --gen-cpu) to NAME-a's MAC address. The receivers take turns on NAME-a,
// pinned to --rx-cpu: pollstack's sink, then testpmd, repeated --rounds
// times so that drift on a noisy machine shows. Each turn warms up, then
// counts over --duration; the report gives every window, the medians and
// the ratio of the medians. Progress goes to stderr once a second. The bed
// is removed at the end, on error and on SIGINT/SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

func main() {
	o := sinkcmp.DefaultOptions()
	flag.DurationVar(&o.Duration, "duration", o.Duration, "measured window per receiver turn")
	flag.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up before each window")
	flag.IntVar(&o.Size, "size", o.Size, "Ethernet frame size in bytes without FCS (64..1514)")
	flag.IntVar(&o.Flows, "flows", o.Flows, "UDP source ports the generator cycles through")
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "how many times each receiver takes a turn (sink, testpmd, sink, testpmd, ...)")
	flag.IntVar(&o.GenCPU, "gen-cpu", o.GenCPU, "CPU of the generator")
	flag.IntVar(&o.RxCPU, "rx-cpu", o.RxCPU, "CPU of the receiver under test")
	flag.IntVar(&o.Batch, "batch", o.Batch, "frames per Receive/Transmit call (0: rings.IdealBatch)")
	flag.IntVar(&o.RingSize, "ring", o.RingSize, "AF_XDP ring size of pollstack's sockets (0: rings.DefaultXDPRingSize)")
	flag.IntVar(&o.Frames, "frames", o.Frames, "frames in each pollstack pool (0: rings.DefaultFrames)")
	flag.IntVar(&o.Nice, "nice", o.Nice, "niceness of both receivers (testpmd through nice(1)), to keep other load on a shared machine from preempting them")
	flag.BoolVar(&o.GenNice, "gen-nice", o.GenNice, "give the generator thread the same niceness")
	flag.DurationVar(&o.IdleSpin, "idle-spin", o.IdleSpin, "sink: spin this long after an empty poll before polling again (0: poll at once)")
	flag.BoolVar(&o.Confine, "confine", o.Confine, "put this process's unpinned threads on --rx-cpu at --nice, so that Go's scheduler hands a preempted pinned loop back its P at once")
	flag.IntVar(&o.BusyPoll, "busy-poll", o.BusyPoll, "sink: SO_BUSY_POLL_BUDGET with preferred busy polling and a recvfrom after each empty poll, as testpmd's PMD does (0: off)")
	flag.IntVar(&o.TestpmdBusyBudget, "testpmd-busy-budget", o.TestpmdBusyBudget, "testpmd: net_af_xdp busy_budget devarg (0: off; -1: the PMD's default, 64)")
	flag.StringVar(&o.Receivers, "receivers", o.Receivers, "receivers that take turns, comma-separated: pollstack or testpmd, with overrides after ':' joined by '+' (pollstack:spin=0, pollstack:busy=64, testpmd:busy=0)")
	flag.StringVar(&o.Testpmd, "testpmd", o.Testpmd, "dpdk-testpmd binary")
	flag.StringVar(&o.JSON, "json", o.JSON, "also write the report as JSON to this file")
	flag.BoolVar(&o.Verbose, "v", o.Verbose, "copy testpmd's output to stderr")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "sinkcmp: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o sinkcmp.Options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "sinkcmp: must run as root (test bed, AF_XDP, testpmd)")
		return 1
	}
	// The loops pin two threads; the spare Ps keep this goroutine and the
	// runtime's from preempting them.
	runtime.GOMAXPROCS(max(4, runtime.NumCPU()+2))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

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
