package engine

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
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

// A blocking Recv whose deadline passes while the engine stops does not
// return until its core lets go of the buffer: the core, still finishing
// its last turn, may fill the parked read, and must not write into a
// buffer the caller already got back.
func TestRecvKeepsItsBufferUntilTheCoreLetsGo(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	s := c.(*TCPConn).Socket()
	loop := p.cli.loops[s.core]

	type result struct {
		n    int
		err  error
		seen string // the buffer when Recv returned
	}
	buf := make([]byte, 4)
	got := make(chan result, 1)
	go func() {
		n, err := s.Recv(buf)
		got <- result{n, err, string(buf)}
	}()
	for parked := false; !parked; time.Sleep(time.Millisecond) {
		p.cli.onCore(s.core, func(*Core) { parked = s.rdParked })
	}

	// The core is busy with its last turn: a call that, once let go, has
	// data arrive for the parked read (as a segment would in that turn).
	entered, release := make(chan struct{}), make(chan struct{})
	if err := loop.Post(func(mono.Time) {
		close(entered)
		<-release
		s.leftover = []byte("late")
		s.Readable(s.conn)
	}); err != nil {
		t.Fatal(err)
	}
	<-entered
	stopped := make(chan struct{})
	go func() { p.cli.Stop(); close(stopped) }()
	for loop.Post(func(mono.Time) {}) == nil {
		time.Sleep(time.Millisecond)
	}
	s.SetReadDeadline(time.Now()) // the read gives up: its cancel cannot be posted

	var r result
	returned := false
	select {
	case r = <-got:
		returned = true
	case <-time.After(200 * time.Millisecond):
	}
	// The core is still blocked: reading its field here races with nothing.
	early := returned && s.rdParked
	close(release)
	if early {
		t.Fatalf("Recv returned (%d, %v) while its buffer was still parked on the core", r.n, r.err)
	}
	<-stopped
	if !returned {
		r = <-got
	}
	if after := string(buf); after != r.seen {
		t.Fatalf("Recv returned (%d, %v) with %q in its buffer; the core then wrote %q into it", r.n, r.err, r.seen, after)
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
