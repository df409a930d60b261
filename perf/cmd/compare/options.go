package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"
	"io"
	"time"
)

// options are the command's flags.
type options struct {
	Rounds       int           `json:"rounds"`
	Duration     time.Duration `json:"duration_ns"`
	Warmup       time.Duration `json:"warmup_ns"`
	Conns        int           `json:"conns"`
	ServerCPU    int           `json:"server_cpu"`
	GenCPU       int           `json:"gen_cpu"`
	Sink         bool          `json:"sink"`
	SinkDuration time.Duration `json:"sink_duration_ns"`
	Gvisor       bool          `json:"gvisor"`
	Pollstack    string        `json:"pollstack"`  // binary; "" builds one
	GvisorBin    string        `json:"gvisor_bin"` // binary; "" builds perf/gvisor's
	JSON         string        `json:"-"`
	Verbose      bool          `json:"-"`
}

const usageText = `usage: sudo compare [flags]

The scoreboard: on one fresh test bed, the same generator (pollstack's own
'bench cps' and 'bench rps', closed loop, on the bed's NAME-a end, CPU
--gen-cpu) loads three HTTP servers that take turns on the NAME-b end at
198.18.0.2:80, each on CPU --server-cpu:

  pollstack  pollstack serve --app http (its own TCP stack over AF_XDP)
  nginx      Debian's nginx, one worker, on the Linux kernel's TCP stack
  gvisor     gVisor's netstack over its AF_XDP link endpoint (perf/gvisor's
             gvisor-http; a failure to build or start it is shown in its
             column, not fatal)

The order of the servers rotates from round to round; every row is the
median of the rounds. Then pollstack's raw sink against dpdk-testpmd rxonly
(net_af_xdp), as perf/cmd/sinkcmp runs it. It prints rates, p99 latencies,
ratios and the scoreboard's targets with PASS or MISS, and with --json FILE
writes all of it as JSON. Progress goes to stderr.

Must run as root; needs AF_XDP, ip, ethtool, curl, nginx, taskset,
dpdk-testpmd, and the go tool unless --pollstack (and --gvisor-bin) are
given. Everything it started is stopped by PID and the bed removed at the
end, on error and on SIGINT. Exit status: 0 when every pollstack, nginx and
testpmd row has a number (targets missed or a gVisor failure do not
count), 1 otherwise, 2 for bad flags.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := harness.NewFlagSet("compare", usageText, stderr)
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each gives every server one turn (rps, then cps), the order rotating; also the sink's rounds")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measured window of each bench run, whole seconds")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured warm-up before each window, whole seconds")
	fs.IntVar(&o.Conns, "conns", 32, "generator connections (closed loop: each with one request outstanding)")
	fs.IntVar(&o.ServerCPU, "server-cpu", 0, "CPU of every server (and of the sink's receivers)")
	fs.IntVar(&o.GenCPU, "gen-cpu", 1, "CPU of the generator (bench --cores; the sink's generator too)")
	fs.BoolVar(&o.Sink, "sink", true, "measure the sink row (pollstack's sink vs dpdk-testpmd rxonly)")
	fs.DurationVar(&o.SinkDuration, "sink-duration", 5*time.Second, "sink row: measured window per receiver turn (after a 2s warm-up)")
	fs.BoolVar(&o.Gvisor, "gvisor", true, "measure gVisor's netstack (false: its column says skipped)")
	fs.StringVar(&o.Pollstack, "pollstack", "", "pollstack binary (default: go build ./cmd/pollstack into a temporary directory; run from inside the module)")
	fs.StringVar(&o.GvisorBin, "gvisor-bin", "", "gvisor-http binary (default: go build inside perf/gvisor, a module of its own)")
	fs.StringVar(&o.JSON, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&o.Verbose, "v", false, "copy the servers' and the generator's output to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, harness.Check(fs, harness.NoArgs(fs.Args()), harness.Rounds(o.Rounds),
		harness.Duration(o.Duration), harness.Warmup(o.Warmup), harness.Conns(o.Conns),
		harness.CPU("server-cpu", o.ServerCPU), harness.CPU("gen-cpu", o.GenCPU),
		harness.Want(o.GenCPU != o.ServerCPU, "--gen-cpu and --server-cpu are both %d: the generator and the server want a CPU each", o.GenCPU),
		harness.Want(!o.Sink || o.SinkDuration >= time.Second, "--sink-duration %v: want at least 1s", o.SinkDuration))
}
