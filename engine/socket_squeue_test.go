package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/mono"
)

// stallCore blocks loop on a call and fills its mailbox; the returned
// function lets it go.
func stallCore(t *testing.T, loop *cores.Loop) (release func()) {
	t.Helper()
	entered, let := make(chan struct{}), make(chan struct{})
	if err := loop.Post(func(mono.Time) { close(entered); <-let }); err != nil {
		t.Fatal(err)
	}
	<-entered
	for loop.Post(func(mono.Time) {}) == nil {
	}
	released := false
	release = func() {
		if !released {
			released = true
			close(let)
		}
	}
	t.Cleanup(release)
	return release
}

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

// Close on a core whose mailbox is full waits for room and then posts the
// close itself: the peer sees the FIN.
func TestCloseWithAFullMailboxCloses(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	release := stallCore(t, p.cli.loops[c.(*TCPConn).Socket().core])
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := sc.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("the peer read (%d, %v) after Close, not the FIN", n, err)
	}
}

// A control call on a core whose mailbox is full waits for room, as Send
// and Recv do; the engine has not stopped.
func TestControlCallWithAFullMailboxWaits(t *testing.T) {
	p := newSockPair(t, nil)
	c, _ := dialEchoed(t, p)
	s := c.(*TCPConn).Socket()
	release := stallCore(t, p.cli.loops[s.core])
	done := make(chan error, 1)
	go func() { done <- s.SetSockOpt(SOL_SOCKET, SO_KEEPALIVE, intVal(1)) }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatalf("SO_KEEPALIVE with the mailbox full: %v", err)
	}
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

// Options set on a listener while its cores accept connections reach the
// connections to come (quiet under the race detector).
func TestListenerOptionsWhileAccepting(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	ls := l.(*TCPListener).s
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if err := ls.SetSockOpt(SOL_SOCKET, SO_KEEPALIVE, intVal(i%2)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 10 {
		c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	<-done
}

// A listener closed while its core's mailbox is full stops listening
// there all the same: a connection to its port is refused.
func TestListenerCloseWithAFullMailbox(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	release := stallCore(t, p.srv.loops[0])
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.cli.DialContext(ctx, "tcp", "198.18.0.1:7")
	if err == nil {
		c.Close()
		t.Fatal("a closed listener took a connection")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a closed listener: %v", err)
	}
}
