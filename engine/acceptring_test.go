package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A listener's queue holds its backlog: connections established past it
// are reset and counted in Dropped; the queued ones are accepted and
// work; the ones still queued when the listener closes are reset.
func TestAcceptQueueHoldsTheBacklog(t *testing.T) {
	p := newSockPair(t, nil)
	ls := mustSocket(t, p.srv, false)
	if err := ls.Bind(netip.AddrPortFrom(srvAddr4, 7)); err != nil {
		t.Fatal(err)
	}
	if err := ls.Listen(4); err != nil {
		t.Fatal(err)
	}
	l := &TCPListener{s: ls, network: "tcp"}
	var cs []net.Conn
	for i := range 6 {
		c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
		if err != nil {
			if i >= 4 && errors.Is(err, syscall.ECONNRESET) {
				cs = append(cs, nil) // reset before Dial returned
				continue
			}
			t.Fatal(err)
		}
		cs = append(cs, c)
		defer c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Dropped() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := l.Dropped(); d != 2 {
		t.Fatalf("%d connections dropped, want 2", d)
	}
	// The first four are queued, the last two were reset.
	for i, c := range cs {
		if c == nil {
			continue
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if i < 4 || c == nil {
			continue
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d past the backlog: %v, want ECONNRESET", i, err)
		}
	}
	for i := range 3 {
		sc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		go echo(sc)
		if _, err := cs[i].Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 2)
		if _, err := io.ReadFull(cs[i], b); err != nil || string(b) != "hi" {
			t.Fatalf("connection %d: %q %v", i, b, err)
		}
	}
	l.Close()
	if _, err := cs[3].Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection left queued at the listener's close: %v, want ECONNRESET", err)
	}
}

// Goroutines accept while others dial: every connection is accepted
// exactly once, none is lost between a core's push and a sleeping
// Accept, and the Accepts still waiting return net.ErrClosed at Close.
func TestAcceptRingManyAcceptersAndDialers(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	const accepters, dialers, each = 4, 4, 40
	var mu sync.Mutex
	seen := map[string]int{}
	var wg, dials sync.WaitGroup
	errs := make(chan error, accepters)
	for range accepters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[c.RemoteAddr().String()]++
				mu.Unlock()
				c.Close()
			}
		}()
	}
	var conns sync.Map
	for range dialers {
		dials.Add(1)
		go func() {
			defer dials.Done()
			for range each {
				c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
				if err != nil {
					t.Error(err)
					return
				}
				conns.Store(c.LocalAddr().String(), c)
			}
		}()
	}
	dials.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == dialers*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections accepted", n, dialers*each)
		}
		time.Sleep(time.Millisecond)
	}
	l.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept at Close: %v", err)
		}
	}
	for a, n := range seen {
		if n != 1 {
			t.Errorf("%s accepted %d times", a, n)
		}
		if _, ok := conns.Load(a); !ok {
			t.Errorf("accepted %s, which no dialer made", a)
		}
	}
	conns.Range(func(_, c any) bool { c.(net.Conn).Close(); return true })
}
