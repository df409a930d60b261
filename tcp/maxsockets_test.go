package tcp

import (
	"errors"
	"syscall"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// openFrom completes a passive open from the peer's port port with ISN iss.
func (p *peer) openFrom(port uint16, iss flow.Seq) *Conn {
	p.t.Helper()
	p.tuple.RemotePort, p.iss, p.hiSet = port, iss, false
	return p.open()
}

// kern.ipc.maxsockets split over two cores: a core's share is 2. The third
// SYN gets no answer at all and is counted; the two connections keep being
// served; raising the limit through the registry lets the SYN's
// retransmission in, and lowering it below what is open closes nothing.
func TestMaxSocketsRefusesTheSYNBeyondTheLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cores = 2
	if err := Set(&cfg, "kern.ipc.maxsockets", "3"); err != nil {
		t.Fatal(err)
	}
	if got := cfg.SocketLimit(); got != 2 {
		t.Fatalf("share of 3 on 2 cores: %d, want 2", got)
	}
	p := newPeer(t, cfg)
	c1 := p.openFrom(40001, 1_000_000)
	p.openFrom(40002, 2_000_000)

	before := *p.s.Stats()
	p.tuple.RemotePort, p.iss, p.hiSet = 40003, 3_000_000, false
	p.syn()
	p.expectNone("a SYN beyond kern.ipc.maxsockets")
	if p.s.Conns() != 2 {
		t.Fatalf("%d connections, want 2", p.s.Conns())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSocketsExhausted: 1, StatListenDrop: 1, StatRSTSent: 0, StatSCSendCookie: 0})

	// The first connection still carries data both ways.
	p.tuple.RemotePort, p.iss, p.hiSet = 40001, 1_000_000, false
	p.nxt = c1.irs + 1
	p.hi = c1.sndNxt
	p.data([]byte("still served"))
	if got := p.srv.data.String(); got != "still served" {
		t.Fatalf("the server read %q", got)
	}
	if n, err := c1.Write([]byte("answer")); n != 6 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	p.advance(rtt)
	p.expect("the answer", func(s sentSeg) bool { return len(s.Payload) == 6 })

	// An active open beyond the limit fails with ENOBUFS.
	if _, err := p.s.Dial(flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, RemotePort: 80}, &recorder{}, p.now); !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("Dial beyond the limit: %v, want ENOBUFS", err)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSocketsExhausted: 2, StatListenDrop: 1})

	// Raised at run time, the SYN's retransmission is answered.
	next := p.s.Config()
	if err := Set(&next, "net.inet.tcp.kern.ipc.maxsockets", "4"); err == nil {
		t.Fatal("kern.ipc.maxsockets under net.inet.tcp. was accepted")
	}
	if err := Set(&next, "kern.ipc.maxsockets", "6"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.s.Sysctl("kern.ipc.maxsockets"); v != "6" {
		t.Fatalf("kern.ipc.maxsockets reads %s", v)
	}
	p.advance(rtt)
	p.take()
	p.openFrom(40003, 3_000_000)

	// Lowered below what is open, nothing is closed; new SYNs are dropped.
	next = p.s.Config()
	if err := Set(&next, "kern.ipc.maxsockets", "1"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	if p.s.Conns() != 3 {
		t.Fatalf("%d connections after lowering the limit, want 3", p.s.Conns())
	}
	p.tuple.RemotePort, p.iss, p.hiSet = 40004, 4_000_000, false
	p.syn()
	p.expectNone("a SYN beyond the lowered limit")
	statsDelta(t, p.s, before, map[Stat]uint64{StatSocketsExhausted: 3, StatListenDrop: 2})

	// 0 is no limit.
	next = p.s.Config()
	if err := Set(&next, "kern.ipc.maxsockets", "0"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	p.openFrom(40004, 4_000_000)
	if p.s.Conns() != 4 {
		t.Fatalf("%d connections with no limit, want 4", p.s.Conns())
	}
	stateCountsMatch(t, p.s)
}

// A cookie made before the limit was reached completes no connection once
// it is: the ACK is dropped without a RST, counted like a SYN.
func TestMaxSocketsDropsACookieACKBeyondTheLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSockets = 1
	p := newPeer(t, cfg)
	syn := Segment{SrcPort: 40009, DstPort: serverPort, Seq: 9_000_000, Flags: FlagSYN}
	tp := p.tuple
	tp.RemotePort = 40009
	cookie := p.s.makeCookie(&tp, &syn)
	p.openFrom(40001, 1_000_000)

	before := *p.s.Stats()
	p.tuple = tp
	ack := p.mk(FlagACK, 9_000_001, cookie+1, nil)
	ack.Opts.HasTS = false
	p.inject(&ack)
	p.expectNone("a cookie ACK beyond kern.ipc.maxsockets")
	if p.s.Conns() != 1 {
		t.Fatalf("%d connections, want 1", p.s.Conns())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSCRecvCookie: 1, StatSocketsExhausted: 1, StatListenDrop: 1, StatRSTSent: 0})
}

func TestMaxSocketsLimits(t *testing.T) {
	cfg := DefaultConfig()
	for _, bad := range []string{"-1", "2147483648", "x"} {
		if err := Set(&cfg, "kern.ipc.maxsockets", bad); err == nil {
			t.Errorf("kern.ipc.maxsockets=%s accepted", bad)
		}
	}
	if v, _ := Get(&cfg, "kern.ipc.maxsockets"); v != "0" {
		t.Errorf("default %s, want 0", v)
	}
	cfg.MaxSockets = -1
	if cfg.Validate() == nil {
		t.Error("MaxSockets -1 validated")
	}
	cfg.MaxSockets, cfg.Cores = 5, 4
	if got := cfg.SocketLimit(); got != 2 {
		t.Errorf("share of 5 on 4 cores: %d, want 2", got)
	}
}
