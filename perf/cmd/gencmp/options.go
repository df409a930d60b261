package main

import (
	"github.com/pollstack/pollstack/perf/internal/harness"
	"io"
	"time"
)

// options are the command's flags.
type options struct {
	Rounds    int           `json:"rounds"`
	Duration  time.Duration `json:"duration_ns"`
	Warmup    time.Duration `json:"warmup_ns"`
	Conns     int           `json:"conns"`
	CPU       int           `json:"cpu"`       // both generators' CPU
	NginxCPU  int           `json:"nginx_cpu"` // nginx's (master and worker)
	Pollstack string        `json:"pollstack"` // binary; "" builds one
	JSON      bool          `json:"-"`
	Verbose   bool          `json:"-"`
}

const usageText = `usage: sudo gencmp [flags]

Requests/s of pollstack's generator ('pollstack bench rps', keep-alive, one
request outstanding per connection) against wrk (-t1), both on one CPU,
both loading the same one-worker kernel nginx on a fresh test bed. Rounds
alternate which generator goes first. The report gives every run, the
medians and the ratio pollstack/wrk per generator core. Progress goes to
stderr.

pollstack runs on the bed's NAME-a end against 198.18.0.2:80; wrk runs in a
third namespace NAME-c joined to nginx's namespace by a second veth pair,
against 198.18.1.2:80. Must run as root; needs AF_XDP, ip, ethtool, wrk,
curl, nginx, taskset, and the go tool unless --pollstack is given. Every
namespace is removed at the end, on error and on SIGINT. Exit status: 0 all
rounds good, 1 a round failed or the run could not start, 2 bad flags.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := harness.NewFlagSet("gencmp", usageText, stderr)
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; each runs both generators once, alternating which goes first")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measured window of each run, whole seconds (wrk -d, bench --duration)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured warm-up before each window, whole seconds (bench --warmup; for wrk a separate run whose result is dropped; 0: none)")
	fs.IntVar(&o.Conns, "conns", 32, "connections of each generator (wrk -c, bench --conns)")
	fs.IntVar(&o.CPU, "cpu", 0, "CPU of both generators (bench --cores, taskset -c for wrk)")
	fs.IntVar(&o.NginxCPU, "nginx-cpu", 1, "CPU of nginx (taskset -c; -1: not pinned)")
	fs.StringVar(&o.Pollstack, "pollstack", "", "pollstack binary to run (default: go build ./cmd/pollstack into a temporary directory; run from inside the module)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout instead of the table")
	fs.BoolVar(&o.Verbose, "v", false, "copy wrk's and pollstack's output to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, harness.Check(fs, harness.NoArgs(fs.Args()), harness.Rounds(o.Rounds),
		harness.Duration(o.Duration), harness.Warmup(o.Warmup), harness.Conns(o.Conns), harness.CPU("cpu", o.CPU),
		harness.Want(o.NginxCPU >= -1 && o.NginxCPU <= 4095, "--nginx-cpu %d: want a CPU number or -1", o.NginxCPU))
}
