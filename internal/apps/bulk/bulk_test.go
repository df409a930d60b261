package bulk

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var (
	srvMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	cliMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	srv4   = netip.MustParsePrefix("198.18.0.1/24")
	cli4   = netip.MustParsePrefix("198.18.0.2/24")
)

// collector keeps what it receives and closes when the peer does; it hands
// the bytes over on got when the connection ends.
type collector struct {
	buf bytes.Buffer
	got chan []byte
}

func (c *collector) Established(*tcp.Conn) {}
func (c *collector) Writable(*tcp.Conn)    {}
func (c *collector) Readable(conn *tcp.Conn) {
	a, b := conn.Peek()
	c.buf.Write(a)
	c.buf.Write(b)
	conn.Consume(len(a) + len(b))
	if conn.EOF() {
		conn.Close()
	}
}
func (c *collector) Closed(*tcp.Conn, error) { c.got <- c.buf.Bytes() }

// send runs s from a client engine to a collecting server engine over the
// in-memory link and returns the result and what the server received.
func send(t *testing.T, s *Sender) (*Result, []byte) {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	col := &collector{got: make(chan []byte, 1)}
	tc := tcp.DefaultConfig()
	srv, err := engine.New(engine.Config{MAC: srvMAC, Addrs: []netip.Prefix{srv4}, CPUs: []int{0}, TCP: &tc,
		Listen: []engine.ListenSpec{{Port: 9000, Handler: func(int) tcp.Handler { return col }}}}, []rings.Link{la})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := engine.New(engine.Config{MAC: cliMAC, Addrs: []netip.Prefix{cli4}, CPUs: []int{1}, TCP: &tc}, []rings.Link{lb})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progress bytes.Buffer
	r, err := Run(ctx, cli, cli4.Addr(), netip.AddrPortFrom(srv4.Addr(), 9000), s, &progress)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-col.got:
		return r, got
	case <-time.After(10 * time.Second):
		t.Fatal("the server's connection did not end")
	}
	return nil, nil
}

func TestRunSendsDataThenCloses(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	r, got := send(t, Data(data))
	if err := r.Failure(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("server received %d bytes, not the %d sent", len(got), len(data))
	}
	if r.Bytes != int64(len(data)) || r.Total != r.Bytes || r.Seconds <= 0 || r.SegmentsSent == 0 {
		t.Fatalf("result %+v", r)
	}
	if !strings.HasPrefix(r.String(), "3145745 bytes in ") {
		t.Errorf("summary %q", r.String())
	}
}

func TestRunSendsThePattern(t *testing.T) {
	const n = 200000 // three 64 KiB blocks and part of a fourth
	r, got := send(t, Pattern(n))
	if err := r.Failure(); err != nil {
		t.Fatal(err)
	}
	block := Pattern(1).data
	if len(got) != n || !bytes.Equal(got[:len(block)], block) || !bytes.Equal(got[3*len(block):], block[:n-3*len(block)]) {
		t.Fatalf("server received %d bytes, not the pattern's %d", len(got), n)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"bytes": 200000`) || strings.Contains(js.String(), `"error"`) {
		t.Errorf("json %s: %v", js.String(), err)
	}
}

func TestFailure(t *testing.T) {
	r := &Result{Bytes: 5, Total: 10}
	if err := r.Failure(); err == nil || !strings.Contains(err.Error(), "before everything was sent") {
		t.Errorf("short run: %v", err)
	}
	r.Err = syscall.ECONNRESET
	if err := r.Failure(); !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "connection ended with") {
		t.Errorf("reset run: %v", err)
	}
}
