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
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
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
// generator's dials and deadlines.
type clientWorker struct {
	core *engine.Core
	gen  *loadgen
}

func (w *clientWorker) Poll(now mono.Time) int {
	w.gen.now = now
	n := w.core.Poll(now)
	n += w.gen.pump(now)
	w.core.Flush()
	return n
}

func (w *clientWorker) Timers(now mono.Time) {
	w.gen.now = now
	w.core.Timers(now)
}

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
	tuple := flow.Tuple{LocalAddr: src.As16(), RemoteAddr: dst.As16(), RemotePort: ServerPort}
	host := netip.AddrPortFrom(dst, ServerPort).String()
	short, keep := SplitConns(cfg.Conns, cfg.Mix)
	gen := newLoadgen(client.TCP(), tuple, host, cfg.Path, cfg.Conns, short, cfg.Requests, cfg.Timeout)
	w := &clientWorker{core: client, gen: gen}

	sl, cl, stopLoops, err := startLoops(server, w)
	if err != nil {
		return Result{}, err
	}
	defer stopLoops()

	r := Result{Mode: ModeHTTP, IPv6: cfg.IPv6, Conns: cfg.Conns, ShortConns: short, KeepAliveConns: keep}
	if err := cl.Call(func(now mono.Time) { gen.running = true }); err != nil {
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
	err = cl.Call(func(now mono.Time) {
		c0.counters = *client.Counters()
		gen.measuring = true
		startNow = now
	})
	if err != nil {
		return r, err
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(cfg.Duration)
	defer deadline.Stop()
	lastReq, lastConn, lastAt := gen.reqTotal.Load(), gen.connTotal.Load(), start
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline.C:
			break loop
		case now := <-tick.C:
			rq, cn := gen.reqTotal.Load(), gen.connTotal.Load()
			if progress != nil {
				sec := now.Sub(lastAt).Seconds()
				progress(Progress{Elapsed: now.Sub(start), Rate: float64(rq-lastReq) / sec,
					ConnsPerSec: float64(cn-lastConn) / sec, Errors: gen.errTotal.Load()})
			}
			lastReq, lastConn, lastAt = rq, cn, now
		}
	}
	var c1 tcpSnapshot
	err = cl.Call(func(now mono.Time) {
		gen.measuring = false
		gen.running = false
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
		if err := cl.Call(func(mono.Time) { busy = gen.busy() }); err != nil {
			return r, err
		}
		if busy == 0 {
			break
		}
		if time.Now().After(drainBy) {
			// They are late: count and reset them.
			cl.Call(func(now mono.Time) { gen.abortAll(now); client.Flush() })
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

	// The loops have stopped: the load generator is ours to read now.
	elapsed := stopNow.Sub(startNow)
	packets := (s1.counters[engine.RxPackets] - s0.counters[engine.RxPackets]) +
		(s1.counters[engine.TxPackets] - s0.counters[engine.TxPackets]) +
		(c1.counters[engine.RxPackets] - c0.counters[engine.RxPackets]) +
		(c1.counters[engine.TxPackets] - c0.counters[engine.TxPackets])
	r.Duration = elapsed
	r.Connections = gen.conns
	r.Requests = gen.requests
	if sec := elapsed.Seconds(); sec > 0 {
		r.ConnsPerSec = float64(gen.conns) / sec
		r.RequestsPerSec = float64(gen.requests) / sec
		r.PacketsPerSec = float64(packets) / sec
	}
	r.ErrorKinds = gen.errors()
	r.Errors = r.ErrorKinds.Total()
	r.Latency = latencyOf(&gen.hist)
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
