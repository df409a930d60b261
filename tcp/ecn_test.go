package tcp

import (
	"math"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// tosCapture makes the peer's capture a TOSSender, recording each
// segment's TOS.
type tosCapture struct{ c *capture }

func (s tosCapture) SendTOS(t *flow.Tuple, n int, tos uint8) {
	k := len(s.c.segs)
	s.c.Send(t, n)
	if len(s.c.segs) > k {
		s.c.segs[k].tos = tos
	}
}

// newECNPeer is newPeer whose shard may send ECT.
func newECNPeer(t *testing.T, cfg Config) *peer {
	p := newPeer(t, cfg)
	p.s.tos = tosCapture{p.out}
	return p
}

// injectECN is inject for a segment whose IP header carried ecn.
func (p *peer) injectECN(s *Segment, ecn uint8) {
	h := Write(p.buf[:], s)
	n := copy(p.buf[h:], s.Payload)
	p.s.ReceiveECN(&p.tuple, p.buf[:h+n], ecn, p.now)
}

// sendECN is send with flags and an ECN codepoint.
func (p *peer) sendECN(flags Flags, b []byte, ecn uint8) {
	s := p.mk(flags, p.nxt, p.hi, b)
	p.injectECN(&s, ecn)
	p.nxt = p.nxt.Add(uint32(len(b)))
}

// openECN is open with an ECN-setup SYN (ECE and CWR); it returns the
// connection and the SYN-ACK the shard answered with.
func (p *peer) openECN(synFlags Flags) (*Conn, sentSeg) {
	p.t.Helper()
	s := p.mk(FlagSYN|synFlags, p.iss, 0, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
	sa := p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK })
	p.advance(rtt)
	p.ack()
	c := tableConn(p.s, p.tuple)
	if c == nil || c.State() != Established {
		p.t.Fatalf("passive open: %v", c)
	}
	p.c, p.h = c, p.srv
	p.take()
	return c, sa
}

// RFC 3168 6.1.1: a host that accepts ECN answers an ECN-setup SYN (ECE
// and CWR) with an ECN-setup SYN-ACK (ECE, not CWR), and only that SYN;
// with ecn.enable 0 it never does.
func TestRFC3168_6_1_1_ECNSetupSYNACK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		enable int
		syn    Flags
		want   bool
	}{
		{"accept only, ECN-setup SYN", ECNAccept, FlagECE | FlagCWR, true},
		{"on, ECN-setup SYN", ECNOn, FlagECE | FlagCWR, true},
		{"accept only, plain SYN", ECNAccept, 0, false},
		{"accept only, ECE alone", ECNAccept, FlagECE, false},
		{"off, ECN-setup SYN", ECNOff, FlagECE | FlagCWR, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ECN = tc.enable
			p := newECNPeer(t, cfg)
			before := *p.s.Stats()
			c, sa := p.openECN(tc.syn)
			if got := sa.Flags&(FlagECE|FlagCWR) == FlagECE; got != tc.want || sa.Flags&FlagCWR != 0 {
				t.Fatalf("SYN-ACK flags %v", sa.Flags)
			}
			if c.ecnOK != tc.want {
				t.Fatalf("ECN agreed: %v, want %v", c.ecnOK, tc.want)
			}
			want := uint64(0)
			if tc.want {
				want = 1
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatECNShs: want})
		})
	}
}

// RFC 3168 6.1.1: with ecn.enable 1 an active open sends an ECN-setup SYN
// and uses ECN when the SYN-ACK is an ECN-setup SYN-ACK (ECE without CWR);
// a SYN-ACK with both bits, or neither, is not one. With 2 the SYN asks
// for nothing.
func TestRFC3168_6_1_1_ActiveOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		enable int
		synack Flags
		ask    bool
		want   bool
	}{
		{"on, ECN-setup SYN-ACK", ECNOn, FlagECE, true, true},
		{"on, ECE and CWR", ECNOn, FlagECE | FlagCWR, true, false},
		{"on, plain SYN-ACK", ECNOn, 0, true, false},
		{"accept only", ECNAccept, FlagECE, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ECN = tc.enable
			p := newECNPeer(t, cfg)
			c := p.dial()
			syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags&FlagSYN != 0 })
			if got := syn.Flags&(FlagECE|FlagCWR) == FlagECE|FlagCWR; got != tc.ask {
				t.Fatalf("SYN flags %v", syn.Flags)
			}
			p.advance(rtt)
			s := p.mk(FlagSYN|FlagACK|tc.synack, p.iss, p.hi, nil)
			p.synOpts(&s)
			p.inject(&s)
			p.nxt = p.iss + 1
			if c.State() != Established || c.ecnOK != tc.want {
				t.Fatalf("%v, ECN agreed %v; want ESTABLISHED, %v", c.State(), c.ecnOK, tc.want)
			}
		})
	}
}

// ecn.maxretries: an ECN-setup SYN sent again keeps its bits ecn.maxretries
// times, then goes without them (a path that drops them); a SYN-ACK too,
// and a connection whose last SYN-ACK went without ECE does not use ECN.
func TestECNMaxRetriesFallsBack(t *testing.T) {
	for _, retries := range []int{0, 1, 2} {
		cfg := DefaultConfig()
		cfg.ECN = ECNOn
		cfg.ECNMaxRetries = retries
		p := newECNPeer(t, cfg)
		p.dial()
		for i := 0; i <= retries+1; i++ {
			syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags&FlagSYN != 0 })
			if got, want := syn.Flags&(FlagECE|FlagCWR) != 0, i <= retries; got != want {
				t.Fatalf("maxretries %d: SYN %d flags %v", retries, i, syn.Flags)
			}
			p.advance(p.c.rto)
		}

		q := newECNPeer(t, cfg)
		s := q.mk(FlagSYN|FlagECE|FlagCWR, q.iss, 0, nil)
		q.synOpts(&s)
		q.inject(&s)
		q.nxt = q.iss + 1
		c := tableConn(q.s, q.tuple)
		for i := 0; i <= retries+1; i++ {
			sa := q.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags&FlagSYN != 0 })
			if got, want := sa.Flags&FlagECE != 0, i <= retries; got != want {
				t.Fatalf("maxretries %d: SYN-ACK %d flags %v", retries, i, sa.Flags)
			}
			q.advance(c.rto)
		}
		q.take()
		q.ack()
		if c.State() != Established || c.ecnOK {
			t.Fatalf("maxretries %d: %v, ECN %v after SYN-ACKs without ECE", retries, c.State(), c.ecnOK)
		}
	}
}

// RFC 3168 6.1.5, 6.1.6: new data goes ECT(0); pure ACKs and
// retransmissions do not; a connection without ECN sends nothing ECT.
func TestRFC3168_6_1_5_ECTOnNewDataOnly(t *testing.T) {
	for _, ecn := range []bool{true, false} {
		p := newECNPeer(t, DefaultConfig())
		var c *Conn
		if ecn {
			c, _ = p.openECN(FlagECE | FlagCWR)
		} else {
			c, _ = p.openECN(0)
		}
		before := *p.s.Stats()
		c.Write(make([]byte, 3*1448))
		segs := p.take()
		if len(segs) != 3 {
			t.Fatalf("%d segments for three segments' bytes", len(segs))
		}
		for _, s := range segs {
			if want := map[bool]uint8{true: ECNECT0, false: 0}[ecn]; s.tos != want {
				t.Fatalf("ECN %v: new data %v went with TOS %d", ecn, s, s.tos)
			}
		}
		d := p.mk(FlagACK|FlagPSH, p.nxt, c.sndUna, []byte("x")) // acknowledges none of it: an ACK owed, delayed
		p.inject(&d)
		p.nxt++
		p.advance(DefaultDelAckTime)
		acks := p.take()
		if len(acks) == 0 {
			t.Fatal("no ACK")
		}
		for _, s := range acks {
			if len(s.Payload) == 0 && s.tos != 0 {
				t.Fatalf("a segment without data went ECT: %v", s)
			}
		}
		p.advance(c.rto) // a tail loss probe, then the timeout, resend
		rex := p.take()
		if len(rex) == 0 {
			t.Fatal("nothing sent again")
		}
		for _, s := range rex {
			if len(s.Payload) > 0 && s.tos != 0 {
				t.Fatalf("a retransmission went with TOS %d: %v", s.tos, s)
			}
		}
		if ecn {
			statsDelta(t, p.s, before, map[Stat]uint64{StatECNSndECT0: 3})
		}
	}
}

// RFC 3168 6.1.3: a CE-marked segment makes the receiver set ECE on every
// ACK until a segment with CWR arrives; the codepoints are counted
// (ecn_ce, ecn_ect0). A connection without ECN ignores CE.
func TestRFC3168_6_1_3_CEEchoedUntilCWR(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DelayedAck = false
	p := newECNPeer(t, cfg)
	p.openECN(FlagECE | FlagCWR)
	before := *p.s.Stats()
	echo := func(what string, flags Flags, ecn uint8, want bool) {
		t.Helper()
		p.sendECN(flags, []byte("data"), ecn)
		a := p.expect("ACK", func(s sentSeg) bool { return s.Flags&FlagACK != 0 })
		if got := a.Flags&FlagECE != 0; got != want {
			t.Fatalf("%s: ACK flags %v, want ECE %v", what, a.Flags, want)
		}
	}
	echo("ECT(0)", FlagACK, ECNECT0, false)
	echo("CE", FlagACK, ECNCE, true)
	echo("ECT(0) after CE", FlagACK, ECNECT0, true)
	echo("not ECT after CE", FlagACK, ECNNotECT, true)
	echo("CWR", FlagACK|FlagCWR, ECNECT0, false)
	echo("ECT(0) after CWR", FlagACK, ECNECT0, false)
	echo("CE with CWR", FlagACK|FlagCWR, ECNCE, true)
	statsDelta(t, p.s, before, map[Stat]uint64{StatECNCE: 2, StatECNECT0: 4})

	q := newECNPeer(t, cfg)
	q.openECN(0)
	q.sendECN(FlagACK, []byte("data"), ECNCE)
	if a := q.expect("ACK", func(s sentSeg) bool { return s.Flags&FlagACK != 0 }); a.Flags&FlagECE != 0 {
		t.Fatalf("a connection without ECN echoed CE: %v", a.Flags)
	}
}

// RFC 3168 6.1.2: an ACK with ECE reduces the window as a loss would (cwnd
// = ssthresh = what congestion control says), once per window of data:
// another ECE before what was in flight then is acknowledged changes
// nothing, cwnd does not grow meanwhile, and the next new data segment
// carries CWR. After the window, an ECE reduces again.
func TestRFC3168_6_1_2_ECEReducesOncePerWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CCAlgorithm = "newreno"
	p := newECNPeer(t, cfg)
	c, _ := p.openECN(FlagECE | FlagCWR)
	const seg = 1448
	c.Write(make([]byte, 20*seg))
	first := p.take()
	if len(first) != 10 {
		t.Fatalf("%d segments in the initial window", len(first))
	}
	flight := c.inFlight()
	before := *p.s.Stats()
	ackECE := func(upTo flow.Seq, ece bool) {
		f := FlagACK
		if ece {
			f |= FlagECE
		}
		s := p.mk(f, p.nxt, upTo, nil)
		p.inject(&s)
	}
	p.advance(rtt)
	ackECE(first[0].end(), true) // one segment acknowledged, ECE
	want := max((flight-seg)/2, 2*uint32(c.mss))
	if c.ssthresh != want || c.cwnd != want || !c.inCWR {
		t.Fatalf("after ECE: cwnd %d ssthresh %d CWR %v; want %d, %d, true", c.cwnd, c.ssthresh, c.inCWR, want, want)
	}
	if c.ccState() != CCCWR {
		t.Fatalf("cc state %v", c.ccState())
	}
	sent := p.take()
	cwr := 0
	for i, s := range sent {
		if s.Flags&FlagCWR != 0 {
			cwr++
			if i != 0 || len(s.Payload) == 0 || s.tos != ECNECT0 {
				t.Fatalf("CWR on %v (segment %d)", s, i)
			}
		}
	}
	if len(sent) > 0 && cwr != 1 {
		t.Fatalf("%d segments sent with CWR: %v", cwr, sent)
	}
	ackECE(first[1].end(), true) // the same window: no second reduction
	ackECE(first[2].end(), false)
	if c.cwnd != want || c.ssthresh != want {
		t.Fatalf("within the window: cwnd %d ssthresh %d, want %d", c.cwnd, c.ssthresh, want)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatECNRcwnd: 1})
	if len(sent) == 0 {
		// The reduced window let nothing out yet: CWR waits for the first
		// new data segment.
		ackECE(first[6].end(), false)
		s := p.take()
		if len(s) == 0 || s[0].Flags&FlagCWR == 0 {
			t.Fatalf("no CWR on the next new data: %v", s)
		}
	}
	p.take()
	// Past the window: everything in flight at the reduction acknowledged.
	p.advance(rtt)
	ackECE(c.sndMax, false)
	if c.inCWR {
		t.Fatal("still in CWR after the window")
	}
	p.take()
	c.Write(make([]byte, 4*seg))
	p.take()
	cw := c.cwnd
	ackECE(c.sndUna.Add(seg), true)
	if c.cwnd >= cw || c.shard.stats[StatECNRcwnd]-before[StatECNRcwnd] != 2 {
		t.Fatalf("a second window's ECE: cwnd %d (was %d), ecn_rcwnd +%d", c.cwnd, cw, c.shard.stats[StatECNRcwnd]-before[StatECNRcwnd])
	}
}

// A connection without ECN ignores ECE.
func TestECEIgnoredWithoutECN(t *testing.T) {
	p := newECNPeer(t, DefaultConfig())
	c, _ := p.openECN(0)
	c.Write(make([]byte, 4*1448))
	p.take()
	cw := c.cwnd
	s := p.mk(FlagACK|FlagECE, p.nxt, c.sndUna.Add(1448), nil)
	p.inject(&s)
	if c.cwnd < cw || c.inCWR {
		t.Fatalf("cwnd %d (was %d), CWR %v", c.cwnd, cw, c.inCWR)
	}
}

// RFC 8257 3.3: DCTCP's alpha is a moving average, with gain 1/2^shift_g,
// of the fraction of bytes acknowledged with ECE in each observation
// window, and an ECE reduces cwnd to cwnd * (1 - alpha/2). The test feeds
// windows with a known fraction marked and follows the formula in floating
// point beside it.
func TestRFC8257_DCTCPAlphaAndReduction(t *testing.T) {
	for _, tc := range []struct {
		alpha0, shift int
		fracs         []float64 // fraction of each window's segments marked
	}{
		{0, 4, []float64{0.25, 0.25, 0.25, 0.25}},
		{1024, 4, []float64{0, 0, 0, 0, 0, 0}},
		{0, 1, []float64{0.5, 1, 0.1, 0}},
		{512, 0, []float64{0.75, 0.3}},
		{1024, 10, []float64{0.5}},
	} {
		cfg := DefaultConfig()
		cfg.CCAlgorithm = "dctcp"
		cfg.DCTCPAlpha, cfg.DCTCPShiftG = tc.alpha0, tc.shift
		p := newECNPeer(t, cfg)
		c, _ := p.openECN(FlagECE | FlagCWR)
		if c.cc.Name() != "dctcp" || !c.ecnOK {
			t.Fatal("not a DCTCP connection with ECN")
		}
		g := 1 / math.Exp2(float64(tc.shift))
		want := float64(tc.alpha0) / 1024
		const segs = 20
		for w, frac := range tc.fracs {
			// One observation window: segs segments sent and acknowledged
			// one by one, the first frac of them with ECE. No reduction
			// in between (the CWR state is cleared by hand): this checks
			// the estimate alone.
			start := c.sndMax
			c.Write(make([]byte, segs*100))
			c.cwnd, c.sndWnd = 1<<20, 1<<20
			c.noDelay = true
			c.output()
			p.take()
			c.dctcpEnd = c.sndMax
			marked := int(frac * segs)
			for i := 0; i < segs; i++ {
				c.inCWR, c.recover = false, c.sndUna
				f := FlagACK
				if i < marked {
					f |= FlagECE
				}
				s := p.mk(f, p.nxt, start.Add(uint32(100*(i+1))), nil)
				p.inject(&s)
			}
			// The window ends with the next ACK past its end.
			s := p.mk(FlagACK, p.nxt, c.sndUna, nil)
			c.dctcpEnd = c.sndUna - 1
			p.inject(&s)
			want = (1-g)*want + g*float64(marked)/segs
			got := float64(c.dctcpAlpha) / 1024
			if math.Abs(got-want) > float64(w+1)/1024 {
				t.Fatalf("alpha0 %d shift_g %d window %d: alpha %.4f, want %.4f", tc.alpha0, tc.shift, w, got, want)
			}
		}
		// The reduction: cwnd * (1 - alpha/2).
		c.inCWR, c.recover = false, c.sndUna
		c.cwnd = 100 * 1448
		got := DCTCP{}.OnECE(c)
		exp := float64(c.cwnd) * (1 - float64(c.dctcpAlpha)/1024/2)
		if math.Abs(float64(got)-math.Max(exp, 2*float64(c.mss))) > 1 {
			t.Fatalf("alpha %d: cwnd %d reduced to %d, want %.0f", c.dctcpAlpha, c.cwnd, got, exp)
		}
	}
}

// DCTCP end to end on the scripted peer: with alpha at its default 1024
// the first ECE halves cwnd, as RFC 8257 3.3 step 9 says for alpha 1; and
// cc.dctcp.slowstart halves in slow start whatever alpha is.
func TestRFC8257_FirstECEHalvesWithDefaultAlpha(t *testing.T) {
	for _, slow := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.CCAlgorithm = "dctcp"
		cfg.DCTCPSlowStart = slow
		if slow {
			cfg.DCTCPAlpha = 0
		}
		p := newECNPeer(t, cfg)
		c, _ := p.openECN(FlagECE | FlagCWR)
		c.Write(make([]byte, 10*1448))
		segs := p.take()
		p.advance(rtt)
		cw := c.cwnd
		s := p.mk(FlagACK|FlagECE, p.nxt, segs[0].end(), nil)
		p.inject(&s)
		// The ACK first grows cwnd by what it acknowledged (slow start),
		// then the ECE takes half.
		grown := cw + segs[0].end().Sub(segs[0].Seq)
		if want := grown / 2; c.cwnd != want || c.ssthresh != want {
			t.Fatalf("slowstart %v: cwnd %d -> %d (ssthresh %d), want %d", slow, cw, c.cwnd, c.ssthresh, want)
		}
	}
}

// DCTCP's receiver (RFC 8257 3.2): ECE says whether the last segment was
// CE, and when that changes an ACK delayed so far goes at once with the
// old state.
func TestRFC8257_3_2_ReceiverEchoesCEState(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CCAlgorithm = "dctcp"
	p := newECNPeer(t, cfg)
	p.openECN(FlagECE | FlagCWR)
	p.sendECN(FlagACK, []byte("a"), ECNECT0) // delayed
	p.expectNone("the first segment's ACK is delayed")
	p.sendECN(FlagACK, []byte("b"), ECNCE) // CE: the delayed ACK goes first, without ECE
	segs := p.take()
	if len(segs) == 0 || segs[0].Flags&FlagECE != 0 || segs[0].Ack != p.iss+2 {
		t.Fatalf("on the change to CE: %v", segs)
	}
	p.advance(DefaultDelAckTime)
	segs = append(segs, p.take()...)
	last := segs[len(segs)-1]
	if last.Flags&FlagECE == 0 || last.Ack != p.iss+3 {
		t.Fatalf("the CE segment's ACK: %v", segs)
	}
	p.sendECN(FlagACK, []byte("c"), ECNECT0) // back to not CE: ECE stops at once
	p.advance(DefaultDelAckTime)
	segs = p.take()
	if len(segs) == 0 || segs[len(segs)-1].Flags&FlagECE != 0 {
		t.Fatalf("after CE ended: %v", segs)
	}
}
