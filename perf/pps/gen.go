package pps

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/pollstack/pollstack/rings"
)

// GenConfig describes the generated traffic. Zero fields take defaults.
type GenConfig struct {
	// Size is the Ethernet frame size in bytes without FCS, MinSize..MaxSize
	// (DefaultSize).
	Size int
	// SrcMAC and DstMAC default to the locally administered 02:00:00:00:00:01
	// and 02:00:00:00:00:02.
	SrcMAC, DstMAC net.HardwareAddr
	// SrcIP and DstIP are both IPv4 (UDP/IPv4 frames) or both IPv6 (UDP/IPv6
	// frames); they default to DefaultSrcIP and DefaultDstIP.
	SrcIP, DstIP netip.Addr
	// SrcPort and DstPort default to DefaultSrcPort and DefaultDstPort.
	SrcPort, DstPort uint16
	// Flows is the number of flows: the source port runs through
	// SrcPort..SrcPort+Flows-1, one step per frame (DefaultFlows).
	Flows int
	// Rate is the target rate in packets per second; 0 sends as fast as the
	// link takes frames.
	Rate float64
	// Count stops the generator after that many packets; 0 runs until ctx ends.
	Count uint64
	// Batch is the number of frames per Transmit call (rings.IdealBatch).
	Batch int
	// Interval is the time between samples (DefaultInterval).
	Interval time.Duration
	// Live, if not nil, receives the running totals.
	Live *Live
}

// stallTurns is the number of loop turns that move nothing after which a
// loop yields the processor once (it matters only when the loop shares its
// CPU, as in tests).
const stallTurns = 1024

// Generate transmits cfg's frames on link until ctx ends or cfg.Count frames
// are sent, calling onSample (if not nil) on this goroutine once per
// cfg.Interval and once at the end. It owns link and its pool meanwhile and
// does not allocate once running. It returns an error only for a bad cfg; a
// context that ends is the normal way to stop.
func Generate(ctx context.Context, link rings.Link, cfg GenConfig, onSample func(Sample)) (Result, error) {
	g, err := NewGenerator(link, cfg)
	if err != nil {
		return Result{}, err
	}
	return g.Run(ctx, onSample), nil
}

// Generator is the generator's state, for callers that drive it one turn at
// a time from their own loop. It is owned by the goroutine that owns its
// link; not safe for concurrent use.
type Generator struct {
	link    rings.Link
	pool    *rings.Pool
	tpl     *Template
	cfg     GenConfig
	size    uint32
	descs   []rings.Desc // descs[:pending] are written frames not yet accepted
	pending int
	flow    int
	pace    pacer
	stall   int

	sent, bytes      uint64
	refused, noFrame uint64
}

// NewGenerator checks cfg and builds the frame template.
func NewGenerator(link rings.Link, cfg GenConfig) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tpl, err := NewTemplate(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Batch == 0 {
		cfg.Batch = rings.IdealBatch
	}
	return &Generator{
		link: link, pool: link.Pool(), tpl: tpl, cfg: cfg, size: uint32(tpl.Len()),
		descs: make([]rings.Desc, cfg.Batch),
		pace:  newPacer(cfg.Rate, cfg.Batch, time.Now()),
	}, nil
}

// Template returns the generator's frame template.
func (g *Generator) Template() *Template { return g.tpl }

// Totals returns the packets and bytes the link accepted so far.
func (g *Generator) Totals() (packets, bytes uint64) { return g.sent, g.bytes }

// Done reports whether cfg.Count packets have been sent.
func (g *Generator) Done() bool { return g.cfg.Count > 0 && g.sent >= g.cfg.Count }

// Turn writes up to one batch of frames (fewer when paced, when the pool runs
// dry or when Count is near) and offers them with the frames the link refused
// before to link.Transmit once. It returns how many the link accepted. now is
// the pacer's clock; it is read only when cfg.Rate is set.
func (g *Generator) Turn(now time.Time) int {
	want := g.cfg.Batch
	if g.cfg.Count > 0 {
		left := g.cfg.Count - g.sent
		if left < uint64(want) {
			want = int(left)
		}
		if want == 0 {
			return 0
		}
	}
	if g.pace.rate > 0 {
		if want = g.pace.take(now, want, g.pending); want == 0 {
			return 0
		}
	}
	for g.pending < want {
		addr, ok := g.pool.Get()
		if !ok {
			g.noFrame++
			break
		}
		g.tpl.Write(g.pool.Frame(addr), g.flow)
		if g.flow++; g.flow == g.tpl.flows {
			g.flow = 0
		}
		g.descs[g.pending] = rings.Desc{Addr: addr, Len: g.size}
		g.pending++
	}
	n := 0
	if g.pending > 0 {
		n = g.link.Transmit(g.descs[:g.pending])
	}
	g.refused += uint64(g.pending - n)
	if n == 0 {
		if g.stall++; g.stall == stallTurns {
			g.stall = 0
			runtime.Gosched()
		}
		return 0
	}
	g.stall = 0
	if n < g.pending {
		copy(g.descs, g.descs[n:g.pending])
	}
	g.pending -= n
	g.sent += uint64(n)
	g.bytes += uint64(n) * uint64(g.size)
	g.pace.spend(n)
	g.cfg.Live.store(g.sent, g.bytes)
	return n
}

// Release gives the written frames the link has not accepted back to the pool.
func (g *Generator) Release() {
	for _, d := range g.descs[:g.pending] {
		g.pool.Put(d.Addr)
	}
	g.pending = 0
}

// Run calls Turn until ctx ends or Count packets are sent, then Release, and
// returns what was sent. onSample, if not nil, is called on this goroutine
// once per cfg.Interval and once at the end.
func (g *Generator) Run(ctx context.Context, onSample func(Sample)) Result {
	var (
		done  = ctx.Done()
		start = time.Now()
		smp   = newSampler(start, g.cfg.Interval, onSample)
		sent0 = g.sent
		byte0 = g.bytes
		ref0  = g.refused
		nof0  = g.noFrame
	)
	g.pace.restart(start)
loop:
	for !g.Done() {
		select {
		case <-done:
			break loop
		default:
		}
		now := time.Now()
		if smp.due(now) {
			smp.emit(now, g.sent-sent0, g.bytes-byte0, false)
		}
		g.Turn(now)
	}
	g.Release()
	end := time.Now()
	smp.emit(end, g.sent-sent0, g.bytes-byte0, true)
	r := result(start, end, g.sent-sent0, g.bytes-byte0)
	r.Refused, r.NoFrame = g.refused-ref0, g.noFrame-nof0
	r.Link = g.link.Stats()
	return r
}

// pacer is a token bucket that lets frames out at rate per second, in chunks
// big enough that the generator sleeps at most once per chunk, never once per
// packet.
type pacer struct {
	rate   float64 // packets per second; 0 = unpaced
	chunk  float64 // frames released at once
	tokens float64
	last   time.Time
}

// spinBelow is the wait under which the pacer spins instead of sleeping.
const spinBelow = 50 * time.Microsecond

func newPacer(rate float64, batch int, start time.Time) pacer {
	chunk := float64(batch)
	if perMs := rate / 1000; perMs < chunk { // a full batch takes over 1 ms: send every ms
		chunk = max(1, perMs)
	}
	return pacer{rate: rate, chunk: chunk, tokens: chunk, last: start}
}

func (p *pacer) restart(now time.Time) { p.tokens, p.last = p.chunk, now }

// take returns how many frames (at most want, counting the pending ones
// already written) may go out now; 0 after sleeping if none may.
func (p *pacer) take(now time.Time, want, pending int) int {
	p.tokens += now.Sub(p.last).Seconds() * p.rate
	p.last = now
	if burst := 2 * p.chunk; p.tokens > burst { // the link fell behind: do not catch up in a burst
		p.tokens = burst
	}
	if p.tokens < p.chunk && p.tokens < float64(want) {
		if wait := time.Duration((p.chunk - p.tokens) / p.rate * float64(time.Second)); wait > spinBelow {
			time.Sleep(wait)
		}
		return 0
	}
	return min(want, max(pending, int(p.tokens)))
}

// spend takes n tokens.
func (p *pacer) spend(n int) { p.tokens -= float64(n) }
