package engine

import (
	"errors"
	"os"
	"testing"
	"time"
)

// Two goroutines wait in Accept on one listener with a deadline: both
// return at the deadline (net.Listener allows concurrent Accept calls).
func TestConcurrentAcceptsBothSeeTheDeadline(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.(*TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := l.Accept()
			errs <- err
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Accept: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("an Accept still waits long past its deadline")
		}
	}
}

// SetReadDeadline may run while another goroutine makes the socket listen
// (quiet under the race detector).
func TestSetReadDeadlineWhileListening(t *testing.T) {
	p := newSockPair(t, nil)
	s := mustSocket(t, p.srv, false)
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			s.SetReadDeadline(time.Now().Add(time.Hour))
		}
	}()
	if err := s.Listen(0); err != nil {
		t.Fatal(err)
	}
	<-done
}
