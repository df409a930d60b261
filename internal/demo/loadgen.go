package demo

import (
	"errors"
	"sync/atomic"
	"syscall"

	"github.com/pollstack/pollstack/internal/hist"
	"github.com/pollstack/pollstack/internal/httpwire"
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
// their deadline, ns.
const scanInterval = int64(10e6)

// loadgen is the client core's HTTP/1.1 load generator: a fixed set of
// connection slots, each its own tcp.Handler, dialled, fed and timed from
// the client core's loop. Owned by the client loop; not safe for concurrent
// use (Run reaches it through the loop's mailbox).
type loadgen struct {
	shard    *tcp.Shard
	tuple    tcp.Tuple // local and remote address and port; local port 0
	reqShort []byte    // GET with Connection: close
	reqKeep  []byte    // GET that keeps the connection
	perConn  int       // requests per keep-alive connection
	timeout  int64

	slots []*slot
	idle  []*slot // slots with no connection, a stack

	now       int64 // the time the loop passed to this turn
	nextScan  int64
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
	sentAt   int64
	deadline int64
	p        respParser
}

func newLoadgen(shard *tcp.Shard, tuple tcp.Tuple, host, path string, conns, short, perConn int, timeout int64) *loadgen {
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
func (g *loadgen) pump(now int64) int {
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
		g.nextScan = now + scanInterval
		work += g.expire(now)
	}
	return work
}

// dial opens a connection for s.
func (g *loadgen) dial(s *slot, now int64) bool {
	s.state = slotConnecting
	s.failed = false
	s.reqs = 0
	s.deadline = now + g.timeout
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
func (g *loadgen) expire(now int64) int {
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
func (g *loadgen) abortAll(now int64) {
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
	s.deadline = g.now + g.timeout
	s.p.reset()
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
		n, st := s.p.feed(a)
		if st == parseMore && n == len(a) && len(b) > 0 {
			var m int
			m, st = s.p.feed(b)
			n += m
		}
		c.Consume(n)
		switch st {
		case parseMore:
			continue
		case parseBad:
			s.fail(errMalformed)
			c.Abort()
			return
		case parseStatus:
			s.fail(errStatus)
			c.Abort()
			return
		}
		// A whole response.
		if s.p.connClose != s.last {
			// The server closes a connection we asked to keep, or keeps
			// one we asked it to close.
			s.fail(errClosed)
			c.Abort()
			return
		}
		s.reqs++
		g.reqTotal.Add(1)
		if g.measuring {
			g.hist.Record(g.now - s.sentAt)
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
			s.deadline = g.now + g.timeout
			c.Close()
			return
		}
	}
	if c.EOF() {
		switch s.state {
		case slotEOF:
			s.state = slotClosing
			s.deadline = g.now + g.timeout
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

// Response parsing.

// parseStatus is what respParser.feed found.
type parseResult uint8

const (
	parseMore   parseResult = iota // the response is not whole yet
	parseDone                      // a whole 200 response
	parseBad                       // malformed
	parseStatus                    // a status other than 200
)

const (
	maxRespLine = 1024     // bytes in one status or header line
	maxRespHead = 16 << 10 // bytes in a response head
)

// parser states.
const (
	psStatus = iota
	psHeader
	psBody
	psDone
)

// respParser reads one HTTP/1.1 response: the status line, the header
// fields it needs (Content-Length, Connection, Transfer-Encoding) and a
// Content-Length body, whose bytes it counts. It never allocates.
type respParser struct {
	state     uint8
	line      [maxRespLine]byte
	nline     int
	headBytes int
	status    int
	clen      int64 // Content-Length, -1 when absent
	bodyLeft  int64
	bodyLen   int64 // body bytes read
	connClose bool
}

func (p *respParser) reset() {
	p.state = psStatus
	p.nline = 0
	p.headBytes = 0
	p.status = 0
	p.clen = -1
	p.bodyLeft = 0
	p.bodyLen = 0
	p.connClose = false
}

// feed consumes bytes of the response from b, never past its end, and
// returns how many and what it found.
func (p *respParser) feed(b []byte) (int, parseResult) {
	i := 0
	for i < len(b) {
		switch p.state {
		case psBody:
			k := int(min(int64(len(b)-i), p.bodyLeft))
			p.bodyLeft -= int64(k)
			p.bodyLen += int64(k)
			i += k
			if p.bodyLeft == 0 {
				p.state = psDone
				return i, parseDone
			}
		case psDone:
			return i, parseDone
		default:
			c := b[i]
			i++
			p.headBytes++
			if p.headBytes > maxRespHead {
				return i, parseBad
			}
			if c != '\n' {
				if p.nline == len(p.line) {
					return i, parseBad
				}
				p.line[p.nline] = c
				p.nline++
				continue
			}
			line := p.line[:p.nline]
			p.nline = 0
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if r := p.processLine(line); r != parseMore {
				return i, r
			}
			if p.state == psDone {
				return i, parseDone
			}
		}
	}
	return i, parseMore
}

// processLine handles one line of the head.
func (p *respParser) processLine(line []byte) parseResult {
	if p.state == psStatus {
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || !httpwire.IsDigit(line[7]) || line[8] != ' ' ||
			!httpwire.IsDigit(line[9]) || !httpwire.IsDigit(line[10]) || !httpwire.IsDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
			return parseBad
		}
		for _, c := range line {
			if c < ' ' && c != '\t' || c == 0x7f {
				return parseBad
			}
		}
		p.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		if p.status != 200 {
			return parseStatus
		}
		p.state = psHeader
		return parseMore
	}
	if len(line) == 0 {
		// End of the head: a 200 to a GET needs a length to be framed
		// without closing.
		if p.clen < 0 {
			return parseBad
		}
		if p.clen == 0 {
			p.state = psDone
			return parseMore
		}
		p.state = psBody
		p.bodyLeft = p.clen
		return parseMore
	}
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if c <= ' ' || c >= 0x7f {
			return parseBad // not a token (and no obs-fold)
		}
	}
	if colon <= 0 {
		return parseBad
	}
	name, value := line[:colon], httpwire.TrimOWS(line[colon+1:])
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return parseBad
		}
	}
	switch {
	case httpwire.EqualFold(name, "content-length"):
		v, ok := parseDecimal(value)
		if !ok || (p.clen >= 0 && p.clen != v) {
			return parseBad
		}
		p.clen = v
	case httpwire.EqualFold(name, "transfer-encoding"):
		return parseBad // our server never chunks; we do not guess
	case httpwire.EqualFold(name, "connection"):
		if httpwire.EqualFold(value, "close") {
			p.connClose = true
		}
	}
	return parseMore
}

// parseDecimal parses a non-empty decimal number of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !httpwire.IsDigit(c) {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
