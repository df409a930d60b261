package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/netconn"
)

// options are the command's flags.
type options struct {
	Size   int  // bytes per round trip
	Trips  int  // round trips per round
	Rounds int  // rounds, each measuring both paths
	JSON   bool // print the result as JSON
}

const usageText = `usage: echocmp [--size N] [--trips N] [--rounds N] [--json]

Measures a Write+Read echo round trip through pollstack's net.Conn over the
in-memory link and over a kernel TCP loopback socket, and prints the medians
and their ratio.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := harness.NewFlagSet("echocmp", usageText, stderr)
	fs.IntVar(&o.Size, "size", 64, "bytes per round trip")
	fs.IntVar(&o.Trips, "trips", 20000, "round trips per round")
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; each measures both paths, alternating which goes first")
	fs.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, harness.Check(fs, harness.NoArgs(fs.Args()),
		harness.Want(o.Size >= 1 && o.Size <= 1<<20, "--size %d: want 1..%d", o.Size, 1<<20),
		harness.Want(o.Trips >= 1, "--trips %d: want at least 1", o.Trips), harness.Rounds(o.Rounds))
}

func main() { harness.Main(parseFlags, run) }

func run(o options) int {
	ps, err := netconn.Pollstack()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echocmp: pollstack:", err)
		return 1
	}
	defer ps.Close()
	k, err := netconn.Kernel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echocmp: kernel:", err)
		return 1
	}
	defer k.Close()
	var pt, kt []time.Duration
	for r := 0; r < o.Rounds; r++ {
		order := []*netconn.Pair{ps, k}
		if r%2 == 1 {
			order = []*netconn.Pair{k, ps}
		}
		for _, p := range order {
			d, err := netconn.Measure(p.Conn, o.Size, o.Trips)
			if err != nil {
				fmt.Fprintln(os.Stderr, "echocmp:", err)
				return 1
			}
			if p == ps {
				pt = append(pt, d)
			} else {
				kt = append(kt, d)
			}
		}
		if !o.JSON {
			fmt.Fprintf(os.Stderr, "round %d: pollstack %v, kernel %v\n", r+1, pt[r], kt[r])
		}
	}
	slices.Sort(pt)
	slices.Sort(kt)
	pm, km := pt[len(pt)/2], kt[len(kt)/2]
	ratio := float64(km) / float64(pm)
	if o.JSON {
		if err := harness.WriteJSON(os.Stdout, map[string]any{"size": o.Size, "trips": o.Trips, "rounds": o.Rounds,
			"pollstack_ns": pm.Nanoseconds(), "kernel_ns": km.Nanoseconds(), "speedup": ratio}); err != nil {
			fmt.Fprintln(os.Stderr, "echocmp:", err)
			return 1
		}
		return 0
	}
	fmt.Printf("%d-byte echo round trip, median of %d rounds of %d: pollstack net.Conn %v, kernel loopback %v: pollstack %.2fx the kernel's speed\n",
		o.Size, o.Rounds, o.Trips, pm, km, ratio)
	return 0
}
