package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

const tool = "losscmp"

// build is one pollstack program under test, by the name the report gives it.
type build struct{ Name, Bin string }

// options are the command's flags.
type options struct {
	Loss      []float64
	Delay     []time.Duration
	Dirs      []string
	Bytes     int64
	Rounds    int
	Builds    []build
	Sysctl    []string
	Timeout   time.Duration
	JSON      string
	Direction string // as given, for the report
	KernelCC  string // the kernel's congestion control in both namespaces
	StackCPU  int    // where the end under test runs (NAME-a): pollstack, or the kernel socket in its place
	PeerCPU   int    // where the kernel's end in NAME-b runs
}

const usageText = `usage: losscmp [--loss LIST] [--delay LIST] [--direction send,recv] [--bytes N] [--rounds N]
       [--pollstack NAME=BIN ...] [--sysctl NAME=VALUE ...] [--kernel-cc NAME] [--stack-cpu N] [--peer-cpu N]
       [--timeout D] [--json FILE]

On one impaired test bed, moves --bytes through one TCP connection with
pollstack at one end and with the Linux kernel in its place, for every
loss x delay x direction, and prints goodput, RTOs, retransmitted segments
and the longest stall (medians of the rounds). See docs/benchmarks.md.

Flags:
`

// list is a comma-separated flag value.
type list struct {
	parse func(s string) error
	vals  []string
}

func (l *list) String() string { return strings.Join(l.vals, ",") }

func (l *list) Set(v string) error {
	l.vals = nil
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if err := l.parse(s); err != nil {
			return err
		}
		l.vals = append(l.vals, s)
	}
	return nil
}

// repeated is a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{Loss: []float64{0.001, 0.01, 0.02, 0.05}, Delay: []time.Duration{0, 10 * time.Millisecond},
		Dirs: []string{"send", "recv"}}
	fs := harness.NewFlagSet(tool, usageText, stderr)
	loss := &list{parse: func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v >= 1 {
			return fmt.Errorf("%q: want a probability in [0, 1)", s)
		}
		return nil
	}, vals: []string{"0.001", "0.01", "0.02", "0.05"}}
	delay := &list{parse: func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 || v > testbed.MaxDelay {
			return fmt.Errorf("%q: want a duration in 0..%v", s, testbed.MaxDelay)
		}
		return nil
	}, vals: []string{"0", "10ms"}}
	dir := &list{parse: func(s string) error {
		if s != "send" && s != "recv" {
			return fmt.Errorf("%q: want send or recv", s)
		}
		return nil
	}, vals: []string{"send", "recv"}}
	var builds, sysctls repeated
	fs.Var(loss, "loss", "comma-separated loss probabilities, each way (tc BPF on the kernel's veth end)")
	fs.Var(delay, "delay", "comma-separated delays added to the round trip (a relayed bed's relay holds each frame half of it each way; 0 runs on a bed without the relay)")
	fs.Var(dir, "direction", "send (pollstack or the kernel sends to a kernel socket), recv (the kernel sends to pollstack or to a kernel socket), or both")
	fs.Int64Var(&o.Bytes, "bytes", 16<<20, "bytes through each connection")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every stack once, in a rotated order")
	fs.Var(&builds, "pollstack", "NAME=BIN: a pollstack program to measure (repeatable, side by side); default: ./cmd/pollstack built now, named pollstack")
	fs.Var(&sysctls, "sysctl", "NAME=VALUE passed to every pollstack run (repeatable)")
	fs.StringVar(&o.KernelCC, "kernel-cc", "cubic", "the kernel's congestion control in both namespaces (net.ipv4.tcp_congestion_control; added to the host's tcp_allowed_congestion_control for the run when missing); pollstack's is its cc.algorithm (cubic unless --sysctl says otherwise)")
	fs.IntVar(&o.StackCPU, "stack-cpu", 0, "the CPU the end under test runs on: pollstack's process (its loop too), or the kernel socket's thread in its place; -1: anywhere")
	fs.IntVar(&o.PeerCPU, "peer-cpu", 1, "the CPU the kernel's end in NAME-b runs on (its socket's thread); -1: anywhere. Apart from --stack-cpu, so that a busy-polling pollstack does not take the CPU its peer needs to read and acknowledge")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "give up a transfer after this long")
	fs.StringVar(&o.JSON, "json", "", "also write the report as JSON to FILE")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Loss, o.Delay, o.Dirs = nil, nil, dir.vals
	for _, s := range loss.vals {
		v, _ := strconv.ParseFloat(s, 64) // checked by the flag
		o.Loss = append(o.Loss, v)
	}
	for _, s := range delay.vals {
		v, _ := time.ParseDuration(s) // checked by the flag
		o.Delay = append(o.Delay, v)
	}
	o.Direction = dir.String()
	var bad error
	for _, b := range builds {
		name, bin, ok := strings.Cut(b, "=")
		if !ok || name == "" || bin == "" || name == "kernel" {
			bad = fmt.Errorf("--pollstack %q: want NAME=BIN (NAME not kernel)", b)
			break
		}
		o.Builds = append(o.Builds, build{name, bin})
	}
	for _, s := range sysctls {
		if !strings.Contains(s, "=") {
			bad = fmt.Errorf("--sysctl %q: want NAME=VALUE", s)
		}
	}
	o.Sysctl = sysctls
	return o, harness.Check(fs, harness.NoArgs(fs.Args()), bad, harness.Rounds(o.Rounds),
		harness.Want(o.Bytes >= 1<<16, "--bytes %d: want at least 65536", o.Bytes),
		harness.Want(o.Timeout > 0, "--timeout %v: want a positive duration", o.Timeout),
		harness.Want(o.StackCPU >= -1 && o.StackCPU < runtime.NumCPU(), "--stack-cpu %d: want -1 or a CPU below %d", o.StackCPU, runtime.NumCPU()),
		harness.Want(o.PeerCPU >= -1 && o.PeerCPU < runtime.NumCPU(), "--peer-cpu %d: want -1 or a CPU below %d", o.PeerCPU, runtime.NumCPU()),
		harness.Want(ccName.MatchString(o.KernelCC), "--kernel-cc %q: want a congestion control's name (letters, digits, _)", o.KernelCC))
}

var ccName = regexp.MustCompile(`^[a-z0-9_]{1,15}$`)

func main() { harness.Main(parseFlags, run) }

// result is one transfer's figures.
type result struct {
	MbitPerSec float64       `json:"mbit_per_sec"`
	RTOs       uint64        `json:"rtos"`
	Rexmit     uint64        `json:"retransmitted_segments"`
	Stall      time.Duration `json:"longest_stall_ns"` // -1: not measured
}

// cell is one loss x delay x direction, every stack's rounds and medians.
type cell struct {
	Loss      float64             `json:"loss"`
	Delay     time.Duration       `json:"delay_ns"`
	Direction string              `json:"direction"`
	Skipped   string              `json:"skipped,omitempty"`
	Rounds    map[string][]result `json:"rounds,omitempty"`
	Median    map[string]result   `json:"median,omitempty"`
	Failed    map[string][]string `json:"failed,omitempty"`
	order     []string            // stacks in the report's order
}

type report struct {
	Command string   `json:"command"`
	Bytes   int64    `json:"bytes"`
	Rounds  int      `json:"rounds"`
	Stacks  []string `json:"stacks"`
	Sysctl  []string `json:"sysctl,omitempty"`
	// KernelCC is the kernel's congestion control in both namespaces.
	KernelCC string        `json:"kernel_cc"`
	Bed      string        `json:"bed"`
	Cells    []*cell       `json:"cells"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

func run(o options) int {
	ctx, stop, ok := harness.Prepare(tool, "it builds a test bed and runs pollstack over AF_XDP", "ip", "ethtool", "nstat", "tc")
	if !ok {
		return 1
	}
	defer stop()
	rep, err := measure(ctx, o)
	return harness.Finish(tool, rep, err, func(r *report) error {
		printReport(os.Stdout, r)
		if o.JSON == "" {
			return nil
		}
		return harness.WriteJSONFile(o.JSON, r)
	})
}

// bedInfo is what the transfers need of the bed.
type bedInfo struct {
	name, nsA, ifA, nsB string
	port                int
}

const (
	localIP = "198.18.0.1" // NAME-a: pollstack, or the kernel in its place
	peerIP  = "198.18.0.2" // NAME-b: the kernel
)

func measure(ctx context.Context, o options) (rep *report, err error) {
	start := time.Now()
	builds := o.Builds
	if len(builds) == 0 {
		dir, err := os.MkdirTemp("", tool)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin, err := harness.Pollstack(ctx, tool, "", dir, os.Stderr)
		if err != nil {
			return nil, err
		}
		builds = []build{{"pollstack", bin}}
	}
	// The host lets the namespaces choose o.KernelCC for the whole run.
	restore, err := nsproc.KernelCC(ctx, o.KernelCC)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := restore(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
		}
	}()
	stacks := []string{}
	for _, bl := range builds {
		stacks = append(stacks, bl.Name)
	}
	stacks = append(stacks, "kernel")
	rep = &report{Command: "losscmp " + harness.Quote(os.Args[1:]), Bytes: o.Bytes, Rounds: o.Rounds, Stacks: stacks,
		Sysctl: o.Sysctl, KernelCC: o.KernelCC}
	defer func() { rep.Elapsed = time.Since(start) }()
	for _, delay := range o.Delay {
		// A bed per delay: a delay needs the relay of a relayed bed
		// (NAME-d), and the cells without one run on a bed of one veth
		// pair, as before the relay.
		if err := measureDelay(ctx, o, rep, builds, stacks, delay); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// measureDelay runs the cells of one delay on a bed of their own.
func measureDelay(ctx context.Context, o options, rep *report, builds []build, stacks []string, delay time.Duration) (err error) {
	name := testbed.Unique(tool)
	defer func() {
		if derr := testbed.Down(name); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove bed %s: %w", name, derr))
		}
	}()
	bed, err := testbed.UpWith(name, 1, testbed.Options{Relay: delay > 0})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", tool, bed)
	b := &bedInfo{name: bed.Name, nsA: bed.NsA, ifA: bed.IfaceA, nsB: bed.NsB, port: 9100}
	// Per-frame loss: the kernel must hand the veth whole frames, not
	// 64 KiB GSO batches that the loss program would drop as one. (The
	// relay in NAME-d has no TCP: its congestion control is not set.)
	if _, err := nsproc.KernelCC(ctx, o.KernelCC, bed.NsA, bed.NsB); err != nil {
		return err
	}
	for _, c := range [][]string{
		nsproc.NetnsArgs(bed.NsA, "ethtool", "-K", bed.IfaceA, "tso", "off", "gso", "off"),
		nsproc.NetnsArgs(bed.NsB, "ethtool", "-K", bed.IfaceB, "tso", "off", "gso", "off"),
	} {
		if _, err := nsproc.Run(ctx, c...); err != nil {
			return err
		}
	}
	if rep.Bed != "" {
		rep.Bed += " | "
	}
	rep.Bed += fmt.Sprintf("delay %v: %v; tso and gso off on both ends", delay, bed)
	for _, loss := range o.Loss {
		ierr := testbed.Impair(b.name, testbed.Impairment{Loss: loss, Delay: delay})
		for _, dir := range o.Dirs {
			c := &cell{Loss: loss, Delay: delay, Direction: dir, order: stacks}
			rep.Cells = append(rep.Cells, c)
			if ierr != nil {
				c.Skipped = ierr.Error()
				continue
			}
			c.Rounds, c.Failed = map[string][]result{}, map[string][]string{}
			for r := 0; r < o.Rounds; r++ {
				for i := range stacks {
					name := stacks[(i+r)%len(stacks)]
					if ctx.Err() != nil {
						return ctx.Err()
					}
					res, err := transfer(ctx, o, b, builds, name, dir)
					if err != nil {
						c.Failed[name] = append(c.Failed[name], err.Error())
						fmt.Fprintf(os.Stderr, "%s: loss %g delay %v %s %s round %d: %v\n", tool, loss, delay, dir, name, r+1, err)
						continue
					}
					c.Rounds[name] = append(c.Rounds[name], res)
					fmt.Fprintf(os.Stderr, "%s: loss %g delay %v %s %-10s round %d: %.1f Mbit/s, %d RTOs, %d retransmitted, stall %s\n",
						tool, loss, delay, dir, name, r+1, res.MbitPerSec, res.RTOs, res.Rexmit, stallString(res.Stall))
				}
			}
			c.Median = map[string]result{}
			for name, rs := range c.Rounds {
				c.Median[name] = median(rs)
			}
		}
	}
	if bed.Relayed() {
		if stats, err := testbed.RelayStats(name); err == nil {
			fmt.Fprintf(os.Stderr, "%s: delay %v: %s\n", tool, delay, stats)
		}
	}
	return nil
}

// median takes each figure's median over the rounds.
func median(rs []result) result {
	var g, rto, rx, st []float64
	for _, r := range rs {
		g = append(g, r.MbitPerSec)
		rto = append(rto, float64(r.RTOs))
		rx = append(rx, float64(r.Rexmit))
		st = append(st, float64(r.Stall))
	}
	return result{MbitPerSec: harness.Median(g), RTOs: uint64(harness.Median(rto)), Rexmit: uint64(harness.Median(rx)),
		Stall: time.Duration(harness.Median(st))}
}

// transfer runs one connection of the cell with stack name.
func transfer(ctx context.Context, o options, b *bedInfo, builds []build, name, dir string) (result, error) {
	b.port++
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	bin := ""
	for _, bl := range builds {
		if bl.Name == name {
			bin = bl.Bin
		}
	}
	switch {
	case dir == "send" && bin != "":
		return sendPollstack(ctx, o, b, bin)
	case dir == "send":
		return sendKernel(ctx, o, b)
	case bin != "":
		return recvPollstack(ctx, o, b, bin)
	default:
		return recvKernel(ctx, o, b)
	}
}

// received is what a receiving socket of this program measured.
type received struct {
	bytes int64
	dur   time.Duration // accept to the last byte
	stall time.Duration // the longest gap between two reads (the first from accept)
	err   error
}

// listen opens a listener in namespace ns and receives one connection on
// it to the end, closing it then; the result comes on the channel.
func listen(ctx context.Context, ns, addr string, cpu int) (<-chan received, error) {
	var l net.Listener
	if err := netns.Do(ns, func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		return nil, err
	}
	ch := make(chan received, 1)
	go func() {
		var r received
		if err := harness.OnCPU(cpu, func() error { r = receive(ctx, l); return nil }); err != nil {
			r.err = err
		}
		ch <- r
	}()
	return ch, nil
}

// receive accepts one connection on l and reads it to its end.
func receive(ctx context.Context, l net.Listener) (r received) {
	{
		defer l.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = l.(*net.TCPListener).SetDeadline(dl) // a listener's deadline cannot fail
		}
		c, err := l.Accept()
		if err != nil {
			return received{err: err}
		}
		defer c.Close()
		dl, _ := ctx.Deadline()
		bc, err := harness.NewBlocking(c, dl)
		if err != nil {
			return received{err: err}
		}
		start := time.Now()
		last := start
		buf := make([]byte, 256<<10)
		for {
			n, err := bc.Read(buf)
			if n > 0 {
				now := time.Now()
				r.stall = max(r.stall, now.Sub(last))
				last = now
				r.bytes += int64(n)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.err = err
				break
			}
		}
		r.dur = last.Sub(start)
		return r
	}
}

// wait takes the receiver's result and checks that it got everything.
func wait(ctx context.Context, ch <-chan received, want int64) (received, error) {
	select {
	case r := <-ch:
		if r.err != nil {
			return r, fmt.Errorf("receiver: %w", r.err)
		}
		if r.bytes != want || r.dur <= 0 {
			return r, fmt.Errorf("receiver got %d bytes of %d", r.bytes, want)
		}
		return r, nil
	case <-ctx.Done():
		return received{}, fmt.Errorf("receiver: %w", ctx.Err())
	}
}

// sendPollstack: pollstack's bench bulk in NAME-a sends to a socket in NAME-b.
func sendPollstack(ctx context.Context, o options, b *bedInfo, bin string) (result, error) {
	ch, err := listen(ctx, b.nsB, fmt.Sprintf("%s:%d", peerIP, b.port), o.PeerCPU)
	if err != nil {
		return result{}, err
	}
	args := []string{bin, "bench", "bulk", "--iface", b.ifA, "--netns", b.nsA, "--connect", fmt.Sprintf("%s:%d", peerIP, b.port),
		"--bytes", strconv.FormatInt(o.Bytes, 10), "--json", "--stats-interval", "0", "--timeout", o.Timeout.String()}
	for _, s := range o.Sysctl {
		args = append(args, "--sysctl", s)
	}
	args = onCPUArgs(o.StackCPU, args)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return result{}, fmt.Errorf("%s: %w: %s", harness.Quote(args), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return result{}, err
	}
	var bulk struct {
		RTO    uint64 `json:"rto_timeouts"`
		Rexmit uint64 `json:"retransmitted_segments"`
	}
	if i := strings.IndexByte(string(out), '{'); i < 0 || json.Unmarshal(out[i:], &bulk) != nil {
		return result{}, fmt.Errorf("bench bulk printed no report: %q", out)
	}
	r, err := wait(ctx, ch, o.Bytes)
	if err != nil {
		return result{}, err
	}
	return result{MbitPerSec: mbit(o.Bytes, r.dur), RTOs: bulk.RTO, Rexmit: bulk.Rexmit, Stall: r.stall}, nil
}

// withKernelAddr gives NAME-a's veth end the local address for fn (the
// kernel stands where pollstack stood) and takes it away again.
func withKernelAddr(ctx context.Context, b *bedInfo, fn func() (result, error)) (res result, err error) {
	if _, err := nsproc.Run(ctx, "ip", "-n", b.nsA, "addr", "add", localIP+"/24", "dev", b.ifA); err != nil {
		return result{}, err
	}
	defer func() {
		if _, derr := nsproc.Run(context.WithoutCancel(ctx), "ip", "-n", b.nsA, "addr", "del", localIP+"/24", "dev", b.ifA); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	return fn()
}

// sendKernel: a kernel socket in NAME-a sends to a socket in NAME-b.
func sendKernel(ctx context.Context, o options, b *bedInfo) (result, error) {
	return withKernelAddr(ctx, b, func() (result, error) {
		ch, err := listen(ctx, b.nsB, fmt.Sprintf("%s:%d", peerIP, b.port), o.PeerCPU)
		if err != nil {
			return result{}, err
		}
		before, err := nstat(ctx, b.nsA)
		if err != nil {
			return result{}, err
		}
		if _, err := kernelSend(ctx, b.nsA, localIP, fmt.Sprintf("%s:%d", peerIP, b.port), o.Bytes, o.StackCPU); err != nil {
			return result{}, err
		}
		r, err := wait(ctx, ch, o.Bytes)
		if err != nil {
			return result{}, err
		}
		after, err := nstat(ctx, b.nsA)
		if err != nil {
			return result{}, err
		}
		return result{MbitPerSec: mbit(o.Bytes, r.dur), RTOs: after.timeouts - before.timeouts,
			Rexmit: after.rexmit - before.rexmit, Stall: r.stall}, nil
	})
}

// recvPollstack: the kernel in NAME-b sends to pollstack's discard app.
func recvPollstack(ctx context.Context, o options, b *bedInfo, bin string) (res result, err error) {
	args := []string{bin, "serve", "--iface", b.ifA, "--netns", b.nsA, "--app", "discard", "--port", strconv.Itoa(b.port)}
	for _, s := range o.Sysctl {
		args = append(args, "--sysctl", s)
	}
	p, err := nsproc.Start(onCPUArgs(o.StackCPU, args), "app discard on TCP port")
	if err != nil {
		return result{}, err
	}
	defer func() {
		if serr := p.Stop(syscall.SIGINT, 10*time.Second); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if err := p.Ready(ctx, 30*time.Second); err != nil {
		return result{}, err
	}
	return kernelSender(ctx, o, b)
}

// recvKernel: the kernel in NAME-b sends to a socket in NAME-a.
func recvKernel(ctx context.Context, o options, b *bedInfo) (result, error) {
	return withKernelAddr(ctx, b, func() (result, error) {
		ch, err := listen(ctx, b.nsA, fmt.Sprintf("%s:%d", localIP, b.port), o.StackCPU)
		if err != nil {
			return result{}, err
		}
		res, err := kernelSender(ctx, o, b)
		if err != nil {
			return result{}, err
		}
		r, err := wait(ctx, ch, o.Bytes)
		if err != nil {
			return result{}, err
		}
		res.Stall = r.stall
		return res, nil
	})
}

// kernelSender sends from a kernel socket in NAME-b to the local address
// and reports the goodput it saw and the kernel's RTOs and retransmissions.
func kernelSender(ctx context.Context, o options, b *bedInfo) (result, error) {
	before, err := nstat(ctx, b.nsB)
	if err != nil {
		return result{}, err
	}
	d, err := kernelSend(ctx, b.nsB, peerIP, fmt.Sprintf("%s:%d", localIP, b.port), o.Bytes, o.PeerCPU)
	if err != nil {
		return result{}, err
	}
	after, err := nstat(ctx, b.nsB)
	if err != nil {
		return result{}, err
	}
	return result{MbitPerSec: mbit(o.Bytes, d), RTOs: after.timeouts - before.timeouts,
		Rexmit: after.rexmit - before.rexmit, Stall: -1}, nil
}

// kernelSend connects from a kernel socket in ns (bound to src) to dst,
// writes n bytes, shuts its side and waits for the peer to close. It
// returns the time from the connect to the peer's close.
func kernelSend(ctx context.Context, ns, src, dst string, n int64, cpu int) (d time.Duration, err error) {
	err = harness.OnCPU(cpu, func() (err error) {
		d, err = kernelSendHere(ctx, ns, src, dst, n)
		return err
	})
	return d, err
}

// onCPUArgs runs the pollstack command args under taskset on cpu, its
// loop pinned there too (--cores), or as it is for -1.
func onCPUArgs(cpu int, args []string) []string {
	if cpu < 0 {
		return args
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, append(args, "--cores", strconv.Itoa(cpu))...)
}

// kernelSendHere is kernelSend on the calling thread.
func kernelSendHere(ctx context.Context, ns, src, dst string, n int64) (time.Duration, error) {
	var c net.Conn
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	start := time.Now()
	if err := netns.Do(ns, func() (err error) {
		// Connect attempts while a just-started pollstack learns its
		// neighbour may be refused or time out: a few tries.
		for try := 0; ; try++ {
			c, err = d.DialContext(ctx, "tcp4", dst)
			if err == nil || try == 20 || ctx.Err() != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
			start = time.Now()
		}
	}); err != nil {
		return 0, fmt.Errorf("connect %s from %s in %s: %w", dst, src, ns, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	bc, err := harness.NewBlocking(c, dl)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for left := n; left > 0; {
		k, err := bc.Write(buf[:min(int64(len(buf)), left)])
		if err != nil {
			return 0, fmt.Errorf("write to %s: %w", dst, err)
		}
		left -= int64(k)
	}
	if err := bc.CloseWrite(); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, bc); err != nil {
		return 0, fmt.Errorf("wait for %s to close: %w", dst, err)
	}
	return time.Since(start), nil
}

// counters are the kernel's TCP counters of a namespace that the report uses.
type counters struct{ timeouts, rexmit uint64 }

// nstat reads TcpExtTCPTimeouts and TcpRetransSegs in ns (absolute
// values; nstat's history is left alone).
func nstat(ctx context.Context, ns string) (counters, error) {
	out, err := nsproc.Run(ctx, nsproc.NetnsArgs(ns, "nstat", "-asz", "TcpExtTCPTimeouts", "TcpRetransSegs")...)
	if err != nil {
		return counters{}, err
	}
	var c counters
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "TcpExtTCPTimeouts":
			c.timeouts = v
		case "TcpRetransSegs":
			c.rexmit = v
		}
	}
	return c, nil
}

func mbit(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e6 }

func stallString(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}

// printReport writes the table: one line per cell and stack.
func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "%s\n%s; the kernel's congestion control %s; %d bytes per connection, medians of %d rounds", r.Command, r.Bed, r.KernelCC, r.Bytes, r.Rounds)
	if len(r.Sysctl) > 0 {
		fmt.Fprintf(w, "; pollstack with %s", strings.Join(r.Sysctl, " "))
	}
	fmt.Fprintf(w, "; %.0f s\n\n", r.Elapsed.Seconds())
	clean := cleanRates(r)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "loss\tdelay\tdirection\tstack\tMbit/s\tRTOs\tretransmitted\tlongest stall\tvs kernel\t")
	if len(clean) > 0 {
		fmt.Fprint(tw, "of its clean\tkept vs kernel\t")
	}
	fmt.Fprintln(tw)
	for _, c := range r.Cells {
		if c.Skipped != "" {
			fmt.Fprintf(tw, "%g\t%v\t%s\t-\t\t\t\t\tskipped\t\n", c.Loss, c.Delay, c.Direction)
			continue
		}
		k, kok := c.Median["kernel"]
		kKept, kKeptOK := kept(clean, c, "kernel")
		for _, name := range c.order {
			m, ok := c.Median[name]
			if !ok {
				fmt.Fprintf(tw, "%g\t%v\t%s\t%s\t\t\t\t\tfailed\t\n", c.Loss, c.Delay, c.Direction, name)
				continue
			}
			vs := ""
			if kok && name != "kernel" && k.MbitPerSec > 0 {
				vs = fmt.Sprintf("%.2fx", m.MbitPerSec/k.MbitPerSec)
			}
			fmt.Fprintf(tw, "%g\t%v\t%s\t%s\t%.1f\t%d\t%d\t%s\t%s\t", c.Loss, c.Delay, c.Direction, name, m.MbitPerSec,
				m.RTOs, m.Rexmit, stallString(m.Stall), vs)
			if len(clean) > 0 {
				share, keptVs := "", ""
				if f, ok := kept(clean, c, name); ok {
					share = fmt.Sprintf("%.1f%%", 100*f)
					if name != "kernel" && kKeptOK && kKept > 0 {
						keptVs = fmt.Sprintf("%.2fx", f/kKept)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t", share, keptVs)
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	if len(clean) > 0 {
		fmt.Fprintln(w, "\nof its clean: the stack's goodput as a share of its own on the same bed without loss (the loss 0 cell of the same delay and direction);")
		fmt.Fprintln(w, "kept vs kernel: that share over the kernel's, which takes out what the bed costs each stack per frame on a clean path")
	}
	skipped := map[string]bool{}
	for _, c := range r.Cells {
		if c.Skipped != "" && !skipped[c.Skipped] {
			skipped[c.Skipped] = true
			fmt.Fprintf(w, "skipped, delay %v: %s\n", c.Delay, firstLine(c.Skipped))
		}
	}
	for _, c := range r.Cells {
		for _, name := range slices.Sorted(maps.Keys(c.Failed)) {
			fmt.Fprintf(w, "failures, loss %g delay %v %s %s: %s\n", c.Loss, c.Delay, c.Direction, name, firstLine(c.Failed[name][0]))
		}
	}
}

// cleanKey names the loss-0 cell a lossy cell is measured against.
type cleanKey struct {
	delay     time.Duration
	direction string
	stack     string
}

// cleanRates is each stack's median goodput in the run's loss-0 cells.
func cleanRates(r *report) map[cleanKey]float64 {
	clean := map[cleanKey]float64{}
	for _, c := range r.Cells {
		if c.Loss != 0 || c.Skipped != "" {
			continue
		}
		for name, m := range c.Median {
			if m.MbitPerSec > 0 {
				clean[cleanKey{c.Delay, c.Direction, name}] = m.MbitPerSec
			}
		}
	}
	return clean
}

// kept is the share of its clean-path goodput that stack name keeps in
// cell c.
func kept(clean map[cleanKey]float64, c *cell, name string) (float64, bool) {
	m, ok := c.Median[name]
	base := clean[cleanKey{c.Delay, c.Direction, name}]
	if !ok || base == 0 {
		return 0, false
	}
	return m.MbitPerSec / base, true
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
