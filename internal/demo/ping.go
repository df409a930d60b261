package demo

import (
	"context"
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/perf/load"
	"github.com/pollstack/pollstack/rings"
)

// lossTimeout is how long an echo request may go unanswered before it
// counts as lost.
const lossTimeout = time.Second

// pinger is the client core's work in ping mode: keep Window echo requests
// in flight and time each reply. Owned by the client loop.
type pinger struct {
	core    *engine.Core
	dst     netip.Addr
	window  int
	payload []byte
	sentAt  [1 << 16]mono.Time // by sequence number; 0: not in flight
	seq     uint16
	flight  int
	lastAck mono.Time
	// answered turns true at the first reply: until then one request is in
	// flight, so the first ones do not overflow the wait for ARP.
	answered bool

	measuring atomic.Bool
	sending   atomic.Bool
	replies   atomic.Uint64 // measured replies, for progress
	lostAll   atomic.Uint64 // lost, whole run, for progress
	sent      uint64        // measured
	lost      uint64
	hist      hist.Histogram
}

func (p *pinger) onReply(src netip.Addr, id, seq uint16, payload []byte, now mono.Time) {
	t := p.sentAt[seq]
	if id != 1 || t == 0 || len(payload) < 8 || mono.Time(binary.LittleEndian.Uint64(payload)) != t {
		return // not ours, or a duplicate
	}
	p.sentAt[seq] = 0
	p.flight--
	p.lastAck = now
	p.answered = true
	if p.measuring.Load() {
		p.hist.Record(int64(now.Sub(t)))
		p.replies.Add(1)
	}
}

func (p *pinger) Poll(now mono.Time) int {
	n := p.core.Poll(now)
	if p.flight > 0 && now.Sub(p.lastAck) > lossTimeout {
		// Give up on what is in flight; count it lost.
		for i := range p.sentAt {
			if p.sentAt[i] != 0 {
				p.sentAt[i] = 0
				p.lost++
				p.lostAll.Add(1)
			}
		}
		p.flight = 0
	}
	window := p.window
	if !p.answered {
		window = 1
	}
	for p.sending.Load() && p.flight < window {
		p.seq++
		if p.sentAt[p.seq] != 0 {
			break // the sequence space wrapped onto a request in flight
		}
		binary.LittleEndian.PutUint64(p.payload, uint64(now))
		if !p.core.SendEcho(p.dst, 1, p.seq, p.payload, now) {
			break
		}
		if p.flight == 0 {
			p.lastAck = now
		}
		p.sentAt[p.seq] = now
		p.flight++
		n++
		if p.measuring.Load() {
			p.sent++
		}
	}
	p.core.Flush()
	return n
}

func (p *pinger) Timers(now mono.Time)       { p.core.Timers(now) }
func (p *pinger) Wait(timeout time.Duration) { p.core.Wait(timeout) }

// runPing is the ping mode of Run; cfg is filled.
func runPing(ctx context.Context, cfg Config, progress func(Progress)) (Result, error) {
	a, b, err := rings.NewMemPair(rings.MemConfig{})
	if err != nil {
		return Result{}, err
	}
	defer a.Close()
	server, err := engine.NewCore(engine.CoreConfig{ID: 0, MAC: serverMAC, Addrs: []netip.Prefix{server4, server6}}, a)
	if err != nil {
		return Result{}, err
	}
	client, err := engine.NewCore(engine.CoreConfig{ID: 1, MAC: clientMAC, Addrs: []netip.Prefix{client4, client6}}, b)
	if err != nil {
		return Result{}, err
	}
	p := &pinger{core: client, dst: server4.Addr(), window: cfg.Window, payload: make([]byte, cfg.Size)}
	if cfg.IPv6 {
		p.dst = server6.Addr()
	}
	client.OnEchoReply(p.onReply)
	_, _, stopLoops, err := startLoops(server, p)
	if err != nil {
		return Result{}, err
	}
	defer stopLoops()

	p.sending.Store(true)
	if !sleep(ctx, cfg.Warmup) {
		return Result{}, ctx.Err()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	s0, c0 := server.Published().Load(), client.Published().Load()
	p.measuring.Store(true)
	var last uint64
	// The error is second's, and this one never fails.
	start, _ := measure(ctx, cfg.Duration, func(elapsed time.Duration, sec float64) error {
		r := p.replies.Load()
		if progress != nil {
			progress(Progress{Elapsed: elapsed, Errors: p.lostAll.Load(), Rate: float64(r-last) / sec})
		}
		last = r
		return nil
	})
	p.measuring.Store(false)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms)
	mallocs = ms.Mallocs - mallocs
	p.sending.Store(false)
	stopLoops()
	// The loops have stopped: their state is ours to read now.
	server.Publish(cores.Now())
	client.Publish(cores.Now())
	s1, c1 := server.Published().Load(), client.Published().Load()
	packets := (s1[engine.RxPackets] - s0[engine.RxPackets]) + (s1[engine.TxPackets] - s0[engine.TxPackets]) +
		(c1[engine.RxPackets] - c0[engine.RxPackets]) + (c1[engine.TxPackets] - c0[engine.TxPackets])
	r := Result{
		Mode:          ModePing,
		IPv6:          cfg.IPv6,
		Duration:      elapsed,
		Sent:          p.sent,
		Replies:       p.hist.Count(),
		Lost:          p.lost,
		Errors:        p.lost,
		RepliesPerSec: float64(p.hist.Count()) / elapsed.Seconds(),
		Latency:       load.PercentilesOf(&p.hist),
		Packets:       packets,
		PacketsPerSec: float64(packets) / elapsed.Seconds(),
		ServerDrops:   s1.Drops(),
		ClientDrops:   c1.Drops(),
	}
	r.Mallocs = mallocs
	if packets > 0 {
		r.AllocsPerPacket = float64(mallocs) / float64(packets)
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}
