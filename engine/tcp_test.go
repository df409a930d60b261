package engine

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
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

func pump(a, b *Core, now mono.Time, rounds int) {
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
	tu := flow.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
	now := mono.Time(1e9)
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
	tu := flow.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
	now := mono.Time(1e9)
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

// closedRecorder records how a connection ended.
type closedRecorder struct {
	sinkHandler
	err    error
	closed bool
}

func (h *closedRecorder) Closed(c *tcp.Conn, err error) { h.closed, h.err = true, err }

// A port unreachable about our SYN aborts the connect with ECONNREFUSED
// (icmp_may_rst, RFC 1122 4.2.3.9).
func TestICMPPortUnreachableAbortsSynSent(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		l := newFakeLink(t)
		cfg := tcp.DefaultConfig()
		c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{
			netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")}, TCP: &cfg}, l)
		if err != nil {
			t.Fatal(err)
		}
		// Learn the peer first so that the SYN goes out at once.
		if v6 {
			run(c, l, 0, nsFrame(t, peerIP6, ourIP6))
		} else {
			run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
		}
		h := &closedRecorder{}
		local, remote := ourIP4, peerIP4
		if v6 {
			local, remote = ourIP6, peerIP6
		}
		tu := flow.Tuple{LocalAddr: local.As16(), RemoteAddr: remote.As16(), LocalPort: 40001, RemotePort: 9}
		c.now = 1e9
		if _, err := c.TCP().Dial(tu, h, 1e9); err != nil {
			t.Fatal(err)
		}
		c.Flush()
		out := l.take()
		syn := out[len(out)-1]
		var ipOff = ethHeaderLen
		quoted := syn[ipOff:]
		var icmp []byte
		if v6 {
			quoted = quoted[:ipv6HeaderLen+8]
			icmp = icmp6Frame(t, ourMAC, peerIP6, ourIP6, 64,
				&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, 4)},
				gopacket.Payload(append([]byte{0, 0, 0, 0}, quoted...)))
		} else {
			quoted = quoted[:ipv4MinHeader+8]
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: peerIP4.AsSlice(), DstIP: ourIP4.AsSlice()}
			icmp = serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip,
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(quoted))
		}
		run(c, l, 2e9, icmp)
		if !h.closed || !errors.Is(h.err, syscall.ECONNREFUSED) {
			t.Fatalf("v6=%v: after port unreachable: closed=%v err=%v", v6, h.closed, h.err)
		}
		if c.stats[ICMPUnreachIn] != 1 || c.TCP().Stats()[tcp.StatICMPUnreach] != 1 {
			t.Fatalf("v6=%v: icmp_unreach_in %d, tcp icmp_unreach %d", v6, c.stats[ICMPUnreachIn], c.TCP().Stats()[tcp.StatICMPUnreach])
		}
	}
}
