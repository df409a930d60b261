package demo

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// genNet runs the load generator on a client shard against a server shard
// over probeWire, with a virtual clock.
type genNet struct {
	t        *testing.T
	w        *probeWire
	srv, cli *tcp.Shard
	g        *loadgen
	now      mono.Time
	step     time.Duration // virtual time per loop turn
}

func newGenNet(t *testing.T, server tcp.Handler, conns, short, perConn int) *genNet {
	n := &genNet{t: t, w: &probeWire{}, now: 1e9, step: 1e5}
	var err error
	if n.srv, err = tcp.NewShard(tcp.DefaultConfig(), &probeSender{w: n.w, peer: &n.cli}); err != nil {
		t.Fatal(err)
	}
	if n.cli, err = tcp.NewShard(tcp.DefaultConfig(), &probeSender{w: n.w, peer: &n.srv}); err != nil {
		t.Fatal(err)
	}
	if server != nil {
		if _, err := n.srv.Listen(ServerPort, 0, server); err != nil {
			t.Fatal(err)
		}
	}
	tu := flow.Tuple{LocalAddr: client4.Addr().As16(), RemoteAddr: server4.Addr().As16(), RemotePort: ServerPort}
	n.g = newLoadgen(n.cli, tu, netip.AddrPortFrom(server4.Addr(), ServerPort).String(), "/", conns, short, perConn, 2e9)
	n.g.running, n.g.measuring = true, true
	return n
}

// run advances the clock by d in steps, as the client loop would.
func (n *genNet) run(d time.Duration) {
	for end := n.now.Add(d); n.now < end; {
		n.now = n.now.Add(n.step)
		n.g.pump(n.now)
		n.w.deliver(n.now)
		n.g.now = n.now
		n.cli.Tick(n.now)
		n.srv.Tick(n.now)
		n.w.deliver(n.now)
	}
}

// drain stops the generator and runs until its connections are gone.
func (n *genNet) drain() {
	n.g.running = false
	for i := 0; i < 100 && n.g.busy() > 0; i++ {
		n.run(1e8)
	}
	if b := n.g.busy(); b > 0 {
		n.t.Fatalf("%d connections left after the drain", b)
	}
}

func TestLoadgenAgainstTheHTTPApp(t *testing.T) {
	for _, tc := range []struct {
		name            string
		conns, short, k int
	}{
		{"short", 4, 4, 100}, {"keep-alive", 4, 0, 10}, {"mixed", 4, 2, 5}, {"one request per keep-alive", 2, 0, 1},
	} {
		n := newGenNet(t, apps.NewHTTP(httpapp.Config{}), tc.conns, tc.short, tc.k)
		n.run(1e8)
		n.drain()
		g := n.g
		if e := g.errors(); e.Total() != 0 {
			t.Errorf("%s: errors %+v", tc.name, e)
		}
		if g.requests == 0 || g.conns == 0 || g.hist.Count() != g.requests {
			t.Errorf("%s: %d requests, %d connections, %d timed", tc.name, g.requests, g.conns, g.hist.Count())
		}
		if tc.short == tc.conns && g.requests != g.conns {
			t.Errorf("%s: %d requests on %d short connections", tc.name, g.requests, g.conns)
		}
		// Every connection but the ones the drain closed made k requests.
		if tc.short == 0 && int64(g.requests) < int64(g.conns)*int64(tc.k)-int64(tc.conns*tc.k) {
			t.Errorf("%s: %d requests on %d connections of %d", tc.name, g.requests, g.conns, tc.k)
		}
		// TIME_WAIT entries are not connections: none may be left.
		if n.cli.Conns() != 0 || n.srv.Conns() != 0 {
			t.Errorf("%s: connections left open: client %v, server %v", tc.name, n.cli.StateCounts(), n.srv.StateCounts())
		}
	}
}

// badServer answers every request with reply, then does what after says.
type badServer struct {
	reply string
	after string // "", "close", "abort"
	// onData, when set, runs instead of replying.
	onData func(c *tcp.Conn)
}

func (b *badServer) Established(*tcp.Conn) {}
func (b *badServer) Readable(c *tcp.Conn) {
	if c.Readable() > 0 {
		c.Consume(c.Readable())
		if b.onData != nil {
			b.onData(c)
			return
		}
		c.Write([]byte(b.reply))
		switch b.after {
		case "close":
			c.Close()
		case "abort":
			c.Abort()
		}
		return
	}
	if c.EOF() {
		c.Close()
	}
}
func (b *badServer) Writable(*tcp.Conn)      {}
func (b *badServer) Closed(*tcp.Conn, error) {}

func TestLoadgenCountsWhatGoesWrong(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name   string
		server tcp.Handler
		short  int
		want   errKind
	}{
		{"404", &badServer{reply: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"}, 1, errStatus},
		{"500 on keep-alive", &badServer{reply: "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"}, 0, errStatus},
		{"garbage status", &badServer{reply: "HTTP/1.1 2x0 OK\r\n\r\n"}, 1, errMalformed},
		{"not HTTP", &badServer{reply: "SSH-2.0-OpenSSH\r\n"}, 1, errMalformed},
		{"no length", &badServer{reply: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello"}, 1, errMalformed},
		{"chunked", &badServer{reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, 1, errMalformed},
		{"lengths disagree", &badServer{reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"}, 1, errMalformed},
		{"bytes after the response", &badServer{reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nokEXTRA"}, 1, errMalformed},
		{"short body then close", &badServer{reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", after: "close"}, 1, errClosed},
		{"close before the response", &badServer{onData: func(c *tcp.Conn) { c.Close() }}, 1, errClosed},
		{"keeps a short connection", &badServer{reply: ok}, 1, errClosed},
		{"closes a keep-alive connection", &badServer{reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", after: "close"}, 0, errClosed},
		{"reset", &badServer{onData: func(c *tcp.Conn) { c.Abort() }}, 1, errReset},
		{"silence", &badServer{onData: func(*tcp.Conn) {}}, 1, errTimeout},
		{"no listener", nil, 1, errRefused},
	} {
		n := newGenNet(t, tc.server, 1, tc.short, 100)
		n.step = 1e6
		n.run(2500e6) // past the 2 s timeout
		e := n.g.errs
		if e[tc.want] == 0 {
			t.Errorf("%s: no %d error: %+v", tc.name, tc.want, n.g.errors())
		}
		for k := errKind(0); k < numErrKinds; k++ {
			if k != tc.want && e[k] != 0 {
				t.Errorf("%s: unexpected error kind %d: %+v", tc.name, k, n.g.errors())
			}
		}
		if n.g.requests != 0 && tc.name != "bytes after the response" {
			t.Errorf("%s: %d requests counted as good", tc.name, n.g.requests)
		}
	}
}
