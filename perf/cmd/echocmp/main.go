// Command echocmp compares a small Write+Read echo round trip through
// pollstack's net.Conn (two engines over the in-memory link) with the same
// over the kernel's TCP loopback, side by side: the two run in alternating
// rounds so that the machine's noise falls on both.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/pollstack/pollstack/perf/internal/netconn"
)

func main() {
	size := flag.Int("size", 64, "bytes per round trip")
	trips := flag.Int("trips", 20000, "round trips per round")
	rounds := flag.Int("rounds", 5, "rounds; each measures both paths, alternating which goes first")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: echocmp [--size N] [--trips N] [--rounds N] [--json]\n\n"+
			"Measures a Write+Read echo round trip through pollstack's net.Conn over the\n"+
			"in-memory link and over a kernel TCP loopback socket, and prints the medians\n"+
			"and their ratio.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *size < 1 || *size > 1<<20 || *trips < 1 || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ps, err := netconn.Pollstack()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echocmp: pollstack:", err)
		os.Exit(1)
	}
	defer ps.Close()
	k, err := netconn.Kernel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echocmp: kernel:", err)
		os.Exit(1)
	}
	defer k.Close()
	var pt, kt []time.Duration
	for r := 0; r < *rounds; r++ {
		order := []*netconn.Pair{ps, k}
		if r%2 == 1 {
			order = []*netconn.Pair{k, ps}
		}
		for _, p := range order {
			d, err := netconn.Measure(p.Conn, *size, *trips)
			if err != nil {
				fmt.Fprintln(os.Stderr, "echocmp:", err)
				os.Exit(1)
			}
			if p == ps {
				pt = append(pt, d)
			} else {
				kt = append(kt, d)
			}
		}
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "round %d: pollstack %v, kernel %v\n", r+1, pt[r], kt[r])
		}
	}
	slices.Sort(pt)
	slices.Sort(kt)
	pm, km := pt[len(pt)/2], kt[len(kt)/2]
	ratio := float64(km) / float64(pm)
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"size": *size, "trips": *trips, "rounds": *rounds,
			"pollstack_ns": pm.Nanoseconds(), "kernel_ns": km.Nanoseconds(), "speedup": ratio})
		return
	}
	fmt.Printf("%d-byte echo round trip, median of %d rounds of %d: pollstack net.Conn %v, kernel loopback %v: pollstack %.2fx the kernel's speed\n",
		*size, *rounds, *trips, pm, km, ratio)
}
