package tcp

import (
	"testing"
	"time"
)

// Within a receive batch, full in-order segments earn one ACK at its end
// instead of one per two segments; outside a batch, one per two.
func TestBatchSendsOneACKPerBatch(t *testing.T) {
	for _, batch := range []bool{false, true} {
		n := newTestNet(t, DefaultConfig(), DefaultConfig())
		n.keep = true
		srv := &recorder{}
		if _, err := n.a.Listen(80, 0, srv); err != nil {
			t.Fatal(err)
		}
		cli := &recorder{}
		cc, err := n.b.Dial(tupleAB(80), cli, n.now)
		if err != nil {
			t.Fatal(err)
		}
		n.run(time.Second, func() bool { return srv.established == 1 })
		// Hold B's segments back, then deliver 10 full ones to A at once.
		var held []packet
		n.filter = func(p *packet) bool {
			if p.to == n.a {
				held = append(held, *p)
				return false
			}
			return true
		}
		mss := cc.segSize()
		if w, _ := cc.Write(make([]byte, 10*mss)); w != 10*mss {
			t.Fatalf("wrote %d", w)
		}
		if len(held) != 10 {
			t.Fatalf("%d segments held, want 10 (initial window)", len(held))
		}
		n.filter = nil
		acksBefore := n.a.Stats()[StatSndAcks]
		sentBefore := len(n.sent)
		if batch {
			n.a.BeginBatch()
		}
		for _, p := range held {
			n.a.Receive(&p.tuple, p.b, n.now)
		}
		if batch {
			if got := len(n.sent) - sentBefore; got != 0 {
				t.Fatalf("batch: %d segments sent before its end, want 0", got)
			}
			n.a.EndBatch(n.now)
		}
		acks := n.a.Stats()[StatSndAcks] - acksBefore
		want := uint64(5)
		if batch {
			want = 1
		}
		if acks != want {
			t.Fatalf("batch %v: %d ACKs for 10 segments, want %d", batch, acks, want)
		}
		// The one ACK covers everything: the sender has nothing in flight.
		n.run(time.Second, func() bool { return cc.inFlight() == 0 })
		if cc.inFlight() != 0 || srv.data.Len() != 10*mss {
			t.Fatalf("batch %v: %d bytes in flight, %d received", batch, cc.inFlight(), srv.data.Len())
		}
	}
}

// A batch's deferred ACK is not sent twice when data sent in the batch
// carried it, and a connection that closed in the batch is skipped.
func TestBatchACKRidesOnData(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	echo := &recorder{}
	echo.onReadable = func(c *Conn) {
		a, _ := c.Peek()
		w, _ := c.Write(a)
		c.Consume(w)
	}
	if _, err := n.a.Listen(80, 0, echo); err != nil {
		t.Fatal(err)
	}
	cli := &recorder{}
	cc, _ := n.b.Dial(tupleAB(80), cli, n.now)
	n.run(time.Second, func() bool { return echo.established == 1 })
	var held []packet
	n.filter = func(p *packet) bool {
		if p.to == n.a {
			held = append(held, *p)
			return false
		}
		return true
	}
	cc.Write(make([]byte, 2*cc.segSize()))
	n.filter = nil
	acks := n.a.Stats()[StatSndAcks]
	n.a.BeginBatch()
	for _, p := range held {
		n.a.Receive(&p.tuple, p.b, n.now)
	}
	n.a.EndBatch(n.now)
	if got := n.a.Stats()[StatSndAcks] - acks; got != 0 {
		t.Fatalf("%d pure ACKs sent, want 0: the echoed data carried the ACK", got)
	}
}

// Data written within a receive batch leaves at its end, in full
// segments: an answer written in three pieces from Readable is one segment
// (carrying the ACK the batch owed), where outside a batch each piece is
// one.
func TestBatchDefersWrites(t *testing.T) {
	for _, batch := range []bool{false, true} {
		n := newTestNet(t, DefaultConfig(), DefaultConfig())
		n.keep = true
		srv := &recorder{}
		srv.onReadable = func(c *Conn) {
			x, _ := c.Peek()
			c.Consume(len(x))
			c.SetNoDelay(true)
			for _, piece := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n\r\n", "ok"} {
				c.Write([]byte(piece))
			}
		}
		if _, err := n.a.Listen(80, 0, srv); err != nil {
			t.Fatal(err)
		}
		cli := &recorder{}
		cc, err := n.b.Dial(tupleAB(80), cli, n.now)
		if err != nil {
			t.Fatal(err)
		}
		n.run(time.Second, func() bool { return srv.established == 1 })
		var held []packet
		n.filter = func(p *packet) bool {
			if p.to == n.a {
				held = append(held, *p)
				return false
			}
			return true
		}
		cc.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		n.filter = nil
		sentBefore := len(n.sent)
		if batch {
			n.a.BeginBatch()
		}
		for _, p := range held {
			n.a.Receive(&p.tuple, p.b, n.now)
		}
		if batch {
			if got := len(n.sent) - sentBefore; got != 0 {
				t.Fatalf("batch: %d segments sent before its end, want 0", got)
			}
			n.a.EndBatch(n.now)
		}
		var data []int
		for _, p := range n.sent[sentBefore:] {
			if p.to == n.b {
				if l := len(p.b) - int(p.b[12]>>4)*4; l > 0 {
					data = append(data, l)
				}
			}
		}
		want := 3
		if batch {
			want = 1
		}
		if len(data) != want {
			t.Fatalf("batch %v: answer in segments of %v bytes, want %d segment(s)", batch, data, want)
		}
		n.run(time.Second, func() bool { return cli.data.Len() == 40 })
		if cli.data.String() != "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
			t.Fatalf("client got %q", cli.data.String())
		}
	}
}
