package tcp

import (
	"bytes"
	"testing"
	"time"
)

// A connection that reaches TIME_WAIT (or the end of LAST_ACK) with bytes
// its application has not read keeps them: the application reads them all
// after the connection's end, and hears Closed only then.
func TestOrderlyEndKeepsUnreadBytes(t *testing.T) {
	for _, serverFirst := range []bool{true, false} {
		name := map[bool]string{true: "time-wait", false: "last-ack"}[serverFirst]
		t.Run(name, func(t *testing.T) {
			n := newTestNet(t, DefaultConfig(), DefaultConfig())
			srv := &recorder{onReadable: func(*Conn) {}} // reads nothing
			if _, err := n.a.Listen(80, 0, srv); err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte("0123456789abcdef"), 1000)
			cli := &recorder{closeOnEOF: true}
			cc, err := n.b.Dial(tupleAB(80), cli, n.now)
			if err != nil {
				t.Fatal(err)
			}
			if !n.run(time.Second, func() bool { return srv.established == 1 && cc.State() == Established }) {
				t.Fatal("no connection")
			}
			sc := srv.conns[0]
			if serverFirst {
				sc.CloseWrite() // the server's FIN first: TIME_WAIT on its side
			}
			if w, err := cc.Write(payload); err != nil || w != len(payload) {
				t.Fatalf("Write = %d, %v", w, err)
			}
			cc.CloseWrite()
			n.run(time.Second, func() bool { return sc.EOF() || sc.State() == Closed })
			if !serverFirst {
				sc.CloseWrite() // LAST_ACK, acknowledged
			}
			n.run(time.Second, func() bool { return sc.State() == Closed })
			if srv.closed != 0 {
				t.Fatal("Closed came before the bytes were read")
			}
			if sc.State() != Closed || sc.Readable() != len(payload) || sc.EOF() {
				t.Fatalf("state %v, readable %d, EOF %v; want CLOSED with %d unread", sc.State(), sc.Readable(), sc.EOF(), len(payload))
			}
			if got := n.a.Stats()[StatLingerUnread]; got != 1 {
				t.Fatalf("linger_unread = %d, want 1", got)
			}
			var got bytes.Buffer
			for {
				a, _ := sc.Peek()
				if len(a) == 0 {
					break
				}
				got.Write(a)
				if srv.closed != 0 {
					t.Fatal("Closed came before the last byte was read")
				}
				sc.Consume(len(a))
			}
			if !bytes.Equal(got.Bytes(), payload) {
				t.Fatalf("read %d bytes, want the %d sent", got.Len(), len(payload))
			}
			if srv.closed != 1 || srv.errs[0] != nil {
				t.Fatalf("Closed %d times, errs %v; want once, nil", srv.closed, srv.errs)
			}
		})
	}
}

// Close (or Abort) on a lingering connection drops the unread bytes and
// delivers Closed.
func TestLingeringCloseDrops(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	srv := &recorder{onReadable: func(*Conn) {}}
	if _, err := n.a.Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cc, err := n.b.Dial(tupleAB(80), &recorder{closeOnEOF: true}, n.now)
	if err != nil {
		t.Fatal(err)
	}
	n.run(time.Second, func() bool { return srv.established == 1 })
	sc := srv.conns[0]
	sc.CloseWrite()
	cc.Write([]byte("unread"))
	cc.CloseWrite()
	n.run(time.Second, func() bool { return sc.State() == Closed })
	if srv.closed != 0 || sc.Readable() != 6 {
		t.Fatalf("closed %d, readable %d", srv.closed, sc.Readable())
	}
	sc.Close()
	if srv.closed != 1 {
		t.Fatalf("Close on a lingering connection: Closed %d times, want 1", srv.closed)
	}
}
