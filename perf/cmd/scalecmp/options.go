package main

import (
	"errors"
	"fmt"
	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/perf/internal/harness"
	"io"
	"strconv"
	"strings"
	"time"
)

// options are the command's flags.
type options struct {
	Rounds    int           `json:"rounds"`
	Duration  time.Duration `json:"duration_ns"`
	Conns     int           `json:"conns"`
	Threads   int           `json:"threads"`
	Port      int           `json:"port"`
	CPUs      []int         `json:"cpus"`             // the 2-core server's CPUs; the 1-core server runs on the first
	SleepAt   int           `json:"idle_sleep_after"` // serve --idle-sleep-after
	Pollstack string        `json:"pollstack"`        // binary; "" builds one
	JSON      bool          `json:"-"`
	Verbose   bool          `json:"-"`
}

const usageText = `usage: sudo scalecmp [flags]

Connections/s and requests/s of 'pollstack serve --app http' with 1 and with
2 server cores, side by side on one fresh 2-queue test bed, against the same
generator: wrk from the kernel's namespace (NAME-b), once with
'Connection: close' (connections/s) and once with keep-alive (requests/s).
Rounds alternate 1-core and 2-core servers (1,2 then 2,1 ...). The report
gives every run, the medians per core count and the 2-core/1-core ratios.
Progress goes to stderr. Must run as root; needs AF_XDP, ip, ethtool, wrk
and curl, and the go tool unless --pollstack is given. The bed is removed at
the end, on error and on SIGINT. Exit status: 0 all rounds good, 1 a round
failed or the run could not start, 2 bad flags.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := harness.NewFlagSet("scalecmp", usageText, stderr)
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; each runs the 1-core and the 2-core server once, alternating which goes first")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each wrk run, whole seconds (wrk -d)")
	fs.IntVar(&o.Conns, "conns", 64, "wrk connections (wrk -c)")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads (wrk -t)")
	fs.IntVar(&o.Port, "port", 8080, "TCP port of the http app")
	cpus := fs.String("cpus", "0,1", "two CPUs for the 2-core server; the 1-core server uses the first")
	fs.IntVar(&o.SleepAt, "idle-sleep-after", 64, "serve --idle-sleep-after: a core sleeps in poll(2) after this many empty polls (0: busy-poll always)")
	fs.StringVar(&o.Pollstack, "pollstack", "", "pollstack binary to run (default: go build ./cmd/pollstack into a temporary directory; run from inside the module)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout instead of the table")
	fs.BoolVar(&o.Verbose, "v", false, "copy wrk's and serve's output to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.CPUs, err = parseCPUs(*cpus); err != nil {
		err = fmt.Errorf("--cpus %q: %v", *cpus, err)
	}
	return o, harness.Check(fs, err, harness.NoArgs(fs.Args()), harness.Rounds(o.Rounds), harness.Duration(o.Duration),
		harness.Want(o.Threads >= 1, "--threads %d: want at least 1", o.Threads),
		harness.Want(o.Conns >= o.Threads, "--conns %d: want at least one per wrk thread (%d)", o.Conns, o.Threads),
		harness.Want(o.Port >= 1 && o.Port <= 65535, "--port %d: want 1..65535", o.Port),
		harness.Want(o.SleepAt >= 0, "--idle-sleep-after %d: must not be negative", o.SleepAt))
}

// parseCPUs reads two distinct CPU numbers "A,B".
func parseCPUs(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return nil, errors.New("want two CPUs, e.g. 0,1")
	}
	var cpus []int
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 4095 {
			return nil, fmt.Errorf("%q is not a CPU number", p)
		}
		cpus = append(cpus, n)
	}
	if cpus[0] == cpus[1] {
		return nil, errors.New("want two different CPUs")
	}
	return cpus, nil
}

// cpuList formats cpus as serve's --cores wants them.
var cpuList = cores.FormatList
