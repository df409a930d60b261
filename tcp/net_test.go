package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// A two-host network for tests: shards A and B joined by a wire that
// carries segments as bytes, with a virtual clock and optional loss.

var (
	addrA = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: 1}
	addrB = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: 2}
)

type packet struct {
	to    *Shard
	tuple flow.Tuple // as the receiver sees it
	b     []byte
	at    mono.Time
}

type testNet struct {
	t      testing.TB
	now    mono.Time
	a, b   *Shard
	queue  []packet
	delay  time.Duration // one-way delay
	loss   float64
	rng    *rand.Rand
	filter func(p *packet) bool // false drops the packet
	sent   []packet             // every packet, for inspection
	keep   bool
}

type netSender struct {
	n    *testNet
	self **Shard
	peer **Shard
	buf  [4096]byte
}

func (s *netSender) Buffer(t *flow.Tuple) []byte { return s.buf[:] }

func (s *netSender) Send(t *flow.Tuple, n int) {
	rt := flow.Tuple{LocalAddr: t.RemoteAddr, RemoteAddr: t.LocalAddr, LocalPort: t.RemotePort, RemotePort: t.LocalPort}
	p := packet{to: *s.peer, tuple: rt, b: bytes.Clone(s.buf[:n]), at: s.n.now.Add(s.n.delay)}
	if s.n.keep {
		s.n.sent = append(s.n.sent, p)
	}
	if s.n.filter != nil && !s.n.filter(&p) {
		return
	}
	if s.n.loss > 0 && s.n.rng.Float64() < s.n.loss {
		return
	}
	s.n.queue = append(s.n.queue, p)
}

func newTestNet(t testing.TB, cfgA, cfgB Config) *testNet {
	n := &testNet{t: t, now: 1e9, delay: 1e6, rng: rand.New(rand.NewPCG(1, 2))}
	sa := &netSender{n: n, self: &n.a, peer: &n.b}
	sb := &netSender{n: n, self: &n.b, peer: &n.a}
	var err error
	if n.a, err = NewShard(cfgA, sa); err != nil {
		t.Fatal(err)
	}
	if n.b, err = NewShard(cfgB, sb); err != nil {
		t.Fatal(err)
	}
	return n
}

// step delivers the packets due and runs timers, advancing the clock to the
// next event (at most by max). It reports whether anything was pending.
func (n *testNet) step(max time.Duration) bool {
	next := n.now.Add(max)
	for _, p := range n.queue {
		if p.at < next {
			next = p.at
		}
	}
	for _, s := range []*Shard{n.a, n.b} {
		if at, ok := s.NextTimer(); ok && at < next {
			next = at
		}
	}
	if next > n.now {
		n.now = next
	}
	// Deliver what is due, in order.
	due := n.queue[:0:0]
	rest := n.queue[:0]
	for _, p := range n.queue {
		if p.at <= n.now {
			due = append(due, p)
		} else {
			rest = append(rest, p)
		}
	}
	n.queue = rest
	for _, p := range due {
		p.to.Receive(&p.tuple, p.b, n.now)
	}
	n.a.Tick(n.now)
	n.b.Tick(n.now)
	return len(due) > 0 || len(n.queue) > 0
}

// run steps until cond holds or the virtual time limit passes.
func (n *testNet) run(limit time.Duration, cond func() bool) bool {
	end := n.now.Add(limit)
	for n.now < end {
		if cond != nil && cond() {
			return true
		}
		n.step(end.Sub(n.now))
	}
	return cond != nil && cond()
}

// recorder is a Handler that records events and can echo or collect data.
type recorder struct {
	conns       []*Conn
	established int
	closed      int
	errs        []error
	data        bytes.Buffer
	onReadable  func(c *Conn)
	onWritable  func(c *Conn)
	closeOnEOF  bool
	toSend      []byte
	scratch     [65536]byte
}

func (r *recorder) Established(c *Conn) {
	r.conns = append(r.conns, c)
	r.established++
	r.pushSend(c)
}

func (r *recorder) Readable(c *Conn) {
	if r.onReadable != nil {
		r.onReadable(c)
		return
	}
	for {
		n := c.Read(r.scratch[:])
		if n == 0 {
			break
		}
		r.data.Write(r.scratch[:n])
	}
	if r.closeOnEOF && c.EOF() {
		c.Close()
	}
}

func (r *recorder) Writable(c *Conn) {
	if r.onWritable != nil {
		r.onWritable(c)
		return
	}
	r.pushSend(c)
}

func (r *recorder) pushSend(c *Conn) {
	for len(r.toSend) > 0 {
		n, err := c.Write(r.toSend)
		if err != nil || n == 0 {
			return
		}
		r.toSend = r.toSend[n:]
	}
}

func (r *recorder) Closed(c *Conn, err error) {
	r.closed++
	r.errs = append(r.errs, err)
}

func tupleAB(port uint16) flow.Tuple {
	return flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, LocalPort: 0, RemotePort: port}
}

func TestHandshakeDataAndOrderlyClose(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	srv := &recorder{closeOnEOF: true}
	if _, err := n.a.Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cli := &recorder{toSend: []byte("hello, pollstack")}
	c, err := n.b.Dial(tupleAB(80), cli, n.now)
	if err != nil {
		t.Fatal(err)
	}
	if c.State() != SynSent {
		t.Fatalf("dialled connection in %v", c.State())
	}
	if !n.run(1e9, func() bool { return srv.data.Len() == 16 }) {
		t.Fatalf("server got %q", srv.data.String())
	}
	if srv.established != 1 || cli.established != 1 {
		t.Fatalf("established: server %d, client %d", srv.established, cli.established)
	}
	sc := srv.conns[0]
	if sc.State() != Established || c.State() != Established {
		t.Fatalf("states %v / %v", sc.State(), c.State())
	}
	// The server answers, the client half-closes, the server closes on EOF.
	sc.Write([]byte("welcome"))
	n.run(1e9, func() bool { return cli.data.Len() == 7 })
	if cli.data.String() != "welcome" {
		t.Fatalf("client got %q", cli.data.String())
	}
	c.CloseWrite()
	if c.State() != FinWait1 {
		t.Fatalf("after CloseWrite: %v", c.State())
	}
	ct := c.Tuple()
	n.run(1e9, func() bool { return stateOf(n.b, c, ct) == TimeWait && srv.closed == 1 })
	if stateOf(n.b, c, ct) != TimeWait || srv.closed != 1 || srv.errs[0] != nil {
		t.Fatalf("client %v, server closed %d %v", stateOf(n.b, c, ct), srv.closed, srv.errs)
	}
	if cli.closed != 1 || cli.errs[0] != nil {
		t.Fatalf("client not told of the close: %d %v", cli.closed, cli.errs)
	}
	if n.a.Conns() != 0 {
		t.Fatalf("server still holds %d connections", n.a.Conns())
	}
	// TIME_WAIT lasts 2*MSL, as an entry, not a connection.
	n.run(2*DefaultMSL-1e9, nil)
	if n.b.TimeWaitEntries() != 1 || n.b.Conns() != 0 || n.b.StateCounts()[TimeWait] != 1 {
		t.Fatalf("before 2MSL: %d TIME_WAIT entries, %d connections", n.b.TimeWaitEntries(), n.b.Conns())
	}
	n.run(2e9, nil)
	if n.b.TimeWaitEntries() != 0 || n.b.StateCounts()[TimeWait] != 0 {
		t.Fatal("TIME_WAIT outlived 2MSL")
	}
	st := n.b.Stats()
	if st[StatConnAttempt] != 1 || st[StatConnects] != 1 || st[StatClosed] != 1 {
		t.Fatalf("client stats: attempt %d connects %d closed %d", st[StatConnAttempt], st[StatConnects], st[StatClosed])
	}
}

func TestSYNToClosedPortGetsRST(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	cli := &recorder{}
	c, _ := n.b.Dial(tupleAB(81), cli, n.now)
	n.run(1e9, func() bool { return cli.closed == 1 })
	if cli.closed != 1 || cli.errs[0] == nil || cli.errs[0].Error() != "connection refused" {
		t.Fatalf("closed %d, errs %v", cli.closed, cli.errs)
	}
	_ = c
	if n.a.Stats()[StatNoPort] != 1 || n.a.Stats()[StatRSTSent] != 1 {
		t.Fatalf("noport %d rstsent %d", n.a.Stats()[StatNoPort], n.a.Stats()[StatRSTSent])
	}
}

func TestBulkTransferWithLoss(t *testing.T) {
	for _, loss := range []float64{0, 0.01, 0.05} {
		n := newTestNet(t, DefaultConfig(), DefaultConfig())
		n.loss = loss
		srv := &recorder{closeOnEOF: true}
		n.a.Listen(80, 0, srv)
		payload := make([]byte, 2<<20)
		fill := rand.New(rand.NewPCG(3, 4))
		for i := range payload {
			payload[i] = byte(fill.Uint32())
		}
		cli := &recorder{toSend: payload}
		var c *Conn
		cli.onWritable = func(cc *Conn) {
			cli.pushSend(cc)
			if len(cli.toSend) == 0 {
				cc.CloseWrite()
			}
		}
		c, _ = n.b.Dial(tupleAB(80), cli, n.now)
		ok := n.run(600e9, func() bool { return srv.closed == 1 })
		if !ok || !bytes.Equal(srv.data.Bytes(), payload) {
			t.Fatalf("loss %.2f: got %d of %d bytes (equal=%v), client %v, server closed %d",
				loss, srv.data.Len(), len(payload), bytes.Equal(srv.data.Bytes(), payload), c.State(), srv.closed)
		}
		st := n.b.Stats()
		t.Logf("loss %.2f: %.1f s virtual; sent %d segments, %d retransmitted, %d RTOs",
			loss, float64(n.now)/1e9, st[StatSndTotal], st[StatSndRexmitPack], st[StatRexmtTimeo])
	}
}
