package apps

import (
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// flatWire is a wire that allocates nothing once made: a fixed queue of
// frame-sized buffers.
type flatWire struct {
	now  mono.Time
	q    [2][64]flatPkt // double buffer: delivering one while the other fills
	n    [2]int
	cur  int
	a, b *tcp.Shard
}

type flatPkt struct {
	to  *tcp.Shard
	t   flow.Tuple
	n   int
	buf [4096]byte
}

type flatSender struct {
	w      *flatWire
	toPeer func() *tcp.Shard
}

func (s *flatSender) Buffer(*flow.Tuple) []byte {
	w := s.w
	if w.n[w.cur] == len(w.q[w.cur]) {
		return nil
	}
	return w.q[w.cur][w.n[w.cur]].buf[:]
}

func (s *flatSender) Send(t *flow.Tuple, n int) {
	w := s.w
	p := &w.q[w.cur][w.n[w.cur]]
	p.to, p.n = s.toPeer(), n
	p.t = flow.Tuple{LocalAddr: t.RemoteAddr, RemoteAddr: t.LocalAddr, LocalPort: t.RemotePort, RemotePort: t.LocalPort}
	w.n[w.cur]++
}

func (w *flatWire) step() {
	w.now += 1e6
	q := w.cur
	w.cur ^= 1
	for i := 0; i < w.n[q]; i++ {
		p := &w.q[q][i]
		p.to.Receive(&p.t, p.buf[:p.n], w.now)
	}
	w.n[q] = 0
	w.a.Tick(w.now)
	w.b.Tick(w.now)
}

// countClient sends a request whenever the last answer is in, and counts
// the bytes it gets.
type countClient struct {
	conn *tcp.Conn
	got  int
}

func (c *countClient) Established(conn *tcp.Conn) { c.conn = conn }
func (c *countClient) Readable(conn *tcp.Conn)    { n := conn.Readable(); conn.Consume(n); c.got += n }
func (c *countClient) Writable(*tcp.Conn)         {}
func (c *countClient) Closed(*tcp.Conn, error)    {}

// Keep-alive requests with both timeouts pushed on each one allocate
// nothing on the server (nor anywhere on this wire).
func TestHTTPTimeoutsAllocateNothingPerRequest(t *testing.T) {
	w := &flatWire{now: 1e9}
	var err error
	if w.a, err = tcp.NewShard(tcp.DefaultConfig(), &flatSender{w: w, toPeer: func() *tcp.Shard { return w.b }}); err != nil {
		t.Fatal(err)
	}
	if w.b, err = tcp.NewShard(tcp.DefaultConfig(), &flatSender{w: w, toPeer: func() *tcp.Shard { return w.a }}); err != nil {
		t.Fatal(err)
	}
	h := NewHTTP(httpapp.Config{})
	h.HeaderTimeout, h.KeepaliveTimeout = 2*time.Second, 3*time.Second
	if _, err := w.a.Listen(80, 0, h); err != nil {
		t.Fatal(err)
	}
	cli := &countClient{}
	if _, err := w.b.Dial(flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, RemotePort: 80}, cli, w.now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		w.step()
	}
	if cli.conn == nil {
		t.Fatal("not established")
	}
	cli.conn.SetNoDelay(true)
	req := []byte(getReq)
	round := func() {
		cli.conn.Write(req)
		for i := 0; i < 3; i++ {
			w.step()
		}
	}
	for i := 0; i < 100; i++ {
		round()
	}
	before := cli.got
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
	if per := (cli.got - before) / 1001; per < 80 {
		t.Fatalf("%d response bytes per request", per)
	}
	if h.HeaderTimeouts+h.KeepaliveTimeouts != 0 {
		t.Fatal("a timeout fired")
	}
}
