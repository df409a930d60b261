package tcp

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// Segment processing rules: closed ports, LISTEN, half-close, reassembly
// with SACK, and TIME_WAIT.

// RFC 9293 3.10.7.1 (CLOSED): a segment for no connection and no listener
// gets a RST — <SEQ=SEG.ACK><CTL=RST> when it carries an ACK, else
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> — and a RST gets nothing.
// FreeBSD tcp(4) blackhole: 1 sends no RST for SYNs, 2 none at all.
func TestRFC9293_3_10_7_1_ClosedPortRST(t *testing.T) {
	type want struct {
		rst      bool
		seq, ack flow.Seq
		flags    Flags
	}
	segs := []struct {
		name    string
		flags   Flags
		payload string
		want    want
	}{
		{"SYN", FlagSYN, "", want{true, 0, 5001, FlagRST | FlagACK}},
		{"ACK", FlagACK, "", want{true, 777, 0, FlagRST}},
		{"data+ACK", FlagACK | FlagPSH, "hello", want{true, 777, 0, FlagRST}},
		{"data+FIN", FlagFIN, "hello", want{true, 0, 5006, FlagRST | FlagACK}},
		{"SYN+data", FlagSYN, "hi", want{true, 0, 5003, FlagRST | FlagACK}},
		{"RST", FlagRST, "", want{}},
		{"RST+ACK", FlagRST | FlagACK, "", want{}},
	}
	for _, bh := range []int{0, 1, 2} {
		for _, tc := range segs {
			t.Run(tc.name+"/blackhole="+string(rune('0'+bh)), func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.Blackhole = bh
				p := newPeer(t, cfg)
				p.tuple.LocalPort = 81 // nobody listens
				before := *p.s.Stats()
				s := p.mk(tc.flags, 5000, 777, []byte(tc.payload))
				p.inject(&s)
				w := tc.want
				if bh == 2 || bh == 1 && tc.flags&FlagSYN != 0 {
					w.rst = false
				}
				out := p.take()
				if !w.rst {
					if len(out) != 0 {
						t.Fatalf("sent %v, want nothing", out)
					}
				} else {
					if len(out) != 1 {
						t.Fatalf("sent %v, want one RST", out)
					}
					r := out[0]
					if r.Flags != w.flags || r.Seq != w.seq || (w.flags&FlagACK != 0 && r.Ack != w.ack) ||
						len(r.Payload) != 0 || r.tuple != p.tuple {
						t.Fatalf("sent %v to %v, want %v seq %d ack %d", r, r.tuple, w.flags, w.seq, w.ack)
					}
				}
				rst := uint64(0)
				if w.rst {
					rst = 1
				}
				statsDelta(t, p.s, before, map[Stat]uint64{StatNoPort: 1, StatRSTSent: rst, StatRcvTotal: 1})
				if p.s.Conns() != 0 {
					t.Fatal("a connection was made")
				}
			})
		}
	}
}

// RFC 9293 3.10.7.2 (LISTEN): a RST is ignored, an ACK gets
// <SEQ=SEG.ACK><CTL=RST>, a segment with neither SYN, ACK nor RST is
// dropped; the listener stays.
func TestRFC9293_3_10_7_2_Listen(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	before := *p.s.Stats()
	for _, f := range []Flags{FlagRST, FlagRST | FlagACK, FlagFIN, FlagPSH, 0} {
		s := p.mk(f, 5000, 0, []byte("x"))
		p.inject(&s)
		p.expectNone(f.String() + " to a listener")
	}
	s := p.mk(FlagACK, 5000, 4242, nil)
	p.inject(&s)
	r := p.expect("RST", func(s sentSeg) bool { return true })
	if r.Flags != FlagRST || r.Seq != 4242 {
		t.Fatalf("ACK to a listener answered %v, want <SEQ=4242><CTL=RST>", r)
	}
	if p.s.Conns() != 0 || p.s.StateCounts()[Listen] != 1 {
		t.Fatalf("%d connections, state counts %v", p.s.Conns(), p.s.StateCounts())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatRSTSent: 1, StatNoPort: 0})
	p.open() // still listening
}

// RFC 9293 3.6 (half-close, "CLOSE ... the user may continue to RECEIVE"):
// data keeps flowing in the direction still open, both ways round.
func TestRFC9293_3_6_HalfClose(t *testing.T) {
	t.Run("we close", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		c.CloseWrite()
		p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
		p.advance(rtt)
		p.ack()
		if c.State() != FinWait2 {
			t.Fatalf("%v, want FIN_WAIT_2", c.State())
		}
		p.take()
		before := *p.s.Stats()
		var want bytes.Buffer
		for i := 0; i < 20; i++ {
			b := bytes.Repeat([]byte{byte('a' + i)}, 1000)
			want.Write(b)
			p.data(b)
			p.advance(rtt)
		}
		if !bytes.Equal(p.h.data.Bytes(), want.Bytes()) || c.State() != FinWait2 {
			t.Fatalf("read %d of %d bytes in FIN_WAIT_2, %v", p.h.data.Len(), want.Len(), c.State())
		}
		acks := p.take()
		if len(acks) == 0 || acks[len(acks)-1].Ack != p.nxt {
			t.Fatalf("the data was not acknowledged: %v", acks)
		}
		if _, err := c.Write([]byte("no")); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Write after CloseWrite: %v, want EPIPE", err)
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatRcvPack: 20, StatRcvByte: 20000, StatSndPack: 0})
		p.fin()
		if stateOf(p.s, c, p.tuple) != TimeWait || p.h.closed != 1 || p.h.errs[0] != nil {
			t.Fatalf("FIN after half-close: %v, Closed %d %v", stateOf(p.s, c, p.tuple), p.h.closed, p.h.errs)
		}
	})
	t.Run("they close", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		p.fin()
		if c.State() != CloseWait {
			t.Fatalf("%v, want CLOSE_WAIT", c.State())
		}
		p.take()
		before := *p.s.Stats()
		var got bytes.Buffer
		for i := 0; i < 20; i++ {
			b := bytes.Repeat([]byte{byte('a' + i)}, 1000)
			if n, err := c.Write(b); n != len(b) || err != nil {
				t.Fatalf("Write in CLOSE_WAIT: %d %v", n, err)
			}
			for _, s := range p.take() {
				got.Write(s.Payload)
			}
			p.advance(rtt)
			p.ack()
		}
		if got.Len() != 20000 || c.State() != CloseWait || c.Unsent() != 0 {
			t.Fatalf("sent %d bytes in CLOSE_WAIT, %v, %d unacknowledged", got.Len(), c.State(), c.Unsent())
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatSndByte: 20000, StatSndRexmitPack: 0})
		c.Close()
		p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
		p.ack()
		if p.s.Conns() != 0 || p.h.closed != 1 || p.h.errs[0] != nil {
			t.Fatalf("after LAST_ACK: %d connections, Closed %d %v", p.s.Conns(), p.h.closed, p.h.errs)
		}
	})
}

// FreeBSD tcp_input (rcvafterclose), RFC 9293 3.10.4: data that arrives
// after the application closed (not just shut down writing) resets the
// connection: nobody will read it.
func TestFreeBSD_tcp_input_DataAfterClose(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Close()
	p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	p.advance(rtt)
	p.ack()
	p.take()
	v := p.view()
	before := *p.s.Stats()
	p.data([]byte("anyone?"))
	r := p.expect("RST", func(s sentSeg) bool { return s.Flags&FlagRST != 0 })
	if r.Seq != v.SndNxt {
		t.Fatalf("RST %v, want seq %d", r, v.SndNxt)
	}
	if p.s.Conns() != 0 {
		t.Fatalf("connection left: %v", c.State())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatRcvAfterClose: 1, StatDrops: 1, StatClosed: 1})
}

// RFC 9293 3.10.7.4 (seventh, process the segment text; 3.9 reassembly)
// and RFC 2018 4: segments that arrive in reverse order are kept and
// delivered intact once the first arrives; each out-of-order segment is
// acknowledged at once (RFC 5681 4.2) with SACK blocks, the first of them
// the block holding the segment just received.
func TestRFC9293_3_10_7_4_OutOfOrderReassembly(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	if !p.view().TSOK {
		t.Fatal("no timestamps")
	}
	const n, size = 8, 1000
	payload := make([]byte, n*size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	base := p.nxt
	before := *p.s.Stats()
	for i := n - 1; i >= 0; i-- {
		s := p.mk(FlagACK, base.Add(uint32(i*size)), p.hi, payload[i*size:(i+1)*size])
		p.inject(&s)
		if i == 0 {
			// The hole fills: an ACK of everything at once (and, as the
			// handler reads, perhaps a window update).
			for _, a := range p.take() {
				if a.Flags != FlagACK || a.Ack != base.Add(n*size) || a.Opts.NumSACK != 0 {
					t.Fatalf("the hole filled: %v, want ack %d without SACK", a, base.Add(n*size))
				}
			}
			break
		}
		a := p.expect("ACK", func(s sentSeg) bool { return true })
		{
			if a.Ack != base || a.Opts.NumSACK != 1 {
				t.Fatalf("segment %d out of order: %v, want ack %d with one SACK block", i, a, base)
			}
			b := a.Opts.SACK[0]
			if b.Left != base.Add(uint32(i*size)) || b.Right != base.Add(n*size) {
				t.Fatalf("segment %d: SACK %d-%d, want %d-%d", i, b.Left, b.Right, base.Add(uint32(i*size)), base.Add(n*size))
			}
			if c.Readable() != 0 || p.h.data.Len() != 0 {
				t.Fatalf("out-of-order data readable")
			}
		}
	}
	if !bytes.Equal(p.h.data.Bytes(), payload) {
		t.Fatalf("read %d bytes, equal %v", p.h.data.Len(), bytes.Equal(p.h.data.Bytes(), payload))
	}
	if v := p.view(); v.RcvNxt != base.Add(n*size) || v.ReasRanges != 0 {
		t.Fatalf("after reassembly: %+v", v)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatRcvOOPack: n - 1, StatRcvPack: 1, StatRcvByte: size})
}

// RFC 2018 4: with several holes, the first SACK block reports the most
// recent segment, and all the blocks (up to three with timestamps) are
// reported.
func TestRFC2018_4_SACKBlocks(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	base := p.nxt
	const size = 100
	var last sentSeg
	for _, i := range []int{2, 4, 6} {
		s := p.mk(FlagACK, base.Add(uint32(i*size)), p.hi, make([]byte, size))
		p.inject(&s)
		last = p.expect("ACK", func(s sentSeg) bool { return true })
		b := last.Opts.SACK[0]
		if b.Left != base.Add(uint32(i*size)) || b.Right != base.Add(uint32((i+1)*size)) {
			t.Fatalf("segment %d: first SACK block %d-%d", i, b.Left, b.Right)
		}
	}
	if last.Opts.NumSACK != 3 {
		t.Fatalf("%d SACK blocks, want 3", last.Opts.NumSACK)
	}
	seen := map[flow.Seq]bool{}
	for _, b := range last.Opts.SACK[:3] {
		seen[b.Left] = true
	}
	for _, i := range []int{2, 4, 6} {
		if !seen[base.Add(uint32(i*size))] {
			t.Fatalf("block at segment %d missing: %v", i, last)
		}
	}
	// Filling the first hole merges nothing yet delivers nothing.
	s := p.mk(FlagACK, base.Add(size), p.hi, make([]byte, size))
	p.inject(&s)
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Ack != base || a.Opts.NumSACK != 3 || a.Opts.SACK[0].Left != base.Add(size) || a.Opts.SACK[0].Right != base.Add(3*size) {
		t.Fatalf("after segment 1: %v", a)
	}
	// The start: everything up to the second hole.
	s = p.mk(FlagACK, base, p.hi, make([]byte, size))
	p.inject(&s)
	a = p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Ack != base.Add(3*size) || a.Opts.NumSACK != 2 {
		t.Fatalf("after segment 0: %v", a)
	}
}

// timeWaitPeer returns a peer whose connection the shard closed first (it
// was the passive opener) and which is now in TIME_WAIT, after sending
// sent bytes.
func timeWaitPeer(t *testing.T, sent int) (*peer, *Conn) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	chunk := make([]byte, 16384)
	for sent > 0 {
		n, _ := c.Write(chunk[:min(sent, len(chunk))])
		sent -= n
		p.ack() // at once: the virtual clock stands still
	}
	c.Close()
	p.advance(rtt)
	p.fin()
	if stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("%v, want TIME_WAIT", c.State())
	}
	p.take()
	return p, c
}

// RFC 1337 (TIME-WAIT assassination) and RFC 9293 3.10.7.4 (second, check
// the RST bit, TIME-WAIT): a RST in TIME_WAIT is ignored; the connection
// keeps its 2MSL.
func TestRFC1337_TimeWaitIgnoresRST(t *testing.T) {
	p, c := timeWaitPeer(t, 0)
	v := p.timeWait()
	before := *p.s.Stats()
	for _, off := range []int32{0, 1, -1} {
		rst := p.mk(FlagRST, p.nxt+flow.Seq(off), v.SndNxt, nil)
		p.inject(&rst)
		rst.Flags |= FlagACK
		p.inject(&rst)
	}
	p.expectNone("a RST in TIME_WAIT")
	if stateOf(p.s, c, p.tuple) != TimeWait || p.timeWait() != v {
		t.Fatalf("after RSTs: %v, entry %+v (was %+v)", stateOf(p.s, c, p.tuple), p.timeWait(), v)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 0, StatDrops: 0, StatTWRSTIgnored: 6})
	p.advance(v.ExpiresAt.Sub(p.now))
	if p.s.TimeWaitEntries() != 0 {
		t.Fatal("TIME_WAIT outlived 2MSL")
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatClosed: 1, StatTWExpired: 1})
}

// RFC 9293 3.10.7.4 (eighth, check the FIN bit, TIME-WAIT): "Remain in the
// TIME-WAIT state. Restart the 2 MSL time-out." A retransmitted FIN is
// acknowledged again.
func TestRFC9293_3_10_7_4_TimeWaitFINRetransmission(t *testing.T) {
	p, c := timeWaitPeer(t, 0)
	v := p.timeWait()
	p.advance(10e9)
	before := *p.s.Stats()
	fin := p.mk(FlagFIN|FlagACK, p.nxt-1, v.SndNxt, nil)
	p.inject(&fin)
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Flags != FlagACK || a.Seq != v.SndNxt || a.Ack != p.nxt {
		t.Fatalf("retransmitted FIN answered %v, want <SEQ=%d><ACK=%d><CTL=ACK>", a, v.SndNxt, p.nxt)
	}
	if a.Window != v.Window || !a.Opts.HasTS || a.Opts.TSEcr != v.TSRecent {
		t.Fatalf("retransmitted FIN answered %v %+v, want the window %d and TSecr %d", a, a.Opts, v.Window, v.TSRecent)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWFINRearmed: 1, StatTWResponds: 1, StatSndAcks: 1, StatSndTotal: 1})
	if w := p.timeWait(); w.ExpiresAt != p.now.Add(2*DefaultMSL) {
		t.Fatalf("2MSL at %d, want restarted to %d", w.ExpiresAt, p.now.Add(2*DefaultMSL))
	}
	p.advance(2*DefaultMSL - 1)
	if stateOf(p.s, c, p.tuple) != TimeWait || p.s.TimeWaitEntries() != 1 {
		t.Fatal("TIME_WAIT ended before the restarted 2MSL")
	}
	p.advance(1)
	if p.s.TimeWaitEntries() != 0 {
		t.Fatal("TIME_WAIT outlived the restarted 2MSL")
	}
	stateCountsMatch(t, p.s)
}

// RFC 6191 (and RFC 1122 4.2.2.13): a SYN with a newer timestamp reopens a
// 4-tuple in TIME_WAIT; the new connection's ISN lies above the old
// connection's SND.NXT. A SYN with an older timestamp does not, and gets
// the TIME_WAIT ACK.
func TestRFC6191_TimeWaitReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent int // bytes the old connection sent: a lot pushes its SND.NXT past the clock-driven ISN
	}{
		{"clock ISN", 0},
		{"ISN pushed past SND.NXT", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := timeWaitPeer(t, tc.sent)
			old := p.timeWait()
			p.advance(1e9)
			before := *p.s.Stats()
			// An older timestamp: no reopening.
			syn := p.mk(FlagSYN, p.nxt+1000, 0, nil)
			p.synOpts(&syn)
			syn.Opts.TSVal = old.TSRecent - 1
			p.inject(&syn)
			a := p.expect("ACK", func(s sentSeg) bool { return true })
			if a.Flags != FlagACK || a.Seq != old.SndNxt || a.Ack != old.RcvNxt ||
				p.s.Stats()[StatTWReopened] != before[StatTWReopened] || p.s.Stats()[StatTWPAWSDropped] != before[StatTWPAWSDropped]+1 {
				t.Fatalf("SYN with an old TSval: %v, tw_reopened %d", a, p.s.Stats()[StatTWReopened])
			}
			// A newer one.
			p.iss = p.nxt + 1000
			p.syn()
			c := tableConn(p.s, p.tuple)
			if c == nil || c.State() != SynReceived {
				t.Fatalf("SYN with a newer TSval: %v", c)
			}
			sa := p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
			if !sa.Seq.GT(old.SndNxt) || sa.Ack != p.iss+1 {
				t.Fatalf("SYN-ACK %v: want seq above the old SND.NXT %d", sa, old.SndNxt)
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatTWReopened: 1, StatClosed: 1})
			stateCountsMatch(t, p.s)
			if p.srv.closed != 1 {
				t.Fatalf("Closed heard %d times for the old connection", p.srv.closed)
			}
			p.advance(rtt)
			p.ack()
			if c.State() != Established || p.srv.established != 2 {
				t.Fatalf("the new connection: %v", c.State())
			}
		})
	}
}

// RFC 6191 4.2 / RFC 1122 4.2.2.13 without timestamps: a SYN whose sequence
// number lies above RCV.NXT reopens the 4-tuple; one at or below does not.
func TestRFC1122_4_2_2_13_TimeWaitReopenWithoutTimestamps(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.tsOn = false
	c := p.open()
	if p.view().TSOK {
		t.Fatal("timestamps negotiated")
	}
	c.Close()
	p.advance(rtt)
	p.fin()
	if stateOf(p.s, c, p.tuple) != TimeWait {
		t.Fatalf("%v", c.State())
	}
	p.take()
	before := *p.s.Stats()
	syn := p.mk(FlagSYN, p.nxt-1, 0, nil)
	p.inject(&syn)
	p.expect("ACK", func(s sentSeg) bool { return s.Flags == FlagACK })
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWReopened: 0})
	p.iss = p.nxt + 50000
	p.syn()
	p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWReopened: 1})
}
