package demo

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/perf/load"
	"github.com/pollstack/pollstack/tcp"
)

// slotState is where one of the load generator's connections is.
type slotState uint8

const (
	slotIdle       slotState = iota // no connection: the next pump dials
	slotConnecting                  // SYN sent
	slotWaiting                     // request (being) written, response awaited
	slotEOF                         // short: response read, the server's FIN awaited
	slotClosing                     // Close called, Closed awaited
)

// errKind indexes Errors.
type errKind uint8

const (
	errStatus errKind = iota
	errMalformed
	errReset
	errRefused
	errTimeout
	errClosed
	errDial
	errWrite
	numErrKinds
)

// scanInterval is how often the load generator looks for connections past
// their deadline.
const scanInterval = 10 * time.Millisecond

// loadgen is the client core's HTTP/1.1 load generator: a fixed set of
// connection slots, each its own tcp.Handler, dialled, fed and timed from
// the client core's loop. Owned by the client loop; not safe for concurrent
// use (Run reaches it through the loop's mailbox).
type loadgen struct {
	shard    *tcp.Shard
	tuple    flow.Tuple // local and remote address and port; local port 0
	reqShort []byte     // GET with Connection: close
	reqKeep  []byte     // GET that keeps the connection
	perConn  int        // requests per keep-alive connection
	timeout  time.Duration

	slots []*slot
	idle  []*slot // slots with no connection, a stack

	now       mono.Time // the time the loop passed to this turn
	nextScan  mono.Time
	started   bool // a connection was established: ARP/ND is done
	dialing   int  // connections in SYN_SENT
	running   bool // dial and send new requests
	measuring bool

	hist     hist.Histogram // request latency, measured window
	requests uint64         // measured window
	conns    uint64         // measured window
	errs     [numErrKinds]uint64

	// For progress, read by Run's goroutine: whole-run totals.
	reqTotal  atomic.Uint64
	connTotal atomic.Uint64
	errTotal  atomic.Uint64
}

// slot is one connection of the load generator and its handler.
type slot struct {
	g      *loadgen
	short  bool
	conn   *tcp.Conn
	state  slotState
	failed bool // an error was counted: the connection's end says nothing more
	reqs   int  // responses read on this connection
	last   bool // the request in flight asks the server to close

	req      []byte // the request being written
	written  int    // bytes of req written
	sentAt   mono.Time
	deadline mono.Time
	p        load.Parser
}

func newLoadgen(shard *tcp.Shard, tuple flow.Tuple, host, path string, conns, short, perConn int, timeout time.Duration) *loadgen {
	g := &loadgen{
		shard:    shard,
		tuple:    tuple,
		reqShort: []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: pollstack-demo\r\nConnection: close\r\n\r\n"),
		reqKeep:  []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: pollstack-demo\r\n\r\n"),
		perConn:  perConn,
		timeout:  timeout,
	}
	for i := 0; i < conns; i++ {
		s := &slot{g: g, short: i < short}
		g.slots = append(g.slots, s)
	}
	// pump pops idle slots from the end: dial slot 0 first.
	for i := conns - 1; i >= 0; i-- {
		g.idle = append(g.idle, g.slots[i])
	}
	return g
}

// pump dials idle slots and expires connections past their deadline. It
// runs on the client loop after each batch and returns the work it did.
func (g *loadgen) pump(now mono.Time) int {
	g.now = now
	work := 0
	for g.running && len(g.idle) > 0 {
		if !g.started && g.dialing > 0 {
			break // one connection until the neighbour is resolved
		}
		s := g.idle[len(g.idle)-1]
		g.idle = g.idle[:len(g.idle)-1]
		if !g.dial(s, now) {
			g.idle = append(g.idle, s)
			break
		}
		work++
	}
	if now >= g.nextScan {
		g.nextScan = now.Add(scanInterval)
		work += g.expire(now)
	}
	return work
}

// dial opens a connection for s.
func (g *loadgen) dial(s *slot, now mono.Time) bool {
	s.state = slotConnecting
	s.failed = false
	s.reqs = 0
	s.deadline = now.Add(g.timeout)
	g.dialing++
	c, err := g.shard.Dial(g.tuple, s, now)
	if err != nil {
		g.dialing--
		s.state = slotIdle
		g.count(errDial)
		return false
	}
	s.conn = c
	return true
}

// expire aborts the connections whose deadline passed.
func (g *loadgen) expire(now mono.Time) int {
	n := 0
	for _, s := range g.slots {
		if s.state != slotIdle && now > s.deadline {
			g.shard.SetNow(now)
			s.fail(errTimeout)
			s.conn.Abort() // Closed follows at once
			n++
		}
	}
	return n
}

// busy returns the number of slots with a connection.
func (g *loadgen) busy() int { return len(g.slots) - len(g.idle) }

// abortAll ends every connection still open, counting each as a timeout.
func (g *loadgen) abortAll(now mono.Time) {
	for _, s := range g.slots {
		if s.state != slotIdle {
			g.shard.SetNow(now)
			s.fail(errTimeout)
			s.conn.Abort()
		}
	}
}

func (g *loadgen) count(k errKind) {
	g.errs[k]++
	g.errTotal.Add(1)
}

func (g *loadgen) errors() Errors {
	e := &g.errs
	return Errors{Status: e[errStatus], Malformed: e[errMalformed], Reset: e[errReset], Refused: e[errRefused],
		Timeout: e[errTimeout], Closed: e[errClosed], Dial: e[errDial], Write: e[errWrite]}
}

// fail counts an error against the slot's connection, once.
func (s *slot) fail(k errKind) {
	if !s.failed {
		s.failed = true
		s.g.count(k)
	}
}

// send starts writing a request: one with Connection: close for a short
// connection and for the last of a keep-alive one.
func (s *slot) send(c *tcp.Conn) {
	g := s.g
	s.last = s.short || s.reqs+1 >= g.perConn
	s.req = g.reqKeep
	if s.last {
		s.req = g.reqShort
	}
	s.written = 0
	s.state = slotWaiting
	s.sentAt = g.now
	s.deadline = g.now.Add(g.timeout)
	s.p.Reset()
	s.write(c)
}

// write writes what is left of the request; it reports false when the
// connection was ended.
func (s *slot) write(c *tcp.Conn) bool {
	if s.written == len(s.req) {
		return true
	}
	n, err := c.Write(s.req[s.written:])
	if err != nil {
		s.fail(errWrite)
		c.Abort()
		return false
	}
	s.written += n
	return true
}

// Established implements tcp.Handler.
func (s *slot) Established(c *tcp.Conn) {
	g := s.g
	g.started = true
	g.dialing--
	s.send(c)
}

// Writable implements tcp.Handler.
func (s *slot) Writable(c *tcp.Conn) {
	if s.state == slotWaiting {
		s.write(c)
	}
}

// Readable implements tcp.Handler: it parses the response, then sends the
// next request, waits for the server's close or closes.
func (s *slot) Readable(c *tcp.Conn) {
	g := s.g
	for {
		a, b := c.Peek()
		if len(a) == 0 {
			break
		}
		if s.state != slotWaiting || s.written < len(s.req) {
			// Bytes before the request was sent, or after the response.
			s.fail(errMalformed)
			c.Abort()
			return
		}
		n, st := s.p.Feed(a)
		if st == load.More && n == len(a) && len(b) > 0 {
			var m int
			m, st = s.p.Feed(b)
			n += m
		}
		c.Consume(n)
		switch st {
		case load.More:
			continue
		case load.Bad:
			s.fail(errMalformed)
			c.Abort()
			return
		case load.BadStatus:
			s.fail(errStatus)
			c.Abort()
			return
		}
		// A whole response.
		if s.p.ConnClose() != s.last {
			// The server closes a connection we asked to keep, or keeps
			// one we asked it to close.
			s.fail(errClosed)
			c.Abort()
			return
		}
		s.reqs++
		g.reqTotal.Add(1)
		if g.measuring {
			g.hist.Record(int64(g.now.Sub(s.sentAt)))
			g.requests++
		}
		switch {
		case s.last:
			// The server closes first and holds the TIME_WAIT, as HTTP
			// servers do: a client that closed first would tie its
			// ephemeral ports up for 2MSL.
			s.state = slotEOF
		case g.running:
			s.send(c)
			if s.state != slotWaiting {
				return // the write failed and ended the connection
			}
		default:
			// The run is over: the client closes and holds the TIME_WAIT.
			s.state = slotClosing
			s.deadline = g.now.Add(g.timeout)
			c.Close()
			return
		}
	}
	if c.EOF() {
		switch s.state {
		case slotEOF:
			s.state = slotClosing
			s.deadline = g.now.Add(g.timeout)
			c.Close() // LAST_ACK: the server holds the TIME_WAIT
		case slotWaiting:
			s.fail(errClosed)
			c.Close()
		}
	}
}

// Closed implements tcp.Handler: the slot is free again.
func (s *slot) Closed(c *tcp.Conn, err error) {
	g := s.g
	if s.state == slotConnecting {
		g.dialing--
	}
	switch {
	case s.failed:
	case err != nil:
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			g.count(errRefused)
		case errors.Is(err, syscall.ETIMEDOUT):
			g.count(errTimeout)
		default:
			g.count(errReset)
		}
	case s.state == slotClosing:
		g.connTotal.Add(1)
		if g.measuring {
			g.conns++
		}
	default:
		g.count(errClosed)
	}
	s.conn = nil
	s.state = slotIdle
	g.idle = append(g.idle, s)
}
