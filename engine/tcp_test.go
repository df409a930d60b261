package engine

import (
	"net/netip"
	"testing"

	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// sinkHandler reads and drops what arrives.
type sinkHandler struct {
	conn *tcp.Conn
	got  int
}

func (h *sinkHandler) Established(c *tcp.Conn) { h.conn = c }
func (h *sinkHandler) Readable(c *tcp.Conn)    { n := c.Readable(); c.Consume(n); h.got += n }
func (h *sinkHandler) Writable(c *tcp.Conn)    {}
func (h *sinkHandler) Closed(*tcp.Conn, error) {}

// twoCores joins two cores with TCP over an in-memory link pair, driven by
// hand from one goroutine.
func twoCores(t testing.TB) (a, b *Core) {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{1}
	if a, err = NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}, TCP: &cfg}, la); err != nil {
		t.Fatal(err)
	}
	if b, err = NewCore(CoreConfig{ID: 1, MAC: peerMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")}, TCP: &cfg}, lb); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func pump(a, b *Core, now int64, rounds int) {
	for i := 0; i < rounds; i++ {
		a.Poll(now)
		b.Poll(now)
	}
}

// The established data path — segments in order, ACKs back — allocates
// nothing from the frame on the wire to the byte in the buffer and back.
func TestTCPDataPathAllocatesNothing(t *testing.T) {
	a, b := twoCores(t)
	srv := &sinkHandler{}
	if _, err := a.TCP().Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cli := &sinkHandler{}
	tu := tcp.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
	now := int64(1e9)
	b.now = now
	if _, err := b.TCP().Dial(tu, cli, now); err != nil {
		t.Fatal(err)
	}
	b.Flush()
	pump(a, b, now, 10)
	if cli.conn == nil || srv.conn == nil {
		t.Fatal("no connection")
	}
	payload := make([]byte, 1400)
	round := func() {
		now += 1e5
		b.now = now
		cli.conn.Write(payload)
		pump(a, b, now, 3)
	}
	for i := 0; i < 100; i++ {
		round()
	}
	before := srv.got
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%v allocations per data segment and its ACK", allocs)
	}
	if srv.got-before < 1001*len(payload) {
		t.Fatalf("server got %d bytes, want at least %d", srv.got-before, 1001*len(payload))
	}
}

func BenchmarkTCPDataSegment(b *testing.B) {
	ca, cb := twoCores(b)
	srv := &sinkHandler{}
	ca.TCP().Listen(80, 0, srv)
	cli := &sinkHandler{}
	tu := tcp.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
	now := int64(1e9)
	cb.now = now
	cb.TCP().Dial(tu, cli, now)
	cb.Flush()
	pump(ca, cb, now, 10)
	payload := make([]byte, 1448)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += 1e4
		cb.now = now
		cli.conn.Write(payload)
		pump(ca, cb, now, 2)
	}
}
