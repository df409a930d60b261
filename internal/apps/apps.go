package apps

import (
	"fmt"
	"time"

	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/tcp"
)

// Names lists the apps New knows.
var Names = []string{"echo", "discard", "http"}

// New returns a fresh handler for one core.
func New(name string) (tcp.Handler, error) {
	switch name {
	case "echo":
		return &Echo{}, nil
	case "discard":
		return Discard{}, nil
	case "http":
		return NewHTTP(httpapp.Config{}), nil
	}
	return nil, fmt.Errorf("unknown app %q", name)
}

// Echo sends back what it receives until the peer half-closes, then sends
// what is left and closes.
type Echo struct{}

func (Echo) Established(c *tcp.Conn) {}
func (e Echo) Readable(c *tcp.Conn)  { e.pump(c) }
func (e Echo) Writable(c *tcp.Conn)  { e.pump(c) }
func (Echo) Closed(*tcp.Conn, error) {}

// pump moves as much as the send buffer takes from the receive buffer.
func (Echo) pump(c *tcp.Conn) {
	for {
		a, b := c.Peek()
		if len(a) == 0 {
			break
		}
		n, err := c.Write(a)
		if err != nil {
			c.Abort()
			return
		}
		if n == len(a) && len(b) > 0 {
			m, _ := c.Write(b)
			n += m
		}
		c.Consume(n)
		if n == 0 {
			break
		}
	}
	if c.EOF() && c.Readable() == 0 {
		c.Close()
	}
}

// Discard reads and drops everything; it closes when the peer does.
type Discard struct{}

func (Discard) Established(c *tcp.Conn) {}
func (Discard) Readable(c *tcp.Conn) {
	c.Consume(c.Readable())
	if c.EOF() {
		c.Close()
	}
}
func (Discard) Writable(c *tcp.Conn)    {}
func (Discard) Closed(*tcp.Conn, error) {}

// Defaults of the HTTP app's timeouts: nginx's.
const (
	// DefaultHTTPHeaderTimeout is how long a request head may take to
	// arrive whole (nginx's client_header_timeout).
	DefaultHTTPHeaderTimeout = 60 * time.Second
	// DefaultHTTPKeepaliveTimeout is how long a connection may wait idle
	// for its next request (nginx's keepalive_timeout).
	DefaultHTTPKeepaliveTimeout = 75 * time.Second
)

// HTTP answers HTTP/1.1 requests with httpapp's responder, one per
// connection while it has a request in hand, recycled through a free list.
// A connection that waits for a request with nothing in flight (a new one
// before its first byte, a keep-alive one between requests) holds no
// responder, only a few words of state, as nginx frees an idle connection's
// header buffer: an idle connection costs its control block and little
// more, and a crowd of idle ones leaves few spans behind once it is gone.
//
// Its timeouts use the connection's application timer (tcp.Conn.SetAppTimer),
// so they cost no goroutine, no clock read and no allocation per request:
//   - HeaderTimeout bounds a request head, from the connection's
//     establishment for the first request and from the head's first byte
//     for the next ones; bytes arriving slowly do not extend it (slowloris).
//     While a request body is read, it is instead the longest wait between
//     two reads that make progress (nginx's client_body_timeout, which has
//     the same default);
//   - KeepaliveTimeout bounds the wait between requests, from the moment
//     the last response was written whole into the send buffer;
//   - while responses are waiting for room in the send buffer neither runs
//     (TCP's persist and retransmission limits bound a peer that stops
//     reading).
//
// A connection that times out is closed as nginx closes it: no response, a
// FIN (a RST when unread bytes are left, as Close does). Zero disables a
// timeout.
type HTTP struct {
	cfg httpapp.Config
	// HeaderTimeout and KeepaliveTimeout are the timeouts above; NewHTTP
	// sets the defaults. Set them before the app serves a connection.
	HeaderTimeout, KeepaliveTimeout time.Duration
	// HeaderTimeouts and KeepaliveTimeouts count the connections each
	// closed (on this core; read them on it).
	HeaderTimeouts, KeepaliveTimeouts uint64

	free    []*httpConn          // connection states for reuse
	rfree   []*httpapp.Responder // responders for reuse
	made    uint64               // responders made (for tests)
	states  uint64               // connection states made (for tests)
	scratch []byte
}

// httpConn is the app's state of one connection (tcp.Conn.User).
type httpConn struct {
	r     *httpapp.Responder // nil while the connection is idle
	phase uint8
	reqs  uint64 // requests answered when the phase's deadline was set
	done  uint64 // requests answered by responders given back
}

// requests returns the requests answered on the connection.
func (hc *httpConn) requests() uint64 {
	if hc.r == nil {
		return hc.done
	}
	return hc.done + hc.r.Requests()
}

// A connection's phase, which says which timeout runs.
const (
	phaseHead  = iota // waiting for or reading a head: HeaderTimeout from its start
	phaseBody         // reading a body: HeaderTimeout from the last read
	phaseIdle         // between requests: KeepaliveTimeout
	phaseWrite        // responses pending: none
)

// NewHTTP returns the HTTP app for one core, with the default timeouts.
func NewHTTP(cfg httpapp.Config) *HTTP {
	return &HTTP{cfg: cfg, scratch: make([]byte, 64<<10),
		HeaderTimeout: DefaultHTTPHeaderTimeout, KeepaliveTimeout: DefaultHTTPKeepaliveTimeout}
}

// Established arms the first request's head deadline. The connection gets
// its state (httpConn) with its first bytes: until then c.User is nil, and
// a connection that is opened and left idle costs the app nothing.
func (h *HTTP) Established(c *tcp.Conn) {
	c.User = nil
	h.setTimer(c, h.HeaderTimeout)
}

// newState gives the connection its state, when its first bytes came.
func (h *HTTP) newState(c *tcp.Conn) *httpConn {
	var hc *httpConn
	if n := len(h.free); n > 0 {
		hc = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		hc = &httpConn{}
		h.states++
	}
	*hc = httpConn{phase: phaseHead}
	c.User = hc
	return hc
}

func (h *HTTP) Readable(c *tcp.Conn) { h.pump(c) }
func (h *HTTP) Writable(c *tcp.Conn) { h.pump(c) }

func (h *HTTP) Closed(c *tcp.Conn, err error) {
	if hc, ok := c.User.(*httpConn); ok {
		h.release(hc)
		if len(h.free) < maxFreeHTTPConns {
			h.free = append(h.free, hc)
		}
		c.User = nil
	}
}

// maxFreeHTTPConns bounds the connection states and the responders (about
// 1.2 KiB each) a core keeps for reuse: past it, a closed connection's go
// to the collector, so that the memory of a crowd of connections goes back
// once they are gone.
const maxFreeHTTPConns = 1024

// acquire gives hc a responder, from the free list when it has one.
func (h *HTTP) acquire(hc *httpConn) {
	if n := len(h.rfree); n > 0 {
		hc.r = h.rfree[n-1]
		h.rfree = h.rfree[:n-1]
		hc.r.Reset()
		return
	}
	hc.r = httpapp.New(h.cfg)
	h.made++
}

// release takes hc's responder back, keeping its count of requests.
func (h *HTTP) release(hc *httpConn) {
	if hc.r == nil {
		return
	}
	hc.done += hc.r.Requests()
	if len(h.rfree) < maxFreeHTTPConns {
		h.rfree = append(h.rfree, hc.r)
	}
	hc.r = nil
}

// AppTimer closes a connection whose request head (or body) or keep-alive
// wait took too long.
func (h *HTTP) AppTimer(c *tcp.Conn) {
	phase := uint8(phaseHead) // nothing came yet
	if hc, ok := c.User.(*httpConn); ok {
		phase = hc.phase
	}
	switch phase {
	case phaseHead, phaseBody:
		h.HeaderTimeouts++
	case phaseIdle:
		h.KeepaliveTimeouts++
	default:
		return
	}
	c.Close()
}

// setTimer arms the connection's timer d from now; d == 0 disarms it.
func (h *HTTP) setTimer(c *tcp.Conn, d time.Duration) {
	if d <= 0 {
		c.SetAppTimer(0)
		return
	}
	c.SetAppTimer(c.Now().Add(d))
}

// arm sets the timeout of the connection's phase after a pump; fed says
// whether bytes were consumed.
func (h *HTTP) arm(c *tcp.Conn, hc *httpConn, fed bool) {
	r := hc.r
	reqs := hc.requests()
	switch {
	case r.Pending() > 0:
		if hc.phase != phaseWrite {
			hc.phase = phaseWrite
			c.SetAppTimer(0)
		}
	case r.InBody():
		if fed || hc.phase != phaseBody {
			hc.phase = phaseBody
			h.setTimer(c, h.HeaderTimeout)
		}
	case r.InHead():
		if hc.phase != phaseHead || hc.reqs != reqs {
			hc.phase, hc.reqs = phaseHead, reqs
			h.setTimer(c, h.HeaderTimeout)
		}
		return
	case reqs == 0:
		// Nothing of the first request yet: its head deadline runs from
		// the establishment.
	case hc.phase != phaseIdle || hc.reqs != reqs:
		hc.phase, hc.reqs = phaseIdle, reqs
		h.setTimer(c, h.KeepaliveTimeout)
	}
	// Between requests with nothing in flight: the responder goes back.
	if r.Pending() == 0 && !r.InBody() && !r.Done() {
		h.release(hc)
	}
}

// pump feeds received bytes to the responder and writes its output while
// the send buffer has room, then sets the timeout of where the connection
// stands.
func (h *HTTP) pump(c *tcp.Conn) {
	hc, _ := c.User.(*httpConn)
	if hc == nil || hc.r == nil {
		if c.Readable() == 0 {
			if c.EOF() {
				c.Close()
			}
			return
		}
		if hc == nil {
			hc = h.newState(c)
		}
		h.acquire(hc)
	}
	r := hc.r
	fed := false
	for {
		progress := false
		if a, b := c.Peek(); len(a) > 0 {
			n := r.Feed(a)
			if n == len(a) && len(b) > 0 {
				n += r.Feed(b)
			}
			if n > 0 {
				c.Consume(n)
				progress, fed = true, true
			}
		}
		for r.Pending() > 0 {
			w := min(c.Writable(), len(h.scratch))
			if w == 0 {
				break
			}
			n := r.Read(h.scratch[:w])
			if n == 0 {
				break
			}
			if _, err := c.Write(h.scratch[:n]); err != nil {
				c.Abort()
				return
			}
			progress = true
		}
		if !progress {
			break
		}
	}
	if r.Pending() == 0 && (r.Done() || c.EOF()) {
		c.Close()
		return
	}
	h.arm(c, hc, fed)
}
