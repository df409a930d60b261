package engine

import (
	"context"
	"net"
	"testing"
)

// dialEchoed dials the server's listener and returns the client's
// connection and the server's end of it.
func dialEchoed(t *testing.T, p *sockPair) (c, sc net.Conn) {
	t.Helper()
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c, err = p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	if sc, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })
	return c, sc
}

// Send and Recv enter the squeue without allocating: a write and the read
// of its echo, a blocking read parked on the core and filled there.
func TestSendRecvAllocateNothing(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	go echo(sc)
	s := c.(*TCPConn).Socket()
	msg, buf := []byte("0123456789abcdef"), make([]byte, 64)
	round := func() {
		if _, err := s.Send(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := s.Recv(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	round()
	if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
		t.Fatalf("%v allocations per Send and Recv", allocs)
	}
}
