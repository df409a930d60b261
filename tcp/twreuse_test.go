package tcp

import "testing"

// A client that reuses its port at once finds the server's TIME_WAIT entry
// for the 4-tuple; a SYN whose timestamp is from the same clock tick but
// whose sequence number lies above the old rcv_nxt reopens it without the
// one-second SYN retransmission.
func TestTimeWaitReopenWithinOneTimestampTick(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	n.delay = 20e3
	srv := &recorder{}
	srv.onReadable = func(c *Conn) {
		c.Consume(c.Readable())
		c.Close() // the server closes first and keeps the TIME_WAIT
	}
	n.a.Listen(80, 0, srv)
	tu := tupleAB(80)
	tu.LocalPort = 40000
	for i := 0; i < 3; i++ {
		cli := &recorder{toSend: []byte("x"), closeOnEOF: true}
		start := n.now
		n.b.Dial(tu, cli, n.now)
		if !n.run(5e9, func() bool { return cli.closed == 1 }) {
			t.Fatalf("connection %d did not complete", i)
		}
		if d := n.now - start; i > 0 && d > 100e6 {
			t.Fatalf("connection %d on a reused port took %v ms", i, d/1e6)
		}
		// The client's own TIME_WAIT is not involved: it closed second.
	}
	if got := n.a.Stats()[StatTWReopened]; got != 2 {
		t.Fatalf("tw_reopened = %d, want 2", got)
	}
}
