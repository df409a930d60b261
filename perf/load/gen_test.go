package load

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var (
	srvMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	cliMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	srv4   = netip.MustParsePrefix("198.18.0.1/24")
	cli4   = netip.MustParsePrefix("198.18.0.2/24")
	srv6   = netip.MustParsePrefix("2001:2::1/64")
	cli6   = netip.MustParsePrefix("2001:2::2/64")
)

const port = 8080

// vnet is a server core running the http app (or another handler) and a
// client core running a generator, joined by the in-memory link and driven
// by hand from the test's goroutine with a virtual clock: one step runs the
// server's turn, then the client's.
type vnet struct {
	t        testing.TB
	srv, cli *engine.Core
	g        *Gen
	now      mono.Time
	step     time.Duration
	stall    bool // the server does not run
}

func newVnet(t testing.TB, server tcp.Handler, cfg Config) *vnet {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	n := &vnet{t: t, now: 1e9, step: 100 * time.Microsecond}
	tc := tcp.DefaultConfig()
	tc.ISNKey = [16]byte{7}
	if n.srv, err = engine.NewCore(engine.CoreConfig{ID: 0, MAC: srvMAC, Addrs: []netip.Prefix{srv4, srv6}, TCP: &tc}, la); err != nil {
		t.Fatal(err)
	}
	hook := Hook(lb, func() mono.Time { return n.now })
	if n.cli, err = engine.NewCore(engine.CoreConfig{ID: 1, MAC: cliMAC, Addrs: []netip.Prefix{cli4, cli6}, TCP: &tc}, hook); err != nil {
		t.Fatal(err)
	}
	if server == nil {
		server = apps.NewHTTP(httpapp.Config{})
	}
	if _, err := n.srv.TCP().Listen(port, 0, server); err != nil {
		t.Fatal(err)
	}
	if !cfg.Local.IsValid() {
		cfg.Local = cli4.Addr()
	}
	if !cfg.Remote.IsValid() {
		cfg.Remote = netip.AddrPortFrom(srv4.Addr(), port)
	}
	if n.g, err = New(n.cli.TCP(), cfg); err != nil {
		t.Fatal(err)
	}
	hook.SetGen(n.g)
	return n
}

func (n *vnet) turn() {
	n.now = n.now.Add(n.step)
	if !n.stall {
		n.srv.Poll(n.now)
		n.srv.Timers(n.now)
	}
	n.cli.Poll(n.now)
	n.cli.Timers(n.now)
}

func (n *vnet) run(d time.Duration) {
	for end := n.now.Add(d); n.now < end; {
		n.turn()
	}
}

// start runs the generator through a warm-up, then opens the window.
func (n *vnet) start(warmup time.Duration) {
	n.g.Start(n.now)
	n.run(warmup)
	n.g.Measure(true, n.now)
}

// finish closes the window and drains.
func (n *vnet) finish() Totals {
	n.t.Helper()
	n.g.Measure(false, n.now)
	n.g.Stop(n.now)
	for i := 0; i < 1000 && n.g.Busy() > 0; i++ {
		n.turn()
	}
	if b := n.g.Busy(); b > 0 {
		n.t.Fatalf("%d connections left after the drain", b)
	}
	return n.g.Totals()
}

func checkNoErrors(t *testing.T, tot Totals) {
	t.Helper()
	if tot.Errors.Total() != 0 {
		t.Fatalf("errors: %v", &tot.Errors)
	}
}

// Closed loop, keep-alive: each connection completes one request per
// round trip (one step), so N steps give exactly conns×N requests, each
// with a latency of one step.
func TestClosedLoopRPSCounts(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cfg := Config{Mode: RPS, Conns: 8}
		if v6 {
			cfg.Local, cfg.Remote = cli6.Addr(), netip.AddrPortFrom(srv6.Addr(), port)
		}
		n := newVnet(t, nil, cfg)
		n.start(10 * time.Millisecond)
		const steps = 1000
		for i := 0; i < steps; i++ {
			n.turn()
		}
		tot := n.finish()
		checkNoErrors(t, tot)
		if tot.Requests != 8*steps {
			t.Errorf("ipv6 %v: %d requests in %d steps with 8 connections, want %d", v6, tot.Requests, steps, 8*steps)
		}
		h := tot.Hist
		if h.Count() != tot.Requests || h.Quantile(0.5) != int64(n.step) || h.Quantile(0.999) != int64(n.step) || h.Max() != int64(n.step) {
			t.Errorf("ipv6 %v: latency n=%d p50 %d p99.9 %d max %d, want all %d", v6, h.Count(), h.Quantile(0.5), h.Quantile(0.999), h.Max(), n.step)
		}
		if tot.Late != 0 || tot.Sent != 0 {
			t.Errorf("closed loop: late %d sent %d", tot.Late, tot.Sent)
		}
	}
}

// Closed loop, a connection per request: dial, SYN-ACK, request, response
// with the server's FIN, our FIN, its ACK; latency from the dial to the
// response is two steps.
func TestClosedLoopCPSCounts(t *testing.T) {
	n := newVnet(t, nil, Config{Mode: CPS, Conns: 4})
	n.start(10 * time.Millisecond)
	const steps = 1000
	for i := 0; i < steps; i++ {
		n.turn()
	}
	tot := n.finish()
	checkNoErrors(t, tot)
	if tot.Conns < 4*steps/5 || tot.Conns > 4*steps/3 {
		t.Errorf("%d connections in %d steps with 4 slots", tot.Conns, steps)
	}
	if d := int64(tot.Requests) - int64(tot.Conns); d < -4 || d > 4 {
		t.Errorf("%d requests for %d connections", tot.Requests, tot.Conns)
	}
	if h := tot.Hist; h.Quantile(0.5) != int64(2*n.step) || h.Max() != int64(2*n.step) {
		t.Errorf("connection latency p50 %d max %d, want %d", h.Quantile(0.5), h.Max(), 2*n.step)
	}
	// The server closed first: it holds the TIME_WAIT, the client none.
	if tw := n.cli.TCP().TimeWaitEntries(); tw != 0 {
		t.Errorf("client holds %d TIME_WAIT entries", tw)
	}
	if tw := n.srv.TCP().TimeWaitEntries(); tw < int(tot.Conns) {
		t.Errorf("server holds %d TIME_WAIT entries for %d connections", tw, tot.Conns)
	}
}

// Keep-alive connections of a few requests each: the last asks the server
// to close, the server closes first (it holds the TIME_WAIT) and the slot
// connects again; the clean closes count as connections.
func TestRPSRequestsPerConnection(t *testing.T) {
	n := newVnet(t, nil, Config{Mode: RPS, Conns: 4, Requests: 3})
	n.start(10 * time.Millisecond)
	for i := 0; i < 1000; i++ {
		n.turn()
	}
	tot := n.finish()
	checkNoErrors(t, tot)
	if tot.Conns < 100 || tot.Requests < 3*(tot.Conns-4) || tot.Requests > 3*(tot.Conns+4) {
		t.Errorf("%d requests on %d connections of 3 requests", tot.Requests, tot.Conns)
	}
	// The client closes only the connections still open when the run
	// stopped.
	if tw := n.cli.TCP().TimeWaitEntries(); tw > 4 {
		t.Errorf("client holds %d TIME_WAIT entries", tw)
	}
	if tw := n.srv.TCP().TimeWaitEntries(); tw < int(tot.Conns)-4 {
		t.Errorf("server holds %d TIME_WAIT entries for %d connections", tw, tot.Conns)
	}
}

// Open loop: starts leave on the schedule (every 500 µs, five steps), none
// late, and each takes one step.
func TestOpenLoopSchedule(t *testing.T) {
	for _, mode := range []Mode{RPS, CPS} {
		n := newVnet(t, nil, Config{Mode: mode, Conns: 4, Rate: 2000})
		n.start(10 * time.Millisecond)
		n.run(100 * time.Millisecond)
		if b := n.g.Behind(n.now); b != 0 {
			t.Errorf("%v: %d starts behind", mode, b)
		}
		tot := n.finish()
		checkNoErrors(t, tot)
		if tot.Sent < 199 || tot.Sent > 201 || tot.Late != 0 {
			t.Errorf("%v: %d starts in 100 ms at 2000/s, %d late", mode, tot.Sent, tot.Late)
		}
		if tot.Requests < 199 || tot.Requests > 201 {
			t.Errorf("%v: %d requests", mode, tot.Requests)
		}
		want := int64(n.step)
		if mode == CPS {
			want = int64(2 * n.step)
		}
		if h := tot.Hist; h.Quantile(0.5) != want || h.Max() != want {
			t.Errorf("%v: latency p50 %d max %d, want %d", mode, h.Quantile(0.5), h.Max(), want)
		}
	}
}

// Coordinated omission: while the server stalls for 10 ms the schedule
// goes on; the starts that find no free connection leave late, and their
// latency counts from their scheduled time, so the stall shows in the tail
// (about 20 of 200 requests took 0.5..10 ms) and not just in the two
// requests that were in flight.
func TestOpenLoopCorrectsCoordinatedOmission(t *testing.T) {
	n := newVnet(t, nil, Config{Mode: RPS, Conns: 2, Rate: 2000})
	n.start(10 * time.Millisecond)
	n.run(50 * time.Millisecond)
	n.stall = true
	n.run(10 * time.Millisecond)
	if b := n.g.Behind(n.now); b < 15 {
		t.Errorf("%d starts behind after a 10 ms stall at 2000/s with 2 connections", b)
	}
	n.stall = false
	n.run(40 * time.Millisecond)
	if b := n.g.Behind(n.now); b != 0 {
		t.Errorf("%d starts still behind 40 ms after the stall", b)
	}
	tot := n.finish()
	checkNoErrors(t, tot)
	h := tot.Hist
	if tot.Late < 15 || tot.Late > 25 {
		t.Errorf("%d late starts", tot.Late)
	}
	if p95 := h.Quantile(0.95); p95 < int64(4*time.Millisecond) {
		t.Errorf("p95 %v: the stall is missing from the tail", time.Duration(p95))
	}
	if mx := h.Max(); mx < int64(9500*time.Microsecond) || mx > int64(11*time.Millisecond) {
		t.Errorf("max %v, want about the stall's 10 ms", time.Duration(mx))
	}
	if p50 := h.Quantile(0.5); p50 < int64(n.step) || p50 > int64(n.step*102/100) {
		t.Errorf("p50 %v, want one step", time.Duration(p50))
	}
}

// answerer answers every request with a fixed string, then closes when
// told to.
type answerer struct {
	resp  string
	close bool
}

func (a *answerer) Established(*tcp.Conn) {}
func (a *answerer) Readable(c *tcp.Conn) {
	if n := c.Readable(); n > 0 {
		c.Consume(n)
		c.Write([]byte(a.resp))
		if a.close {
			c.Close()
		}
	}
	if c.EOF() {
		c.Close()
	}
}
func (a *answerer) Writable(*tcp.Conn)      {}
func (a *answerer) Closed(*tcp.Conn, error) {}

func TestErrorsByKind(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server tcp.Handler
		port   uint16
		mode   Mode
		want   ErrKind
	}{
		{"refused", nil, port + 1, RPS, ErrRefused},
		{"status", &answerer{resp: "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"}, port, RPS, ErrStatus},
		{"short", &answerer{resp: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close: true}, port, RPS, ErrShortRead},
		{"malformed", &answerer{resp: "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"}, port, RPS, ErrMalformed},
		{"kept open", &answerer{resp: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, port, CPS, ErrShortRead},
	} {
		cfg := Config{Mode: tc.mode, Conns: 2, Remote: netip.AddrPortFrom(srv4.Addr(), tc.port)}
		n := newVnet(t, tc.server, cfg)
		n.start(0)
		n.run(5 * time.Millisecond)
		tot := n.finish()
		if tot.Errors[tc.want] == 0 || tot.Errors.Total() != tot.Errors[tc.want] {
			t.Errorf("%s: errors %v, want only %v", tc.name, &tot.Errors, tc.want)
		}
		if tot.Requests != 0 {
			t.Errorf("%s: %d requests counted", tc.name, tot.Requests)
		}
	}
}

// A server that never answers: the response times out.
func TestTimeout(t *testing.T) {
	n := newVnet(t, &answerer{}, Config{Mode: RPS, Conns: 3, Timeout: 5 * time.Millisecond})
	n.start(0)
	n.run(20 * time.Millisecond)
	tot := n.finish()
	if tot.Errors[ErrTimeout] < 3 || tot.Errors.Total() != tot.Errors[ErrTimeout] {
		t.Errorf("errors %v", &tot.Errors)
	}
}

// The steady-state request path — response in, next request out, through
// both stacks — allocates nothing.
func TestSteadyStateRPSAllocatesNothing(t *testing.T) {
	for _, rate := range []float64{0, 5000} {
		n := newVnet(t, nil, Config{Mode: RPS, Conns: 16, Rate: rate})
		n.start(20 * time.Millisecond)
		if a := testing.AllocsPerRun(200, n.turn); a != 0 {
			t.Errorf("rate %v: %v allocations per turn", rate, a)
		}
		tot := n.finish()
		checkNoErrors(t, tot)
		if tot.Requests == 0 {
			t.Errorf("rate %v: no requests", rate)
		}
	}
}

func TestIntervals(t *testing.T) {
	n := newVnet(t, nil, Config{Mode: RPS, Conns: 4})
	n.start(0)
	var iv Interval
	n.g.TakeInterval(&iv)
	n.run(10 * time.Millisecond)
	n.g.TakeInterval(&iv)
	if iv.Requests < 350 || iv.Hist.Count() != iv.Requests {
		t.Errorf("interval: %d requests, %d latencies", iv.Requests, iv.Hist.Count())
	}
	var again Interval
	n.g.TakeInterval(&again)
	if again.Requests != 0 || again.Hist.Count() != 0 {
		t.Errorf("a fresh interval holds %d requests", again.Requests)
	}
	req, errs := n.g.Progress()
	if req < iv.Requests || errs != 0 {
		t.Errorf("progress %d requests, %d errors", req, errs)
	}
}

func TestNewRejects(t *testing.T) {
	ok := Config{Mode: RPS, Conns: 1, Local: cli4.Addr(), Remote: netip.AddrPortFrom(srv4.Addr(), 80)}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Mode = 0 },
		func(c *Config) { c.Conns = 0 },
		func(c *Config) { c.Conns = MaxConns + 1 },
		func(c *Config) { c.Rate = -1 },
		func(c *Config) { c.Requests = -1 },
		func(c *Config) { c.Path = "x" },
		func(c *Config) { c.Path = "/a b" },
		func(c *Config) { c.Remote = netip.AddrPortFrom(srv6.Addr(), 80) },
		func(c *Config) { c.Remote = netip.AddrPortFrom(srv4.Addr(), 0) },
	} {
		c := ok
		mod(&c)
		if _, err := New(nil, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(nil, ok); err != nil {
		t.Error(err)
	}
}

// The window's starts are the schedule's points in it, however late they
// are made: a backlog left from before the window does not count in it, and
// at the close Sent plus Behind is the rate times the window, give or take
// one, so a slow machine changes lateness but not the count.
func TestOpenLoopWindowCountsScheduledStarts(t *testing.T) {
	n := newVnet(t, nil, Config{Mode: RPS, Conns: 2, Rate: 2000})
	n.g.Start(n.now)
	n.run(10 * time.Millisecond)
	n.stall = true
	n.run(10 * time.Millisecond) // a backlog builds before the window opens
	n.g.Measure(true, n.now)
	from := n.now
	n.stall = false
	n.run(50 * time.Millisecond)
	n.stall = true
	n.run(10 * time.Millisecond) // and another before it closes
	behind := n.g.Behind(n.now)
	window := n.now.Sub(from)
	n.stall = false // the drain needs answers
	tot := n.finish()
	checkNoErrors(t, tot)
	want := window.Seconds() * 2000
	if got := float64(tot.Sent + behind); got < want-1 || got > want+1 {
		t.Errorf("%d made + %d behind in a %v window at 2000/s, want %.0f", tot.Sent, behind, window, want)
	}
	if behind < 15 {
		t.Errorf("%d behind: the stall did not hold the schedule back", behind)
	}
}
