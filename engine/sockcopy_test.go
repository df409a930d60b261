package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// onlyReader hides a reader's other methods (WriterTo), so that io.Copy
// takes the destination's ReadFrom.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// A relay on one engine joins two of its connections with io.Copy each
// way, which goes ring to ring through WriteTo (both on the engine's one
// core); the far end echoes with io.Copy(c, c). 1 MiB of random bytes
// comes back whole, and each half-close crosses the relay.
func TestIOCopyBetweenTwoPollstackConnections(t *testing.T) {
	p := smallRings(t) // rings of 4 KiB: the copy wraps them hundreds of times
	el, err := p.cli.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, el)
	rl, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	relayed := make(chan [2]int64, 1)
	go func() {
		a, err := rl.Accept()
		if err != nil {
			return
		}
		defer a.Close()
		b, err := p.srv.DialContext(context.Background(), "tcp", "198.18.0.2:9")
		if err != nil {
			t.Error(err)
			return
		}
		defer b.Close()
		done := make(chan int64, 1)
		go func() {
			n, err := io.Copy(b, a)
			if err != nil {
				t.Errorf("relay out: %v", err)
			}
			b.(*TCPConn).CloseWrite()
			done <- n
		}()
		n, err := io.Copy(a, b)
		if err != nil {
			t.Errorf("relay back: %v", err)
		}
		a.(*TCPConn).CloseWrite()
		relayed <- [2]int64{<-done, n}
	}()
	c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	const size = 1 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	go func() {
		io.Copy(c, onlyReader{bytes.NewReader(data)}) // c.ReadFrom
		c.(*TCPConn).CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c) // c.WriteTo
	if err != nil || n != size {
		t.Fatalf("%d bytes back, %v; want %d", n, err, size)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the bytes came back changed")
	}
	select {
	case r := <-relayed:
		if r != [2]int64{size, size} {
			t.Fatalf("relay moved %v bytes, want %d each way", r, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not end")
	}
}

// ReadFrom and WriteTo report the connection's errors as net's do, and
// pass the other side's errors through.
func TestReadFromWriteToErrors(t *testing.T) {
	p := newSockPair(t, nil)
	c, sc := dialEchoed(t, p)
	errSrc := errors.New("source broke")
	if _, err := c.(*TCPConn).ReadFrom(io.MultiReader(bytes.NewReader([]byte("ab")), errReader{errSrc})); err != errSrc {
		t.Fatalf("ReadFrom with a failing source: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "ab" {
		t.Fatalf("the bytes before the failure: %q %v", buf, err)
	}
	errDst := errors.New("destination broke")
	c.Write([]byte("xy"))
	if n, err := sc.(*TCPConn).WriteTo(failWriter{errDst}); err != errDst || n != 0 {
		t.Fatalf("WriteTo to a failing destination: %d %v", n, err)
	}
	sc.SetReadDeadline(time.Now().Add(-time.Second))
	var oe *net.OpError
	if _, err := sc.(*TCPConn).WriteTo(io.Discard); !errors.As(err, &oe) || oe.Op != "writeto" || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteTo past the deadline: %v", err)
	}
	c.Close()
	if _, err := c.(*TCPConn).ReadFrom(bytes.NewReader([]byte("z"))); !errors.As(err, &oe) || oe.Op != "readfrom" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// stopAfter passes left bytes to w, then stops the copy with errStop.
type stopAfter struct {
	w    io.Writer
	left int
}

var errStop = errors.New("stop")

func (s *stopAfter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.left -= n
	if err == nil && s.left <= 0 {
		err = errStop
	}
	return n, err
}

// Relaying through ReadFrom and WriteTo allocates nothing in steady
// state: no buffer, and the rings are the connections'.
func TestReadFromWriteToAllocateNothing(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var cs, ss [2]*TCPConn
	for i := range 2 {
		c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		cs[i], ss[i] = c.(*TCPConn), s.(*TCPConn)
		t.Cleanup(func() { c.Close(); s.Close() })
		c.SetDeadline(time.Now().Add(time.Minute))
		s.SetDeadline(time.Now().Add(time.Minute))
	}
	msg, buf := []byte("0123456789abcdef"), make([]byte, 16)
	lr := &io.LimitedReader{}
	stop := &stopAfter{w: ss[1]}
	readFrom := func() { // cs[0] -> ss[0] -ReadFrom-> ss[1] -> cs[1]
		if _, err := cs[0].Write(msg); err != nil {
			t.Fatal(err)
		}
		lr.R, lr.N = ss[0], int64(len(msg))
		if n, err := ss[1].ReadFrom(lr); err != nil || n != int64(len(msg)) {
			t.Fatalf("ReadFrom: %d %v", n, err)
		}
		if _, err := io.ReadFull(cs[1], buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("%q %v", buf, err)
		}
	}
	writeTo := func() { // cs[0] -> ss[0] -WriteTo-> ss[1] -> cs[1]
		if _, err := cs[0].Write(msg); err != nil {
			t.Fatal(err)
		}
		stop.left = len(msg)
		if n, err := ss[0].WriteTo(stop); err != errStop || n != int64(len(msg)) {
			t.Fatalf("WriteTo: %d %v", n, err)
		}
		if _, err := io.ReadFull(cs[1], buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("%q %v", buf, err)
		}
	}
	for name, f := range map[string]func(){"ReadFrom": readFrom, "WriteTo": writeTo} {
		f()
		if allocs := testing.AllocsPerRun(300, f); allocs != 0 {
			t.Errorf("%s: %v allocations a relayed message", name, allocs)
		}
	}
	// What it saves: the same relay through io.Copy's own buffer.
	viaBuffer := func() {
		cs[0].Write(msg)
		stop.left = len(msg)
		io.Copy(stop, onlyReader{io.LimitReader(ss[0], int64(len(msg)))})
		io.ReadFull(cs[1], buf)
	}
	if allocs := testing.AllocsPerRun(50, viaBuffer); allocs == 0 {
		t.Errorf("io.Copy through a buffer allocated nothing: the test above proves nothing")
	}
}

// Close returns at once while a ReadFrom waits in its reader's Read and a
// WriteTo in its writer's Write (as an io.Copy from or to a kernel socket
// would); both return when their other side lets go, and the rings they
// held go back to the pool then.
func TestCloseDoesNotWaitForACopy(t *testing.T) {
	p := newSockPairWith(t, nil, func(c *Config) { c.ringSweep = time.Millisecond })
	c, sc := dialEchoed(t, p)
	pr, pw := io.Pipe() // a reader that blocks until written to
	readFrom := make(chan error, 1)
	go func() {
		_, err := c.(*TCPConn).ReadFrom(pr)
		readFrom <- err
	}()
	pw.Write([]byte("x")) // ReadFrom is in its loop, then waits in pr.Read again
	release := make(chan struct{})
	writeTo := make(chan error, 1)
	go func() {
		_, err := sc.(*TCPConn).WriteTo(blockingWriter{release})
		writeTo <- err
	}()
	time.Sleep(20 * time.Millisecond) // both calls inside their rings
	for _, x := range []net.Conn{c, sc} {
		closed := make(chan struct{})
		go func() { x.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close waits for the copy")
		}
	}
	pw.CloseWithError(errors.New("reader gone"))
	close(release)
	if err := <-readFrom; err == nil || err.Error() != "reader gone" {
		t.Fatalf("ReadFrom: %v", err)
	}
	if err := <-writeTo; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ringsHeld(p.srv)+ringsHeld(p.cli) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("rings still held after the close: server %d, client %d", ringsHeld(p.srv), ringsHeld(p.cli))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingWriter takes nothing until released, then everything.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}
