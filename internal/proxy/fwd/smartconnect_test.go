package fwd

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/tcp"
)

// lateStream is a stream whose client writes its request wait after its
// handshake, as a real client's first bytes follow its ACK.
type lateStream struct {
	stream
	wait  time.Duration
	ready bool
}

func (s *lateStream) Established(c *tcp.Conn) { s.conn = c; c.SetAppTimer(c.Now().Add(s.wait)) }
func (s *lateStream) AppTimer(c *tcp.Conn)    { s.ready = true; s.stream.Writable(c) }
func (s *lateStream) Writable(c *tcp.Conn) {
	if s.ready {
		s.stream.Writable(c)
	}
}

// With smart-connect on, the backend leg's first data carries the last ACK
// of its handshake: the server receives one segment fewer per connection
// and the bytes are the same. Without it the ACK goes alone at once.
func TestSmartConnectSavesTheHandshakeACK(t *testing.T) {
	type result struct {
		got              []byte
		backendSegs      uint64
		deferred, delack uint64
	}
	run := func(smart bool) result {
		n := newTestNet(t)
		cl := n.host(addrClient, tcp.DefaultConfig())
		bk := n.host(addrBack, tcp.DefaultConfig())
		if _, err := bk.Listen(9, 0, &echo{}); err != nil {
			t.Fatal(err)
		}
		cfg := proxyCfg(netip.AddrPortFrom(addrBack, 9))
		cfg.Backends[0].SmartConnect = smart
		_, px := n.proxy(cfg)
		s := &lateStream{stream: stream{out: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")}, wait: 3 * time.Millisecond}
		ft := flow.Tuple{LocalAddr: addrClient.As16(), RemoteAddr: addrProxy.As16(), RemotePort: 80}
		if _, err := cl.Dial(ft, s, n.now); err != nil {
			t.Fatal(err)
		}
		if !n.run(10*time.Second, func() bool { return s.done }) {
			t.Fatalf("smart %v: stream still open", smart)
		}
		if s.err != nil {
			t.Fatalf("smart %v: %v", smart, s.err)
		}
		st := px.Stats()
		return result{got: s.got.Bytes(), backendSegs: bk.Stats()[tcp.StatRcvTotal],
			deferred: st[tcp.StatConnAckDeferred], delack: st[tcp.StatDelAck]}
	}
	off, on := run(false), run(true)
	want := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !bytes.Equal(off.got, want) || !bytes.Equal(on.got, want) {
		t.Fatalf("echoed %q and %q, want %q", off.got, on.got, want)
	}
	if off.deferred != 0 || on.deferred != 1 {
		t.Fatalf("connack_deferred: %d off, %d on; want 0 and 1", off.deferred, on.deferred)
	}
	if on.backendSegs != off.backendSegs-1 {
		t.Fatalf("the server received %d segments with smart-connect, %d without; want one fewer", on.backendSegs, off.backendSegs)
	}
}

// greeter is a server that speaks first: it writes its greeting when the
// connection is established and closes.
type greeter struct{}

func (greeter) Established(c *tcp.Conn) { c.Write([]byte("220 ready\r\n")); c.Close() }
func (greeter) Readable(c *tcp.Conn)    { c.Consume(c.Readable()) }
func (greeter) Writable(*tcp.Conn)      {}
func (greeter) Closed(*tcp.Conn, error) {}

// A server that speaks first, behind smart-connect, gets its connection
// only when the delayed-ACK timer sends the ACK (delacktime): its greeting
// comes that much later, but it comes. That is the option's caveat.
func TestSmartConnectDelaysAServerThatSpeaksFirst(t *testing.T) {
	for _, smart := range []bool{false, true} {
		n := newTestNet(t)
		cl := n.host(addrClient, tcp.DefaultConfig())
		bk := n.host(addrBack, tcp.DefaultConfig())
		if _, err := bk.Listen(25, 0, greeter{}); err != nil {
			t.Fatal(err)
		}
		cfg := proxyCfg(netip.AddrPortFrom(addrBack, 25))
		cfg.Backends[0].SmartConnect = smart
		n.proxy(cfg)
		s := &stream{noShut: true, closeOnEOF: true}
		start := n.now
		n.dial(cl, s)
		if !n.run(10*time.Second, func() bool { return s.got.Len() > 0 }) {
			t.Fatalf("smart %v: no greeting", smart)
		}
		took := n.now.Sub(start)
		if got := s.got.String(); got != "220 ready\r\n" {
			t.Fatalf("smart %v: got %q", smart, got)
		}
		delack := tcp.DefaultConfig().DelAckTime
		if smart && took < delack {
			t.Fatalf("with smart-connect the greeting came after %v, before delacktime %v: the ACK did not wait", took, delack)
		}
		if !smart && took >= delack/4 {
			t.Fatalf("without smart-connect the greeting took %v", took)
		}
		if smart && took > delack+10*time.Millisecond {
			t.Fatalf("with smart-connect the greeting took %v, want about delacktime %v", took, delack)
		}
	}
}
