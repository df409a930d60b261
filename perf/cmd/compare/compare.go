package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

// report is the command's result.
type report struct {
	Bed      string            `json:"bed"`
	Started  time.Time         `json:"started"`
	Options  options           `json:"options"`
	LoadAvg  float64           `json:"loadavg"` // 1-minute, at the start
	Commands map[string]string `json:"commands"`
	Runs     []benchRun        `json:"runs"`
	// Down says why a server never ran (build or start failed, skipped).
	Down      down            `json:"down,omitempty"`
	Sink      *sinkcmp.Report `json:"sink,omitempty"`
	SinkError string          `json:"sink_error,omitempty"`
	Rows      []row           `json:"rows"`
	Failed    []string        `json:"failed,omitempty"` // pollstack, nginx or testpmd rows without a figure
	Finished  time.Time       `json:"finished"`
}

// bed is what a turn needs to know about the run.
type bench struct {
	o         options
	bed       *testbed.Bed
	dir       string
	pollstack string // binary
	gvisor    string // binary
	log       io.Writer
}

const serverPort = 80

var server = netip.AddrPortFrom(testbed.PeerIPv4, serverPort)

func (b *bench) serveArgs() []string {
	return []string{b.pollstack, "serve", "--iface", b.bed.IfaceB, "--netns", b.bed.NsB,
		"--cores", fmt.Sprint(b.o.ServerCPU), "--app", "http", "--port", fmt.Sprint(serverPort),
		"--addr", fmt.Sprintf("%s/%d", testbed.PeerIPv4, testbed.PrefixLenIPv4),
		"--addr", fmt.Sprintf("%s/%d", testbed.PeerIPv6, testbed.PrefixLenIPv6),
		"--stats-interval", "0", "--control", "none"}
}

func (b *bench) gvisorArgs() []string {
	return []string{"taskset", "-c", fmt.Sprint(b.o.ServerCPU), b.gvisor, "--netns", b.bed.NsB, "--iface", b.bed.IfaceB,
		"--addr", fmt.Sprintf("%s/%d", testbed.PeerIPv4, testbed.PrefixLenIPv4),
		"--addr", fmt.Sprintf("%s/%d", testbed.PeerIPv6, testbed.PrefixLenIPv6),
		"--port", fmt.Sprint(serverPort), "--cpus", fmt.Sprint(b.o.ServerCPU)}
}

func (b *bench) nginxWrap() []string {
	return []string{"taskset", "-c", fmt.Sprint(b.o.ServerCPU)}
}

func (b *bench) benchArgs(test string) []string {
	return []string{b.pollstack, "bench", test, "--iface", b.bed.IfaceA, "--netns", b.bed.NsA,
		"--connect", server.String(), "--cores", fmt.Sprint(b.o.GenCPU),
		"--conns", fmt.Sprint(b.o.Conns), "--duration", secs(b.o.Duration), "--warmup", secs(b.o.Warmup),
		"--stats-interval", "0", "--json"}
}

// buildGvisor builds perf/gvisor's gvisor-http into dir with go build
// inside that module (it has its own go.mod).
func buildGvisor(ctx context.Context, dir string) (string, error) {
	mod := filepath.Join("perf", "gvisor")
	if _, err := os.Stat(filepath.Join(mod, "go.mod")); err != nil {
		return "", fmt.Errorf("no %s/go.mod (run from the repository's top directory): %w", mod, err)
	}
	bin := filepath.Join(dir, "gvisor-http")
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	pkg := "./cmd/gvisor-http"
	if _, err := os.Stat(filepath.Join(mod, "cmd", "gvisor-http")); err != nil {
		pkg = "."
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs, pkg)
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w: %s", pkg, mod, err, strings.TrimSpace(string(out)))
	}
	return abs, nil
}

// compare builds the binaries and the bed, runs the rounds and the sink
// row, and returns the report (partial on error). Everything it started
// is stopped and the bed removed before it returns.
func compare(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "compare")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, dir: dir, gvisor: o.GvisorBin, log: log}
	if b.pollstack, err = harness.Pollstack(ctx, "compare", o.Pollstack, dir, log); err != nil {
		return nil, err
	}
	dn := down{}
	switch {
	case !o.Gvisor:
		dn[srvGvisor] = "skipped (--gvisor=false)"
	case b.gvisor == "":
		fmt.Fprintf(log, "compare: go build gvisor-http in perf/gvisor\n")
		if b.gvisor, err = buildGvisor(ctx, dir); err != nil {
			dn[srvGvisor] = "build: " + err.Error()
			fmt.Fprintf(log, "compare: gVisor row will fail: %v\n", err)
			err = nil
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	bed, down, err := harness.UpBed("compare", 1, log)
	defer down(&err)
	if err != nil {
		return nil, err
	}
	b.bed = bed
	// The B end had TX checksum offload turned off by the bed (nginx's
	// kernel sends to an AF_XDP receiver). The A end's kernel sends only
	// the readiness probe's packets, to AF_XDP servers: off there too.
	if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(bed.NsA, "ethtool", "-K", bed.IfaceA, "tx", "off")...); err != nil {
		return nil, err
	}

	rep = &report{Bed: bed.Name, Started: time.Now().UTC(), Options: o, LoadAvg: harness.LoadAvg(), Down: dn,
		Commands: map[string]string{
			srvPollstack: harness.Quote(b.serveArgs()),
			srvNginx:     harness.Quote(nsproc.NetnsArgs(bed.NsB, append(b.nginxWrap(), "nginx", "-c", filepath.Join(dir, "nginx", "nginx.conf"))...)),
			srvGvisor:    harness.Quote(b.gvisorArgs()),
			"bench cps":  harness.Quote(b.benchArgs(testCPS)),
			"bench rps":  harness.Quote(b.benchArgs(testRPS)),
		}}
	if b.gvisor == "" {
		rep.Commands[srvGvisor] = "(not built)"
	}
	defer func() {
		rep.Rows = makeRows(rep.Runs, rep.Down, rep.Sink, rep.SinkError, o.Sink)
		rep.Failed = failed(rep.Rows)
		rep.Finished = time.Now().UTC()
	}()
	fmt.Fprintf(log, "compare: %d round(s), servers on CPU %d, generator on CPU %d, load average %.2f\n", o.Rounds, o.ServerCPU, o.GenCPU, rep.LoadAvg)

	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, srv := range order(round, servers) {
			if ctx.Err() != nil {
				break
			}
			if dn[srv] != "" {
				fmt.Fprintf(log, "round %d %-9s skipped: %s\n", round, srv, firstLine(dn[srv]))
				continue
			}
			runs, startErr := b.turn(ctx, round, srv)
			if ctx.Err() != nil {
				break // interrupted: not a measurement
			}
			if startErr != nil {
				fmt.Fprintf(log, "round %d %-9s FAILED to start: %v\n", round, srv, startErr)
				if srv == srvGvisor {
					// Not ours to fix: say why and stop trying.
					dn[srv] = "start: " + startErr.Error()
					continue
				}
				for _, t := range turnTests {
					runs = append(runs, benchRun{Round: round, Server: srv, Test: t, LoadAvg: harness.LoadAvg(), Error: "start: " + startErr.Error()})
				}
			}
			rep.Runs = append(rep.Runs, runs...)
		}
	}
	if o.Sink && ctx.Err() == nil {
		rep.Sink, rep.SinkError = b.sink(ctx)
	} else if o.Sink {
		rep.SinkError = "interrupted"
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

// turn gives server srv one turn: clean the B end, start the server, wait
// until it answers, run bench rps and bench cps against it, stop it. A
// non-nil error means the server did not start.
func (b *bench) turn(ctx context.Context, round int, srv string) (runs []benchRun, err error) {
	if err := b.clean(ctx, srv); err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "round %d %-9s starting\n", round, srv)
	stop, err := b.start(ctx, srv)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := stop(); serr != nil {
			fmt.Fprintf(b.log, "round %d %-9s stop: %v\n", round, srv, serr)
		}
		// An AF_XDP server detaches its program when it exits; check.
		if was, derr := harness.DetachXDP(context.Background(), b.bed.NsB, b.bed.IfaceB); was || derr != nil {
			fmt.Fprintf(b.log, "round %d %-9s left an XDP program on %s (removed: %v)\n", round, srv, b.bed.IfaceB, derr == nil)
		}
	}()
	// rps first: cps leaves the server every connection's TIME_WAIT
	// (the server closes first), and pollstack's server keeps all of them
	// for 2MSL; the next run's new generator, its timestamp clock and ISNs
	// unrelated to the last one's, would meet many of those 4-tuples,
	// whose SYNs RFC 6191 does not let reopen them (they get ACKs and the
	// handshake times out). The kernel keeps at most tcp_max_tw_buckets.
	for _, t := range turnTests {
		if ctx.Err() != nil {
			break
		}
		r := b.runBench(ctx, round, srv, t)
		if ctx.Err() != nil {
			break
		}
		if r.Error != "" {
			fmt.Fprintf(b.log, "round %d %-9s %s FAILED: %s\n", round, srv, t, firstLine(r.Error))
		} else {
			fmt.Fprintf(b.log, "round %d %-9s %s %10.0f/s  p99 %7.1f µs  loadavg %.2f\n", round, srv, t, r.Rate, r.P99, r.LoadAvg)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// clean makes the B end ready for srv: no XDP program from the previous
// server on either end; the kernel's addresses on B for nginx, none for
// the AF_XDP servers (which answer ARP and ND themselves).
func (b *bench) clean(ctx context.Context, srv string) error {
	for _, end := range [][2]string{{b.bed.NsA, b.bed.IfaceA}, {b.bed.NsB, b.bed.IfaceB}} {
		if was, err := harness.DetachXDP(ctx, end[0], end[1]); err != nil {
			return err
		} else if was {
			fmt.Fprintf(b.log, "compare: removed an XDP program left on %s\n", end[1])
		}
	}
	ns, dev := b.bed.NsB, b.bed.IfaceB
	if _, err := nsproc.Run(ctx, "ip", "-n", ns, "addr", "flush", "dev", dev); err != nil {
		return err
	}
	if _, err := nsproc.Run(ctx, "ip", "-n", ns, "neigh", "flush", "dev", dev); err != nil {
		return err
	}
	if srv != srvNginx {
		return nil
	}
	for _, a := range [][]string{
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", testbed.PeerIPv4, testbed.PrefixLenIPv4), "dev", dev},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", testbed.PeerIPv6, testbed.PrefixLenIPv6), "dev", dev, "nodad"},
	} {
		if _, err := nsproc.Run(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

// start starts srv on the B end and waits until it answers HTTP from the
// A end. It returns the function that stops it (by PID).
func (b *bench) start(ctx context.Context, srv string) (stop func() error, err error) {
	switch srv {
	case srvNginx:
		ngDir := filepath.Join(b.dir, "nginx")
		if err := os.MkdirAll(ngDir, 0o755); err != nil {
			return nil, err
		}
		ng, err := nsproc.StartNginx(ctx, b.bed.NsB, ngDir, b.nginxWrap(), testbed.PeerIPv4, testbed.PeerIPv6)
		if err != nil {
			return nil, err
		}
		stop = func() error { return b.verbose(srv, ng.Proc, ng.Stop()) }
		if err := b.probe(ctx, ng.Proc); err != nil {
			_ = stop() // the error that stopped it is the one to report
			return nil, err
		}
		return stop, nil
	case srvPollstack, srvGvisor:
		args, ready, sig := b.serveArgs(), "app http on TCP port", syscall.SIGINT
		if srv == srvGvisor {
			args, ready, sig = b.gvisorArgs(), "serving on", syscall.SIGTERM
		}
		p, err := nsproc.Start(args, ready)
		if err != nil {
			return nil, err
		}
		stop = func() error { return b.verbose(srv, p, p.Stop(sig, 15*time.Second)) }
		if err := p.Ready(ctx, 30*time.Second); err != nil {
			_ = stop() // the error that stopped it is the one to report
			return nil, err
		}
		if err := b.probe(ctx, p); err != nil {
			_ = stop() // the error that stopped it is the one to report
			return nil, err
		}
		return stop, nil
	}
	return nil, fmt.Errorf("unknown server %q", srv)
}

func (b *bench) verbose(srv string, p *nsproc.Proc, err error) error {
	if b.o.Verbose {
		fmt.Fprintf(b.log, "--- %s output:\n%s", srv, p.Output())
	}
	return err
}

// probe waits until the server answers curl from the A end's kernel: for
// the probe, and only for it, the A end gets the address the generator
// uses (198.18.0.1/24); it is removed again, with what the kernel learnt,
// before the generator takes the A end over.
func (b *bench) probe(ctx context.Context, p *nsproc.Proc) (err error) {
	ns, dev := b.bed.NsA, b.bed.IfaceA
	addr := fmt.Sprintf("%s/%d", testbed.LocalIPv4, testbed.PrefixLenIPv4)
	if _, err := nsproc.Run(ctx, "ip", "-n", ns, "addr", "add", addr, "dev", dev); err != nil {
		return err
	}
	defer func() {
		_, derr := nsproc.Run(context.Background(), "ip", "-n", ns, "addr", "del", addr, "dev", dev)
		_, nerr := nsproc.Run(context.Background(), "ip", "-n", ns, "neigh", "flush", "dev", dev)
		err = errors.Join(err, derr, nerr)
	}()
	url := "http://" + server.String() + "/"
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := nsproc.Run(ctx, nsproc.NetnsArgs(ns, "curl", "-sS", "-m", "1", url)...)
		if err == nil && out == nsproc.NginxBody {
			return nil
		}
		if p.Exited() || ctx.Err() != nil || time.Now().After(deadline) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("not answering %s from %s: %q %v\n%s", url, ns, out, err, p.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runBench runs bench test once against the server of this turn. The
// kernel may hold the previous run's AF_XDP socket for a moment after it
// exited; a run that fails to bind then is tried again.
func (b *bench) runBench(ctx context.Context, round int, srv, test string) benchRun {
	r := benchRun{Round: round, Server: srv, Test: test}
	var out string
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		out, err = nsproc.Run(ctx, b.benchArgs(test)...)
		if err == nil || ctx.Err() != nil || !strings.Contains(out, "busy") {
			break
		}
		time.Sleep(time.Second)
	}
	r.LoadAvg = harness.LoadAvg()
	if b.o.Verbose {
		fmt.Fprint(b.log, out)
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	res, err := harness.ParseBench([]byte(out))
	if err == nil {
		err = res.Check()
	}
	r.Rate, r.P99 = res.Rate, float64(res.Latency.P99)/1e3
	r.Requests, r.Connections, r.Errors = res.Requests, res.Connections, res.ErrorsTotal
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// sink runs the sink row on the same bed: the generator on the B end, the
// receivers (pollstack's sink, testpmd) taking turns on the A end.
func (b *bench) sink(ctx context.Context) (*sinkcmp.Report, string) {
	for _, end := range [][2]string{{b.bed.NsA, b.bed.IfaceA}, {b.bed.NsB, b.bed.IfaceB}} {
		if _, err := harness.DetachXDP(ctx, end[0], end[1]); err != nil {
			return nil, err.Error()
		}
	}
	so := sinkcmp.DefaultOptions()
	so.Rounds, so.Duration = b.o.Rounds, b.o.SinkDuration
	so.GenCPU, so.RxCPU = b.o.GenCPU, b.o.ServerCPU
	so.Verbose = b.o.Verbose
	fmt.Fprintf(b.log, "compare: sink row: pollstack's sink vs dpdk-testpmd rxonly, %d round(s) of %v after %v warm-up\n", so.Rounds, so.Duration, so.Warmup)
	rep, err := sinkcmp.CompareOn(ctx, b.bed, so, b.log)
	if err != nil {
		return rep, err.Error()
	}
	return rep, ""
}
