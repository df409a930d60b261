package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// Mode is what the generator measures.
type Mode uint8

// Modes.
const (
	RPS Mode = iota + 1 // HTTP/1.1 keep-alive requests per second
	CPS                 // connections per second, one request each
)

func (m Mode) String() string {
	switch m {
	case RPS:
		return "rps"
	case CPS:
		return "cps"
	}
	return "invalid"
}

// Defaults and limits.
const (
	DefaultPath    = "/"
	DefaultTimeout = 2 * time.Second
	// LateSlack is how far past its scheduled time an open-loop start may
	// happen before it counts as late.
	LateSlack = 100 * time.Microsecond
	// MaxConns bounds the slots of one generator.
	MaxConns = 1 << 16
	// scanInterval is how often the generator looks for connections past
	// their deadline.
	scanInterval = 10 * time.Millisecond
)

// Config shapes one core's generator.
type Config struct {
	Mode   Mode
	Local  netip.Addr     // source address (the engine's, of Remote's family)
	Remote netip.AddrPort // the server
	Host   string         // Host header; Remote.String() when empty
	Path   string         // request target; DefaultPath when empty
	// Conns is the number of slots: connections open at once.
	Conns int
	// Rate is the open loop's starts per second on this generator; 0 runs
	// a closed loop.
	Rate float64
	// Timeout bounds the handshake, a response and the close; a slot that
	// takes longer counts a timeout and is reset. DefaultTimeout when 0.
	Timeout time.Duration
	// Requests, in RPS mode, is how many requests a connection makes: the
	// last asks the server to close (Connection: close), and the slot
	// connects again once it has; its clean closes count as connections.
	// 0 keeps each connection for the whole run.
	Requests int
}

// ErrKind names a way a request or connection failed.
type ErrKind uint8

// Error kinds.
const (
	ErrRefused   ErrKind = iota // connect refused (RST to the SYN: ECONNREFUSED)
	ErrReset                    // the connection was reset (ECONNRESET)
	ErrTimeout                  // no handshake, response or close within Timeout (or ETIMEDOUT)
	ErrStatus                   // a response other than 200
	ErrShortRead                // the server closed before the whole response, or kept a connection asked to close
	ErrMalformed                // a response that does not parse, or bytes nobody asked for
	ErrDial                     // the dial failed at once (no ephemeral port: EADDRNOTAVAIL)
	ErrWrite                    // writing the request failed
	NumErrKinds
)

var errNames = [NumErrKinds]string{"connect_refused", "reset", "timeout", "bad_status", "short_read", "malformed", "dial", "write"}

func (k ErrKind) String() string {
	if k >= NumErrKinds {
		return "invalid"
	}
	return errNames[k]
}

// Errors counts errors by kind.
type Errors [NumErrKinds]uint64

// Total returns the number of errors of every kind.
func (e *Errors) Total() uint64 {
	var n uint64
	for _, v := range e {
		n += v
	}
	return n
}

// Add adds o's counts to e.
func (e *Errors) Add(o *Errors) {
	for i, v := range o {
		e[i] += v
	}
}

// MarshalJSON writes the counts as an object keyed by kind.
func (e Errors) MarshalJSON() ([]byte, error) {
	m := make(map[string]uint64, NumErrKinds)
	for i, v := range e {
		m[ErrKind(i).String()] = v
	}
	return json.Marshal(m)
}

// String lists the non-zero kinds ("none" when there are none).
func (e *Errors) String() string {
	s := ""
	for i, v := range e {
		if v > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", ErrKind(i), v)
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// slotState is where one slot is.
type slotState uint8

const (
	slotIdle       slotState = iota // no connection: the pump dials
	slotConnecting                  // SYN sent
	slotReady                       // RPS: established, no request outstanding
	slotWaiting                     // request (being) written, response awaited
	slotEOF                         // response with Connection: close read, the server's FIN awaited
	slotClosing                     // Close called, Closed awaited
)

// Interval is what a generator saw since the last TakeInterval: the
// figures of one status line or one point of the plot.
type Interval struct {
	Requests uint64 // responses read whole
	Conns    uint64 // connections closed cleanly
	Errors   uint64
	Late     uint64
	Hist     hist.Histogram // latencies of Requests
}

// Add merges o into iv.
func (iv *Interval) Add(o *Interval) {
	iv.Requests += o.Requests
	iv.Conns += o.Conns
	iv.Errors += o.Errors
	iv.Late += o.Late
	iv.Hist.Merge(&o.Hist)
}

// Gen is one core's generator. It is owned by the core's loop: every
// method but the counters read by Progress runs there (a test's goroutine
// in place of the loop is fine).
type Gen struct {
	shard    *tcp.Shard
	mode     Mode
	tuple    flow.Tuple // local port 0: the shard picks one
	reqKeep  []byte
	reqClose []byte
	timeout  time.Duration
	perConn  int // RPS: requests per connection; 0: no limit

	slots []*slot
	idle  []*slot // slots with no connection, a stack
	ready []*slot // RPS open loop: slots with no request outstanding, a stack

	started bool // a connection was established: ARP/ND is done
	dialing int  // slots in slotConnecting
	running bool // start new requests and connections
	measure bool // count what finishes
	// measureFrom is when the window opened: the open loop counts the
	// starts scheduled from then on, however late they are made.
	measureFrom mono.Time
	nextScan    mono.Time

	// Open loop.
	interval   float64 // ns between starts; 0: closed loop
	schedOn    bool    // the schedule runs: the first connection is up
	schedStart mono.Time
	k          uint64 // index of the next start on the schedule

	// The measured window.
	hist     hist.Histogram
	requests uint64
	conns    uint64
	late     uint64
	sent     uint64 // open-loop starts made in the window
	// Since the last TakeInterval.
	iv Interval
	// The whole run.
	errs Errors

	// For progress, read from other goroutines.
	reqTotal atomic.Uint64
	errTotal atomic.Uint64
}

// slot is one connection of the generator and its handler.
type slot struct {
	g        *Gen
	conn     *tcp.Conn
	state    slotState
	failed   bool      // an error was counted: the connection's end says nothing more
	start    mono.Time // when the request (RPS) or connection (CPS) began, or was scheduled to
	deadline mono.Time
	req      []byte
	written  int
	reqs     int  // requests sent on this connection
	last     bool // the request asks the server to close
	p        Parser
}

// New returns a generator that dials from shard. It does not start.
func New(shard *tcp.Shard, cfg Config) (*Gen, error) {
	if cfg.Mode != RPS && cfg.Mode != CPS {
		return nil, errors.New("load: mode must be RPS or CPS")
	}
	if cfg.Conns < 1 || cfg.Conns > MaxConns {
		return nil, fmt.Errorf("load: %d connections: want 1..%d", cfg.Conns, MaxConns)
	}
	if cfg.Rate < 0 || cfg.Timeout < 0 || cfg.Requests < 0 {
		return nil, errors.New("load: rate, timeout and requests must not be negative")
	}
	if !cfg.Local.IsValid() || !cfg.Remote.IsValid() || cfg.Remote.Port() == 0 || cfg.Local.Is4() != cfg.Remote.Addr().Is4() {
		return nil, fmt.Errorf("load: local %v and remote %v: want two addresses of one family and a port", cfg.Local, cfg.Remote)
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if err := CheckPath(cfg.Path); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = cfg.Remote.String()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	local := netip.AddrFrom16(cfg.Local.As16())
	remote := netip.AddrFrom16(cfg.Remote.Addr().As16())
	if cfg.Local.Is4() {
		local = netip.AddrFrom16(netip.AddrFrom4(cfg.Local.As4()).As16())
		remote = netip.AddrFrom16(netip.AddrFrom4(cfg.Remote.Addr().As4()).As16())
	}
	g := &Gen{
		shard:    shard,
		mode:     cfg.Mode,
		tuple:    flow.Tuple{LocalAddr: local.As16(), RemoteAddr: remote.As16(), RemotePort: cfg.Remote.Port()},
		reqKeep:  []byte("GET " + cfg.Path + " HTTP/1.1\r\nHost: " + cfg.Host + "\r\nUser-Agent: pollstack-bench\r\n\r\n"),
		reqClose: []byte("GET " + cfg.Path + " HTTP/1.1\r\nHost: " + cfg.Host + "\r\nUser-Agent: pollstack-bench\r\nConnection: close\r\n\r\n"),
		timeout:  cfg.Timeout,
		perConn:  cfg.Requests,
		slots:    make([]*slot, cfg.Conns),
		idle:     make([]*slot, 0, cfg.Conns),
		ready:    make([]*slot, 0, cfg.Conns),
	}
	if cfg.Rate > 0 {
		g.interval = 1e9 / cfg.Rate
	}
	for i := range g.slots {
		g.slots[i] = &slot{g: g}
	}
	for i := len(g.slots) - 1; i >= 0; i-- {
		g.idle = append(g.idle, g.slots[i]) // slot 0 dials first
	}
	return g, nil
}

// CheckPath accepts an origin-form request target: '/' and then visible
// ASCII, at most 1024 bytes.
func CheckPath(p string) error { return CheckPathAs("load", p) }

// CheckPathAs is CheckPath for a caller whose errors start with its own
// name, who.
func CheckPathAs(who, p string) error {
	if len(p) == 0 || p[0] != '/' || len(p) > 1024 {
		return fmt.Errorf("%s: path %q: want /... (at most 1024 bytes)", who, p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return fmt.Errorf("%s: path %q: want visible ASCII only", who, p)
		}
	}
	return nil
}

// Start begins the run at now: slots dial. The open loop's schedule starts
// when the first connection is established (the neighbour is resolved), so
// that address resolution does not show as a backlog.
func (g *Gen) Start(now mono.Time) {
	g.running = true
	g.k = 0
	g.schedOn = g.started
	g.schedStart = now
}

// Measure opens (on) or closes (off) the measured window at now. The open
// loop counts as the window's starts those scheduled at or after the
// opening: with Behind at the closing they add up to the schedule's
// points in the window, however late the core made them.
func (g *Gen) Measure(on bool, now mono.Time) {
	g.measure = on
	if on {
		g.measureFrom = now
	}
}

// Stop ends the run: no new requests or connections. Keep-alive slots
// close once their response is in; Busy tells when all are gone.
func (g *Gen) Stop(now mono.Time) {
	g.running = false
	g.shard.SetNow(now)
	for _, s := range g.slots {
		if s.state == slotReady {
			s.closeNow(now)
		}
	}
	g.ready = g.ready[:0]
}

// Busy returns the number of slots with a connection.
func (g *Gen) Busy() int { return len(g.slots) - len(g.idle) }

// AbortAll resets every connection still open, counting each as a timeout.
func (g *Gen) AbortAll(now mono.Time) {
	g.shard.SetNow(now)
	for _, s := range g.slots {
		if s.state != slotIdle {
			s.fail(ErrTimeout)
			s.conn.Abort()
		}
	}
}

// Pump runs on the core at every turn: it dials idle slots, makes the
// open loop's starts that are due, and expires slots past their deadline.
// It returns the work it did.
func (g *Gen) Pump(now mono.Time) int {
	work := 0
	if g.running {
		g.shard.SetNow(now)
		if g.schedOn {
			work += g.schedule(now)
		}
		if g.mode == RPS || g.interval == 0 || (!g.started && g.dialing == 0) {
			for len(g.idle) > 0 && (g.started || g.dialing == 0) {
				s := g.idle[len(g.idle)-1]
				g.idle = g.idle[:len(g.idle)-1]
				if !s.dial(now, now) {
					break
				}
				work++
			}
		}
	}
	if now >= g.nextScan {
		g.nextScan = now.Add(scanInterval)
		work += g.expire(now)
	}
	return work
}

// due returns the scheduled time of start k.
func (g *Gen) due(k uint64) mono.Time {
	return g.schedStart.Add(time.Duration(float64(k) * g.interval))
}

// schedule makes the open loop's starts due at now for which a slot is free.
func (g *Gen) schedule(now mono.Time) int {
	n := 0
	for {
		at := g.due(g.k)
		if at > now {
			return n
		}
		var s *slot
		if g.mode == RPS {
			if len(g.ready) == 0 {
				return n
			}
			s = g.ready[len(g.ready)-1]
			g.ready = g.ready[:len(g.ready)-1]
		} else {
			if len(g.idle) == 0 || (!g.started && g.dialing > 0) {
				return n
			}
			s = g.idle[len(g.idle)-1]
			g.idle = g.idle[:len(g.idle)-1]
		}
		g.k++
		if g.measure && now.Sub(at) > LateSlack {
			g.iv.Late++
		}
		if g.measure && !at.Before(g.measureFrom) {
			g.sent++
			if now.Sub(at) > LateSlack {
				g.late++
			}
		}
		n++
		if g.mode == RPS {
			s.send(s.conn, at, now)
		} else if !s.dial(at, now) {
			return n
		}
	}
}

// Behind returns the open loop's starts due by now and not yet made.
func (g *Gen) Behind(now mono.Time) uint64 {
	if !g.schedOn || now < g.schedStart {
		return 0
	}
	due := uint64(float64(now.Sub(g.schedStart))/g.interval) + 1
	if due <= g.k {
		return 0
	}
	return due - g.k
}

// expire aborts the slots whose deadline passed.
func (g *Gen) expire(now mono.Time) int {
	n := 0
	g.shard.SetNow(now)
	for _, s := range g.slots {
		if s.state != slotIdle && s.state != slotReady && now > s.deadline {
			s.fail(ErrTimeout)
			s.conn.Abort() // Closed follows at once
			n++
		}
	}
	return n
}

func (g *Gen) count(k ErrKind) {
	g.errs[k]++
	g.iv.Errors++
	g.errTotal.Add(1)
}

// done records a whole response that began at start.
func (g *Gen) done(start, now mono.Time) {
	g.reqTotal.Add(1)
	g.iv.Requests++
	g.iv.Hist.Record(int64(now.Sub(start)))
	if g.measure {
		g.requests++
		g.hist.Record(int64(now.Sub(start)))
	}
}

// TakeInterval copies what happened since the last call into iv and
// starts a new interval.
func (g *Gen) TakeInterval(iv *Interval) {
	*iv = g.iv
	g.iv.Requests, g.iv.Conns, g.iv.Errors, g.iv.Late = 0, 0, 0, 0
	g.iv.Hist.Reset()
}

// Progress returns the requests read whole and the errors so far, whole
// run; safe from any goroutine.
func (g *Gen) Progress() (requests, errs uint64) { return g.reqTotal.Load(), g.errTotal.Load() }

// Totals is what a generator measured in its window (errors: whole run).
type Totals struct {
	Requests uint64
	Conns    uint64
	Late     uint64 // open loop: starts more than LateSlack behind schedule
	Sent     uint64 // open loop: starts made
	Errors   Errors
	Hist     *hist.Histogram
}

// Totals returns what the generator measured. Call it on the core, or once
// the core's loop has stopped; the histogram is the generator's own.
func (g *Gen) Totals() Totals {
	return Totals{Requests: g.requests, Conns: g.conns, Late: g.late, Sent: g.sent, Errors: g.errs, Hist: &g.hist}
}

// dial opens a connection for s; start is when its measurement begins.
func (s *slot) dial(start, now mono.Time) bool {
	g := s.g
	s.state = slotConnecting
	s.failed = false
	s.reqs = 0
	s.start = start
	s.deadline = now.Add(g.timeout)
	g.dialing++
	c, err := g.shard.Dial(g.tuple, s, now)
	if err != nil {
		g.dialing--
		s.state = slotIdle
		g.idle = append(g.idle, s)
		g.count(ErrDial)
		return false
	}
	s.conn = c
	return true
}

// fail counts an error against the slot's connection, once.
func (s *slot) fail(k ErrKind) {
	if !s.failed {
		s.failed = true
		s.g.count(k)
	}
}

// send starts a request that began at start.
func (s *slot) send(c *tcp.Conn, start, now mono.Time) {
	g := s.g
	if g.mode == RPS {
		s.start = start
	}
	s.reqs++
	s.last = g.mode == CPS || s.reqs == g.perConn
	s.req = g.reqKeep
	if s.last {
		s.req = g.reqClose
	}
	s.written = 0
	s.state = slotWaiting
	s.deadline = now.Add(g.timeout)
	s.p.Reset()
	s.write(c)
}

// write writes what is left of the request.
func (s *slot) write(c *tcp.Conn) {
	if s.written == len(s.req) {
		return
	}
	n, err := c.Write(s.req[s.written:])
	if err != nil {
		s.fail(ErrWrite)
		c.Abort()
		return
	}
	s.written += n
}

// closeNow closes the connection from the client's side.
func (s *slot) closeNow(now mono.Time) {
	s.state = slotClosing
	s.deadline = now.Add(s.g.timeout)
	s.conn.Close()
}

// idleReady makes an established RPS slot wait for its next request.
func (s *slot) idleReady(c *tcp.Conn, now mono.Time) {
	g := s.g
	switch {
	case !g.running:
		s.closeNow(now)
	case g.interval == 0:
		s.send(c, now, now)
	default:
		s.state = slotReady
		g.ready = append(g.ready, s)
	}
}

// Established implements tcp.Handler.
func (s *slot) Established(c *tcp.Conn) {
	g := s.g
	now := c.Now()
	g.started = true
	g.dialing--
	if g.interval > 0 && !g.schedOn && g.running {
		g.schedOn = true
		g.schedStart = now
	}
	if g.mode == CPS {
		// Even once the run is over: the server then closes first and
		// keeps the TIME_WAIT.
		s.send(c, s.start, now)
		return
	}
	s.idleReady(c, now)
}

// Writable implements tcp.Handler.
func (s *slot) Writable(c *tcp.Conn) {
	if s.state == slotWaiting {
		s.write(c)
	}
}

// Readable implements tcp.Handler: it parses the response, then sends the
// next request, waits for the server's close, or closes.
func (s *slot) Readable(c *tcp.Conn) {
	g := s.g
	now := c.Now()
	for {
		a, b := c.Peek()
		if len(a) == 0 {
			break
		}
		if s.state != slotWaiting || s.written < len(s.req) {
			s.fail(ErrMalformed) // bytes nobody asked for
			c.Abort()
			return
		}
		n, st := s.p.Feed(a)
		if st == More && n == len(a) && len(b) > 0 {
			var m int
			m, st = s.p.Feed(b)
			n += m
		}
		c.Consume(n)
		switch st {
		case More:
			continue
		case Bad:
			s.fail(ErrMalformed)
			c.Abort()
			return
		case BadStatus:
			s.fail(ErrStatus)
			c.Abort()
			return
		}
		if s.last && !s.p.ConnClose() {
			s.fail(ErrShortRead) // kept a connection we asked to close
			c.Abort()
			return
		}
		g.done(s.start, now)
		if s.p.ConnClose() {
			// The server closes first and holds the TIME_WAIT.
			s.state = slotEOF
			s.deadline = now.Add(g.timeout)
			continue
		}
		s.idleReady(c, now)
		if s.state != slotWaiting {
			return
		}
	}
	if c.EOF() {
		switch s.state {
		case slotEOF:
			s.closeNow(now) // LAST_ACK
		case slotWaiting, slotReady:
			if s.state == slotWaiting {
				s.fail(ErrShortRead)
			}
			s.closeNow(now)
		}
	}
}

// Closed implements tcp.Handler: the slot is free again.
func (s *slot) Closed(c *tcp.Conn, err error) {
	g := s.g
	switch s.state {
	case slotConnecting:
		g.dialing--
	case slotReady:
		for i, r := range g.ready {
			if r == s {
				g.ready = append(g.ready[:i], g.ready[i+1:]...)
				break
			}
		}
	}
	switch {
	case s.failed:
	case err != nil:
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			g.count(ErrRefused)
		case errors.Is(err, syscall.ETIMEDOUT):
			g.count(ErrTimeout)
		default:
			g.count(ErrReset)
		}
	case s.state == slotClosing:
		if g.mode == CPS || g.perConn > 0 {
			g.iv.Conns++
			if g.measure {
				g.conns++
			}
		}
	case s.state == slotWaiting:
		g.count(ErrShortRead)
	}
	s.conn = nil
	s.state = slotIdle
	g.idle = append(g.idle, s)
}
