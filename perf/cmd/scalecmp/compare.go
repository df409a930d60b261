package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

// measurement is one server's turn: wrk with Connection: close, then with
// keep-alive.
type measurement struct {
	Round   int         `json:"round"`
	Cores   int         `json:"cores"`
	CPUs    string      `json:"cpus"`
	XPS     []string    `json:"xps"` // xps_cpus of tx-0, tx-1 on the kernel's end
	CPS     float64     `json:"cps"` // wrk's Requests/sec with Connection: close
	RPS     float64     `json:"rps"` // wrk's Requests/sec with keep-alive
	Close   harness.Wrk `json:"wrk_close"`
	Keep    harness.Wrk `json:"wrk_keepalive"`
	LoadAvg float64     `json:"loadavg"` // 1-minute load average at the turn's end
	Error   string      `json:"error,omitempty"`
}

// summary is the medians of one core count's good turns.
type summary struct {
	Cores int     `json:"cores"`
	Turns int     `json:"turns"`
	CPS   float64 `json:"median_cps"`
	RPS   float64 `json:"median_rps"`
}

// report is the command's result.
type report struct {
	Bed      string        `json:"bed"`
	Started  time.Time     `json:"started"`
	Options  options       `json:"options"`
	Serve    string        `json:"serve"`   // the 2-core server's command line
	WrkClose string        `json:"wrk_cps"` // wrk's command line for connections/s
	WrkKeep  string        `json:"wrk_rps"` // and for requests/s
	LoadAvg  float64       `json:"loadavg"` // at the start
	Runs     []measurement `json:"runs"`
	Summary  []summary     `json:"summary"`   // 1 core, 2 cores
	RatioCPS float64       `json:"ratio_cps"` // 2 cores / 1 core, medians
	RatioRPS float64       `json:"ratio_rps"`
}

// order returns the core counts of round r (1-based): 1 then 2 in odd
// rounds, 2 then 1 in even ones.
func order(r int) []int {
	if r%2 == 1 {
		return []int{1, 2}
	}
	return []int{2, 1}
}

// summarize fills in the medians (of turns without error) and the ratios.
func summarize(r *report) {
	r.Summary = nil
	for _, cores := range []int{1, 2} {
		var cps, rps []float64
		for _, m := range r.Runs {
			if m.Cores == cores && m.Error == "" {
				cps = append(cps, m.CPS)
				rps = append(rps, m.RPS)
			}
		}
		r.Summary = append(r.Summary, summary{Cores: cores, Turns: len(cps), CPS: harness.Median(cps), RPS: harness.Median(rps)})
	}
	r.RatioCPS = harness.Ratio(r.Summary[1].CPS, r.Summary[0].CPS)
	r.RatioRPS = harness.Ratio(r.Summary[1].RPS, r.Summary[0].RPS)
}

// cpuMask formats a set of CPUs as the kernel writes a cpumask: hex, in
// 32-bit words separated by commas, the highest first.
func cpuMask(cpus []int) string {
	top := 0
	for _, c := range cpus {
		top = max(top, c)
	}
	words := make([]uint32, top/32+1)
	for _, c := range cpus {
		words[c/32] |= 1 << (c % 32)
	}
	var b strings.Builder
	for i := len(words) - 1; i >= 0; i-- {
		if i == len(words)-1 {
			fmt.Fprintf(&b, "%x", words[i])
		} else {
			fmt.Fprintf(&b, ",%08x", words[i])
		}
	}
	return b.String()
}

// xpsMasks returns the xps_cpus of tx-0 and tx-1 on the kernel's end for
// a server of cores cores (1 or 2) on cpus, on a machine of ncpu CPUs. One
// core: every CPU sends on queue 0 (queue 1 has no core). Two cores: the
// CPU of core i sends on queue i, any other CPU c on queue c mod 2.
func xpsMasks(ncpu int, cpus []int, cores int) []string {
	var q [2][]int
	for c := 0; c < ncpu; c++ {
		switch {
		case cores == 1:
			q[0] = append(q[0], c)
		case c == cpus[0]:
			q[0] = append(q[0], c)
		case c == cpus[1]:
			q[1] = append(q[1], c)
		default:
			q[c%2] = append(q[c%2], c)
		}
	}
	return []string{cpuMask(q[0]), cpuMask(q[1])}
}

// setXPS writes the masks into the kernel's veth end's tx queues.
func setXPS(ctx context.Context, bed *testbed.Bed, masks []string) error {
	var cmds []string
	// Clear first, so that no CPU is briefly in two masks.
	for q := range masks {
		cmds = append(cmds, fmt.Sprintf("echo 0 > /sys/class/net/%s/queues/tx-%d/xps_cpus", bed.IfaceB, q))
	}
	for q, m := range masks {
		cmds = append(cmds, fmt.Sprintf("echo %s > /sys/class/net/%s/queues/tx-%d/xps_cpus", m, bed.IfaceB, q))
	}
	_, err := nsproc.Run(ctx, nsproc.NetnsArgs(bed.NsB, "sh", "-ec", strings.Join(cmds, "; "))...)
	return err
}

func serveArgs(bin string, bed *testbed.Bed, o options, cpus []int) []string {
	return []string{bin, "serve", "--iface", bed.IfaceA, "--netns", bed.NsA, "--cores", cpuList(cpus),
		"--app", "http", "--port", fmt.Sprint(o.Port), "--idle-sleep-after", fmt.Sprint(o.SleepAt),
		"--stats-interval", "0", "--control", "none"}
}

func (o options) url() string {
	return fmt.Sprintf("http://%s:%d/", testbed.LocalIPv4, o.Port)
}

func wrkArgs(o options, close bool) []string {
	a := []string{"wrk", fmt.Sprintf("-t%d", o.Threads), fmt.Sprintf("-c%d", o.Conns), fmt.Sprintf("-d%ds", int(o.Duration/time.Second))}
	if close {
		a = append(a, "-H", "Connection: close")
	}
	return append(a, o.url())
}

// compare builds the bed (and pollstack, unless given), runs the rounds
// and returns the report, partial on error. The bed is always removed.
func compare(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	bin := o.Pollstack
	if bin == "" {
		dir, err := os.MkdirTemp("", "scalecmp")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if bin, err = harness.Pollstack(ctx, "scalecmp", bin, dir, log); err != nil {
			return nil, err
		}
	}
	bed, down, err := harness.UpBed("scalecmp", 2, log)
	defer down(&err)
	if err != nil {
		return nil, err
	}
	rep = &report{Bed: bed.Name, Started: time.Now().UTC(), Options: o, LoadAvg: harness.LoadAvg(),
		Serve:    harness.Quote(serveArgs(bin, bed, o, o.CPUs)),
		WrkClose: harness.Quote(nsproc.NetnsArgs(bed.NsB, wrkArgs(o, true)...)),
		WrkKeep:  harness.Quote(nsproc.NetnsArgs(bed.NsB, wrkArgs(o, false)...))}
	var errs []error
	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, cores := range order(round) {
			if ctx.Err() != nil {
				break
			}
			m := turn(ctx, bin, bed, o, round, cores, log)
			if ctx.Err() != nil {
				break // interrupted: the turn is not a measurement
			}
			if m.Error != "" {
				errs = append(errs, fmt.Errorf("round %d, %d core(s): %s", round, cores, m.Error))
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

// turn runs one server and both wrk runs against it.
func turn(ctx context.Context, bin string, bed *testbed.Bed, o options, round, cores int, log io.Writer) measurement {
	cpus := o.CPUs[:cores]
	m := measurement{Round: round, Cores: cores, CPUs: cpuList(cpus), XPS: xpsMasks(runtime.NumCPU(), o.CPUs, cores)}
	fail := func(err error) measurement {
		m.Error = err.Error()
		m.LoadAvg = harness.LoadAvg()
		fmt.Fprintf(log, "round %d %d core(s): %v\n", round, cores, err)
		return m
	}
	if err := setXPS(ctx, bed, m.XPS); err != nil {
		return fail(err)
	}
	srv, err := startServe(ctx, serveArgs(bin, bed, o, cpus))
	if err != nil {
		return fail(err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		err := srv.Stop(syscall.SIGINT, 15*time.Second)
		if o.Verbose {
			fmt.Fprint(log, srv.Output())
		}
		return err
	}
	defer func() { _ = stop() }() // stop() is called and checked on the way out; this covers the early returns
	// The kernel's side resolves pollstack's address on the first try.
	if err := probe(ctx, bed, o); err != nil {
		return fail(err)
	}
	for _, close := range []bool{true, false} {
		args := nsproc.NetnsArgs(bed.NsB, wrkArgs(o, close)...)
		out, err := nsproc.Run(ctx, args...)
		if o.Verbose {
			fmt.Fprint(log, out)
		}
		if err != nil {
			return fail(err)
		}
		w, err := harness.ParseWrk(out)
		if err == nil {
			err = w.Check()
		}
		kind := map[bool]string{true: "cps", false: "rps"}[close]
		if close {
			m.Close, m.CPS = w, w.Rate
		} else {
			m.Keep, m.RPS = w, w.Rate
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", kind, err))
		}
		fmt.Fprintf(log, "round %d %d core(s) on CPU %s, XPS %s: %s %.0f/s (%d requests)\n", round, cores, m.CPUs,
			strings.Join(m.XPS, "/"), kind, w.Rate, w.Requests)
	}
	m.LoadAvg = harness.LoadAvg()
	if err := stop(); err != nil {
		return fail(fmt.Errorf("serve did not stop cleanly: %w", err))
	}
	return m
}

// startServe starts serve and waits until its app listens. The kernel may
// hold the previous server's AF_XDP sockets for a moment after it exited;
// a start that fails then is tried again.
func startServe(ctx context.Context, args []string) (*nsproc.Proc, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var p *nsproc.Proc
		if p, err = nsproc.Start(args, "pollstack: app http on TCP port"); err != nil {
			return nil, err
		}
		if err = p.Ready(ctx, 20*time.Second); err == nil {
			return p, nil
		}
		_ = p.Stop(syscall.SIGKILL, 5*time.Second) // it never came up; the next try or the error below says why
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(time.Second)
	}
	return nil, err
}

// probe waits until the http app answers curl from the kernel's side.
func probe(ctx context.Context, bed *testbed.Bed, o options) error {
	var err error
	for i := 0; i < 50 && ctx.Err() == nil; i++ {
		if _, err = nsproc.Run(ctx, nsproc.NetnsArgs(bed.NsB, "curl", "-sS", "-o", "/dev/null", "-f", "-m", "1", o.url())...); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("the http app does not answer curl: %w", err)
}

// printReport writes the table.
func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "scalecmp: bed %s, 2 queues, %d round(s), load average %.2f at the start\n", r.Bed, r.Options.Rounds, r.LoadAvg)
	fmt.Fprintf(w, "server: %s (1 core: --cores %d)\n", r.Serve, r.Options.CPUs[0])
	fmt.Fprintf(w, "cps:    %s\nrps:    %s\n\n", r.WrkClose, r.WrkKeep)
	fmt.Fprintf(w, "%-6s %-6s %-8s %-10s %12s %12s %8s\n", "round", "cores", "cpus", "xps", "cps", "rps", "loadavg")
	for _, m := range r.Runs {
		fmt.Fprintf(w, "%-6d %-6d %-8s %-10s %12.0f %12.0f %8.2f", m.Round, m.Cores, m.CPUs, strings.Join(m.XPS, "/"), m.CPS, m.RPS, m.LoadAvg)
		if m.Error != "" {
			first, _, _ := strings.Cut(m.Error, "\n")
			fmt.Fprintf(w, "  FAILED: %s", first)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s %-6s %-19s %12s %12s\n", "median", "cores", "turns", "cps", "rps")
	for _, s := range r.Summary {
		fmt.Fprintf(w, "%-6s %-6d %-19d %12.0f %12.0f\n", "", s.Cores, s.Turns, s.CPS, s.RPS)
	}
	fmt.Fprintf(w, "%-33s %12.2f %12.2f\n", "ratio 2 cores / 1 core", r.RatioCPS, r.RatioRPS)
}
