package harness

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair is a connected pair of loopback TCP connections.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestBlockingCarriesAStreamToItsEnd(t *testing.T) {
	client, server := pair(t)
	w, err := NewBlocking(client, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewBlocking(server, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("pollstack"), 1<<17) // 1.1 MiB: more than the socket buffers hold
	done := make(chan error, 1)
	go func() {
		if _, err := w.Write(want); err != nil {
			done <- err
			return
		}
		done <- w.CloseWrite()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
}

func TestBlockingReadTimesOutAtTheDeadline(t *testing.T) {
	_, server := pair(t)
	r, err := NewBlocking(server, time.Now().Add(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Read(make([]byte, 16))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want a deadline error", err)
	}
	// A socket left non-blocking would say EAGAIN at once.
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("the read returned after %v, before its deadline: it did not block", waited)
	}
}

func TestBlockingWantsATCPConnection(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := NewBlocking(a, time.Time{}); err == nil {
		t.Fatal("a pipe was taken for a TCP connection")
	}
}
