package fwd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// rawBackend answers the first bytes of each connection with resp, then
// closes when close is set.
type rawBackend struct {
	resp  []byte
	close bool
}

func (b *rawBackend) Established(*tcp.Conn)   {}
func (b *rawBackend) Writable(*tcp.Conn)      {}
func (b *rawBackend) Closed(*tcp.Conn, error) {}
func (b *rawBackend) Readable(c *tcp.Conn) {
	x, _ := c.Peek()
	if len(x) == 0 {
		if c.EOF() {
			c.Close()
		}
		return
	}
	c.Consume(len(x))
	c.Write(b.resp)
	if b.close {
		c.Close()
	}
}

// Whatever a client and a server send, the HTTP proxy neither panics nor
// keeps a connection: once the client has gone and the timeouts have
// passed, no pair is left.
func FuzzHTTPExchange(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint16(10), false)
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), uint16(40), false)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\nxx"), []byte("HTTP/1.1 101 S\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\nyy"), uint16(5), true)
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"), []byte("HTTP/1.0 200 OK\r\n\r\nbody until close"), uint16(3), true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n"), uint16(60), false)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("garbage\r\n\r\n"), uint16(0), false)
	f.Fuzz(func(t *testing.T, req, resp []byte, split uint16, closeAfter bool) {
		n := newTestNet(t)
		cl := n.host(addrClient, tcp.DefaultConfig())
		bk := n.host(addrBack, tcp.DefaultConfig())
		if _, err := bk.Listen(8080, 0, &rawBackend{resp: resp, close: closeAfter}); err != nil {
			t.Fatal(err)
		}
		cfg := httpCfg(netip.AddrPortFrom(addrBack, 8080))
		l, g := &cfg.Listeners[0], &cfg.Backends[0]
		l.HTTPRequestTimeout, l.KeepAliveTimeout, l.ClientTimeout = time.Second, time.Second, time.Second
		g.ServerTimeout, g.ConnectTimeout, g.PoolIdleTimeout = time.Second, time.Second, time.Second
		app, _ := n.proxy(cfg)
		at := min(int(split), len(req))
		s := &stream{out: req[:at], noShut: true, closeOnEOF: true}
		n.dial(cl, s)
		n.run(50*time.Millisecond, nil)
		if s.conn != nil && !s.done {
			s.conn.Write(req[at:])
		}
		n.run(3*time.Second, nil)
		if s.conn != nil && !s.done {
			s.conn.Close()
		}
		n.run(20*time.Second, func() bool { return app.Active() == 0 })
		if app.Active() != 0 {
			t.Fatalf("%d pairs left after the client went and every timeout passed", app.Active())
		}
	})
}
