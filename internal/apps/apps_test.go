package apps

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// wire joins two shards; segments are delivered in order, at once.
type wire struct {
	queue []pkt
	now   mono.Time
}

type pkt struct {
	to *tcp.Shard
	t  flow.Tuple
	b  []byte
}

type sender struct {
	w    *wire
	peer **tcp.Shard
	buf  [4096]byte
}

func (s *sender) Buffer(*flow.Tuple) []byte { return s.buf[:] }
func (s *sender) Send(t *flow.Tuple, n int) {
	rt := flow.Tuple{LocalAddr: t.RemoteAddr, RemoteAddr: t.LocalAddr, LocalPort: t.RemotePort, RemotePort: t.LocalPort}
	s.w.queue = append(s.w.queue, pkt{*s.peer, rt, bytes.Clone(s.buf[:n])})
}

func (w *wire) run(a, b *tcp.Shard, steps int) {
	for i := 0; i < steps; i++ {
		w.now += 1e6
		q := w.queue
		w.queue = nil
		for _, p := range q {
			p.to.Receive(&p.t, p.b, w.now)
		}
		a.Tick(w.now)
		b.Tick(w.now)
	}
}

func pair(t *testing.T, app string) (*wire, *tcp.Shard, *tcp.Shard) {
	t.Helper()
	h, err := New(app)
	if err != nil {
		t.Fatal(err)
	}
	return servedPair(t, h)
}

// client writes what it is given, half-closes when told, collects the reply.
type client struct {
	out      []byte
	halfDone bool
	got      bytes.Buffer
	closed   bool
	err      error
}

func (c *client) Established(conn *tcp.Conn) { c.Writable(conn) }
func (c *client) Writable(conn *tcp.Conn) {
	for len(c.out) > 0 {
		n, _ := conn.Write(c.out)
		if n == 0 {
			return
		}
		c.out = c.out[n:]
	}
	if c.halfDone {
		conn.CloseWrite()
	}
}
func (c *client) Readable(conn *tcp.Conn) {
	a, b := conn.Peek()
	c.got.Write(a)
	c.got.Write(b)
	conn.Consume(len(a) + len(b))
	if conn.EOF() {
		conn.Close()
	}
}
func (c *client) Closed(_ *tcp.Conn, err error) { c.closed, c.err = true, err }

var (
	addrA = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1}
	addrB = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}
)

func dial(t *testing.T, b *tcp.Shard, w *wire, c *client) {
	t.Helper()
	if _, err := b.Dial(flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, RemotePort: 80}, c, w.now); err != nil {
		t.Fatal(err)
	}
}

func TestEchoSendsBackEverythingThenCloses(t *testing.T) {
	w, a, b := pair(t, "echo")
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: more than the buffers hold
	c := &client{out: bytes.Clone(data), halfDone: true}
	dial(t, b, w, c)
	w.run(a, b, 2000)
	if !bytes.Equal(c.got.Bytes(), data) {
		i := 0
		for i < c.got.Len() && c.got.Bytes()[i] == data[i] {
			i++
		}
		t.Fatalf("echoed %d of %d bytes (first difference at %d), closed=%v err=%v, server rcv %d snd %d rexmit %d, client snd %d rcv %d", c.got.Len(), len(data), i, c.closed, c.err, a.Stats()[tcp.StatRcvByte], a.Stats()[tcp.StatSndByte], a.Stats()[tcp.StatSndRexmitByte], b.Stats()[tcp.StatSndByte], b.Stats()[tcp.StatRcvByte])
	}
	if !c.closed || c.err != nil {
		t.Fatalf("client closed=%v err=%v: echo did not close after the half-close", c.closed, c.err)
	}
}

func TestDiscardReadsAndClosesOnEOF(t *testing.T) {
	w, a, b := pair(t, "discard")
	c := &client{out: make([]byte, 200000), halfDone: true}
	dial(t, b, w, c)
	w.run(a, b, 2000)
	if c.got.Len() != 0 || !c.closed || c.err != nil {
		t.Fatalf("got %d bytes back, closed=%v err=%v", c.got.Len(), c.closed, c.err)
	}
	if st := a.Stats(); st[tcp.StatRcvByte] != 200000 {
		t.Fatalf("server received %d bytes", st[tcp.StatRcvByte])
	}
}

func TestHTTPKeepAliveThenClose(t *testing.T) {
	w, a, b := pair(t, "http")
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /?size=100000 HTTP/1.1\r\nHost: x\r\n\r\nGET /?size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	c := &client{out: []byte(req)}
	dial(t, b, w, c)
	w.run(a, b, 1000)
	got := c.got.String()
	if n := strings.Count(got, "HTTP/1.1 200 OK"); n != 3 {
		t.Fatalf("%d responses: %q", n, got[:min(len(got), 300)])
	}
	if !strings.HasSuffix(got, "\r\n\r\nABC") || !c.closed || c.err != nil {
		t.Fatalf("last response or close wrong: closed=%v err=%v tail %q", c.closed, c.err, got[max(0, len(got)-60):])
	}
	if !strings.Contains(got, "Content-Length: 100000") {
		t.Fatal("no 100000-byte response")
	}
}

func TestUnknownApp(t *testing.T) {
	if _, err := New("gopher"); err == nil {
		t.Fatal("unknown app accepted")
	}
}

// talker is a client whose writes the test makes as it goes.
type talker struct {
	client
	conn *tcp.Conn
}

func (c *talker) Established(conn *tcp.Conn) { c.conn = conn }

func (c *talker) say(s string) {
	if n, err := c.conn.Write([]byte(s)); n != len(s) || err != nil {
		panic("talker: short write")
	}
}

// An HTTP connection holds a responder only while a request is in hand: a
// new one before its first byte and a keep-alive one between requests
// hold none, and the next request takes one from the free list again. A
// new one holds no state of the app's either until its first byte.
func TestHTTPIdleConnectionHoldsNoResponder(t *testing.T) {
	h := NewHTTP(httpapp.Config{})
	w, a, b := servedPair(t, h)
	c := &talker{}
	if _, err := b.Dial(flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, RemotePort: 80}, c, w.now); err != nil {
		t.Fatal(err)
	}
	w.run(a, b, 300) // past the delayed ACK that Nagle waits for
	if c.conn == nil || len(h.free) != 0 {
		t.Fatalf("not established (conn %v, free states %d)", c.conn, len(h.free))
	}
	held := func() int { // responders out of the free list (one made per miss)
		return int(h.made) - len(h.rfree)
	}
	if held() != 0 || h.states != 0 {
		t.Fatalf("a connection before its first byte holds %d responders and %d states", held(), h.states)
	}
	c.say("GET / HTTP/1.1\r\nHo")
	w.run(a, b, 300)
	if held() != 1 {
		t.Fatalf("a connection in the middle of a head holds %d responders, want 1", held())
	}
	c.say("st: x\r\n\r\n")
	w.run(a, b, 300)
	if n := strings.Count(c.got.String(), "HTTP/1.1 200 OK"); n != 1 || held() != 0 || len(h.rfree) != 1 {
		t.Fatalf("after one request: %d responses, %d responders held, %d free; got %q", n, held(), len(h.rfree), c.got.String())
	}
	c.say("GET /?size=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
	w.run(a, b, 1000)
	if n := strings.Count(c.got.String(), "HTTP/1.1 200 OK"); n != 2 || held() != 0 || h.made != 1 {
		t.Fatalf("after a second request: %d responses, %d responders held, %d made", n, held(), h.made)
	}
	c.say("GET /?size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	w.run(a, b, 100)
	got := c.got.String()
	if n := strings.Count(got, "HTTP/1.1 200 OK"); n != 3 || !c.closed || !strings.HasSuffix(got, "\r\n\r\nABC") {
		t.Fatalf("after the closing request: %d responses, closed %v, tail %q", n, c.closed, got[max(0, len(got)-40):])
	}
	if held() != 0 || len(h.free) != 1 {
		t.Fatalf("after the close: %d responders held, %d connection states free", held(), len(h.free))
	}
}
