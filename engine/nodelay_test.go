package engine

import (
	"syscall"
	"testing"
)

// Connections from Listen and Dial start with TCP_NODELAY set, as package
// net's do; a Socket from (*Engine).Socket keeps BSD's default, off.
func TestNetConnsStartWithNoDelay(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	noDelay := func(s *Socket) int {
		b := make([]byte, 4)
		if _, err := s.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, b); err != nil {
			t.Fatal(err)
		}
		return int(b[0])
	}
	if got := noDelay(c.(*TCPConn).Socket()); got != 1 {
		t.Errorf("dialled connection: TCP_NODELAY %d, want 1", got)
	}
	a := sc.(*TCPConn)
	if got := noDelay(a.Socket()); got != 1 {
		t.Errorf("accepted connection: TCP_NODELAY %d, want 1", got)
	}
	if err := a.SetNoDelay(false); err != nil || noDelay(a.Socket()) != 0 {
		t.Errorf("SetNoDelay(false): %v, TCP_NODELAY %d", err, noDelay(a.Socket()))
	}
	s, err := p.srv.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := noDelay(s); got != 0 {
		t.Errorf("a new Socket: TCP_NODELAY %d, want 0 (BSD's default)", got)
	}
}
