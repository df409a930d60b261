package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
)

// bulkBuf is the size of each write of the bulk client and each read of the
// sink: large enough that the syscalls, not Go, are the tools' cost.
const bulkBuf = 256 << 10

// sink is the bulk workload's backend: a kernel TCP listener in the
// generator's namespace that reads and discards. It counts the bytes of
// all its connections, and reports each connection's total when it ends.
type sink struct {
	ln    net.Listener
	bytes atomic.Uint64
	done  chan sinkConn
}

// sinkConn is one connection the sink served to its end.
type sinkConn struct {
	Bytes uint64
	Err   error // nil for an orderly end (EOF)
}

// startSink listens on addr in network namespace ns.
func startSink(ns string, addr netip.AddrPort) (*sink, error) {
	s := &sink{done: make(chan sinkConn, 16)}
	err := netns.Do(ns, func() (err error) {
		s.ln, err = net.Listen("tcp4", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bulk sink on %s in %s: %w", addr, ns, err)
	}
	go s.accept()
	return s, nil
}

func (s *sink) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		go s.serve(c)
	}
}

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bulkBuf)
	var n uint64
	for {
		k, err := c.Read(buf)
		n += uint64(k)
		s.bytes.Add(uint64(k))
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			select {
			case s.done <- sinkConn{Bytes: n, Err: err}:
			default: // nobody waits for a stray connection (a probe)
			}
			return
		}
	}
}

// drain forgets the results of connections that ended before a stream.
func (s *sink) drain() {
	for {
		select {
		case <-s.done:
		default:
			return
		}
	}
}

func (s *sink) Close() error { return s.ln.Close() }

// stream is the bulk client: one TCP connection from network namespace ns
// to addr, written to in bulkBuf writes until stop.
type stream struct {
	conn *net.TCPConn
	sent atomic.Uint64
	stop chan struct{}
	done chan error // the writer's end: nil after an orderly close
}

// startStream connects and starts writing.
func startStream(ns string, addr netip.AddrPort) (*stream, error) {
	var c net.Conn
	err := netns.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr.String(), 5*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bulk: connect to %s: %w", addr, err)
	}
	st := &stream{conn: c.(*net.TCPConn), stop: make(chan struct{}), done: make(chan error, 1)}
	go st.write()
	return st, nil
}

func (st *stream) write() {
	buf := make([]byte, bulkBuf)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	for {
		select {
		case <-st.stop:
			st.done <- nil
			return
		default:
		}
		_ = st.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n, err := st.conn.Write(buf)
		st.sent.Add(uint64(n))
		if err != nil {
			st.done <- fmt.Errorf("bulk: write after %d bytes: %w", st.sent.Load(), err)
			return
		}
	}
}

// finish stops the writer, half-closes, and waits (up to timeout) for the
// proxy to pass the FIN on, the sink to see it and close, and that close
// to come back as EOF: an orderly end both ways. It returns the bytes
// sent, and an error for anything else: a write error, a reset, data
// coming back, or a sink that got a different count.
func (st *stream) finish(ctx context.Context, s *sink, timeout time.Duration) (uint64, error) {
	defer st.conn.Close()
	close(st.stop)
	if err := <-st.done; err != nil {
		return st.sent.Load(), err
	}
	sent := st.sent.Load()
	if err := st.conn.CloseWrite(); err != nil {
		return sent, fmt.Errorf("bulk: shutdown(SHUT_WR): %w", err)
	}
	_ = st.conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := io.Copy(io.Discard, st.conn)
	if err != nil {
		return sent, fmt.Errorf("bulk: waiting for the proxy's FIN after %d bytes sent: %w", sent, err)
	}
	if n != 0 {
		return sent, fmt.Errorf("bulk: %d bytes came back from the sink", n)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-s.done:
		if r.Err != nil {
			return sent, fmt.Errorf("bulk: the sink's connection ended with %w after %d bytes", r.Err, r.Bytes)
		}
		if r.Bytes != sent {
			return sent, fmt.Errorf("bulk: sent %d bytes, the sink got %d", sent, r.Bytes)
		}
		return sent, nil
	case <-ctx.Done():
		return sent, ctx.Err()
	case <-t.C:
		return sent, fmt.Errorf("bulk: the sink's connection did not end within %v of the client's", timeout)
	}
}
