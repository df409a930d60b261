package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// RFC 5961 (blind in-window attacks) and RFC 7323 5 (PAWS).

// RFC 5961 3.2: a RST whose sequence number is exactly RCV.NXT resets the
// connection; one elsewhere in the window gets a challenge ACK
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and changes nothing; one outside the
// window is dropped silently.
func TestRFC5961_3_2_RST(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       int32 // from RCV.NXT
		flags     Flags
		reset     bool
		challenge bool
	}{
		{"exact", 0, FlagRST, true, false},
		{"exact with ACK", 0, FlagRST | FlagACK, true, false},
		{"in window +1", 1, FlagRST, false, true},
		{"in window +1000 with ACK", 1000, FlagRST | FlagACK, false, true},
		{"last byte of the window", 65534, FlagRST, false, true}, // the SYN-ACK offered 65535
		{"just past the window", 65536 * 2, FlagRST, false, false},
		{"before RCV.NXT", -1, FlagRST, false, false},
		{"far away", 1 << 30, FlagRST | FlagACK, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			v := p.view()
			before := *p.s.Stats()
			rst := p.mk(tc.flags, p.nxt+flow.Seq(tc.off), v.SndNxt, nil)
			p.inject(&rst)
			segs := p.take()
			switch {
			case tc.reset:
				if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ECONNRESET) || p.s.Conns() != 0 {
					t.Fatalf("Closed %d %v, %d connections: want ECONNRESET", p.h.closed, p.h.errs, p.s.Conns())
				}
				if len(segs) != 0 {
					t.Fatalf("a RST was answered: %v", segs)
				}
				statsDelta(t, p.s, before, map[Stat]uint64{StatDrops: 1, StatClosed: 1, StatChallengeAck: 0})
			case tc.challenge:
				if c.State() != Established || p.h.closed != 0 {
					t.Fatalf("after an in-window RST: %v, Closed %d", c.State(), p.h.closed)
				}
				if len(segs) != 1 || segs[0].Flags != FlagACK || segs[0].Seq != v.SndNxt || segs[0].Ack != v.RcvNxt {
					t.Fatalf("sent %v, want one <SEQ=%d><ACK=%d><CTL=ACK>", segs, v.SndNxt, v.RcvNxt)
				}
				statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 1, StatDrops: 0})
			default:
				if c.State() != Established || len(segs) != 0 {
					t.Fatalf("after an out-of-window RST: %v, sent %v", c.State(), segs)
				}
				statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 0, StatDrops: 0})
			}
			stateCountsMatch(t, p.s)
		})
	}
}

// RFC 5961 4.2: a SYN in a synchronized state, in the window or not, gets a
// challenge ACK and does not reset the connection.
func TestRFC5961_4_2_SYNInSynchronizedState(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int32
		ack  bool
	}{
		{"at RCV.NXT", 0, false},
		{"in window", 5000, false},
		{"in window with ACK", 5000, true},
		{"below RCV.NXT", -100, false},
		{"far away", 1 << 30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			v := p.view()
			before := *p.s.Stats()
			flags := FlagSYN
			if tc.ack {
				flags |= FlagACK
			}
			syn := p.mk(flags, p.nxt+flow.Seq(tc.off), v.SndNxt, nil)
			p.synOpts(&syn)
			p.inject(&syn)
			segs := p.take()
			if c.State() != Established || p.h.closed != 0 {
				t.Fatalf("after a SYN: %v, Closed %d", c.State(), p.h.closed)
			}
			if len(segs) != 1 || segs[0].Flags != FlagACK || segs[0].Seq != v.SndNxt || segs[0].Ack != v.RcvNxt {
				t.Fatalf("sent %v, want one <SEQ=%d><ACK=%d><CTL=ACK>", segs, v.SndNxt, v.RcvNxt)
			}
			if w := p.view(); w.RcvNxt != v.RcvNxt || w.SndUna != v.SndUna {
				t.Fatalf("the SYN moved the connection: %+v", w)
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 1, StatDrops: 0})
			// The connection still works.
			p.data([]byte("still here"))
			if p.h.data.String() != "still here" {
				t.Fatalf("read %q", p.h.data.String())
			}
		})
	}
}

// RFC 5961 5.2: an ACK below SND.UNA - MAX.SND.WND is discarded, data and
// all, with an ACK; RFC 9293 3.10.7.4: an ACK of something not yet sent is
// discarded with an ACK.
func TestRFC5961_5_2_ACKOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       int32 // from SND.UNA
		challenge bool
	}{
		{"too old", -70000, true},
		{"not yet sent", 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			v := p.view()
			before := *p.s.Stats()
			d := p.mk(FlagACK, p.nxt, v.SndUna+flow.Seq(tc.off), []byte("forged"))
			p.inject(&d)
			a := p.expect("ACK", func(s sentSeg) bool { return true })
			if a.Flags != FlagACK || a.Ack != v.RcvNxt || a.Seq != v.SndNxt {
				t.Fatalf("sent %v, want <SEQ=%d><ACK=%d><CTL=ACK>", a, v.SndNxt, v.RcvNxt)
			}
			if c.Readable() != 0 || p.view().RcvNxt != v.RcvNxt || c.State() != Established {
				t.Fatalf("the segment's data was taken: %d readable, %v", c.Readable(), c.State())
			}
			want := map[Stat]uint64{StatChallengeAck: 0, StatRcvAckTooMuch: 1}
			if tc.challenge {
				want = map[Stat]uint64{StatChallengeAck: 1, StatRcvAckTooMuch: 0}
			}
			statsDelta(t, p.s, before, want)
		})
	}
}

// RFC 5961 7: challenge ACKs are rate limited (challengeACKLimit a second
// per shard); the budget comes back the next second.
func TestRFC5961_7_ChallengeACKRateLimit(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	// Start on a second boundary so the burst stays within one second.
	p.advance(mono.Time((p.now.Div(time.Second) + 1) * 1e9).Sub(p.now))
	before := *p.s.Stats()
	v := p.view()
	for i := 0; i < challengeACKLimit+500; i++ {
		rst := p.mk(FlagRST, p.nxt+flow.Seq(1+i), v.SndNxt, nil)
		p.inject(&rst)
	}
	if segs := p.take(); len(segs) != challengeACKLimit {
		t.Fatalf("%d challenge ACKs in one second, want %d", len(segs), challengeACKLimit)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: challengeACKLimit})
	if c.State() != Established {
		t.Fatalf("after the burst: %v", c.State())
	}
	// A SYN in the same second shares the budget.
	syn := p.mk(FlagSYN, p.nxt, 0, nil)
	p.inject(&syn)
	p.expectNone("a SYN over the limit")
	p.advance(1e9)
	rst := p.mk(FlagRST, p.nxt+1, v.SndNxt, nil)
	p.inject(&rst)
	p.expect("challenge ACK", func(s sentSeg) bool { return s.Flags == FlagACK })
	statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: challengeACKLimit + 1})
}

// RFC 7323 5.3 (PAWS): a segment whose TSval is older than TS.Recent is
// dropped, with an ACK, and counted in pawsdrop (R1); a RST is exempt; after
// 24 days of idleness TS.Recent is no longer trusted (5.5).
func TestRFC7323_5_3_PAWS(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	p.data([]byte("fresh"))
	v := p.view()
	if v.TSRecent != p.tsVal() {
		t.Fatalf("ts_recent %d, want the peer's %d", v.TSRecent, p.tsVal())
	}
	p.take()
	before := *p.s.Stats()
	old := p.mk(FlagACK|FlagPSH, p.nxt, p.hi, []byte("stale"))
	old.Opts.TSVal = v.TSRecent - 1000
	p.inject(&old)
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Flags != FlagACK || a.Ack != v.RcvNxt {
		t.Fatalf("PAWS drop answered %v, want an ACK of %d", a, v.RcvNxt)
	}
	if p.h.data.String() != "fresh" || p.view().RcvNxt != v.RcvNxt {
		t.Fatalf("an old segment's data was taken: %q", p.h.data.String())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatPAWSDrop: 1, StatSndAcks: 1, StatRcvPack: 0})
	// The same data with a current timestamp goes in.
	p.data([]byte("+new"))
	if p.h.data.String() != "fresh+new" {
		t.Fatalf("read %q", p.h.data.String())
	}
	// The timestamp compares modulo 2^32: 2^31 ahead is behind.
	wrap := p.mk(FlagACK, p.nxt, p.hi, []byte("wrap"))
	wrap.Opts.TSVal = p.view().TSRecent + 1<<31
	p.inject(&wrap)
	if p.h.data.String() != "fresh+new" {
		t.Fatalf("a TSval 2^31 ahead was accepted: %q", p.h.data.String())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatPAWSDrop: 2})
	// An old RST at RCV.NXT still resets (R1 applies with the RST bit off).
	p.advance(24*24*3600e9 + 1e9)
	stale := p.mk(FlagACK, p.nxt, p.hi, []byte("idle"))
	stale.Opts.TSVal = v.TSRecent - 1000
	p.inject(&stale)
	if p.h.data.String() != "fresh+newidle" {
		t.Fatalf("after 24 days idle an old TSval is still refused: %q", p.h.data.String())
	}
	rst := p.mk(FlagRST, p.nxt+4, 0, nil)
	rst.Opts.TSVal = 1
	p.inject(&rst)
	if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ECONNRESET) || c.State() != Closed {
		t.Fatalf("an exact RST with an old TSval: Closed %d %v", p.h.closed, p.h.errs)
	}
}
