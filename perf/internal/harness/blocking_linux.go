package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Blocking is a TCP connection read and written with blocking system
// calls on the calling goroutine's thread, as a C program such as socat or
// iperf3 does it. A Go connection that would block parks its goroutine
// and is woken by whichever runtime thread next polls the network; on a
// machine whose other CPU a busy-polling stack keeps busy, that thread may
// wait there for its turn, and the end of the connection measured reads
// or writes late for reasons of the Go runtime's, not of TCP. A blocking
// call sleeps in the kernel and the kernel wakes that very thread, on the
// CPU it is pinned to (OnCPU).
type Blocking struct {
	c  *net.TCPConn
	fd int
}

// NewBlocking switches c's socket to blocking mode. Reads and writes time
// out at deadline (SO_RCVTIMEO and SO_SNDTIMEO; none if it is zero) with
// os.ErrDeadlineExceeded. The caller closes c when done, and uses the
// Blocking no more after that: it holds c's descriptor, which a close
// frees for reuse.
func NewBlocking(c net.Conn, deadline time.Time) (*Blocking, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("harness: %T is not a TCP connection", c)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &Blocking{c: tc, fd: -1}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		b.fd = int(fd)
		if serr = unix.SetNonblock(b.fd, false); serr != nil {
			return
		}
		if deadline.IsZero() {
			return
		}
		left := max(time.Until(deadline), time.Millisecond)
		tv := unix.NsecToTimeval(left.Nanoseconds())
		for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
			if serr = unix.SetsockoptTimeval(b.fd, unix.SOL_SOCKET, opt, &tv); serr != nil {
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("harness: make the socket blocking: %w", serr)
	}
	return b, nil
}

// errno turns a blocking call's error into what a net.Conn would return.
func errno(op string, err error) error {
	if errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("%s: %w", op, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Read reads once; it returns io.EOF at the peer's end of the stream.
func (b *Blocking) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(b.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, errno("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p.
func (b *Blocking) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(b.fd, p[done:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, errno("write", err)
		}
		done += n
	}
	return done, nil
}

// CloseWrite sends the FIN after what was written.
func (b *Blocking) CloseWrite() error { return b.c.CloseWrite() }
