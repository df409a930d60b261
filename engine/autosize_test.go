package engine

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/pollstack/pollstack/tcp"
)

// A bulk transfer between two engines grows the sender's and the
// receiver's buffers (sendbuf_auto, recvbuf_auto), and getsockopt reports
// the sizes the connection has now, as Linux reports sk_sndbuf and
// sk_rcvbuf; a socket that set SO_RCVBUF keeps what it set.
func TestSocketBuffersGrowAndGetSockOptSaysSo(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	const size = 32 << 20
	conns := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				c.Write(make([]byte, size))
				c.(*TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	get := func(s *Socket, name int) int {
		t.Helper()
		v := make([]byte, 4)
		if _, err := s.GetSockOpt(SOL_SOCKET, name, v); err != nil {
			t.Fatal(err)
		}
		return int(binary.NativeEndian.Uint32(v))
	}
	cfg := tcp.DefaultConfig()
	for _, fixed := range []bool{false, true} {
		s := mustSocket(t, p.cli, false)
		if fixed {
			if err := s.SetSockOpt(SOL_SOCKET, SO_RCVBUF, intVal(100000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Connect(netip.AddrPortFrom(srvAddr4, 9)); err != nil {
			t.Fatal(err)
		}
		c := &TCPConn{s: s, network: "tcp"}
		if n, err := io.Copy(io.Discard, c); n != size || err != nil {
			t.Fatalf("read %d of %d bytes: %v", n, size, err)
		}
		srv := (<-conns).(*TCPConn).Socket()
		rcv, snd := get(s, SO_RCVBUF), get(srv, SO_SNDBUF)
		t.Logf("SO_RCVBUF set %v: receiver's buffer %d, sender's %d", fixed, rcv, snd)
		switch {
		case fixed && rcv != 100000:
			t.Errorf("SO_RCVBUF 100000 set: getsockopt says %d", rcv)
		case !fixed && rcv <= cfg.RecvSpace:
			t.Errorf("after %d bytes the receive buffer is %d, not grown from %d", size, rcv, cfg.RecvSpace)
		}
		if snd > cfg.SendBufMax || !fixed && snd <= cfg.SendSpace {
			t.Errorf("the sender's buffer is %d (sendspace %d, sendbuf_max %d)", snd, cfg.SendSpace, cfg.SendBufMax)
		}
		c.Close()
		srv.Close()
	}
}
