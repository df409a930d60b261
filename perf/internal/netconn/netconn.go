package netconn

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// Pair is an echo server and a connection to it.
type Pair struct {
	Conn  net.Conn
	close []func()
}

// Close stops everything the pair started.
func (p *Pair) Close() {
	for i := len(p.close) - 1; i >= 0; i-- {
		p.close[i]()
	}
}

func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c) // the echo ends when the client closes
		}()
	}
}

// Pollstack returns a connection between two engines over the in-memory
// link, one unpinned core each. The loops sleep in the link as soon as a
// turn finds nothing (a post or a frame wakes them): on a machine whose
// CPUs the application goroutines share with the loops, spinning loops
// take the CPU time the goroutines need (64 empty turns before sleeping
// made the round trip four times slower on 2 CPUs).
func Pollstack() (*Pair, error) {
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
	if err != nil {
		return nil, err
	}
	p := &Pair{close: []func(){func() { la.Close(); lb.Close() }}}
	cfg := tcp.DefaultConfig()
	idle := cores.IdlePolicy{SleepAfter: 1, SleepFor: time.Millisecond}
	mk := func(l rings.Link, mac byte, a4 string) (*engine.Engine, error) {
		e, err := engine.New(engine.Config{MAC: []byte{2, 0, 0, 0, 0, mac}, CPUs: []int{0}, Idle: idle, TCP: &cfg,
			Addrs: []netip.Prefix{netip.MustParsePrefix(a4)}}, []rings.Link{l})
		if err != nil {
			return nil, err
		}
		if err := e.Start(); err != nil {
			return nil, err
		}
		p.close = append(p.close, func() { _ = e.Stop() }) // a measurement's end: nothing to report to
		return e, nil
	}
	srv, err := mk(la, 1, "198.18.0.1/24")
	if err != nil {
		p.Close()
		return nil, err
	}
	cli, err := mk(lb, 2, "198.18.0.2/24")
	if err != nil {
		p.Close()
		return nil, err
	}
	l, err := srv.Listen("tcp", ":7")
	if err != nil {
		p.Close()
		return nil, err
	}
	go serveEcho(l)
	p.close = append(p.close, func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.attach(cli.DialContext(ctx, "tcp", "198.18.0.1:7"))
}

// Kernel returns a connection to an echo server over the kernel's TCP
// loopback.
func Kernel() (*Pair, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go serveEcho(l)
	p := &Pair{close: []func(){func() { l.Close() }}}
	return p.attach(net.Dial("tcp", l.Addr().String()))
}

// attach makes c, dialled with err, the pair's connection; on an error it
// closes what the pair holds.
func (p *Pair) attach(c net.Conn, err error) (*Pair, error) {
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Conn = c
	p.close = append(p.close, func() { c.Close() })
	return p, nil
}

// RoundTrips writes size bytes and reads them back n times.
func RoundTrips(c net.Conn, size, n int) error {
	out := make([]byte, size)
	in := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := c.Write(out); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, in); err != nil {
			return err
		}
	}
	return nil
}

// Measure runs n round trips of size bytes and returns the time per trip.
func Measure(c net.Conn, size, n int) (time.Duration, error) {
	start := time.Now()
	if err := RoundTrips(c, size, n); err != nil {
		return 0, fmt.Errorf("round trips: %w", err)
	}
	return time.Since(start) / time.Duration(n), nil
}
