package tcp

import (
	"errors"
	"syscall"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// The transitions of RFC 9293's state diagram (3.3.2, figure 5), one test
// each, driven by a scripted peer with the virtual clock.

// RFC 9293 3.5 (figure 6), 3.10.1, 3.10.7.3: CLOSED -> SYN_SENT on an active
// OPEN, SYN_SENT -> ESTABLISHED on an acceptable SYN-ACK.
func TestRFC9293_3_5_ActiveOpen(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	before := *p.s.Stats()
	c := p.dial()
	if c.State() != SynSent {
		t.Fatalf("after Dial: %v, want SYN_SENT", c.State())
	}
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	v := p.view()
	if syn.Seq != v.ISS || v.SndNxt != v.ISS+1 || v.SndUna != v.ISS {
		t.Fatalf("SYN seq %d; iss %d snd_una %d snd_nxt %d", syn.Seq, v.ISS, v.SndUna, v.SndNxt)
	}
	o := syn.Opts
	if !o.HasMSS || o.MSS != 1460 || !o.HasWScale || o.WScale != 6 || !o.HasTS || !o.SACKPermitted {
		t.Fatalf("SYN options %+v: want MSS 1460, wscale 6 (room for recvbuf_max), timestamps, SACK permitted", o)
	}
	stateCountsMatch(t, p.s)

	p.advance(rtt)
	sa := p.mk(FlagSYN|FlagACK, p.iss, syn.Seq+1, nil)
	p.synOpts(&sa)
	p.inject(&sa)
	p.nxt = p.iss + 1
	if c.State() != Established {
		t.Fatalf("after SYN-ACK: %v, want ESTABLISHED", c.State())
	}
	ack := p.expect("ACK", func(s sentSeg) bool { return s.Flags == FlagACK })
	if ack.Seq != syn.Seq+1 || ack.Ack != p.iss+1 {
		t.Fatalf("handshake ACK %v: want seq %d ack %d", ack, syn.Seq+1, p.iss+1)
	}
	if p.h.established != 1 {
		t.Fatalf("Established called %d times", p.h.established)
	}
	v = p.view()
	if v.RcvNxt != p.iss+1 || v.SndUna != syn.Seq+1 || !v.TSOK || v.SndScale != 0 || v.RcvScale != 6 {
		t.Fatalf("after the handshake: %+v", v)
	}
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{
		StatConnAttempt: 1, StatConnects: 1, StatAccepts: 0, StatSndCtrl: 1, StatSndAcks: 1, StatSndTotal: 2,
	})
}

// RFC 9293 3.5, 3.10.7.2: LISTEN -> SYN_RCVD on a SYN, SYN_RCVD ->
// ESTABLISHED on the ACK of our SYN; the listener stays.
func TestRFC9293_3_5_PassiveOpen(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	before := *p.s.Stats()
	p.syn()
	c := tableConn(p.s, p.tuple)
	if c == nil || c.State() != SynReceived {
		t.Fatalf("after SYN: %v, want SYN_RCVD", c)
	}
	sa := p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
	o := sa.Opts
	if sa.Ack != p.iss+1 || !o.HasMSS || o.MSS != 1460 || !o.HasWScale || o.WScale != 6 ||
		!o.HasTS || o.TSEcr != p.tsVal() || !o.SACKPermitted {
		t.Fatalf("SYN-ACK %v options %+v", sa, o)
	}
	if got := p.s.StateCounts(); got[Listen] != 1 || got[SynReceived] != 1 {
		t.Fatalf("state counts %v", got)
	}
	stateCountsMatch(t, p.s)
	p.advance(rtt)
	p.ack()
	if c.State() != Established || p.srv.established != 1 || p.srv.conns[0] != c {
		t.Fatalf("after ACK: %v, Established heard %d times", c.State(), p.srv.established)
	}
	p.expectNone("the handshake's last ACK needs no answer")
	if got := p.s.StateCounts(); got[Listen] != 1 || got[Established] != 1 || got[SynReceived] != 0 {
		t.Fatalf("state counts %v", got)
	}
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{
		StatAccepts: 1, StatConnects: 1, StatConnAttempt: 0, StatSndCtrl: 1, StatRcvTotal: 2,
	})
}

// RFC 9293 3.5 (figure 8): simultaneous open. SYN_SENT -> SYN_RCVD on a SYN
// without ACK (the shard answers SYN-ACK with the same ISN), SYN_RCVD ->
// ESTABLISHED on the peer's SYN-ACK.
func TestRFC9293_3_5_SimultaneousOpen(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	p.advance(rtt / 2)
	// The peer's own SYN crosses ours.
	s := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
	if c.State() != SynReceived {
		t.Fatalf("SYN in SYN_SENT: %v, want SYN_RCVD", c.State())
	}
	sa := p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
	if sa.Seq != syn.Seq || sa.Ack != p.iss+1 {
		t.Fatalf("SYN-ACK %v: want seq %d (the same ISN) ack %d", sa, syn.Seq, p.iss+1)
	}
	stateCountsMatch(t, p.s)
	// The peer, in SYN_RCVD too, answers our SYN with its SYN-ACK.
	p.advance(rtt / 2)
	s = p.mk(FlagSYN|FlagACK, p.iss, syn.Seq+1, nil)
	p.synOpts(&s)
	p.inject(&s)
	if c.State() != Established || p.h.established != 1 {
		t.Fatalf("SYN-ACK in SYN_RCVD: %v (Established heard %d times)", c.State(), p.h.established)
	}
	checkSimultaneousOpen(t, p, c, syn.Seq)
}

// RFC 9293 3.10.7.4 (ACK in SYN-RECEIVED): SYN_RCVD reached by a
// simultaneous open -> ESTABLISHED on an ACK of our SYN without SYN (a peer
// that sends data at once).
func TestRFC9293_3_10_7_4_SimultaneousOpenCompletedByACK(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	s := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
	if c.State() != SynReceived {
		t.Fatalf("SYN in SYN_SENT: %v, want SYN_RCVD", c.State())
	}
	p.take()
	p.advance(rtt)
	before := *p.s.Stats()
	p.ack()
	if c.State() != Established || p.h.established != 1 {
		t.Fatalf("ACK in SYN_RCVD: %v (Established heard %d times)", c.State(), p.h.established)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatConnects: 1, StatAccepts: 0})
	checkSimultaneousOpen(t, p, c, syn.Seq)
}

func checkSimultaneousOpen(t *testing.T, p *peer, c *Conn, iss flow.Seq) {
	t.Helper()
	if v := p.view(); v.RcvNxt != p.iss+1 || v.SndUna != iss+1 {
		t.Fatalf("after simultaneous open: %+v", v)
	}
	stateCountsMatch(t, p.s)
	// Data flows both ways.
	p.take()
	c.Write([]byte("ping"))
	d := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	if string(d.Payload) != "ping" || d.Seq != iss+1 {
		t.Fatalf("data %v %q", d, d.Payload)
	}
	p.data([]byte("pong"))
	if p.h.data.String() != "pong" {
		t.Fatalf("read %q", p.h.data.String())
	}
}

// RFC 9293 3.5 (figure 8) between two shards: both dial each other at the
// same time; the SYNs cross and both reach ESTABLISHED.
func TestRFC9293_3_5_SimultaneousOpenTwoShards(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	ra, rb := &recorder{}, &recorder{}
	ta := flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, LocalPort: 5000, RemotePort: 6000}
	tb := flow.Tuple{LocalAddr: addrB, RemoteAddr: addrA, LocalPort: 6000, RemotePort: 5000}
	ca, err := n.a.Dial(ta, ra, n.now)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := n.b.Dial(tb, rb, n.now)
	if err != nil {
		t.Fatal(err)
	}
	var seen [2][]State
	n.run(5e9, func() bool {
		for i, c := range []*Conn{ca, cb} {
			if l := len(seen[i]); l == 0 || seen[i][l-1] != c.State() {
				seen[i] = append(seen[i], c.State())
			}
		}
		return ca.State() == Established && cb.State() == Established
	})
	want := []State{SynSent, SynReceived, Established}
	for i := range seen {
		if len(seen[i]) != 3 || seen[i][0] != want[0] || seen[i][1] != want[1] || seen[i][2] != want[2] {
			t.Fatalf("shard %d went through %v, want %v", i, seen[i], want)
		}
	}
	for i, s := range []*Shard{n.a, n.b} {
		st := s.Stats()
		if st[StatConnAttempt] != 1 || st[StatConnects] != 1 || st[StatRexmtTimeo] != 0 {
			t.Errorf("shard %d: connattempt %d connects %d rexmttimeo %d", i, st[StatConnAttempt], st[StatConnects], st[StatRexmtTimeo])
		}
		stateCountsMatch(t, s)
	}
	ca.Write([]byte("from a"))
	cb.Write([]byte("from b"))
	n.run(1e9, func() bool { return ra.data.Len() == 6 && rb.data.Len() == 6 })
	if ra.data.String() != "from b" || rb.data.String() != "from a" {
		t.Fatalf("a read %q, b read %q", ra.data.String(), rb.data.String())
	}
}

// RFC 9293 3.10.4 (CLOSE in SYN-RECEIVED): "If no SENDs have been issued and
// there is no pending data to send, then form a FIN segment and send it, and
// enter FIN-WAIT-1 state". SYN_RCVD -> FIN_WAIT_1; the ACK of our SYN alone
// does not acknowledge the FIN; the ACK of the FIN leads to FIN_WAIT_2.
func TestRFC9293_3_10_4_CloseInSynReceived(t *testing.T) {
	// The peer acknowledges our SYN with its SYN-ACK (figure 8), or with a
	// bare ACK; either way the FIN is not acknowledged yet.
	for _, answer := range []Flags{FlagSYN | FlagACK, FlagACK} {
		t.Run(answer.String(), func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.dial()
			syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
			s := p.mk(FlagSYN, p.iss, 0, nil)
			p.synOpts(&s)
			p.inject(&s)
			p.nxt = p.iss + 1
			if c.State() != SynReceived {
				t.Fatalf("%v, want SYN_RCVD", c.State())
			}
			p.take()
			c.Close()
			if c.State() != FinWait1 {
				t.Fatalf("Close in SYN_RCVD: %v, want FIN_WAIT_1", c.State())
			}
			stateCountsMatch(t, p.s)
			p.advance(rtt)
			if answer&FlagSYN != 0 {
				s = p.mk(answer, p.iss, syn.Seq+1, nil)
				p.synOpts(&s)
			} else {
				s = p.mk(answer, p.iss+1, syn.Seq+1, nil)
			}
			p.inject(&s)
			if c.State() != FinWait1 {
				t.Fatalf("the ACK of our SYN alone moved FIN_WAIT_1 to %v", c.State())
			}
			segs := p.take()
			var fin *sentSeg
			for i := range segs {
				if segs[i].Flags&FlagFIN != 0 {
					fin = &segs[i]
				}
			}
			if fin == nil {
				p.advance(2e9) // a FIN may wait for the handshake or come with a retransmission
				for _, s := range p.take() {
					if s.Flags&FlagFIN != 0 {
						fin = &s
						break
					}
				}
			}
			if fin == nil || fin.Seq != syn.Seq+1 {
				t.Fatalf("FIN %v: want one at seq %d", fin, syn.Seq+1)
			}
			p.ack()
			if c.State() != FinWait2 {
				t.Fatalf("ACK of FIN: %v, want FIN_WAIT_2", c.State())
			}
			stateCountsMatch(t, p.s)
		})
	}
}

// RFC 9293 3.10.7.4 (RST in SYN-RECEIVED): "If this connection was initiated
// with a passive OPEN (i.e., came from the LISTEN state), then return this
// connection to LISTEN state". The embryonic connection goes, the listener
// stays and accepts the next SYN on the same 4-tuple.
func TestRFC9293_3_10_7_4_RSTInSynReceivedPassive(t *testing.T) {
	cfg := DefaultConfig()
	p := newPeer(t, cfg)
	// A backlog of one: the reset connection must give its place back.
	p.s.listeners[serverPort].Close()
	if _, err := p.s.Listen(serverPort, 1, p.srv); err != nil {
		t.Fatal(err)
	}
	p.syn()
	p.take()
	before := *p.s.Stats()
	rst := p.mk(FlagRST, p.iss+1, 0, nil)
	p.inject(&rst)
	if p.s.Conns() != 0 {
		t.Fatalf("after RST: %d connections", p.s.Conns())
	}
	p.expectNone("a RST gets no answer")
	if got := p.s.StateCounts(); got[Listen] != 1 || got[SynReceived] != 0 {
		t.Fatalf("state counts %v", got)
	}
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatConnDrops: 1, StatClosed: 1, StatDrops: 0})
	if p.srv.closed != 0 {
		t.Fatalf("the listener's handler heard Closed for a connection it never saw")
	}
	// Back in LISTEN: the same SYN opens a connection again.
	p.iss += 100_000
	c := p.open()
	if c.State() != Established || p.s.Stats()[StatListenDrop] != 0 {
		t.Fatalf("reopen after RST: %v, listendrop %d", c.State(), p.s.Stats()[StatListenDrop])
	}
}

// RFC 9293 3.10.7.4 (RST in SYN-RECEIVED): "If this connection was initiated
// with an active OPEN (i.e., came from SYN-SENT state), then the connection
// was refused". SYN_RCVD (simultaneous open) -> CLOSED with ECONNREFUSED.
func TestRFC9293_3_10_7_4_RSTInSynReceivedActive(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	s := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
	if c.State() != SynReceived {
		t.Fatalf("%v, want SYN_RCVD", c.State())
	}
	p.take()
	before := *p.s.Stats()
	rst := p.mk(FlagRST, p.iss+1, 0, nil)
	p.inject(&rst)
	if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ECONNREFUSED) {
		t.Fatalf("Closed %d times, errs %v: want ECONNREFUSED", p.h.closed, p.h.errs)
	}
	if p.s.Conns() != 0 {
		t.Fatalf("%d connections left", p.s.Conns())
	}
	p.expectNone("a RST gets no answer")
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatConnDrops: 1, StatClosed: 1})
}

// RFC 9293 3.6 (case 1, figure 12): the local user closes first.
// ESTABLISHED -> FIN_WAIT_1 (CLOSE, FIN sent), FIN_WAIT_1 -> FIN_WAIT_2 (ACK
// of FIN), FIN_WAIT_2 -> TIME_WAIT (FIN, ACK sent), TIME_WAIT -> CLOSED
// after 2MSL.
func TestRFC9293_3_6_ActiveClose(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	before := *p.s.Stats()
	c.Close()
	if c.State() != FinWait1 {
		t.Fatalf("Close: %v, want FIN_WAIT_1", c.State())
	}
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	if fin.Flags != FlagFIN|FlagACK || fin.Seq != p.view().ISS+1 || fin.Ack != p.nxt {
		t.Fatalf("FIN %v", fin)
	}
	stateCountsMatch(t, p.s)
	p.advance(rtt)
	p.ack()
	if c.State() != FinWait2 {
		t.Fatalf("ACK of FIN: %v, want FIN_WAIT_2", c.State())
	}
	p.take() // see TestRFC9293_3_10_7_4_NothingAfterFINAcked
	stateCountsMatch(t, p.s)
	p.advance(5e9)
	p.take()
	p.fin()
	if stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("FIN in FIN_WAIT_2: %v, want TIME_WAIT", c.State())
	}
	ack := p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
	if ack.Ack != p.nxt {
		// Its seq should be fin.Seq+1: see TestRFC9293_3_10_7_4_NothingAfterFINAcked.
		t.Fatalf("ACK %v: want ack %d", ack, p.nxt)
	}
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed %d times, errs %v", p.h.closed, p.h.errs)
	}
	stateCountsMatch(t, p.s)
	entered := p.now
	p.advance(2*DefaultMSL - 1)
	if p.s.TimeWaitEntries() != 1 || stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("TIME_WAIT ended before 2MSL")
	}
	p.advance(1)
	if p.s.TimeWaitEntries() != 0 || p.s.Conns() != 0 {
		t.Fatalf("TIME_WAIT outlived 2MSL (entered at %d, now %d)", entered, p.now)
	}
	p.expectNone("TIME_WAIT ends silently")
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 1, StatDrops: 0})
}

// RFC 9293 3.10.7.4 (ACK in FIN-WAIT-1 and FIN-WAIT-2): once our FIN is
// acknowledged there is nothing left to send: FIN_WAIT_2 sends nothing until
// the peer's FIN, and retransmits nothing.
func TestRFC9293_3_10_7_4_NothingAfterFINAcked(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	iss := p.view().ISS
	c.Write([]byte("last words"))
	c.CloseWrite() // half-close: no finwait2_timeout
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	if fin.end() != iss+1+10+1 {
		t.Fatalf("FIN %v, want it to end at %d", fin, iss+12)
	}
	p.advance(rtt)
	before := *p.s.Stats()
	p.ack()
	if c.State() != FinWait2 {
		t.Fatalf("ACK of FIN: %v, want FIN_WAIT_2", c.State())
	}
	segs := p.take()
	p.advance(10 * 60e9)
	segs = append(segs, p.take()...)
	if len(segs) > 0 || c.State() != FinWait2 {
		t.Fatalf("after the ACK of our FIN, FIN_WAIT_2 sent %d segments, the first %v, the last %v; now %v",
			len(segs), segs[0], segs[len(segs)-1], c.State())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSndCtrl: 0, StatSndTotal: 0, StatRexmtTimeo: 0})
	if v := p.view(); v.SndUna != v.SndMax || v.SndNxt != v.SndMax || v.SndMax != fin.end() {
		t.Fatalf("snd_una %d snd_nxt %d snd_max %d, want all %d", v.SndUna, v.SndNxt, v.SndMax, fin.end())
	}
}

// RFC 9293 3.6 (case 1): FIN_WAIT_2 is left when the application closed and
// the peer never sends its FIN (FreeBSD tcp_timer_2msl, finwait2_timeout
// with fast_finwait2_recycle; without it see TestFastFinWait2Recycle).
func TestFreeBSD_tcp_timer_2msl_FinWait2Timeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FastFinWait2Recycle = true
	p := newPeer(t, cfg)
	c := p.open()
	c.Close()
	p.advance(rtt)
	p.ack()
	if c.State() != FinWait2 {
		t.Fatalf("%v, want FIN_WAIT_2", c.State())
	}
	p.take()
	before := *p.s.Stats()
	p.advance(DefaultFinWait2Timeout - 1)
	if p.s.Conns() != 1 {
		t.Fatal("FIN_WAIT_2 ended before finwait2_timeout")
	}
	p.advance(1)
	if p.s.Conns() != 0 {
		t.Fatal("FIN_WAIT_2 outlived finwait2_timeout")
	}
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed %d times, errs %v", p.h.closed, p.h.errs)
	}
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 1})
}

// RFC 9293 3.6 (case 2): the remote closes first. ESTABLISHED -> CLOSE_WAIT
// (FIN received, ACKed), CLOSE_WAIT -> LAST_ACK (CLOSE, FIN sent), LAST_ACK
// -> CLOSED (ACK of FIN). The FIN's ACK is a delayed ACK (delayFINAck):
// here the application closes later than delacktime, so it goes alone.
func TestRFC9293_3_6_PassiveClose(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	before := *p.s.Stats()
	eof := false
	p.h.onReadable = func(c *Conn) { eof = c.EOF() }
	p.fin()
	if c.State() != CloseWait {
		t.Fatalf("FIN in ESTABLISHED: %v, want CLOSE_WAIT", c.State())
	}
	if !eof {
		t.Fatal("Readable did not report EOF")
	}
	p.expectNone("the FIN's ACK waits for the application's close or delacktime")
	p.advance(DefaultConfig().DelAckTime)
	ack := p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
	if ack.Ack != p.nxt {
		t.Fatalf("ACK %v, want ack %d", ack, p.nxt)
	}
	stateCountsMatch(t, p.s)
	p.advance(1e9)
	c.Close()
	if c.State() != LastAck {
		t.Fatalf("Close in CLOSE_WAIT: %v, want LAST_ACK", c.State())
	}
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	if fin.Ack != p.nxt {
		t.Fatalf("FIN %v", fin)
	}
	stateCountsMatch(t, p.s)
	p.advance(rtt)
	p.ack()
	if p.s.Conns() != 0 {
		t.Fatalf("ACK in LAST_ACK: %v left in the table", c)
	}
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed %d times, errs %v", p.h.closed, p.h.errs)
	}
	p.expectNone("the last ACK needs no answer")
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 1, StatDrops: 0, StatSndCtrl: 1})
}

// An application that closes as soon as it sees the peer's FIN sends its
// FIN with the ACK of the peer's, in one segment (Linux's behaviour; FreeBSD
// sends two). After a loss the FIN is acknowledged at once.
func TestFINAckRidesOnOurFIN(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	p.h.onReadable = func(c *Conn) {
		if c.EOF() {
			c.Close()
		}
	}
	p.fin()
	segs := p.take()
	if len(segs) != 1 || segs[0].Flags != FlagFIN|FlagACK || segs[0].Ack != p.nxt {
		t.Fatalf("sent %v, want one FIN|ACK acknowledging the peer's FIN (ack %d)", segs, p.nxt)
	}
	if c.State() != LastAck {
		t.Fatalf("state %v, want LAST_ACK", c.State())
	}

	// After a segment out of order, the FIN is acknowledged at once.
	p = newPeer(t, DefaultConfig())
	c = p.open()
	hole := p.nxt
	p.nxt = hole.Add(10)
	p.data(make([]byte, 10))
	p.nxt = hole
	p.data(make([]byte, 10))
	p.nxt = hole.Add(20)
	p.take()
	p.fin()
	p.expect("ACK of FIN at once after a loss", func(s sentSeg) bool { return s.Flags == FlagACK && s.Ack == p.nxt })
	if c.State() != CloseWait {
		t.Fatalf("state %v", c.State())
	}
}

// RFC 9293 3.6 (case 3, figure 13): simultaneous close. FIN_WAIT_1 ->
// CLOSING on a FIN that does not acknowledge ours, CLOSING -> TIME_WAIT on
// the ACK of our FIN.
func TestRFC9293_3_6_SimultaneousClose(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Close()
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	// The peer's FIN crosses ours: it acknowledges only what came before.
	s := p.mk(FlagFIN|FlagACK, p.nxt, fin.Seq, nil)
	p.inject(&s)
	p.nxt++
	if c.State() != Closing {
		t.Fatalf("FIN in FIN_WAIT_1: %v, want CLOSING", c.State())
	}
	ack := p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
	if ack.Ack != p.nxt || ack.Seq != fin.Seq+1 {
		t.Fatalf("ACK %v: want seq %d ack %d", ack, fin.Seq+1, p.nxt)
	}
	stateCountsMatch(t, p.s)
	p.advance(rtt)
	p.ack()
	if stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("ACK in CLOSING: %v, want TIME_WAIT", c.State())
	}
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed %d times, errs %v", p.h.closed, p.h.errs)
	}
	stateCountsMatch(t, p.s)
	p.advance(2 * DefaultMSL)
	if p.s.TimeWaitEntries() != 0 || p.s.Conns() != 0 {
		t.Fatal("TIME_WAIT outlived 2MSL")
	}
}

// RFC 9293 3.6 (case 3) between two shards: both close at once; both pass
// through CLOSING to TIME_WAIT.
func TestRFC9293_3_6_SimultaneousCloseTwoShards(t *testing.T) {
	n := newTestNet(t, DefaultConfig(), DefaultConfig())
	srv := &recorder{}
	n.a.Listen(80, 0, srv)
	cli := &recorder{}
	cb, _ := n.b.Dial(tupleAB(80), cli, n.now)
	n.run(1e9, func() bool { return srv.established == 1 && cb.State() == Established })
	ca := srv.conns[0]
	ta, tb := ca.Tuple(), cb.Tuple()
	ca.Close()
	cb.Close()
	var seen [2][]State
	state := func(i int) State {
		if i == 0 {
			return stateOf(n.a, ca, ta)
		}
		return stateOf(n.b, cb, tb)
	}
	n.run(5e9, func() bool {
		for i := range seen {
			if l := len(seen[i]); l == 0 || seen[i][l-1] != state(i) {
				seen[i] = append(seen[i], state(i))
			}
		}
		return state(0) == TimeWait && state(1) == TimeWait
	})
	want := []State{FinWait1, Closing, TimeWait}
	for i := range seen {
		if len(seen[i]) != 3 || seen[i][0] != want[0] || seen[i][1] != want[1] || seen[i][2] != want[2] {
			t.Fatalf("shard %d went through %v, want %v", i, seen[i], want)
		}
	}
	n.run(2*DefaultMSL+1e9, nil)
	if n.a.Conns() != 0 || n.b.Conns() != 0 || n.a.TimeWaitEntries() != 0 || n.b.TimeWaitEntries() != 0 {
		t.Fatalf("connections left after 2MSL: %d, %d; TIME_WAIT entries %d, %d",
			n.a.Conns(), n.b.Conns(), n.a.TimeWaitEntries(), n.b.TimeWaitEntries())
	}
	if srv.closed != 1 || cli.closed != 1 || srv.errs[0] != nil || cli.errs[0] != nil {
		t.Fatalf("Closed: server %d %v, client %d %v", srv.closed, srv.errs, cli.closed, cli.errs)
	}
}

// RFC 9293 3.10.7.4 (FIN in FIN-WAIT-1): "If our FIN has been ACKed
// (perhaps in this segment), then enter TIME-WAIT". FIN_WAIT_1 -> TIME_WAIT
// on a FIN that acknowledges ours.
func TestRFC9293_3_10_7_4_FinAckInFinWait1(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Close()
	fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	p.advance(rtt)
	before := *p.s.Stats()
	p.fin()
	if stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("FIN+ACK in FIN_WAIT_1: %v, want TIME_WAIT", c.State())
	}
	ack := p.expect("ACK of FIN", func(s sentSeg) bool { return s.Flags == FlagACK })
	if ack.Ack != p.nxt || ack.Seq != fin.Seq+1 {
		t.Fatalf("ACK %v: want seq %d ack %d", ack, fin.Seq+1, p.nxt)
	}
	if p.h.closed != 1 || p.h.errs[0] != nil {
		t.Fatalf("Closed %d times, errs %v", p.h.closed, p.h.errs)
	}
	if v := p.timeWait(); v.ExpiresAt != p.now.Add(2*DefaultMSL) {
		t.Fatalf("2MSL deadline %d, want %d", v.ExpiresAt, p.now.Add(2*DefaultMSL))
	}
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 0, StatSndAcks: 0, StatSndTotal: 1, StatTWCreated: 1})
}

// RFC 9293 3.10.4 (CLOSE in SYN-SENT): "Delete the TCB". SYN_SENT -> CLOSED
// on Close; nothing is sent, and a late SYN-ACK finds no connection (and
// gets a RST).
func TestRFC9293_3_10_4_CloseInSynSent(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	before := *p.s.Stats()
	c.Close()
	if p.s.Conns() != 0 || p.h.closed != 1 {
		t.Fatalf("Close in SYN_SENT: %d connections, Closed heard %d times", p.s.Conns(), p.h.closed)
	}
	p.expectNone("Close in SYN_SENT")
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatConnDrops: 1, StatClosed: 1, StatDrops: 0})
	p.advance(10e9)
	p.expectNone("no SYN retransmission after Close")
	s := p.mk(FlagSYN|FlagACK, p.iss, syn.Seq+1, nil)
	p.synOpts(&s)
	p.inject(&s)
	rst := p.expect("RST", func(s sentSeg) bool { return s.Flags&FlagRST != 0 })
	if rst.Flags != FlagRST || rst.Seq != syn.Seq+1 {
		t.Fatalf("RST %v: want <SEQ=%d><CTL=RST>", rst, syn.Seq+1)
	}
}

// RFC 9293 3.10.7.3 (SYN-SENT, first check the ACK bit, then the RST bit):
// a RST that acknowledges our SYN refuses the connection; one without ACK,
// or whose ACK is not acceptable, is dropped; an unacceptable ACK without
// RST gets <SEQ=SEG.ACK><CTL=RST>.
func TestRFC9293_3_10_7_3_SynSentReset(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	for _, tc := range []struct {
		name  string
		flags Flags
		ack   flow.Seq
	}{
		{"RST without ACK", FlagRST, 0},
		{"RST, ACK = ISS", FlagRST | FlagACK, syn.Seq},
		{"RST, ACK > SND.NXT", FlagRST | FlagACK, syn.Seq + 2},
	} {
		s := p.mk(tc.flags, 5, tc.ack, nil)
		p.inject(&s)
		if c.State() != SynSent {
			t.Fatalf("%s: %v, want SYN_SENT", tc.name, c.State())
		}
		p.expectNone(tc.name)
	}
	bad := p.mk(FlagACK, 5, syn.Seq+7, nil)
	p.inject(&bad)
	rst := p.expect("RST", func(s sentSeg) bool { return s.Flags&FlagRST != 0 })
	if rst.Flags != FlagRST || rst.Seq != syn.Seq+7 || c.State() != SynSent {
		t.Fatalf("bad ACK in SYN_SENT: %v answered %v", c.State(), rst)
	}
	before := *p.s.Stats()
	s := p.mk(FlagRST|FlagACK, 0, syn.Seq+1, nil)
	p.inject(&s)
	if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ECONNREFUSED) || p.s.Conns() != 0 {
		t.Fatalf("RST+ACK in SYN_SENT: Closed %d %v, %d connections", p.h.closed, p.h.errs, p.s.Conns())
	}
	p.expectNone("a RST gets no answer")
	stateCountsMatch(t, p.s)
	statsDelta(t, p.s, before, map[Stat]uint64{StatConnDrops: 1, StatClosed: 1})
}

// RFC 9293 3.10.7.3 (SYN-SENT, fourth, check the SYN bit): on a SYN without
// ACK, "enter SYN-RECEIVED ... Set the variables: SND.WND <- SEG.WND,
// SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK". Without that, a connection closed
// in SYN_RCVD (which never passes through ESTABLISHED) learns no window
// from a peer whose ISN lies in the upper half of the sequence space.
func TestRFC9293_3_10_7_3_SimultaneousOpenSendWindow(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.iss = 0x9000_0000
	c := p.dial()
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	s := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&s)
	s.Window = 5000
	p.inject(&s)
	p.nxt = p.iss + 1
	if c.State() != SynReceived {
		t.Fatalf("%v, want SYN_RCVD", c.State())
	}
	inSynRcvd := p.view().SndWnd
	c.Close()
	p.take()
	p.advance(rtt)
	a := p.mk(FlagACK, p.nxt, syn.Seq+1, nil)
	a.Window = 6000
	p.inject(&a)
	if v := p.view(); inSynRcvd != 5000 || v.SndWnd != 6000 {
		t.Fatalf("the window of the peer's SYN in a simultaneous open is not recorded (SND.WND %d in SYN_RCVD, want 5000), nor, after Close in SYN_RCVD, that of its ACK (%d, want 6000): SND.WL1 is still 0",
			inSynRcvd, v.SndWnd)
	}
}
