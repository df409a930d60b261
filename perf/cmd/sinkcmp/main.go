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
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
)

func main() {
	var o options
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "measured window per receiver turn")
	flag.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up before each window")
	flag.IntVar(&o.Size, "size", 64, "Ethernet frame size in bytes without FCS (64..1514)")
	flag.IntVar(&o.Flows, "flows", 1, "UDP source ports the generator cycles through")
	flag.IntVar(&o.Rounds, "rounds", 3, "how many times each receiver takes a turn (sink, testpmd, sink, testpmd, ...)")
	flag.IntVar(&o.GenCPU, "gen-cpu", 1, "CPU of the generator")
	flag.IntVar(&o.RxCPU, "rx-cpu", 0, "CPU of the receiver under test")
	flag.IntVar(&o.Batch, "batch", 0, "frames per Receive/Transmit call (0: rings.IdealBatch)")
	flag.IntVar(&o.RingSize, "ring", 0, "AF_XDP ring size of pollstack's sockets (0: rings.DefaultXDPRingSize)")
	flag.IntVar(&o.Frames, "frames", 0, "frames in each pollstack pool (0: rings.DefaultFrames)")
	flag.IntVar(&o.Nice, "nice", -20, "niceness of both receivers (testpmd through nice(1)), to keep other load on a shared machine from preempting them")
	flag.BoolVar(&o.GenNice, "gen-nice", true, "give the generator thread the same niceness")
	flag.DurationVar(&o.IdleSpin, "idle-spin", 2*time.Microsecond, "sink: spin this long after an empty poll before polling again (0: poll at once)")
	flag.BoolVar(&o.Confine, "confine", true, "put this process's unpinned threads on --rx-cpu at --nice, so that Go's scheduler hands a preempted pinned loop back its P at once")
	flag.IntVar(&o.BusyPoll, "busy-poll", 0, "sink: SO_BUSY_POLL_BUDGET with preferred busy polling and a recvfrom after each empty poll, as testpmd's PMD does (0: off)")
	flag.IntVar(&o.TestpmdBusyBudget, "testpmd-busy-budget", -1, "testpmd: net_af_xdp busy_budget devarg (0: off; -1: the PMD's default, 64)")
	flag.StringVar(&o.Receivers, "receivers", "pollstack,testpmd", "receivers that take turns, comma-separated: pollstack or testpmd, with overrides after ':' joined by '+' (pollstack:spin=0, pollstack:busy=64, testpmd:busy=0)")
	flag.StringVar(&o.Testpmd, "testpmd", "/usr/bin/dpdk-testpmd", "dpdk-testpmd binary")
	flag.StringVar(&o.JSON, "json", "", "also write the report as JSON to this file")
	flag.BoolVar(&o.Verbose, "v", false, "copy testpmd's output to stderr")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "sinkcmp: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o options) int {
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
	rep, err := compare(ctx, name, o, os.Stderr)
	if rep != nil {
		printReport(os.Stdout, rep)
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

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "sinkcmp: %d-byte UDP frames, %d flow(s), window %v after %v warm-up, generator on CPU %d, receivers on CPU %d\n",
		r.Options.Size, r.Options.Flows, r.Options.Duration, r.Options.Warmup, r.Options.GenCPU, r.Options.RxCPU)
	fmt.Fprintf(w, "pollstack: XDP program in %s mode, sink batch %d, ring %d, %d frames; receivers at nice %d (generator too: %v; other threads confined: %v)\n", r.XDPMode, r.Batch, r.RingSize, r.Frames, r.Options.Nice, r.Options.GenNice, r.Options.Confine)
	fmt.Fprintf(w, "testpmd: %s\n", r.TestpmdCmd)
	for _, recv := range r.Receivers {
		fmt.Fprintf(w, "receiver %v\n", recv)
	}
	fmt.Fprintln(w)
	width := 9
	for _, recv := range r.Receivers {
		width = max(width, len(recv.Name))
	}
	fmt.Fprintf(w, "%-6s %-*s %12s %12s %8s %12s %8s\n", "round", width, "receiver", "rx Mpps", "gen Mpps", "rx/gen", "dropped", "loadavg")
	for _, x := range r.Windows {
		fmt.Fprintf(w, "%-6d %-*s %12.3f %12.3f %7.1f%% %12d %8.2f\n", x.Round, width, x.Receiver, x.RxPPS/1e6, x.GenPPS/1e6, 100*x.RxPPS/x.GenPPS, x.RxDropped, x.LoadAvg)
	}
	fmt.Fprintln(w)
	for _, recv := range r.Receivers {
		m := r.Median[recv.Name]
		fmt.Fprintf(w, "%-6s %-*s %12.3f %12.3f\n", "median", width, recv.Name, m.RxPPS/1e6, m.GenPPS/1e6)
	}
	fmt.Fprintf(w, "ratio sink/testpmd = %.3f\n", r.Ratio)
}
