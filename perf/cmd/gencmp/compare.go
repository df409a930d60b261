package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

// Generators.
const (
	genPollstack = "pollstack"
	genWrk       = "wrk"
)

// The second link, between wrk's namespace and nginx's.
var (
	wrkIPv4   = netip.MustParseAddr("198.18.1.1")
	nginxIPv4 = netip.MustParseAddr("198.18.1.2")
)

const linkPrefixLen = 24

// measurement is one generator's run.
type measurement struct {
	Round     int     `json:"round"`
	Generator string  `json:"generator"`
	Cores     int     `json:"cores"` // generator cores: 1
	Rate      float64 `json:"rate"`  // requests/s over the window
	PerCore   float64 `json:"rate_per_core"`
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"` // wrk: socket errors + non-2xx; pollstack: errors_total
	P99       float64 `json:"p99_us,omitempty"`
	LoadAvg   float64 `json:"loadavg"` // 1-minute load average at the run's end
	Error     string  `json:"error,omitempty"`
}

// summary is the medians of one generator's good runs.
type summary struct {
	Generator string  `json:"generator"`
	Runs      int     `json:"runs"`
	Rate      float64 `json:"median_rate"`
	PerCore   float64 `json:"median_rate_per_core"`
}

// report is the command's result.
type report struct {
	Bed       string        `json:"bed"`
	Started   time.Time     `json:"started"`
	Options   options       `json:"options"`
	Nginx     string        `json:"nginx"`
	Pollstack string        `json:"pollstack_cmd"`
	Wrk       string        `json:"wrk_cmd"`
	LoadAvg   float64       `json:"loadavg"` // at the start
	Runs      []measurement `json:"runs"`
	Summary   []summary     `json:"summary"` // pollstack, wrk
	// Ratio is pollstack's median requests/s per generator core over wrk's.
	Ratio float64 `json:"ratio_pollstack_over_wrk"`
}

// order returns the generators of round r (1-based), alternating which
// goes first.
func order(r int) []string {
	if r%2 == 1 {
		return []string{genPollstack, genWrk}
	}
	return []string{genWrk, genPollstack}
}

// summarize fills in the medians (of runs without error) and the ratio.
func summarize(r *report) {
	r.Summary = nil
	for _, g := range []string{genPollstack, genWrk} {
		var rate, per []float64
		for _, m := range r.Runs {
			if m.Generator == g && m.Error == "" {
				rate = append(rate, m.Rate)
				per = append(per, m.PerCore)
			}
		}
		r.Summary = append(r.Summary, summary{Generator: g, Runs: len(rate), Rate: harness.Median(rate), PerCore: harness.Median(per)})
	}
	r.Ratio = harness.Ratio(r.Summary[0].PerCore, r.Summary[1].PerCore)
}

// wrkNames are the third namespace and the second veth pair's ends: NAME-c
// (in NAME-c) and NAME-d (in the bed's NAME-b).
func wrkNames(bed string) (ns, ifC, ifD string) {
	return bed + "-c", bed + "-c", bed + "-d"
}

// wrkNetUp makes namespace NAME-c and the veth pair NAME-c <-> NAME-d
// into the bed's kernel namespace, with 198.18.1.1/24 and 198.18.1.2/24.
func wrkNetUp(ctx context.Context, bed *testbed.Bed) error {
	ns, ifC, ifD := wrkNames(bed.Name)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", ifC, "netns", ns, "type", "veth", "peer", "name", ifD, "netns", bed.NsB},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", wrkIPv4, linkPrefixLen), "dev", ifC},
		{"ip", "-n", ns, "link", "set", ifC, "up"},
		{"ip", "-n", bed.NsB, "addr", "add", fmt.Sprintf("%s/%d", nginxIPv4, linkPrefixLen), "dev", ifD},
		{"ip", "-n", bed.NsB, "link", "set", ifD, "up"},
	}
	for _, s := range steps {
		if _, err := nsproc.Run(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// wrkNetDown removes what wrkNetUp made, or the part of it that exists.
func wrkNetDown(bedName string) error {
	ns, ifC, _ := wrkNames(bedName)
	if _, err := os.Stat(filepath.Join(netns.Dir, ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	if _, err := nsproc.Run(context.Background(), "ip", "-n", ns, "link", "show", "dev", ifC); err == nil {
		if _, err := nsproc.Run(context.Background(), "ip", "-n", ns, "link", "del", "dev", ifC); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := nsproc.Run(context.Background(), "ip", "netns", "del", ns); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

func benchArgs(bin string, bed *testbed.Bed, o options) []string {
	return []string{bin, "bench", "rps", "--iface", bed.IfaceA, "--netns", bed.NsA,
		"--connect", netip.AddrPortFrom(testbed.PeerIPv4, 80).String(), "--cores", fmt.Sprint(o.CPU),
		"--conns", fmt.Sprint(o.Conns), "--duration", secs(o.Duration), "--warmup", secs(o.Warmup),
		"--stats-interval", "0", "--json"}
}

func wrkArgs(ns string, o options, d time.Duration) []string {
	return nsproc.NetnsArgs(ns, "taskset", "-c", fmt.Sprint(o.CPU), "wrk", "-t1", fmt.Sprintf("-c%d", o.Conns), "-d"+secs(d),
		"http://"+netip.AddrPortFrom(nginxIPv4, 80).String()+"/")
}

// benchResult is the part of bench rps --json gencmp reads.
type benchResult struct {
	Rate        float64           `json:"rate"`
	PerCore     []float64         `json:"rate_per_core"`
	Requests    uint64            `json:"requests"`
	ErrorsTotal uint64            `json:"errors_total"`
	Errors      map[string]uint64 `json:"errors"`
	Cores       int               `json:"cores"`
	Latency     struct {
		P99 int64 `json:"p99_ns"`
	} `json:"latency"`
}

func parseBench(out []byte) (benchResult, error) {
	var r benchResult
	// bench prints its JSON object on stdout; anything before the first
	// '{' is a stray line.
	i := strings.IndexByte(string(out), '{')
	if i < 0 {
		return r, fmt.Errorf("bench rps: no JSON in its output:\n%s", out)
	}
	if err := json.Unmarshal(out[i:], &r); err != nil {
		return r, fmt.Errorf("bench rps: %w:\n%s", err, out)
	}
	if r.Cores < 1 {
		r.Cores = 1
	}
	return r, nil
}

// compare builds pollstack (unless given), the bed, the third namespace
// and nginx, runs the rounds and returns the report, partial on error.
// Everything is removed before it returns.
func compare(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "gencmp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.Pollstack(ctx, "gencmp", o.Pollstack, dir, log)
	if err != nil {
		return nil, err
	}
	bed, down, err := harness.UpBed("gencmp", 1, log)
	defer down(&err)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Before the bed: the third namespace's link's other end is in NAME-b.
		if derr := wrkNetDown(bed.Name); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove namespace %s-c: %w", bed.Name, derr))
		}
	}()
	if err := wrkNetUp(ctx, bed); err != nil {
		return nil, err
	}
	wrkNs, ifC, ifD := wrkNames(bed.Name)
	fmt.Fprintf(log, "gencmp: netns %s {%s %s/%d} <-veth-> netns %s {%s %s/%d}\n", wrkNs, ifC, wrkIPv4, linkPrefixLen, bed.NsB, ifD, nginxIPv4, linkPrefixLen)

	var wrap []string
	if o.NginxCPU >= 0 {
		wrap = []string{"taskset", "-c", fmt.Sprint(o.NginxCPU)}
	}
	ngDir := filepath.Join(dir, "nginx")
	if err := os.Mkdir(ngDir, 0o755); err != nil {
		return nil, err
	}
	ng, err := nsproc.StartNginx(ctx, bed.NsB, ngDir, wrap, testbed.PeerIPv4, nginxIPv4)
	if err != nil {
		return nil, err
	}
	defer func() {
		if nerr := ng.Stop(); nerr != nil {
			err = errors.Join(err, fmt.Errorf("nginx: %w", nerr))
		}
	}()
	// wrk's way to nginx works before the first round.
	if out, err := nsproc.Run(ctx, nsproc.NetnsArgs(wrkNs, "curl", "-sS", "-m", "2", "http://"+nginxIPv4.String()+"/")...); err != nil || out != nsproc.NginxBody {
		return nil, fmt.Errorf("nginx not reachable from %s: %q %v", wrkNs, out, err)
	}

	rep = &report{Bed: bed.Name, Started: time.Now().UTC(), Options: o, LoadAvg: harness.LoadAvg(),
		Nginx:     strings.Join(nsproc.NetnsArgs(bed.NsB, append(wrap, "nginx", "-c", ng.Conf)...), " "),
		Pollstack: strings.Join(benchArgs(bin, bed, o), " "),
		Wrk:       strings.Join(wrkArgs(wrkNs, o, o.Duration), " ")}
	var errs []error
	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, g := range order(round) {
			if ctx.Err() != nil {
				break
			}
			var m measurement
			if g == genPollstack {
				m = runPollstack(ctx, bin, bed, o, round, log)
			} else {
				m = runWrk(ctx, wrkNs, o, round, log)
			}
			if ctx.Err() != nil {
				break // interrupted: not a measurement
			}
			m.LoadAvg = harness.LoadAvg()
			if m.Error != "" {
				errs = append(errs, fmt.Errorf("round %d, %s: %s", round, g, m.Error))
				fmt.Fprintf(log, "round %d %-9s FAILED: %s\n", round, g, m.Error)
			} else {
				fmt.Fprintf(log, "round %d %-9s %.0f req/s (%d requests), loadavg %.2f\n", round, g, m.Rate, m.Requests, m.LoadAvg)
			}
			rep.Runs = append(rep.Runs, m)
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	summarize(rep)
	return rep, errors.Join(errs...)
}

// runPollstack runs bench rps once. The kernel may hold the previous run's
// AF_XDP socket for a moment after it exited; a run that fails to bind
// then is tried again.
func runPollstack(ctx context.Context, bin string, bed *testbed.Bed, o options, round int, log io.Writer) measurement {
	m := measurement{Round: round, Generator: genPollstack, Cores: 1}
	var out string
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		out, err = nsproc.Run(ctx, benchArgs(bin, bed, o)...)
		if err == nil || ctx.Err() != nil || !strings.Contains(out, "busy") {
			break
		}
		time.Sleep(time.Second)
	}
	if o.Verbose {
		fmt.Fprint(log, out)
	}
	if err != nil {
		m.Error = err.Error()
		return m
	}
	r, err := parseBench([]byte(out))
	if err != nil {
		m.Error = err.Error()
		return m
	}
	m.Cores, m.Rate, m.Requests, m.Errors = r.Cores, r.Rate, r.Requests, r.ErrorsTotal
	m.PerCore = r.Rate / float64(r.Cores)
	m.P99 = float64(r.Latency.P99) / 1e3
	if r.ErrorsTotal > 0 {
		m.Error = fmt.Sprintf("bench rps: %d errors: %v", r.ErrorsTotal, r.Errors)
	}
	return m
}

// runWrk runs the warm-up (its result dropped) and the measured wrk run.
func runWrk(ctx context.Context, ns string, o options, round int, log io.Writer) measurement {
	m := measurement{Round: round, Generator: genWrk, Cores: 1}
	var w harness.Wrk
	for _, d := range []time.Duration{o.Warmup, o.Duration} {
		if d == 0 {
			continue
		}
		out, err := nsproc.Run(ctx, wrkArgs(ns, o, d)...)
		if o.Verbose {
			fmt.Fprint(log, out)
		}
		if err != nil {
			m.Error = err.Error()
			return m
		}
		if w, err = harness.ParseWrk(out); err == nil {
			err = w.Check()
		}
		if err != nil {
			m.Error = err.Error()
			return m
		}
	}
	m.Rate, m.PerCore, m.Requests, m.Errors = w.Rate, w.Rate, w.Requests, w.SockErrs+w.Non2xx
	return m
}

// printReport writes the table.
func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "gencmp: bed %s, %d round(s), generators on CPU %d, nginx on CPU %d, load average %.2f at the start\n",
		r.Bed, r.Options.Rounds, r.Options.CPU, r.Options.NginxCPU, r.LoadAvg)
	fmt.Fprintf(w, "nginx:     %s\npollstack: %s\nwrk:       %s\n\n", r.Nginx, r.Pollstack, r.Wrk)
	fmt.Fprintf(w, "%-6s %-10s %6s %12s %14s %8s\n", "round", "generator", "cores", "req/s", "req/s per core", "loadavg")
	for _, m := range r.Runs {
		fmt.Fprintf(w, "%-6d %-10s %6d %12.0f %14.0f %8.2f", m.Round, m.Generator, m.Cores, m.Rate, m.PerCore, m.LoadAvg)
		if m.Error != "" {
			first, _, _ := strings.Cut(m.Error, "\n")
			fmt.Fprintf(w, "  FAILED: %s", first)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s %-10s %6s %12s %14s\n", "median", "generator", "runs", "req/s", "req/s per core")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "%-6s %-10s %6d %12.0f %14.0f\n", "", s.Generator, s.Runs, s.Rate, s.PerCore)
	}
	fmt.Fprintf(w, "ratio pollstack / wrk per generator core = %.2f\n", r.Ratio)
}
