package pps

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/pollstack/pollstack/rings"
)

// SinkConfig tunes a sink; zero fields take defaults.
type SinkConfig struct {
	// Batch is the number of descriptors per Receive call (rings.IdealBatch).
	Batch int
	// Count stops the sink after that many packets; 0 runs until ctx ends.
	Count uint64
	// Interval is the time between samples (DefaultInterval).
	Interval time.Duration
	// Live, if not nil, receives the running totals.
	Live *Live
	// IdleWait, if positive, makes the sink call link.Wait(IdleWait) after
	// a Receive that found nothing, instead of polling again at once.
	IdleWait time.Duration
	// IdleSpin, if positive, makes the sink spin that long (without
	// touching memory the kernel writes) after a Receive that found
	// nothing, before it polls again. A poller that reads the rings' shared
	// indices millions of times a second steals cache-line round trips from
	// the kernel that writes them on another CPU; a pause of a microsecond
	// or two costs no throughput and buys the producer speed.
	IdleSpin time.Duration
	// OnIdle, if not nil, is called after a Receive that found nothing
	// (after IdleWait, if set); a caller uses it to kick the kernel, as
	// busy polling AF_XDP receivers do with recvfrom(2).
	OnIdle func()
}

// Sink receives from link until ctx ends, counting packets and bytes and
// putting every frame straight back into the link's pool without looking at
// it. It polls without sleeping, calls onSample (if not nil) on this
// goroutine once per second and at the end, and does not allocate once
// running. It owns link and its pool meanwhile.
func Sink(ctx context.Context, link rings.Link, onSample func(Sample)) (Result, error) {
	return SinkWith(ctx, link, SinkConfig{}, onSample)
}

// SinkWith is Sink with a configuration.
func SinkWith(ctx context.Context, link rings.Link, cfg SinkConfig, onSample func(Sample)) (Result, error) {
	s, err := NewSinker(link, cfg)
	if err != nil {
		return Result{}, err
	}
	return s.Run(ctx, onSample), nil
}

// Sinker is the sink's state, for callers that drive it one turn at a time
// from their own loop. It is owned by the goroutine that owns its link; not
// safe for concurrent use.
type Sinker struct {
	link    rings.Link
	pool    *rings.Pool
	cfg     SinkConfig
	descs   []rings.Desc
	stall   int
	packets uint64
	bytes   uint64
	idle    uint64
}

// NewSinker checks cfg.
func NewSinker(link rings.Link, cfg SinkConfig) (*Sinker, error) {
	if cfg.Batch == 0 {
		cfg.Batch = rings.IdealBatch
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Batch < 0 || cfg.Interval < 0 || cfg.IdleWait < 0 || cfg.IdleSpin < 0 {
		return nil, errors.New("pps: negative sink batch, interval, idle wait or idle spin")
	}
	return &Sinker{link: link, pool: link.Pool(), cfg: cfg, descs: make([]rings.Desc, cfg.Batch)}, nil
}

// Totals returns the packets and bytes received so far.
func (s *Sinker) Totals() (packets, bytes uint64) { return s.packets, s.bytes }

// Done reports whether cfg.Count packets have been received.
func (s *Sinker) Done() bool { return s.cfg.Count > 0 && s.packets >= s.cfg.Count }

// Turn receives one batch, counts it, puts its frames back into the pool and
// returns its size. After a Receive that found nothing it waits IdleWait if
// set (or yields the processor after many such turns in a row).
func (s *Sinker) Turn() int {
	n := s.link.Receive(s.descs)
	if n == 0 {
		s.idle++
		if s.cfg.IdleWait > 0 {
			s.link.Wait(s.cfg.IdleWait)
		}
		if s.cfg.IdleSpin > 0 {
			spin(s.cfg.IdleSpin)
		}
		if s.cfg.OnIdle != nil {
			s.cfg.OnIdle()
		} else if s.stall++; s.stall == stallTurns && s.cfg.IdleWait <= 0 {
			s.stall = 0
			runtime.Gosched()
		}
		return 0
	}
	s.stall = 0
	var b uint64
	for _, d := range s.descs[:n] {
		b += uint64(d.Len)
		s.pool.Put(d.Addr)
	}
	s.packets += uint64(n)
	s.bytes += b
	s.cfg.Live.store(s.packets, s.bytes)
	return n
}

// Run calls Turn until ctx ends or Count packets are received and returns
// what was received. onSample, if not nil, is called on this goroutine once
// per cfg.Interval and once at the end.
func (s *Sinker) Run(ctx context.Context, onSample func(Sample)) Result {
	var (
		done  = ctx.Done()
		start = time.Now()
		smp   = newSampler(start, s.cfg.Interval, onSample)
		pkt0  = s.packets
		byte0 = s.bytes
		idle0 = s.idle
	)
loop:
	for !s.Done() {
		select {
		case <-done:
			break loop
		default:
		}
		s.Turn()
		if now := time.Now(); smp.due(now) {
			smp.emit(now, s.packets-pkt0, s.bytes-byte0, false)
		}
	}
	end := time.Now()
	smp.emit(end, s.packets-pkt0, s.bytes-byte0, true)
	r := result(start, end, s.packets-pkt0, s.bytes-byte0)
	r.Idle = s.idle - idle0
	r.Link = s.link.Stats()
	return r
}

// spin busy-waits for about d on the calling CPU.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
