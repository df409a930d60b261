package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// With the listen queue full, a SYN is answered with a cookie, no state is
// kept, and the ACK that returns the cookie makes an ESTABLISHED connection
// that carries data, with the MSS, window scale and SACK it encoded.
func TestSYNCookiesWhenTheListenQueueIsFull(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	srv := &recorder{}
	if _, err := n.a.Listen(80, 1, srv); err != nil {
		t.Fatal(err)
	}
	// Hold the first handshake in SYN_RCVD: drop B's first ACK.
	dropped := false
	n.filter = func(p *packet) bool {
		if p.to == n.a && !dropped && len(p.b) >= 14 && p.b[13] == byte(FlagACK) {
			dropped = true
			return false
		}
		return true
	}
	c1 := &recorder{}
	n.b.Dial(tupleAB(80), c1, n.now)
	n.run(5e6, nil)
	if n.a.StateCounts()[SynReceived] != 1 {
		t.Fatalf("first connection not held in SYN_RCVD: %v", n.a.StateCounts())
	}
	c2 := &recorder{toSend: []byte("through a cookie")}
	conn2, _ := n.b.Dial(tupleAB(80), c2, n.now)
	n.run(1e9, func() bool { return srv.data.Len() == len("through a cookie") })
	st := n.a.Stats()
	if st[StatSCSendCookie] != 1 || st[StatSCRecvCookie] != 1 {
		t.Fatalf("sc_sendcookie %d, sc_recvcookie %d", st[StatSCSendCookie], st[StatSCRecvCookie])
	}
	if srv.data.String() != "through a cookie" {
		t.Fatalf("server got %q", srv.data.String())
	}
	var sc *Conn
	for _, c := range srv.conns {
		if c.tuple.RemotePort == conn2.tuple.LocalPort {
			sc = c
		}
	}
	if sc == nil || sc.State() != Established || !sc.sackOK || !sc.wsOK || !sc.tsOK || sc.mss != 1460 {
		t.Fatalf("cookie connection: %+v", sc)
	}
}

func TestForgedCookieIsRefused(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	n.a.Listen(80, 1, &recorder{})
	n.now = 100e9
	tp := flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, LocalPort: 80, RemotePort: 5555}
	var buf [64]byte
	seg := Segment{SrcPort: 5555, DstPort: 80, Seq: 1001, Ack: 123456, Flags: FlagACK, Window: 100}
	h := Write(buf[:], &seg)
	n.a.Receive(&tp, buf[:h], n.now)
	if n.a.Stats()[StatBadSyn] != 1 || n.a.Conns() != 0 {
		t.Fatalf("badsyn %d, conns %d", n.a.Stats()[StatBadSyn], n.a.Conns())
	}
	// A cookie from two periods ago is stale.
	syn := Segment{SrcPort: 5555, DstPort: 80, Seq: 1000, Flags: FlagSYN}
	cookie := n.a.makeCookie(&tp, &syn)
	n.now = n.now.Add(2 * cookiePeriod)
	seg.Ack = cookie + 1
	h = Write(buf[:], &seg)
	n.a.Receive(&tp, buf[:h], n.now)
	if n.a.Stats()[StatBadSyn] != 2 || n.a.Conns() != 0 {
		t.Fatalf("stale cookie accepted: badsyn %d, conns %d", n.a.Stats()[StatBadSyn], n.a.Conns())
	}
}
