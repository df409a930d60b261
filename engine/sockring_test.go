package engine

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// pattern fills b with the stream's bytes from offset off on.
func pattern(b []byte, off int) {
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
}

// checkPattern reports the first byte of b that is not the stream's.
func checkPattern(t *testing.T, b []byte, off int) {
	t.Helper()
	for i := range b {
		if want := byte((off + i) % 251); b[i] != want {
			t.Fatalf("byte %d of the stream is %d, want %d", off+i, b[i], want)
		}
	}
}

// A ring keeps the stream's order and counts across its wrap-around,
// whatever the sizes of the writes and reads, and shows full and empty.
func TestByteRingWrapAround(t *testing.T) {
	r := newByteRing(64)
	if r.free() != 64 || r.used() != 0 {
		t.Fatalf("new ring: free %d used %d", r.free(), r.used())
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	w, rd := 0, 0
	wbuf, rbuf := make([]byte, 100), make([]byte, 100)
	for i := 0; i < 20000; i++ {
		n := rnd.IntN(100)
		pattern(wbuf[:n], w)
		room := r.free()
		got := r.write(wbuf[:n])
		if got != min(n, room) {
			t.Fatalf("write of %d with %d free took %d", n, room, got)
		}
		w += got
		if r.used() != w-rd {
			t.Fatalf("used %d, want %d", r.used(), w-rd)
		}
		m := r.read(rbuf[:rnd.IntN(100)])
		checkPattern(t, rbuf[:m], rd)
		rd += m
	}
	// Full, with the data wrapped into two pieces.
	r.reset()
	r.write(make([]byte, 40))
	r.read(make([]byte, 40)) // the indices now sit at 40 mod 64
	full := make([]byte, 64)
	pattern(full, 0)
	if n := r.write(full); n != 64 || r.free() != 0 {
		t.Fatalf("filling: wrote %d, %d free", n, r.free())
	}
	if a, b := r.space(); len(a)+len(b) != 0 {
		t.Fatalf("a full ring offers %d+%d bytes", len(a), len(b))
	}
	if r.write([]byte{1}) != 0 {
		t.Fatal("a full ring took a byte")
	}
	a, b := r.data()
	if len(a) != 24 || len(b) != 40 {
		t.Fatalf("data in pieces of %d and %d, want 24 and 40", len(a), len(b))
	}
	checkPattern(t, append(append([]byte(nil), a...), b...), 0)
	r.consume(64)
	if a, b := r.data(); len(a)+len(b) != 0 || r.read(make([]byte, 1)) != 0 {
		t.Fatal("an empty ring gave bytes")
	}
}

// One producer and one consumer on two goroutines move a stream through
// a small ring intact (the race detector checks the hand-over).
func TestByteRingConcurrent(t *testing.T) {
	r := newByteRing(256)
	const total = 1 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		rnd := rand.New(rand.NewPCG(3, 4))
		buf := make([]byte, 300)
		for w := 0; w < total; {
			n := min(rnd.IntN(300)+1, total-w)
			pattern(buf[:n], w)
			for p := buf[:n]; len(p) > 0; {
				m := r.write(p)
				p, w = p[m:], w+m
				if m == 0 {
					runtime.Gosched()
				}
			}
		}
	}()
	rnd := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 300)
	for rd := 0; rd < total; {
		m := r.read(buf[:rnd.IntN(300)+1])
		if m == 0 {
			runtime.Gosched()
			continue
		}
		checkPattern(t, buf[:m], rd)
		rd += m
	}
	<-done
}

func TestSocketRingSizeChecked(t *testing.T) {
	for _, size := range []int{1000, 2048, 3 << 12, 2 << 20} {
		if _, err := newRingPool(size); err == nil {
			t.Errorf("a ring of %d bytes was taken", size)
		}
	}
	for _, size := range []int{0, MinSocketRing, 64 << 10, MaxSocketRing} {
		if _, err := newRingPool(size); err != nil {
			t.Errorf("ring of %d: %v", size, err)
		}
	}
}

// smallRings makes the engines' rings and TCP buffers small, so that a
// test's streams wrap the rings and fill them many times.
func smallRings(t *testing.T) *sockPair {
	return newSockPairWith(t, func(c *tcp.Config) {
		c.SendSpace, c.RecvSpace = 16<<10, 16<<10
	}, func(c *Config) { c.SocketRing = MinSocketRing })
}

// Two goroutines, one writing and one reading, stream through one
// connection to an echo server at once: rings of 4 KiB wrap and go full
// and empty hundreds of times, and the stream comes back intact.
func TestSocketRingFullDuplexStream(t *testing.T) {
	p := smallRings(t)
	c, sc := dialEchoed(t, p)
	go echo(sc)
	const total = 2 << 20
	werr := make(chan error, 1)
	go func() {
		rnd := rand.New(rand.NewPCG(7, 8))
		buf := make([]byte, 20000)
		for w := 0; w < total; {
			n := min(rnd.IntN(len(buf))+1, total-w)
			pattern(buf[:n], w)
			if _, err := c.Write(buf[:n]); err != nil {
				werr <- err
				return
			}
			w += n
		}
		werr <- nil
	}()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	rnd := rand.New(rand.NewPCG(9, 10))
	buf := make([]byte, 20000)
	for rd := 0; rd < total; {
		n, err := c.Read(buf[:rnd.IntN(len(buf))+1])
		if err != nil {
			t.Fatalf("read at %d: %v", rd, err)
		}
		checkPattern(t, buf[:n], rd)
		rd += n
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}

// A reader that stops reading closes the peer's window: the sender's
// writes stop (EAGAIN) with the window shut and both buffers full, and
// once the reader reads again every byte arrives, in order, none lost.
func TestSocketRingFlowControl(t *testing.T) {
	p := smallRings(t)
	c, sc := dialEchoed(t, p)
	cs, ss := c.(*TCPConn).Socket(), sc.(*TCPConn).Socket()
	cs.SetNonblock(true)
	buf := make([]byte, 1000)
	written := 0
	for last := time.Now(); time.Since(last) < 300*time.Millisecond; {
		pattern(buf, written)
		n, err := cs.Send(buf)
		written += n
		switch {
		case err == syscall.EAGAIN:
			time.Sleep(5 * time.Millisecond)
		case err != nil:
			t.Fatal(err)
		default:
			last = time.Now()
		}
		if written > 10<<20 {
			t.Fatal("10 MiB written to a reader that reads nothing")
		}
	}
	ci, err := cs.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}
	si, err := ss.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}
	// Shut, or under a segment, which silly window avoidance holds back.
	if ci.SndWnd >= uint32(ci.SndMSS) || si.RcvWnd >= uint32(ci.SndMSS) {
		t.Fatalf("after %d bytes the window is open: the sender sees %d, the receiver offers %d", written, ci.SndWnd, si.RcvWnd)
	}
	if si.Unread != 16<<10-int(si.RcvWnd) {
		t.Fatalf("the receiver's TCP buffer holds %d bytes with a window of %d", si.Unread, si.RcvWnd)
	}
	if r := ss.rx.Load(); r == nil || r.free() != 0 {
		t.Fatal("the receiver's ring is not full")
	}
	// Both rings and both TCP buffers full, but for a window under a
	// segment: at least their sum less that.
	if want := 2*MinSocketRing + 2*(16<<10) - ci.SndMSS; written < want {
		t.Fatalf("the sender stopped after %d bytes, want at least %d", written, want)
	}
	cs.SetNonblock(false)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(sc)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	if len(got) != written {
		t.Fatalf("read %d bytes, %d were written", len(got), written)
	}
	checkPattern(t, got, 0)
}

// A read asleep on an empty ring wakes at its deadline, moved there by
// another goroutine; the connection goes on as before after it.
func TestSocketRingReadDeadlineWhileAsleep(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	got := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		got <- err
	}()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	c.SetReadDeadline(start.Add(20 * time.Millisecond))
	select {
	case err := <-got:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past its deadline: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not wake at its deadline")
	}
	c.SetReadDeadline(time.Time{})
	if _, err := sc.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "after" {
		t.Fatalf("read after the deadline: %q %v", buf, err)
	}
}

// A write asleep on a full ring returns at its deadline with the bytes it
// queued; exactly those reach the peer.
func TestSocketRingWriteDeadlineWhileAsleep(t *testing.T) {
	p := smallRings(t)
	c, sc := dialEchoed(t, p)
	big := make([]byte, 1<<20)
	pattern(big, 0)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == len(big) {
		t.Fatalf("write to a peer that does not read: (%d, %v)", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(sc)
	if err != nil || len(got) != n {
		t.Fatalf("the peer read %d bytes (%v), %d were queued", len(got), err, n)
	}
	checkPattern(t, got, 0)
}

// Close wakes a read asleep on an empty ring and a write asleep on a full
// one, from other goroutines; both say the connection is closed.
func TestSocketRingCloseWakesBlockedCalls(t *testing.T) {
	p := smallRings(t)
	c, _ := dialEchoed(t, p)
	rerr, werr := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		rerr <- err
	}()
	go func() {
		_, err := c.Write(make([]byte, 1<<20))
		werr <- err
	}()
	s := c.(*TCPConn).Socket()
	for !s.rdWaiting.Load() || !s.wrWaiting.Load() {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	for _, ch := range []chan error{rerr, werr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked call after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocked call did not return after Close")
		}
	}
}

// Close with bytes the application never read resets the connection, as
// Linux does, though the bytes wait in the ring and not in TCP's buffer.
func TestSocketRingCloseWithUnreadBytesResets(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	if _, err := sc.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	s := c.(*TCPConn).Socket()
	for r := s.rx.Load(); r == nil || r.used() < 6; r = s.rx.Load() {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := sc.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the peer read %v after a close with unread bytes, want ECONNRESET", err)
	}
}

// The FIN of CloseWrite and of Close follows every byte still in the send
// ring, and the rings go back to the pool once the connection is closed.
func TestSocketRingFINFollowsQueuedBytes(t *testing.T) {
	for _, how := range []string{"CloseWrite", "Close"} {
		t.Run(how, func(t *testing.T) {
			p := smallRings(t)
			c, sc := dialEchoed(t, p)
			const total = 30 << 10 // fits in the rings and buffers of both ends
			buf := make([]byte, total)
			pattern(buf, 0)
			if _, err := c.Write(buf); err != nil {
				t.Fatal(err)
			}
			s := c.(*TCPConn).Socket()
			if how == "Close" {
				c.Close()
			} else if err := c.(*TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			sc.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(sc)
			if err != nil || len(got) != total {
				t.Fatalf("the peer read %d bytes (%v), want %d and the FIN", len(got), err, total)
			}
			checkPattern(t, got, 0)
			if how == "CloseWrite" {
				c.Close()
			}
			for held := true; held; time.Sleep(time.Millisecond) {
				p.cli.onCore(s.core, func(*Core) { held = s.rx.Load() != nil || s.tx.Load() != nil })
			}
		})
	}
}

// Many goroutines read, write, set deadlines and close on connections of
// small rings at once (for the race detector); every stream that ends
// without an error comes back whole.
func TestSocketRingConcurrentConnections(t *testing.T) {
	p := smallRings(t)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			size := 50_000 + i*10_000
			go func() {
				buf := make([]byte, size)
				pattern(buf, 0)
				c.SetWriteDeadline(time.Now().Add(30 * time.Second))
				c.Write(buf)
			}()
			if i%3 == 2 {
				go func() { // a close in the middle: the calls end, nothing hangs
					time.Sleep(time.Duration(i) * time.Millisecond)
					c.Close()
				}()
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 3000)
			for rd := 0; rd < size; {
				n, err := c.Read(buf)
				if err != nil {
					if i%3 != 2 {
						t.Errorf("connection %d, read at %d: %v", i, rd, err)
					}
					return
				}
				for j := range n {
					if buf[j] != byte((rd+j)%251) {
						t.Errorf("connection %d: byte %d wrong", i, rd+j)
						return
					}
				}
				rd += n
			}
		}()
	}
	wg.Wait()
}

// Steady-state Read and Write through net.Conn allocate nothing: the
// rings are the connection's, the kick is a pre-built entry, and the
// deadline's timer is made once.
func TestNetConnReadWriteAllocateNothing(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	go echo(sc)
	c.SetDeadline(time.Now().Add(time.Minute))
	msg, buf := []byte("0123456789abcdef"), make([]byte, 16)
	round := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if allocs := testing.AllocsPerRun(500, round); allocs != 0 {
		t.Fatalf("%v allocations per Write and Read", allocs)
	}
}

// A small write that wraps around the send ring's end leaves in one
// segment, not in two pieces, with Nagle off.
func TestSocketRingWrappedWriteIsOneSegment(t *testing.T) {
	p := newSockPairWith(t, nil, func(c *Config) { c.SocketRing = MinSocketRing })
	c, sc := dialEchoed(t, p)
	s := c.(*TCPConn).Socket()
	sent := func() (n uint64) {
		p.cli.onCore(s.core, func(c *Core) { n = c.tcp.Stats()[tcp.StatSndPack] })
		return n
	}
	buf := make([]byte, MinSocketRing)
	for _, n := range []int{MinSocketRing - 50, 100} { // the second wraps
		before := sent()
		pattern(buf[:n], 0)
		if _, err := c.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sc, buf[:n]); err != nil {
			t.Fatal(err)
		}
		checkPattern(t, buf[:n], 0)
		if n == 100 {
			if segs := sent() - before; segs != 1 {
				t.Fatalf("a wrapped write of %d bytes left in %d segments", n, segs)
			}
		}
	}
}

// A connection that ends in order while its bytes still wait in TCP's
// buffer (rx was full: the reader had not read) hands every byte over,
// then io.EOF: the end is said only after the last bytes are in rx.
func TestSocketRingBytesLeftWhenTheConnectionEnds(t *testing.T) {
	p := smallRings(t)
	c, sc := dialEchoed(t, p)
	const total = 18 << 10 // more than rx holds, less than rx and TCP's buffer
	buf := make([]byte, total)
	pattern(buf, 0)
	if _, err := sc.Write(buf); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if err := c.(*TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	s := c.(*TCPConn).Socket()
	lingering := func() (n uint64) {
		p.cli.onCore(s.core, func(c *Core) { n = c.tcp.Stats()[tcp.StatLingerUnread] })
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); lingering() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection did not end with unread bytes")
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) != total {
		t.Fatalf("read %d bytes (%v), want %d and io.EOF", len(got), err, total)
	}
	checkPattern(t, got, 0)
}
