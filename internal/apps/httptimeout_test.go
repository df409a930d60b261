package apps

import (
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

var _ tcp.AppTimerHandler = (*HTTP)(nil)

// The HTTP app's timeouts on a virtual clock: the wire of apps_test.go
// moves it 1 ms per step.

const (
	testHeaderTimeout    = 2 * time.Second
	testKeepaliveTimeout = 3 * time.Second
)

// servedPair is a server shard running h on port 80 and a client shard.
func servedPair(t *testing.T, h tcp.Handler) (*wire, *tcp.Shard, *tcp.Shard) {
	t.Helper()
	w := &wire{now: 1e9}
	var a, b *tcp.Shard
	var err error
	if a, err = tcp.NewShard(tcp.DefaultConfig(), &sender{w: w, peer: &b}); err != nil {
		t.Fatal(err)
	}
	if b, err = tcp.NewShard(tcp.DefaultConfig(), &sender{w: w, peer: &a}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Listen(80, 0, h); err != nil {
		t.Fatal(err)
	}
	return w, a, b
}

func testHTTP() *HTTP {
	h := NewHTTP(httpapp.Config{})
	h.HeaderTimeout, h.KeepaliveTimeout = testHeaderTimeout, testKeepaliveTimeout
	return h
}

// slowClient writes what the test tells it to, when it tells it to, and
// notes when the server's FIN (or RST) arrived.
type slowClient struct {
	client
	conn *tcp.Conn
	w    *wire
	est  mono.Time // when it was established
	gone mono.Time // when the server closed, 0 while open
}

func (c *slowClient) Established(conn *tcp.Conn) { c.est = c.w.now }
func (c *slowClient) Writable(*tcp.Conn)         {}
func (c *slowClient) Readable(conn *tcp.Conn) {
	c.client.Readable(conn)
	if conn.EOF() && c.gone == 0 {
		c.gone = c.w.now
	}
}
func (c *slowClient) Closed(conn *tcp.Conn, err error) {
	c.client.Closed(conn, err)
	if c.gone == 0 {
		c.gone = c.w.now
	}
}

func (c *slowClient) write(t *testing.T, s string) {
	t.Helper()
	if c.gone != 0 {
		t.Fatalf("writing %q: the server closed at %v", s, c.gone)
	}
	if n, err := c.conn.Write([]byte(s)); n != len(s) || err != nil {
		t.Fatalf("write %q: %d, %v", s, n, err)
	}
}

func dialSlow(t *testing.T, w *wire, a, b *tcp.Shard) *slowClient {
	t.Helper()
	c := &slowClient{w: w}
	conn, err := b.Dial(flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, RemotePort: 80}, c, w.now)
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	conn.SetNoDelay(true) // each write leaves at once: no Nagle behind a delayed ACK
	w.run(a, b, 5)
	if c.est == 0 {
		t.Fatal("not established")
	}
	return c
}

// runFor moves the clock by d.
func (w *wire) runFor(a, b *tcp.Shard, d time.Duration) { w.run(a, b, int(d/time.Millisecond)) }

const getReq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// Slowloris: a header byte every 500 ms keeps no connection past the
// header timeout, counted from the establishment, while a client that
// sends its request at once on another connection is answered.
func TestHTTPHeaderTimeoutClosesSlowloris(t *testing.T) {
	h := testHTTP()
	w, a, b := servedPair(t, h)
	slow := dialSlow(t, w, a, b)
	for i := 0; slow.gone == 0 && i < 20; i++ {
		slow.write(t, getReq[i:i+1])
		w.runFor(a, b, 500*time.Millisecond)
		if i == 1 {
			fast := dialSlow(t, w, a, b)
			fast.write(t, getReq)
			w.run(a, b, 10)
			if !strings.HasPrefix(fast.got.String(), "HTTP/1.1 200 OK") {
				t.Fatalf("the normal client got %q", fast.got.String())
			}
		}
	}
	if slow.gone == 0 {
		t.Fatal("the slowloris connection is still open after 10 s")
	}
	if took := slow.gone.Sub(slow.est); took < testHeaderTimeout || took > testHeaderTimeout+10*time.Millisecond {
		t.Fatalf("closed %v after the establishment, want %v", took, testHeaderTimeout)
	}
	if slow.got.Len() != 0 {
		t.Fatalf("the slowloris client got an answer: %q", slow.got.String())
	}
	if h.HeaderTimeouts != 1 || h.KeepaliveTimeouts != 0 {
		t.Fatalf("header timeouts %d, keep-alive timeouts %d; want 1, 0", h.HeaderTimeouts, h.KeepaliveTimeouts)
	}
	// The client closes in turn; the server's side of it ends.
	w.runFor(a, b, 100*time.Millisecond)
	if a.StateCounts()[tcp.Established] != 1 {
		t.Fatalf("server states %v, want the normal client's connection alone established", a.StateCounts())
	}
}

// A connection that never sends a byte is closed at the header timeout.
func TestHTTPHeaderTimeoutCoversTheWaitForTheFirstByte(t *testing.T) {
	h := testHTTP()
	w, a, b := servedPair(t, h)
	c := dialSlow(t, w, a, b)
	w.runFor(a, b, testHeaderTimeout-10*time.Millisecond)
	if c.gone != 0 {
		t.Fatalf("closed early, at %v", c.gone.Sub(c.est))
	}
	w.runFor(a, b, 20*time.Millisecond)
	if c.gone == 0 || h.HeaderTimeouts != 1 {
		t.Fatalf("gone %v, header timeouts %d", c.gone, h.HeaderTimeouts)
	}
}

// Between requests the keep-alive timeout runs from the last response; a
// request inside it is answered and starts it again; the next head's
// header timeout starts from its first byte, not from the connection's
// establishment, so a head sent slowly but within it is answered.
func TestHTTPKeepaliveTimeout(t *testing.T) {
	h := testHTTP()
	w, a, b := servedPair(t, h)
	c := dialSlow(t, w, a, b)
	c.write(t, getReq)
	w.run(a, b, 10)
	w.runFor(a, b, testKeepaliveTimeout-100*time.Millisecond)
	c.write(t, getReq)
	w.run(a, b, 10)
	if n := strings.Count(c.got.String(), "200 OK"); n != 2 {
		t.Fatalf("%d answers, want 2: %q", n, c.got.String())
	}
	// A head spread over 1.9 s, starting 2.9 s into the idle wait.
	w.runFor(a, b, testKeepaliveTimeout-100*time.Millisecond)
	for i := 0; i < len(getReq); i++ {
		if i > 0 {
			w.runFor(a, b, 1900*time.Millisecond/time.Duration(len(getReq)-1))
		}
		c.write(t, getReq[i:i+1])
	}
	answered := w.now
	w.run(a, b, 10)
	if n := strings.Count(c.got.String(), "200 OK"); n != 3 {
		t.Fatalf("%d answers, want 3 (closed at %v)", n, c.gone)
	}
	w.runFor(a, b, testKeepaliveTimeout-50*time.Millisecond-10*time.Millisecond)
	if c.gone != 0 {
		t.Fatalf("closed %v after the last answer, before the keep-alive timeout", c.gone.Sub(answered))
	}
	w.runFor(a, b, 100*time.Millisecond)
	if c.gone == 0 || h.KeepaliveTimeouts != 1 || h.HeaderTimeouts != 0 {
		t.Fatalf("gone %v, keep-alive timeouts %d, header timeouts %d; want closed, 1, 0", c.gone, h.KeepaliveTimeouts, h.HeaderTimeouts)
	}
}

// A body that keeps coming, however slowly, is read while each byte comes
// within the header timeout of the last; a body that stops is closed.
func TestHTTPBodyTimeout(t *testing.T) {
	h := testHTTP()
	w, a, b := servedPair(t, h)
	c := dialSlow(t, w, a, b)
	c.write(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
	for i := 0; i < 4; i++ {
		w.runFor(a, b, 1500*time.Millisecond)
		c.write(t, "b")
	}
	w.run(a, b, 10)
	if !strings.Contains(c.got.String(), "405") {
		t.Fatalf("the request with a slow body got %q", c.got.String())
	}
	c.write(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbb")
	w.runFor(a, b, testHeaderTimeout+10*time.Millisecond)
	if c.gone == 0 || h.HeaderTimeouts != 1 {
		t.Fatalf("a stalled body: gone %v, header timeouts %d", c.gone, h.HeaderTimeouts)
	}
}

// Zero turns a timeout off.
func TestHTTPTimeoutsOff(t *testing.T) {
	h := testHTTP()
	h.HeaderTimeout, h.KeepaliveTimeout = 0, 0
	w, a, b := servedPair(t, h)
	c := dialSlow(t, w, a, b)
	c.write(t, getReq)
	w.runFor(a, b, 10*time.Second)
	c.write(t, "GE")
	w.runFor(a, b, 10*time.Second)
	if c.gone != 0 || h.HeaderTimeouts+h.KeepaliveTimeouts != 0 {
		t.Fatalf("closed with the timeouts off (at %v)", c.gone)
	}
}

func TestHTTPDefaultTimeouts(t *testing.T) {
	h, err := New("http")
	if err != nil {
		t.Fatal(err)
	}
	hh := h.(*HTTP)
	if hh.HeaderTimeout != 60*time.Second || hh.KeepaliveTimeout != 75*time.Second {
		t.Fatalf("defaults %v, %v; want nginx's 60 s and 75 s", hh.HeaderTimeout, hh.KeepaliveTimeout)
	}
}
