package apps

import (
	"fmt"

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

// HTTP answers HTTP/1.1 requests with httpapp's responder, one per
// connection, recycled through a free list.
type HTTP struct {
	cfg     httpapp.Config
	free    []*httpapp.Responder
	scratch []byte
}

// NewHTTP returns the HTTP app for one core.
func NewHTTP(cfg httpapp.Config) *HTTP {
	return &HTTP{cfg: cfg, scratch: make([]byte, 64<<10)}
}

func (h *HTTP) Established(c *tcp.Conn) {
	var r *httpapp.Responder
	if n := len(h.free); n > 0 {
		r = h.free[n-1]
		h.free = h.free[:n-1]
		r.Reset()
	} else {
		r = httpapp.New(h.cfg)
	}
	c.User = r
}

func (h *HTTP) Readable(c *tcp.Conn) { h.pump(c) }
func (h *HTTP) Writable(c *tcp.Conn) { h.pump(c) }

func (h *HTTP) Closed(c *tcp.Conn, err error) {
	if r, ok := c.User.(*httpapp.Responder); ok {
		h.free = append(h.free, r)
		c.User = nil
	}
}

// pump feeds received bytes to the responder and writes its output while
// the send buffer has room.
func (h *HTTP) pump(c *tcp.Conn) {
	r, ok := c.User.(*httpapp.Responder)
	if !ok {
		return
	}
	for {
		progress := false
		if a, b := c.Peek(); len(a) > 0 {
			n := r.Feed(a)
			if n == len(a) && len(b) > 0 {
				n += r.Feed(b)
			}
			if n > 0 {
				c.Consume(n)
				progress = true
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
	}
}
