package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/rings"
)

// Config configures an Engine.
type Config struct {
	// MAC is the interface's hardware address.
	MAC net.HardwareAddr
	// Addrs are the interface's addresses in CIDR form.
	Addrs []netip.Prefix
	// CPUs lists one CPU per link; the loop for links[i] runs on CPUs[i].
	CPUs []int
	// Pin pins each loop's thread to its CPU.
	Pin bool
	// Idle is the loops' idle policy.
	Idle cores.IdlePolicy
	// Sink makes every core count and drop what it receives (a raw sink).
	Sink bool
}

// Engine is a running set of cores over one interface.
type Engine struct {
	cores   []*Core
	loops   []*cores.Loop
	closers []io.Closer // closed after the loops stop, in order
	stop    sync.Once
	running bool
}

// New builds an engine with one core per link. It does not start it.
func New(cfg Config, links []rings.Link) (*Engine, error) {
	if len(links) == 0 {
		return nil, errors.New("engine: no links")
	}
	if len(cfg.CPUs) != len(links) {
		return nil, fmt.Errorf("engine: %d CPUs for %d links", len(cfg.CPUs), len(links))
	}
	e := &Engine{}
	for i, l := range links {
		c, err := NewCore(CoreConfig{ID: i, MAC: cfg.MAC, Addrs: cfg.Addrs, Sink: cfg.Sink}, l)
		if err != nil {
			return nil, err
		}
		e.cores = append(e.cores, c)
		e.loops = append(e.loops, cores.NewLoop(cfg.CPUs[i], cfg.Pin, c, cfg.Idle))
	}
	return e, nil
}

// AddCloser registers c to be closed when the engine stops, after its loops
// (links, XDP programs).
func (e *Engine) AddCloser(c io.Closer) { e.closers = append(e.closers, c) }

// Cores returns the engine's cores. Their live state belongs to their loops;
// read it only through Core.Published.
func (e *Engine) Cores() []*Core { return e.cores }

// Loops returns the engine's loops.
func (e *Engine) Loops() []*cores.Loop { return e.loops }

// Start starts every loop. On error the loops already started are stopped.
func (e *Engine) Start() error {
	for i, l := range e.loops {
		if err := l.Start(); err != nil {
			for _, s := range e.loops[:i] {
				s.Stop()
			}
			return err
		}
	}
	e.running = true
	return nil
}

// Stop stops the loops, publishes their final counters and closes links and
// programs. It is safe to call more than once.
func (e *Engine) Stop() error {
	var errs []error
	e.stop.Do(func() {
		if e.running {
			for _, l := range e.loops {
				l.Stop()
			}
		}
		for _, c := range e.cores {
			c.Publish(cores.Now())
		}
		for _, c := range e.closers {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// Totals returns the sum of every core's published counters.
func (e *Engine) Totals() Counters {
	var t Counters
	for _, c := range e.cores {
		v := c.pub.Load()
		for i := range t {
			t[i] += v[i]
		}
	}
	return t
}
