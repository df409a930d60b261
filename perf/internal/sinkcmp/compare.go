package sinkcmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/pps"
	"github.com/pollstack/pollstack/rings"
)

// Options say how to run a comparison: sinkcmp's flags.
type Options struct {
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Size     int           `json:"size"`
	Flows    int           `json:"flows"`
	Rounds   int           `json:"rounds"`
	GenCPU   int           `json:"gen_cpu"`
	RxCPU    int           `json:"rx_cpu"`
	Batch    int           `json:"batch"`
	RingSize int           `json:"ring_size"`
	Frames   int           `json:"frames"`
	Nice     int           `json:"nice"`         // niceness of the generator and both receivers
	GenNice  bool          `json:"gen_nice"`     // apply Nice to the generator too
	Confine  bool          `json:"confine"`      // put the process's other threads on RxCPU at Nice
	IdleSpin time.Duration `json:"idle_spin_ns"` // sink: spin after an empty poll
	BusyPoll int           `json:"busy_poll"`    // sink's SO_BUSY_POLL_BUDGET; 0 = no busy polling
	Testpmd  string        `json:"testpmd"`
	// TestpmdBusyBudget is the PMD's busy_budget devarg; < 0 leaves the
	// PMD's default (64).
	TestpmdBusyBudget int `json:"testpmd_busy_budget"`
	// Receivers is the comma-separated list of receivers that take turns.
	Receivers string `json:"receivers"`
	JSON      string `json:"-"`
	Verbose   bool   `json:"-"` // copy testpmd's output to the log
}

// DefaultOptions returns the defaults of sinkcmp's flags: 64-byte frames,
// one flow, 3 rounds of a 10 s window after 2 s of warm-up, generator on
// CPU 1, receivers on CPU 0 at nice -20, the sink spinning 2 µs after an
// empty poll, testpmd at its PMD's defaults.
func DefaultOptions() Options {
	return Options{
		Duration: 10 * time.Second, Warmup: 2 * time.Second, Size: 64, Flows: 1, Rounds: 3,
		GenCPU: 1, RxCPU: 0, Nice: -20, GenNice: true, Confine: true, IdleSpin: 2 * time.Microsecond,
		Testpmd: "/usr/bin/dpdk-testpmd", TestpmdBusyBudget: -1,
		Receivers: ReceiverSink + "," + ReceiverTestpmd,
	}
}

// Receiver names.
const (
	ReceiverSink    = "pollstack"
	ReceiverTestpmd = "testpmd"
)

// Window is one measured turn of one receiver.
type Window struct {
	Round      int     `json:"round"`
	Receiver   string  `json:"receiver"`
	Seconds    float64 `json:"seconds"`
	RxPackets  uint64  `json:"rx_packets"`
	RxBytes    uint64  `json:"rx_bytes"`
	RxDropped  uint64  `json:"rx_dropped"` // kernel drops at the receiving socket (no fill frame, rx ring full)
	RxPPS      float64 `json:"rx_pps"`
	GenPackets uint64  `json:"gen_packets"`
	GenPPS     float64 `json:"gen_pps"`
	// LoadAvg is /proc/loadavg's 1-minute figure at the window's end: the
	// machine is shared, and other load moves these numbers.
	LoadAvg float64 `json:"loadavg"`
}

// Rates are a receiver's median packets/s and the generator's over the
// same windows.
type Rates struct {
	RxPPS  float64 `json:"rx_pps"`
	GenPPS float64 `json:"gen_pps"`
}

// Report is a comparison's result.
type Report struct {
	Bed        string           `json:"bed"`
	Started    time.Time        `json:"started"`
	Options    Options          `json:"options"`
	XDPMode    string           `json:"xdp_mode"`
	Batch      int              `json:"batch"`
	RingSize   int              `json:"ring_size"`
	Frames     int              `json:"frames"`
	TestpmdCmd string           `json:"testpmd_cmd"`
	Receivers  []Receiver       `json:"receivers"`
	Windows    []Window         `json:"windows"`
	Median     map[string]Rates `json:"median"`
	// Ratio is the median of the first pollstack receiver over that of
	// the first testpmd receiver.
	Ratio     float64    `json:"ratio_sink_over_testpmd"`
	Generator pps.Result `json:"generator"`
}

// counters reads a receiver's running totals: packets, bytes and kernel drops.
type counters func() (packets, bytes, dropped uint64, err error)

// Compare builds bed name (one queue) and runs CompareOn on it. The caller
// removes the bed (testbed.Down(name)), also when Compare fails.
func Compare(ctx context.Context, name string, o Options, log io.Writer) (*Report, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	bed, err := testbed.Up(name, 1)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "sinkcmp: %v\n", bed)
	return CompareOn(ctx, bed, o, log)
}

// Check reports options Compare refuses.
func (o Options) Check() error {
	if o.Rounds < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return fmt.Errorf("want rounds ≥ 1, duration > 0, warm-up ≥ 0")
	}
	return nil
}

// CompareOn runs, on a bed with no XDP program attached, the generator on
// bed.IfaceB for the whole run and the receivers in turn on bed.IfaceA,
// and returns the report (partial on error). With o.Confine the process's
// threads are put back on every CPU at their old niceness when it returns.
func CompareOn(ctx context.Context, bed *testbed.Bed, o Options, log io.Writer) (_ *Report, err error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Receivers == "" {
		o.Receivers = ReceiverSink + "," + ReceiverTestpmd
	}
	recvs, err := ParseReceivers(o.Receivers, o)
	if err != nil {
		return nil, err
	}
	if o.Batch == 0 {
		o.Batch = rings.IdealBatch
	}
	if o.RingSize == 0 {
		o.RingSize = rings.DefaultXDPRingSize
	}
	if o.Frames == 0 {
		o.Frames = rings.DefaultFrames
	}
	rep := &Report{Bed: bed.Name, Started: time.Now(), Options: o, Batch: o.Batch, RingSize: o.RingSize, Frames: o.Frames,
		Median: map[string]Rates{}, Receivers: recvs}
	tcfg := testpmdConfig{Path: o.Testpmd, Netns: bed.NsA, Iface: bed.IfaceA, CPU: o.RxCPU,
		Prefix: "pollstack-" + bed.Name, BusyBudget: o.TestpmdBusyBudget, Nice: o.Nice}
	if o.Verbose {
		tcfg.Log = log
	}
	rep.TestpmdCmd = strings.Join(testpmdArgs(tcfg), " ")

	if o.Confine {
		restore, err := confine(o.RxCPU, o.Nice)
		defer func() {
			if rerr := restore(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
		if err != nil {
			return nil, err
		}
	}

	// The generator runs from start to end.
	genPool, err := rings.NewPool(o.Frames, rings.DefaultFrameSize)
	if err != nil {
		return nil, err
	}
	// On a bed used before (perf/cmd/compare's), the kernel may still hold
	// the last AF_XDP socket on IfaceB for a moment: bind says EBUSY.
	var genLink *rings.XDPLink
	for deadline := time.Now().Add(10 * time.Second); ; {
		genLink, err = rings.OpenXDP(rings.XDPConfig{Iface: bed.IfaceB, Netns: bed.NsB, Pool: genPool, RingSize: o.RingSize})
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return nil, fmt.Errorf("generator link: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var genLive pps.Live
	gcfg := pps.GenConfig{
		Size: o.Size, Flows: o.Flows, Batch: o.Batch, Live: &genLive,
		SrcMAC: bed.PeerMAC, DstMAC: bed.LocalMAC,
		SrcIP: testbed.PeerIPv4, DstIP: testbed.LocalIPv4, SrcPort: 9, DstPort: 9,
	}
	if _, err := pps.NewTemplate(gcfg); err != nil {
		genLink.Close()
		return nil, err
	}
	genCtx, stopGen := context.WithCancel(context.Background())
	genDone := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cores.Pin(o.GenCPU); err != nil {
			genDone <- err
			return
		}
		if o.GenNice {
			if err := setNice(o.Nice); err != nil {
				genDone <- err
				return
			}
		}
		r, err := pps.Generate(genCtx, genLink, gcfg, nil)
		rep.Generator = r
		genDone <- err
	}()
	defer func() {
		stopGen()
		// Stopped by us it ends with the context's error; one that failed
		// on its own is already reported below.
		if gerr := <-genDone; gerr != nil && !errors.Is(gerr, context.Canceled) && err == nil {
			err = fmt.Errorf("generator: %w", gerr)
		}
		_ = genLink.Close() // a TX-only socket: nothing is lost on close
	}()

	var errs []error
	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, recv := range recvs {
			if ctx.Err() != nil {
				break
			}
			var w Window
			var err error
			if recv.Kind == ReceiverSink {
				w, err = measureSink(ctx, bed, o, recv, round, &genLive, rep, log)
			} else {
				c := tcfg
				c.BusyBudget = recv.BusyBudget
				w, err = measureTestpmd(ctx, c, o, recv, round, &genLive, log)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("round %d %s: %w", round, recv.Name, err))
				continue
			}
			rep.Windows = append(rep.Windows, w)
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	select {
	case err := <-genDone: // the generator stopped on its own: it failed
		genDone <- err
		if err != nil {
			errs = append(errs, fmt.Errorf("generator: %w", err))
		}
	default:
	}
	Summarize(rep)
	return rep, errors.Join(errs...)
}

// summarize fills in the medians and the ratio.
func Summarize(r *Report) {
	var first = map[string]string{} // kind -> name of the first receiver of that kind
	for _, recv := range r.Receivers {
		var rx, gen []float64
		for _, w := range r.Windows {
			if w.Receiver == recv.Name {
				rx = append(rx, w.RxPPS)
				gen = append(gen, w.GenPPS)
			}
		}
		r.Median[recv.Name] = Rates{RxPPS: harness.Median(rx), GenPPS: harness.Median(gen)}
		if _, ok := first[recv.Kind]; !ok {
			first[recv.Kind] = recv.Name
		}
	}
	s, sok := first[ReceiverSink]
	t, tok := first[ReceiverTestpmd]
	if sok && tok && r.Median[t].RxPPS > 0 {
		r.Ratio = r.Median[s].RxPPS / r.Median[t].RxPPS
	}
}

// measureSink attaches the XDP program to NAME-a, runs pps.Sink on an
// AF_XDP link there, measures a window and takes it all down again.
func measureSink(ctx context.Context, bed *testbed.Bed, o Options, recv Receiver, round int, gen *pps.Live, rep *Report, log io.Writer) (Window, error) {
	prog, err := rings.AttachXDP(bed.IfaceA, bed.NsA, 1)
	if err != nil {
		return Window{}, err
	}
	defer prog.Close()
	rep.XDPMode = prog.Mode.String()
	pool, err := rings.NewPool(o.Frames, rings.DefaultFrameSize)
	if err != nil {
		return Window{}, err
	}
	// The kernel lets go of the last receiver's socket (testpmd's or
	// ours) a little after it is closed; until then bind says EBUSY.
	var link *rings.XDPLink
	for deadline := time.Now().Add(10 * time.Second); ; {
		link, err = rings.OpenXDP(rings.XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Program: prog, Pool: pool, RingSize: o.RingSize})
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return Window{}, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer link.Close()
	scfg := pps.SinkConfig{Batch: o.Batch, Interval: 100 * time.Millisecond}
	if recv.BusyPoll > 0 {
		if err := enableBusyPoll(link.FD(), recv.BusyPoll); err != nil {
			return Window{}, err
		}
		fd := link.FD()
		scfg.OnIdle = func() { busyPollKick(fd) }
	}
	scfg.IdleSpin = recv.IdleSpin

	var live pps.Live
	scfg.Live = &live
	var dropped atomic.Uint64 // refreshed by the sink's own goroutine, which owns the link
	sctx, stopSink := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sinkErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread() // never unlocked: the thread's affinity dies with it
		if sinkErr = cores.Pin(o.RxCPU); sinkErr != nil {
			return
		}
		if sinkErr = setNice(o.Nice); sinkErr != nil {
			return
		}
		var r pps.Result
		r, sinkErr = pps.SinkWith(sctx, link, scfg,
			func(pps.Sample) { dropped.Store(link.Stats().KernelRxDropped) })
		ks, _ := xdpStats(link.FD())
		fmt.Fprintf(log, "round %d %-9s kernel: rx_dropped %d (no fill frame: %d) rx_ring_full %d\n",
			round, recv.Name, ks.Rx_dropped, ks.Rx_fill_ring_empty_descs, ks.Rx_ring_full)
		fmt.Fprintf(log, "round %d %-9s turn: %d packets in %v, %d empty polls (%.2f M/s); link %+v\n",
			round, recv.Name, r.Packets, r.Duration.Round(time.Millisecond), r.Idle,
			float64(r.Idle)/r.Duration.Seconds()/1e6, r.Link)
	}()
	w, err := measure(ctx, round, recv.Name, o, gen, func() (uint64, uint64, uint64, error) {
		p, b := live.Load()
		return p, b, dropped.Load(), nil
	}, log)
	stopSink()
	wg.Wait()
	return w, errors.Join(err, sinkErr)
}

// measureTestpmd runs testpmd on NAME-a, measures a window from its
// telemetry counters and stops it.
func measureTestpmd(ctx context.Context, c testpmdConfig, o Options, recv Receiver, round int, gen *pps.Live, log io.Writer) (Window, error) {
	// As for our socket, the kernel may still hold the previous receiver's
	// queue for a moment; testpmd then fails to start. Try again.
	var t *testpmd
	var err error
	for attempt := 1; ; attempt++ {
		if t, err = startTestpmd(ctx, c); err == nil {
			break
		}
		if attempt == 3 || ctx.Err() != nil {
			return Window{}, err
		}
		fmt.Fprintf(log, "round %d %s: start failed, trying again: %v\n", round, recv.Name, firstLine(err))
		time.Sleep(time.Second)
	}
	w, err := measure(ctx, round, recv.Name, o, gen, func() (uint64, uint64, uint64, error) {
		s, err := t.stats()
		return s.IPackets, s.IBytes, s.IMissed, err
	}, log)
	return w, errors.Join(err, t.stop())
}

// measure waits out the warm-up, then counts the generator's and the
// receiver's packets over the window, reporting progress once a second.
func measure(ctx context.Context, round int, recv string, o Options, gen *pps.Live, rx counters, log io.Writer) (Window, error) {
	w := Window{Round: round, Receiver: recv}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	type snap struct {
		at                time.Time
		gen, rx, rxb, drp uint64
	}
	read := func() (snap, error) {
		g, _ := gen.Load()
		p, b, d, err := rx()
		return snap{time.Now(), g, p, b, d}, err
	}
	prev, err := read()
	if err != nil {
		return w, err
	}
	begin := prev.at
	var first snap
	measuring := o.Warmup == 0
	if measuring {
		first = prev
	}
	for {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-tick.C:
		}
		now, err := read()
		if err != nil {
			return w, err
		}
		dt := now.at.Sub(prev.at).Seconds()
		phase := "warm-up"
		if measuring {
			phase = fmt.Sprintf("%2.0fs", now.at.Sub(first.at).Seconds())
		}
		fmt.Fprintf(log, "round %d %-9s %-7s gen %7.3f Mpps  rx %7.3f Mpps  dropped %d\n", round, recv, phase,
			float64(now.gen-prev.gen)/dt/1e6, float64(now.rx-prev.rx)/dt/1e6, now.drp-prev.drp)
		prev = now
		if !measuring && now.at.Sub(begin) >= o.Warmup {
			measuring, first = true, now
			continue
		}
		if measuring && now.at.Sub(first.at) >= o.Duration-50*time.Millisecond {
			secs := now.at.Sub(first.at).Seconds()
			w.Seconds = secs
			w.RxPackets, w.RxBytes, w.RxDropped = now.rx-first.rx, now.rxb-first.rxb, now.drp-first.drp
			w.GenPackets = now.gen - first.gen
			w.RxPPS, w.GenPPS = float64(w.RxPackets)/secs, float64(w.GenPackets)/secs
			w.LoadAvg = harness.LoadAvg()
			return w, nil
		}
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
