package main

import (
	"io"

	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

const usageText = `usage: sudo sinkcmp [flags]

Packets/s of pollstack's raw sink (perf/pps.Sink over AF_XDP) against
dpdk-testpmd --forward-mode=rxonly (net_af_xdp PMD) on a fresh test bed, both
fed by the same in-process AF_XDP generator, taking turns. The report gives
every window, the medians and their ratio. Progress goes to stderr.

Must run as root; needs AF_XDP, ip, ethtool and, for the testpmd receiver,
dpdk-testpmd. The bed is removed at the end, on error and on SIGINT. Exit
status: 0 done, 1 the run failed or could not start, 2 bad flags.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (sinkcmp.Options, error) {
	o := sinkcmp.DefaultOptions()
	fs := harness.NewFlagSet("sinkcmp", usageText, stderr)
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured window per receiver turn")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up before each window")
	fs.IntVar(&o.Size, "size", o.Size, "Ethernet frame size in bytes without FCS (64..1514)")
	fs.IntVar(&o.Flows, "flows", o.Flows, "UDP source ports the generator cycles through")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "how many times each receiver takes a turn (sink, testpmd, sink, testpmd, ...)")
	fs.IntVar(&o.GenCPU, "gen-cpu", o.GenCPU, "CPU of the generator")
	fs.IntVar(&o.RxCPU, "rx-cpu", o.RxCPU, "CPU of the receiver under test")
	fs.IntVar(&o.Batch, "batch", o.Batch, "frames per Receive/Transmit call (0: rings.IdealBatch)")
	fs.IntVar(&o.RingSize, "ring", o.RingSize, "AF_XDP ring size of pollstack's sockets (0: rings.DefaultXDPRingSize)")
	fs.IntVar(&o.Frames, "frames", o.Frames, "frames in each pollstack pool (0: rings.DefaultFrames)")
	fs.IntVar(&o.Nice, "nice", o.Nice, "niceness of both receivers (testpmd through nice(1)), to keep other load on a shared machine from preempting them")
	fs.BoolVar(&o.GenNice, "gen-nice", o.GenNice, "give the generator thread the same niceness")
	fs.DurationVar(&o.IdleSpin, "idle-spin", o.IdleSpin, "sink: spin this long after an empty poll before polling again (0: poll at once)")
	fs.BoolVar(&o.Confine, "confine", o.Confine, "put this process's unpinned threads on --rx-cpu at --nice, so that Go's scheduler hands a preempted pinned loop back its P at once")
	fs.IntVar(&o.BusyPoll, "busy-poll", o.BusyPoll, "sink: SO_BUSY_POLL_BUDGET with preferred busy polling and a recvfrom after each empty poll, as testpmd's PMD does (0: off)")
	fs.IntVar(&o.TestpmdBusyBudget, "testpmd-busy-budget", o.TestpmdBusyBudget, "testpmd: net_af_xdp busy_budget devarg (0: off; -1: the PMD's default, 64)")
	fs.StringVar(&o.Receivers, "receivers", o.Receivers, "receivers that take turns, comma-separated: pollstack or testpmd, with overrides after ':' joined by '+' (pollstack:spin=0, pollstack:busy=64, testpmd:busy=0)")
	fs.StringVar(&o.Testpmd, "testpmd", o.Testpmd, "dpdk-testpmd binary")
	fs.StringVar(&o.JSON, "json", o.JSON, "also write the report as JSON to this file")
	fs.BoolVar(&o.Verbose, "v", o.Verbose, "copy testpmd's output to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := harness.Check(fs, harness.NoArgs(fs.Args()), o.Check()); err != nil {
		return o, err
	}
	if _, err := sinkcmp.ParseReceivers(o.Receivers, o); err != nil {
		return o, harness.Refuse(fs, "--receivers: %v", err)
	}
	return o, nil
}
