package tcp

import "testing"

// The client of an active open that does not read keeps at most its
// receive buffer: the window it advertised in its SYN (before it knew the
// peer's sequence numbers) must not make later data acceptable.
func TestActiveOpenNeverBuffersBeyondItsWindow(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	srv := &recorder{toSend: make([]byte, 4*DefaultRecvSpace)}
	n.a.Listen(80, 0, srv)
	cli := &recorder{onReadable: func(*Conn) {}} // never reads
	c, err := n.b.Dial(tupleAB(80), cli, n.now)
	if err != nil {
		t.Fatal(err)
	}
	n.run(5e9, func() bool { return false })
	if got := c.Readable(); got > DefaultRecvSpace {
		t.Fatalf("%d bytes buffered, more than the %d-byte receive buffer", got, DefaultRecvSpace)
	}
	if c.Readable() == 0 {
		t.Fatal("nothing received")
	}
	if c.rcvAdv.Sub(c.rcvNxt) > uint32(DefaultRecvSpace) {
		t.Fatalf("rcv_adv %d is %d beyond rcv_nxt", c.rcvAdv, c.rcvAdv.Sub(c.rcvNxt))
	}
}
