package engine

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// idleConns dials n connections to an echo listener on p.srv and runs one
// echo round on each, so that both ends of each hold both rings. It
// returns the client ends; the server ends sit in echo's Read.
func idleConns(t *testing.T, p *sockPair, n int) []net.Conn {
	t.Helper()
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // echo with a small buffer (io.Copy's 32 KiB would be most of the heap)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					if _, err := c.Write(b[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	buf := make([]byte, 64)
	for i := range n {
		c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		echoRound(t, c, i, buf)
	}
	return conns
}

// echoRound writes a message naming i and reads it back.
func echoRound(t *testing.T, c net.Conn, i int, buf []byte) {
	t.Helper()
	msg := []byte("connection " + strconv.Itoa(i) + " says hello")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("connection %d: %v", i, err)
	}
	if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
		t.Fatalf("connection %d: %v", i, err)
	}
	if string(buf[:len(msg)]) != string(msg) {
		t.Fatalf("connection %d: got %q, want %q", i, buf[:len(msg)], msg)
	}
}

// ringsHeld counts the rings the engine's sockets hold, on their cores.
func ringsHeld(e *Engine) int {
	n := 0
	for i := range e.cores {
		_ = e.onCore(i, func(c *Core) {
			for _, s := range c.ringSocks {
				if s.rx.Load() != nil {
					n++
				}
				if s.tx.Load() != nil {
					n++
				}
			}
		})
	}
	return n
}

// Connections left idle give both rings back to the pool within two sweep
// intervals, with a reader asleep on each server end (echo's Read), and
// take fresh ones when bytes flow again: the streams stay whole.
func TestIdleConnectionsGiveBackTheirRings(t *testing.T) {
	sweep := func(c *Config) { c.ringSweep = 50 * time.Millisecond }
	p := newSockPairWith(t, nil, sweep)
	const n = 50
	conns := idleConns(t, p, n)
	if h := ringsHeld(p.srv) + ringsHeld(p.cli); h == 0 {
		t.Fatal("no ring held right after the echo rounds") // the test would prove nothing
	}
	deadline := time.Now().Add(10 * time.Second)
	for ringsHeld(p.srv)+ringsHeld(p.cli) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("rings still held after 10 s: server %d, client %d", ringsHeld(p.srv), ringsHeld(p.cli))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range conns {
		if s := c.(*TCPConn).Socket(); s.rx.Load() != nil || s.tx.Load() != nil {
			t.Fatal("a socket off its core's list holds a ring")
		}
	}
	buf := make([]byte, 64)
	for round := range 3 {
		for i, c := range conns {
			echoRound(t, c, round*n+i, buf)
		}
		time.Sleep(60 * time.Millisecond) // a sweep may fall between rounds
	}
}

// What an idle net.Conn costs, its rings held and given back: n
// connections between two engines over the in-memory link (each an end
// on either side, each end a net.Conn), Go heap after a collection, the
// cores' sweeps off while the rings are held and then run by hand. The
// default 2000 connections; POLLSTACK_MEMTEST=N runs N (up to the client
// address's ephemeral range).
func TestIdleNetConnMemory(t *testing.T) {
	n := 2000
	if v := os.Getenv("POLLSTACK_MEMTEST"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k > 1 {
			n = min(k, 12000)
		}
	}
	p := newSockPairWith(t, nil, func(c *Config) { c.ringSweep = -1 })
	before := memNow()
	conns := idleConns(t, p, n)
	held := memNow()
	if h := ringsHeld(p.srv) + ringsHeld(p.cli); h != 4*n {
		t.Fatalf("%d rings held, want %d (two a connection end)", h, 4*n)
	}
	for range 2 { // the first records each ring's head, the second gives it back
		for _, e := range []*Engine{p.srv, p.cli} {
			_ = e.onCore(0, func(c *Core) { c.sweepRings(c.now) })
		}
	}
	if h := ringsHeld(p.srv) + ringsHeld(p.cli); h != 0 {
		t.Fatalf("%d rings held after two sweeps", h)
	}
	idle := memNow()
	ends := float64(2 * len(conns))
	perHeld := float64(held.heap-before.heap) / ends
	perIdle := float64(idle.heap-before.heap) / ends
	t.Logf("%d connections (%d net.Conns, %d B rings): heap %.0f B a net.Conn holding its rings, %.0f B idle (rings given back); %s before, %s held, %s idle",
		n, 2*n, p.srv.rings.size, perHeld, perIdle, mib(before.heap), mib(held.heap), mib(idle.heap))
	if saved, want := perHeld-perIdle, float64(2*p.srv.rings.size)*0.9; saved < want {
		t.Errorf("giving the rings back saved %.0f B a net.Conn, want at least %.0f", saved, want)
	}
	if perIdle > 4096 {
		t.Errorf("an idle net.Conn takes %.0f B of heap, want at most 4096", perIdle)
	}
	buf := make([]byte, 64)
	for i, c := range conns[:10] { // the connections still work
		echoRound(t, c, i, buf)
	}
}

// With the cores sweeping on every turn, rings go back to the pool and
// come out again between the writes and reads of busy connections (each
// round trip leaves both ends' rings empty): every echoed message comes
// back whole, and the race detector sees the hand-over between the
// application's calls and the core's sweep.
func TestRingsSweptUnderTraffic(t *testing.T) {
	p := newSockPairWith(t, nil, func(c *Config) {
		c.SocketRing = MinSocketRing
		c.ringSweep = time.Nanosecond
	})
	conns := idleConns(t, p, 4)
	done := make(chan struct{})
	for i, c := range conns {
		go func() {
			defer func() { done <- struct{}{} }()
			out, in := make([]byte, 3000), make([]byte, 3000)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			for k := range 300 {
				pattern(out, i*1000+k)
				if _, err := c.Write(out[:1+k*9%3000]); err != nil {
					t.Errorf("connection %d round %d: %v", i, k, err)
					return
				}
				m := 1 + k*9%3000
				if _, err := io.ReadFull(c, in[:m]); err != nil {
					t.Errorf("connection %d round %d: %v", i, k, err)
					return
				}
				if string(in[:m]) != string(out[:m]) {
					t.Errorf("connection %d round %d: bytes differ", i, k)
					return
				}
			}
		}()
	}
	for range conns {
		<-done
	}
	var swept uint64
	for _, e := range []*Engine{p.srv, p.cli} {
		_ = e.onCore(0, func(c *Core) { swept += c.ringsSwept })
	}
	t.Logf("%d rings given back and taken again", swept)
	if swept == 0 {
		t.Fatal("no ring was given back: the test proves nothing")
	}
}
