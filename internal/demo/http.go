package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/perf/load"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// Draining.
const (
	// drainPoll is how often Run looks whether the connections are gone.
	drainPoll = 5 * time.Millisecond
	// serverSettle bounds the wait for the server's last connections to
	// leave LAST_ACK once the client has none left.
	serverSettle = time.Second
)

// clientWorker is the client core's work: the stack, then the load
// generators' dials and deadlines.
type clientWorker struct {
	core *engine.Core
	gens []*load.Gen // perf/load's: cps for the short connections, rps for the keep-alive ones
}

func (w *clientWorker) Poll(now mono.Time) int {
	n := w.core.Poll(now)
	for _, g := range w.gens {
		n += g.Pump(now)
	}
	w.core.Flush()
	return n
}

func (w *clientWorker) Timers(now mono.Time) { w.core.Timers(now) }

func (w *clientWorker) Wait(timeout time.Duration) { w.core.Wait(timeout) }

// demoTCPConfig is the shards' configuration: FreeBSD's defaults.
func demoTCPConfig() tcp.Config {
	cfg := tcp.DefaultConfig()
	rand.Read(cfg.ISNKey[:])
	return cfg
}

// tcpSnapshot is what Run copies from a core on its loop.
type tcpSnapshot struct {
	counters engine.Counters
	stats    tcp.Stats
	states   [tcp.NumStates]int
}

func snapshot(l *cores.Loop, c *engine.Core) (tcpSnapshot, error) {
	var s tcpSnapshot
	err := l.Call(func(mono.Time) {
		s.counters = *c.Counters()
		s.stats = *c.TCP().Stats()
		s.states = c.TCP().StateCounts()
	})
	return s, err
}

// open counts connections in states other than TIME_WAIT and LISTEN.
func open(states *[tcp.NumStates]int) int {
	n := 0
	for st := tcp.Closed; st < tcp.NumStates; st++ {
		if st != tcp.Listen && st != tcp.TimeWait {
			n += states[st]
		}
	}
	return n
}

// runHTTP is the http mode of Run; cfg is filled.
func runHTTP(ctx context.Context, cfg Config, progress func(Progress)) (Result, error) {
	a, b, err := rings.NewMemPair(rings.MemConfig{})
	if err != nil {
		return Result{}, err
	}
	defer a.Close()
	tcfg := demoTCPConfig()
	server, err := engine.NewCore(engine.CoreConfig{ID: 0, MAC: serverMAC, Addrs: []netip.Prefix{server4, server6}, TCP: &tcfg}, a)
	if err != nil {
		return Result{}, err
	}
	client, err := engine.NewCore(engine.CoreConfig{ID: 1, MAC: clientMAC, Addrs: []netip.Prefix{client4, client6}, TCP: &tcfg}, b)
	if err != nil {
		return Result{}, err
	}
	if _, err := server.TCP().Listen(ServerPort, 0, apps.NewHTTP(httpapp.Config{})); err != nil {
		return Result{}, fmt.Errorf("demo: listen on port %d: %w", ServerPort, err)
	}
	src, dst := client4.Addr(), server4.Addr()
	if cfg.IPv6 {
		src, dst = client6.Addr(), server6.Addr()
	}
	short, keep := SplitConns(cfg.Conns, cfg.Mix)
	w := &clientWorker{core: client}
	for _, lc := range []load.Config{
		{Mode: load.CPS, Conns: short},
		{Mode: load.RPS, Conns: keep, Requests: cfg.Requests},
	} {
		if lc.Conns == 0 {
			continue
		}
		lc.Local, lc.Remote = src, netip.AddrPortFrom(dst, ServerPort)
		lc.Path, lc.Timeout = cfg.Path, cfg.Timeout
		g, err := load.New(client.TCP(), lc)
		if err != nil {
			return Result{}, fmt.Errorf("demo: %w", err)
		}
		w.gens = append(w.gens, g)
	}
	gens := w.gens

	sl, cl, stopLoops, err := startLoops(server, w)
	if err != nil {
		return Result{}, err
	}
	defer stopLoops()

	r := Result{Mode: ModeHTTP, IPv6: cfg.IPv6, Conns: cfg.Conns, ShortConns: short, KeepAliveConns: keep}
	if err := cl.Call(func(now mono.Time) {
		for _, g := range gens {
			g.Start(now)
		}
	}); err != nil {
		return r, err
	}
	if !sleep(ctx, cfg.Warmup) {
		return r, ctx.Err()
	}

	// The measured window opens and closes on the client core, between
	// two of its batches.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	s0, err := snapshot(sl, server)
	if err != nil {
		return r, err
	}
	var c0 tcpSnapshot
	var startNow, stopNow mono.Time
	iv := new(load.Interval)
	// second takes what the generators did since the last call, on the
	// client core.
	second := func() (requests, conns uint64, err error) {
		err = cl.Call(func(mono.Time) {
			for _, g := range gens {
				g.TakeInterval(iv)
				requests += iv.Requests
				conns += iv.Conns
			}
		})
		return requests, conns, err
	}
	err = cl.Call(func(now mono.Time) {
		c0.counters = *client.Counters()
		for _, g := range gens {
			g.TakeInterval(iv)
			g.Measure(true, now)
		}
		startNow = now
	})
	if err != nil {
		return r, err
	}
	_, err = measure(ctx, cfg.Duration, func(elapsed time.Duration, sec float64) error {
		rq, cn, err := second()
		if err != nil {
			return err
		}
		if progress != nil {
			var errs uint64
			for _, g := range gens {
				_, e := g.Progress()
				errs += e
			}
			progress(Progress{Elapsed: elapsed, Rate: float64(rq) / sec,
				ConnsPerSec: float64(cn) / sec, Errors: errs})
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	var c1 tcpSnapshot
	err = cl.Call(func(now mono.Time) {
		for _, g := range gens {
			g.Measure(false, now)
			g.Stop(now)
		}
		stopNow = now
		c1.counters = *client.Counters()
	})
	if err != nil {
		return r, err
	}
	s1, err := snapshot(sl, server)
	if err != nil {
		return r, err
	}
	runtime.ReadMemStats(&ms)
	mallocs = ms.Mallocs - mallocs

	// Drain: let the connections in flight finish and close.
	drainBy := time.Now().Add(cfg.Timeout + time.Second)
	for {
		var busy int
		err := cl.Call(func(mono.Time) {
			for _, g := range gens {
				busy += g.Busy()
			}
		})
		if err != nil {
			return r, err
		}
		if busy == 0 {
			break
		}
		if time.Now().After(drainBy) {
			// They are late: count and reset them.
			// A loop that has stopped has no connection left to reset.
			_ = cl.Call(func(now mono.Time) {
				for _, g := range gens {
					g.AbortAll(now)
				}
				client.Flush()
			})
			break
		}
		time.Sleep(drainPoll)
	}
	// The server may still wait for the last ACK of a few connections.
	settleBy := time.Now().Add(serverSettle)
	var sEnd tcpSnapshot
	for {
		if sEnd, err = snapshot(sl, server); err != nil {
			return r, err
		}
		if open(&sEnd.states) == 0 || time.Now().After(settleBy) {
			break
		}
		time.Sleep(drainPoll)
	}
	cEnd, err := snapshot(cl, client)
	if err != nil {
		return r, err
	}
	stopLoops()

	// The loops have stopped: the generators are ours to read now.
	var lat hist.Histogram
	var errs load.Errors
	for _, g := range gens {
		t := g.Totals()
		r.Connections += t.Conns
		r.Requests += t.Requests
		errs.Add(&t.Errors)
		lat.Merge(t.Hist)
	}
	elapsed := time.Duration(stopNow - startNow)
	packets := (s1.counters[engine.RxPackets] - s0.counters[engine.RxPackets]) +
		(s1.counters[engine.TxPackets] - s0.counters[engine.TxPackets]) +
		(c1.counters[engine.RxPackets] - c0.counters[engine.RxPackets]) +
		(c1.counters[engine.TxPackets] - c0.counters[engine.TxPackets])
	r.Duration = elapsed
	if sec := elapsed.Seconds(); sec > 0 {
		r.ConnsPerSec = float64(r.Connections) / sec
		r.RequestsPerSec = float64(r.Requests) / sec
		r.PacketsPerSec = float64(packets) / sec
	}
	r.ErrorKinds = errorsOf(&errs)
	r.Errors = r.ErrorKinds.Total()
	r.Latency = load.PercentilesOf(&lat)
	r.Packets = packets
	r.Mallocs = mallocs
	if packets > 0 {
		r.AllocsPerPacket = float64(mallocs) / float64(packets)
	}
	r.ServerDrops = sEnd.counters.Drops()
	r.ClientDrops = cEnd.counters.Drops()
	r.TimeWait = Sides{Server: sEnd.states[tcp.TimeWait], Client: cEnd.states[tcp.TimeWait]}
	r.LeftOpen = Sides{Server: open(&sEnd.states), Client: open(&cEnd.states)}
	for _, st := range []*tcp.Stats{&sEnd.stats, &cEnd.stats} {
		r.TCP.RexmtTimeouts += st[tcp.StatRexmtTimeo]
		r.TCP.RexmitPackets += st[tcp.StatSndRexmitPack]
		r.TCP.Drops += st[tcp.StatDrops] + st[tcp.StatConnDrops]
		r.TCP.RSTsSent += st[tcp.StatRSTSent]
		r.TCP.ListenDrops += st[tcp.StatListenDrop]
		r.TCP.BadSegments += st[tcp.StatRcvBadSum] + st[tcp.StatRcvBadOff]
	}
	if r.TimeWaitBytes, err = TimeWaitBytes(tcfg, tcfg.TimeWaitLimit()); err != nil {
		return r, err
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

// errorsOf sorts the generators' errors into the demo's kinds.
func errorsOf(e *load.Errors) Errors {
	return Errors{Status: e[load.ErrStatus], Malformed: e[load.ErrMalformed], Reset: e[load.ErrReset],
		Refused: e[load.ErrRefused], Timeout: e[load.ErrTimeout], Closed: e[load.ErrShortRead],
		Dial: e[load.ErrDial], Write: e[load.ErrWrite]}
}
