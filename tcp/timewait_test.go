package tcp

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/tw"
)

// TIME_WAIT as the shard keeps it: a compressed entry in its tw table, the
// connection itself freed on entry (FreeBSD tcp_twstart). The rules an
// entry applies are tested in package tw; these check the wiring.

// Entering TIME_WAIT frees the connection at once: the application hears
// Closed(nil) exactly once, the table holds no connection but one entry,
// StateCounts reports it as TIME_WAIT, and the entry keeps what the
// connection had (snd_nxt, rcv_nxt, the window field, ts_recent).
func TestTimeWaitFreesTheConnection(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write([]byte("bye"))
	p.take()
	p.advance(rtt)
	c.Close()
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	p.advance(rtt)
	before := *p.s.Stats()
	p.fin()
	last := p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed heard %d times, errs %v", p.h.closed, p.h.errs)
	}
	if c.State() != Closed || p.s.Conns() != 0 || tableConn(p.s, p.tuple) != nil {
		t.Fatalf("the connection is %v and the table holds %d", c.State(), p.s.Conns())
	}
	if got := p.s.StateCounts(); got[TimeWait] != 1 || got[Closed] != 0 || got[Established] != 0 {
		t.Fatalf("state counts %v", got)
	}
	stateCountsMatch(t, p.s)
	v := p.timeWait()
	if v.SndNxt != fin.end() || v.RcvNxt != p.nxt || !v.TSOK || v.TSRecent != p.tsVal() || v.Window != last.Window {
		t.Fatalf("entry %+v: want snd_nxt %d rcv_nxt %d ts_recent %d window %d", v, fin.end(), p.nxt, p.tsVal(), last.Window)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWCreated: 1, StatClosed: 0})
	if n := p.s.TimeWaitEntries(); n != 1 || p.s.TimeWaitBytes() == 0 {
		t.Fatalf("%d entries in %d bytes", n, p.s.TimeWaitBytes())
	}
	// The application's later calls on the freed connection are harmless.
	c.Close()
	c.Abort()
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("Write after TIME_WAIT succeeded")
	}
	p.expectNone("calls on a connection gone to TIME_WAIT")
	if p.h.closed != 1 {
		t.Fatalf("Closed heard %d times", p.h.closed)
	}
}

// The ACK an entry sends carries SEQ=snd_nxt, ACK=rcv_nxt, the last window
// field and the connection's own timestamp clock — its offset derived again
// from the 4-tuple — with ts_recent as the echo (FreeBSD tcp_twrespond).
// Data in TIME_WAIT gets such an ACK (rule 6), a pure duplicate ACK nothing.
func TestTimeWaitACKCarriesTheConnectionsClock(t *testing.T) {
	p, _ := timeWaitPeer(t, 0)
	v := p.timeWait()
	clock := p.echo // the connection's TSval when it sent its last ACK
	at := p.now
	p.advance(5e9)
	before := *p.s.Stats()
	p.data([]byte("late"))
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Flags != FlagACK || a.Seq != v.SndNxt || a.Ack != v.RcvNxt || a.Window != v.Window || len(a.Payload) != 0 {
		t.Fatalf("data in TIME_WAIT answered %v, want <SEQ=%d><ACK=%d><CTL=ACK> window %d", a, v.SndNxt, v.RcvNxt, v.Window)
	}
	if !a.Opts.HasTS || a.Opts.TSVal != clock+uint32(p.now.Sub(at)/tsTick) || a.Opts.TSEcr != v.TSRecent {
		t.Fatalf("timestamps %d/%d, want %d/%d", a.Opts.TSVal, a.Opts.TSEcr, clock+uint32(p.now.Sub(at)/tsTick), v.TSRecent)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWResponds: 1, StatSndAcks: 1, StatSndTotal: 1, StatRcvTotal: 1})
	dup := p.mk(FlagACK, v.RcvNxt, v.SndNxt, nil)
	p.inject(&dup)
	p.expectNone("a duplicate ACK in TIME_WAIT")
	// A RST is neither answered nor passed to the closed-port path.
	before = *p.s.Stats()
	rst := p.mk(FlagRST, v.RcvNxt, 0, nil)
	p.inject(&rst)
	p.expectNone("a RST in TIME_WAIT")
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWRSTIgnored: 1, StatNoPort: 0, StatRSTSent: 0})
}

// A SYN that RFC 6191 refuses on a 4-tuple whose port nobody listens on any
// more gets the TIME_WAIT ACK, and one it would allow leaves the entry in
// place too: with no listener to take it, a reopened 4-tuple would only
// get a RST.
func TestTimeWaitSYNWithoutListener(t *testing.T) {
	p, _ := timeWaitPeer(t, 0)
	v := p.timeWait()
	p.s.listeners[serverPort].Close()
	p.advance(1e9)
	before := *p.s.Stats()
	p.iss = p.nxt + 1000
	p.syn()
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Flags != FlagACK || a.Seq != v.SndNxt {
		t.Fatalf("SYN with no listener answered %v", a)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWReopened: 0, StatTWResponds: 1, StatNoPort: 0})
	if p.s.TimeWaitEntries() != 1 {
		t.Fatal("the entry is gone")
	}
}

// Dial onto a 4-tuple in TIME_WAIT fails with EADDRINUSE (tw_reuse is not
// built yet), and ephemeral port selection skips such 4-tuples.
func TestDialAvoidsTimeWait(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.connect() // from the first ephemeral port
	port := c.Tuple().LocalPort
	c.Close()
	p.advance(rtt)
	p.fin()
	if !p.s.InTimeWait(&p.tuple) {
		t.Fatal("no TIME_WAIT entry")
	}
	if _, err := p.s.Dial(p.tuple, &recorder{}, p.now); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Dial onto a TIME_WAIT 4-tuple: %v, want EADDRINUSE", err)
	}
	p.s.nextPort = port // the next pick would be the TIME_WAIT port
	c2, err := p.s.Dial(flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, RemotePort: serverPort}, &recorder{}, p.now)
	if err != nil || c2.Tuple().LocalPort == port {
		t.Fatalf("Dial picked port %d (TIME_WAIT holds %d): %v", c2.Tuple().LocalPort, port, err)
	}
}

// maxtcptw: values below 32 are refused; 0 sizes it as FreeBSD; each core
// keeps its share; a full share recycles its oldest entry, counted in
// tw_recycled and closed.
func TestMaxTCPTW(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTCPTW = 31
	if _, err := NewShard(cfg, &discardSender{}); err == nil || !strings.Contains(err.Error(), "maxtcptw 31") {
		t.Fatalf("maxtcptw 31: %v", err)
	}
	cfg.MaxTCPTW = 0
	if got, want := cfg.TimeWaitLimit(), (PortLastAuto-PortFirstAuto)/2; got != want || want != 8191 {
		t.Fatalf("automatic maxtcptw %d, want %d", got, want)
	}
	cfg.Cores = 4
	if got := cfg.TimeWaitLimit(); got != 2048 {
		t.Fatalf("share of 8191 among 4 cores: %d, want 2048", got)
	}
	cfg.MaxTCPTW, cfg.Cores = 64, 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	n := newTestNet(t, cfg, DefaultConfig())
	srv := &recorder{}
	srv.onReadable = func(c *Conn) {
		c.Consume(c.Readable())
		c.Close() // the server closes first
	}
	n.a.Listen(80, 0, srv)
	for i := 0; i < 40; i++ {
		cli := &recorder{toSend: []byte("x"), closeOnEOF: true}
		n.b.Dial(tupleAB(80), cli, n.now)
		if !n.run(5e9, func() bool { return cli.closed == 1 }) {
			t.Fatalf("connection %d did not complete", i)
		}
	}
	st := n.a.Stats()
	if n.a.TimeWaitEntries() != 32 || st[StatTWCreated] != 40 || st[StatTWRecycled] != 8 || st[StatClosed] != 8 {
		t.Fatalf("%d entries; created %d recycled %d closed %d: want 32, 40, 8, 8",
			n.a.TimeWaitEntries(), st[StatTWCreated], st[StatTWRecycled], st[StatClosed])
	}
	if ts := n.a.TWStats(); ts[tw.Recycled] != 8 {
		t.Fatalf("TWStats recycled %d", ts[tw.Recycled])
	}
}

// nolocaltimewait: a connection whose peer is local closes without a
// TIME_WAIT entry; the application hears Closed(nil) all the same.
func TestNoLocalTimeWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		local func([16]byte) bool
		entry bool
	}{
		{"peer not local", nil, true},
		{"peer local by the hook", func(a [16]byte) bool { return a == addrB }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NoLocalTimeWait, cfg.Local = true, tc.local
			p := newPeer(t, cfg)
			c := p.open()
			c.Close()
			p.advance(rtt)
			before := *p.s.Stats()
			p.fin()
			p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
			if p.s.InTimeWait(&p.tuple) != tc.entry || p.h.closed != 1 || p.h.errs[0] != nil {
				t.Fatalf("TIME_WAIT entry %v (want %v); Closed %d %v", p.s.InTimeWait(&p.tuple), tc.entry, p.h.closed, p.h.errs)
			}
			if tc.entry {
				statsDelta(t, p.s, before, map[Stat]uint64{StatTWCreated: 1, StatTWNoLocal: 0, StatClosed: 0})
			} else {
				statsDelta(t, p.s, before, map[Stat]uint64{StatTWCreated: 0, StatTWNoLocal: 1, StatClosed: 1})
			}
		})
	}
	// Without a hook, a loopback peer or the connection's own address is local.
	s := &Shard{}
	a4 := flow.Tuple{LocalAddr: addrA, RemoteAddr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 9}}
	self := flow.Tuple{LocalAddr: addrA, RemoteAddr: addrA}
	other := flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB}
	if !s.isLocal(&a4) || !s.isLocal(&self) || s.isLocal(&other) {
		t.Fatal("isLocal without a hook")
	}
}

// A FIN that comes with the last data after a half-close reaches the
// application before the connection goes to TIME_WAIT: Readable (with the
// data and EOF), then Closed.
func TestTimeWaitAfterHalfCloseDeliversTheLastData(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.CloseWrite()
	p.advance(rtt)
	p.ack()
	if c.State() != FinWait2 {
		t.Fatalf("%v", c.State())
	}
	var events []string
	p.h.onReadable = func(c *Conn) {
		var b [64]byte
		n := c.Read(b[:])
		events = append(events, "read "+string(b[:n]))
		if c.EOF() {
			events = append(events, "EOF")
		}
	}
	p.send(FlagFIN|FlagACK|FlagPSH, []byte("last words"))
	if p.h.closed != 1 || strings.Join(events, ",") != "read last words,EOF" {
		t.Fatalf("events %v, Closed %d", events, p.h.closed)
	}
	if !p.s.InTimeWait(&p.tuple) {
		t.Fatal("not in TIME_WAIT")
	}
}

// A segment that finds a TIME_WAIT entry is handled without allocating.
func TestTimeWaitInputAllocs(t *testing.T) {
	p, _ := timeWaitPeer(t, 0)
	setSender(p.s, &discardSender{})
	data := p.mk(FlagACK, p.nxt, p.timeWait().SndNxt, []byte("x"))
	if a := testing.AllocsPerRun(100, func() {
		p.now += 2e6 // keeps under the ACK limit
		p.inject(&data)
	}); a != 0 {
		t.Fatalf("%v allocations per segment into TIME_WAIT", a)
	}
}
