package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

// The servers.
const (
	srvPollstack = "pollstack"
	srvKernel    = "kernel"
)

const port = 8080

// workload is one generator run's shape: wrk's over plain HTTP, or
// h2load's over TLS.
type workload struct {
	Name  string `json:"name"`
	Conns int    `json:"conns"`
	Close bool   `json:"close"` // Connection: close on every request
	H2    bool   `json:"h2"`    // HTTPS with HTTP/2, h2load with h2Streams streams a connection
}

var plainWorkloads = []workload{
	{Name: "keep-alive, 1 connection", Conns: 1},
	{Name: "keep-alive, 64 connections", Conns: 64},
	{Name: "Connection: close, 1 connection", Conns: 1, Close: true},
	{Name: "Connection: close, 64 connections", Conns: 64, Close: true},
}

var h2Workload = workload{Name: fmt.Sprintf("HTTPS h2, %d connections x %d streams", h2Conns, h2Streams), Conns: h2Conns, H2: true}

// workloadsFor lists what a run with o measures.
func workloadsFor(o options) []workload {
	if o.NoH2 {
		return plainWorkloads
	}
	return append(append([]workload(nil), plainWorkloads...), h2Workload)
}

// runResult is one wrk run against one server.
type runResult struct {
	Round    int         `json:"round"`
	Server   string      `json:"server"`
	Workload string      `json:"workload"`
	Wrk      harness.Wrk `json:"wrk"`
	// CPUUsPerReq is the server process's CPU time (user and system,
	// /proc/PID/stat) over the run divided by the requests; for the
	// kernel it leaves out the softirq work done on wrk's CPU.
	CPUUsPerReq float64 `json:"cpu_us_per_req"`
	Err         string  `json:"error,omitempty"`
}

// row sums a workload over the rounds.
type row struct {
	Workload        string  `json:"workload"`
	Pollstack       float64 `json:"pollstack_rps"` // median requests/s
	Kernel          float64 `json:"kernel_rps"`
	Ratio           float64 `json:"ratio"`                    // pollstack / kernel
	PollstackCPU    float64 `json:"pollstack_cpu_us_per_req"` // medians
	KernelCPU       float64 `json:"kernel_cpu_us_per_req"`
	PollstackErrors uint64  `json:"pollstack_errors"`
	KernelErrors    uint64  `json:"kernel_errors"`
	Failed          int     `json:"failed_runs"` // runs without a figure
}

type report struct {
	Bed      string      `json:"bed"`
	LoadAvg  [2]float64  `json:"load_avg"` // before and after
	Rounds   int         `json:"rounds"`
	Duration string      `json:"duration"`
	Commands []string    `json:"commands"`
	Runs     []runResult `json:"runs"`
	Rows     []row       `json:"rows"`
}

// errors counts what wrk saw go wrong, a failed run as one.
func (r runResult) errors() uint64 {
	n := r.Wrk.SockErrs + r.Wrk.Non2xx
	if r.Err != "" {
		n++
	}
	return n
}

type bench struct {
	o         options
	bed       *testbed.Bed
	bin       string // pollstack
	self      string // this command, for the kernel's server
	log       io.Writer
	url, tURL string // plain HTTP's, HTTPS's
	cert, key string // the TLS servers' PEM files
	workloads []workload
}

func compare(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "gohttpcmp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.Pollstack(ctx, "gohttpcmp", o.Pollstack, dir, log)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bed, down, err := harness.UpBed("gohttpcmp", 1, log)
	defer down(&err)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, bed: bed, bin: bin, self: self, log: log, workloads: workloadsFor(o),
		url:  fmt.Sprintf("http://%s:%d/", testbed.LocalIPv4, port),
		tURL: fmt.Sprintf("https://%s:%d/", testbed.LocalIPv4, tlsPort)}
	if !o.NoH2 {
		if b.cert, b.key, err = writeSelfSigned(dir, testbed.LocalIPv4.AsSlice()); err != nil {
			return nil, err
		}
	}
	rep = &report{Bed: bed.Name, Rounds: o.Rounds, Duration: o.Duration.String()}
	rep.LoadAvg[0] = harness.LoadAvg()
	rep.Commands = append(rep.Commands, harness.Quote(b.serverArgs(srvPollstack, false)), harness.Quote(b.serverArgs(srvKernel, false)))
	if !o.NoH2 {
		rep.Commands = append(rep.Commands, harness.Quote(b.serverArgs(srvPollstack, true)), harness.Quote(b.serverArgs(srvKernel, true)))
	}
	for _, w := range b.workloads {
		rep.Commands = append(rep.Commands, harness.Quote(b.loadArgs(w)))
	}
	for r := range o.Rounds {
		order := []string{srvPollstack, srvKernel}
		if r%2 == 1 {
			order = []string{srvKernel, srvPollstack}
		}
		for _, srv := range order {
			runs, err := b.turn(ctx, r, srv)
			rep.Runs = append(rep.Runs, runs...)
			if err != nil {
				return rep, fmt.Errorf("round %d, %s: %w", r+1, srv, err)
			}
		}
	}
	rep.LoadAvg[1] = harness.LoadAvg()
	rep.Rows = summarize(b.workloads, rep.Runs)
	return rep, nil
}

// turn runs every workload against srv: the plain ones against its HTTP
// server, then the TLS one against its HTTPS server.
func (b *bench) turn(ctx context.Context, round int, srv string) ([]runResult, error) {
	var runs []runResult
	for _, tls := range []bool{false, true} {
		var ws []workload
		for _, w := range b.workloads {
			if w.H2 == tls {
				ws = append(ws, w)
			}
		}
		if len(ws) == 0 {
			continue
		}
		rs, err := b.serverTurn(ctx, round, srv, tls, ws)
		runs = append(runs, rs...)
		if err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// serverTurn starts srv (over TLS or not), runs ws against it and stops it.
func (b *bench) serverTurn(ctx context.Context, round int, srv string, tls bool, ws []workload) ([]runResult, error) {
	if err := b.prepare(ctx, srv); err != nil {
		return nil, err
	}
	p, err := b.start(ctx, srv, tls)
	if err != nil {
		return nil, err
	}
	var runs []runResult
	for _, w := range ws {
		rr := runResult{Round: round + 1, Server: srv, Workload: w.Name}
		t0, terr := procTicks(p.PID())
		out, err := nsproc.Run(ctx, b.loadArgs(w)...)
		t1, terr1 := procTicks(p.PID())
		if err == nil {
			if w.H2 {
				rr.Wrk, err = parseH2load(out)
			} else {
				rr.Wrk, err = harness.ParseWrk(out)
			}
		}
		if err == nil && terr == nil && terr1 == nil && rr.Wrk.Requests > 0 {
			rr.CPUUsPerReq = float64(t1-t0) * 1e6 / clockTicks / float64(rr.Wrk.Requests)
		}
		if err == nil {
			err = rr.Wrk.Check()
		}
		if err != nil {
			rr.Err = err.Error()
		}
		fmt.Fprintf(b.log, "gohttpcmp: round %d %-9s %-34s %10.0f req/s %7.1f µs CPU/req  %s\n", round+1, srv, w.Name,
			rr.Wrk.Rate, rr.CPUUsPerReq, rr.Err)
		runs = append(runs, rr)
		if ctx.Err() != nil {
			break
		}
	}
	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil && srv == srvPollstack {
		return runs, fmt.Errorf("stop: %w\n%s", err, p.Output())
	}
	if srv == srvPollstack {
		if was, err := harness.DetachXDP(ctx, b.bed.NsA, b.bed.IfaceA); err != nil || was {
			return runs, fmt.Errorf("pollstack left its XDP program attached (%v)", err)
		}
	}
	return runs, ctx.Err()
}

// prepare readies NAME-a for srv: no XDP program, and 198.18.0.1/24 on
// the kernel's side only for the kernel's server (pollstack answers ARP
// itself).
func (b *bench) prepare(ctx context.Context, srv string) error {
	if _, err := harness.DetachXDP(ctx, b.bed.NsA, b.bed.IfaceA); err != nil {
		return err
	}
	if _, err := nsproc.Run(ctx, "ip", "-n", b.bed.NsA, "addr", "flush", "dev", b.bed.IfaceA); err != nil {
		return err
	}
	if srv == srvKernel {
		a := fmt.Sprintf("%s/%d", testbed.LocalIPv4, testbed.PrefixLenIPv4)
		if _, err := nsproc.Run(ctx, "ip", "-n", b.bed.NsA, "addr", "add", a, "dev", b.bed.IfaceA); err != nil {
			return err
		}
	}
	_, err := nsproc.Run(ctx, "ip", "-n", b.bed.NsB, "neigh", "flush", "dev", b.bed.IfaceB)
	return err
}

func (b *bench) serverArgs(srv string, tls bool) []string {
	cpu := strconv.Itoa(b.o.ServerCPU)
	if srv == srvKernel {
		if tls {
			return nsproc.NetnsArgs(b.bed.NsA, "taskset", "-c", cpu, b.self, "--kernel-server",
				fmt.Sprintf("%s:%d", testbed.LocalIPv4, tlsPort), "--kernel-tls-cert", b.cert, "--kernel-tls-key", b.key)
		}
		return nsproc.NetnsArgs(b.bed.NsA, "taskset", "-c", cpu, b.self, "--kernel-server",
			fmt.Sprintf("%s:%d", testbed.LocalIPv4, port))
	}
	p := port
	if tls {
		p = tlsPort
	}
	args := []string{"taskset", "-c", cpu, b.bin, "serve", "--iface", b.bed.IfaceA, "--netns", b.bed.NsA,
		"--cores", cpu, "--app", "gohttp", "--port", strconv.Itoa(p),
		"--addr", fmt.Sprintf("%s/%d", testbed.LocalIPv4, testbed.PrefixLenIPv4),
		"--stats-interval", "0"}
	if tls {
		args = append(args, "--tls-cert", b.cert, "--tls-key", b.key)
	}
	return args
}

// loadArgs is the generator's command line for w: wrk, or h2load for the
// HTTPS workload.
func (b *bench) loadArgs(w workload) []string {
	secs := strconv.Itoa(max(1, int(b.o.Duration.Round(time.Second)/time.Second)))
	if w.H2 {
		return nsproc.NetnsArgs(b.bed.NsB, "taskset", "-c", strconv.Itoa(b.o.WrkCPU), "h2load",
			"-c", strconv.Itoa(w.Conns), "-m", strconv.Itoa(h2Streams), "-D", secs, b.tURL)
	}
	args := []string{"taskset", "-c", strconv.Itoa(b.o.WrkCPU), "wrk", "-t1", "-c" + strconv.Itoa(w.Conns),
		"-d" + secs + "s"}
	if w.Close {
		args = append(args, "-H", "Connection: close")
	}
	return nsproc.NetnsArgs(b.bed.NsB, append(args, b.url)...)
}

// start starts srv and waits until it answers curl from NAME-b. The
// kernel may hold the previous AF_XDP sockets for a moment after their
// process exited: a pollstack that fails to come up is tried again.
func (b *bench) start(ctx context.Context, srv string, tls bool) (*nsproc.Proc, error) {
	url, curl := b.url, []string{"curl", "-sS", "-m", "1"}
	if tls {
		url, curl = b.tURL, append(curl, "--cacert", b.cert)
	}
	var last error
	for attempt := 1; attempt <= 3; attempt++ {
		p, err := nsproc.Start(b.serverArgs(srv, tls), "")
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, err := nsproc.Run(ctx, nsproc.NetnsArgs(b.bed.NsB, append(curl, url)...)...)
			if err == nil && out == "hello\n" {
				return p, nil
			}
			if p.Exited() || ctx.Err() != nil || time.Now().After(deadline) {
				last = fmt.Errorf("%s does not answer %s: %q %v\n%s", srv, url, out, err, p.Output())
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = p.Stop(syscall.SIGKILL, 5*time.Second) // it never came up; last says why
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(time.Second)
	}
	return nil, last
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times.
const clockTicks = 100

// procTicks returns a process's user and system time in clock ticks.
func procTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's closing parenthesis: state is the
	// first (field 3 of proc(5)), utime the 12th (14), stime the 13th (15).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return u + st, nil
}

// summarize takes each workload's medians over the runs with a figure.
func summarize(workloads []workload, runs []runResult) []row {
	var rows []row
	for _, w := range workloads {
		r := row{Workload: w.Name}
		var ps, k, psCPU, kCPU []float64
		for _, rr := range runs {
			if rr.Workload != w.Name {
				continue
			}
			if rr.Err != "" {
				r.Failed++
			}
			switch rr.Server {
			case srvPollstack:
				r.PollstackErrors += rr.errors()
				if rr.Err == "" {
					ps = append(ps, rr.Wrk.Rate)
					psCPU = append(psCPU, rr.CPUUsPerReq)
				}
			case srvKernel:
				r.KernelErrors += rr.errors()
				if rr.Err == "" {
					k = append(k, rr.Wrk.Rate)
					kCPU = append(kCPU, rr.CPUUsPerReq)
				}
			}
		}
		if len(ps) > 0 {
			r.Pollstack, r.PollstackCPU = harness.Median(ps), harness.Median(psCPU)
		}
		if len(k) > 0 {
			r.Kernel, r.KernelCPU = harness.Median(k), harness.Median(kCPU)
		}
		r.Ratio = harness.Ratio(r.Pollstack, r.Kernel)
		rows = append(rows, r)
	}
	return rows
}

func printReport(w io.Writer, rep *report) {
	fmt.Fprintf(w, "gohttpcmp: net/http on pollstack against the kernel, bed %s, %d round(s) of %s, load average %.2f before, %.2f after\n",
		rep.Bed, rep.Rounds, rep.Duration, rep.LoadAvg[0], rep.LoadAvg[1])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tpollstack req/s\tkernel req/s\tpollstack/kernel\tCPU µs/req (pollstack, kernel)\terrors (pollstack, kernel)\tfailed runs\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2fx\t%.1f, %.1f\t%d, %d\t%d\t\n", r.Workload, r.Pollstack, r.Kernel, r.Ratio,
			r.PollstackCPU, r.KernelCPU, r.PollstackErrors, r.KernelErrors, r.Failed)
	}
	tw.Flush()
	for _, c := range rep.Commands {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
