package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
)

// RACK-TLP (RFC 8985), PRR (RFC 6937), D-SACK (RFC 2883) and the SACK
// blocks' order (RFC 2018), on the virtual clock with a scripted peer.

// rackPeer opens a connection whose peer offers a large window, and
// returns it with the payload size of a full segment.
func rackPeer(t *testing.T, cfg Config) (*peer, *Conn, int) {
	t.Helper()
	p := newPeer(t, cfg)
	c := p.open()
	return p, c, p.view().MSS - 12
}

// sackACK sends a duplicate ACK for una carrying the SACK blocks given as
// [left, right) pairs.
func (p *peer) sackACK(una flow.Seq, blocks ...flow.Seq) {
	s := p.mk(FlagACK, p.nxt, una, nil)
	for i := 0; i+1 < len(blocks); i += 2 {
		s.Opts.SACK[s.Opts.NumSACK] = SACKBlock{Left: blocks[i], Right: blocks[i+1]}
		s.Opts.NumSACK++
	}
	p.inject(&s)
}

// dataSegs returns the data segments among segs.
func dataSegs(segs []sentSeg) []sentSeg {
	var out []sentSeg
	for _, s := range segs {
		if len(s.Payload) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// RFC 8985 6.2: with one segment SACKed after a hole and no reordering
// seen, the hole is lost once RACK.rtt plus the reordering window
// (min_RTT/4) has passed since it was sent: the reordering timer marks it
// and it is retransmitted then, not at the RTO.
func TestRFC8985_RACKReorderingWindow(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	c.Write(make([]byte, 2*size))
	sent := dataSegs(p.take())
	if len(sent) != 2 {
		t.Fatalf("sent %v", sent)
	}
	una := sent[0].Seq
	p.advance(rtt)
	p.sackACK(una, sent[1].Seq, sent[1].Seq.Add(uint32(size)))
	p.expectNone("within the reordering window")
	// RACK.rtt is 10 ms, min_RTT 10 ms: the window is 2.5 ms.
	p.advance(2 * time.Millisecond)
	p.expectNone("still within the reordering window")
	p.advance(time.Millisecond)
	r := p.expect("retransmission", func(s sentSeg) bool { return s.Seq == una && len(s.Payload) == size })
	if r.at.Sub(sent[0].at) > rtt+3*time.Millisecond {
		t.Fatalf("retransmitted %v after the first send", r.at.Sub(sent[0].at))
	}
	if st := p.s.Stats(); st[StatRackReoTimeo] != 1 || st[StatSACKRecoveryEpisode] != 1 || st[StatRexmtTimeo] != 0 {
		t.Fatalf("reotimeo %d, episodes %d, rexmttimeo %d", st[StatRackReoTimeo], st[StatSACKRecoveryEpisode], st[StatRexmtTimeo])
	}
}

// flight writes n full segments and returns them as sent, with the
// sequence number of segment i.
func flight(t *testing.T, p *peer, c *Conn, size, n int) ([]sentSeg, func(i int) flow.Seq) {
	t.Helper()
	c.Write(make([]byte, n*size))
	sent := dataSegs(p.take())
	if len(sent) != n {
		t.Fatalf("sent %d segments, want %d: %v", len(sent), n, sent)
	}
	una := sent[0].Seq
	return sent, func(i int) flow.Seq { return una.Add(uint32(i * size)) }
}

// RFC 8985 6.2 step 4: once a D-SACK shows that a retransmission was
// spurious (the original was only late), reordering has been seen and the
// window grows by a quarter of min_RTT per D-SACK round: the next hole is
// given 5 ms, not 2.5 ms. The spurious retransmission is counted.
func TestRFC8985_ReorderingWindowGrowsOnDSACK(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	_, seg := flight(t, p, c, size, 2)
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(2))
	p.advance(3 * time.Millisecond)
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	// The original was late, not lost: the ACK covers both and reports
	// the retransmission's copy in a D-SACK block.
	p.advance(rtt)
	p.sackACK(seg(2), seg(0), seg(1))
	st := p.s.Stats()
	if st[StatDSACKCount] != 1 || st[StatDSACKBytes] != uint64(size) || st[StatSndRexmitBad] != 1 {
		t.Fatalf("dsack_count %d dsack_bytes %d sndrexmitbad %d, want 1 %d 1", st[StatDSACKCount], st[StatDSACKBytes], st[StatSndRexmitBad], size)
	}
	p.take()
	// The next flight loses its first segment again (four SACKed: with
	// reordering seen the window no longer drops to 0 at DupThresh).
	_, seg = flight(t, p, c, size, 5)
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(5))
	p.advance(4 * time.Millisecond)
	p.expectNone("within the doubled reordering window")
	p.advance(2 * time.Millisecond)
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
}

// RFC 8985 6.2 with DupThresh: without reordering seen, three SACKed
// segments set the reordering window to 0, so the hole is lost at once.
func TestRFC8985_NoReorderingWindowPastDupThresh(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	_, seg := flight(t, p, c, size, 4)
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(4))
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) && len(s.Payload) == size })
}

// RFC 8985 2.2 and 6.2: a retransmission that is lost again is detected
// like any loss — by a segment sent after it being delivered — and sent
// once more, where a dupthresh sender waits for the RTO.
func TestRFC8985_LostRetransmissionDetection(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	_, seg := flight(t, p, c, size, 4)
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(4))
	r1 := p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	// More data goes after the retransmission (PRR lets some out as
	// more SACKs arrive); the retransmission itself is lost.
	c.Write(make([]byte, 4*size))
	p.advance(time.Millisecond)
	p.sackACK(seg(0), seg(1), seg(4)) // a duplicate: nothing new delivered
	p.take()
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(5))
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(6))
	r2 := p.expect("second retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	if r2.at == r1.at {
		t.Fatal("the same retransmission twice")
	}
	st := p.s.Stats()
	if st[StatSACKLostRexmt] != 1 || st[StatRexmtTimeo] != 0 {
		t.Fatalf("sack_lostrexmt %d, rexmttimeo %d: want 1, 0", st[StatSACKLostRexmt], st[StatRexmtTimeo])
	}
}

// The same loss of a retransmission with functions_default=freebsd (RFC
// 6675 without RACK) waits for the retransmission timer (its tail loss
// probe, at 2 SRTT + 200 ms for a lone segment): what RACK is for.
func TestRFC6675_LostRetransmissionWaitsForRTO(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FunctionsDefault = StackFreeBSD
	p, c, size := rackPeer(t, cfg)
	sent, seg := flight(t, p, c, size, 4)
	p.advance(rtt)
	for i := 0; i < 3; i++ {
		p.sackACK(seg(0), seg(1), seg(2+i))
	}
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	c.Write(make([]byte, 4*size))
	p.take()
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(5))
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(6))
	for _, s := range p.take() {
		if s.Seq == seg(0) {
			t.Fatalf("retransmitted again before the RTO: %v", s)
		}
	}
	p.advance(p.view().RTO)
	r := p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	if d := r.at.Sub(sent[0].at); d < 20*rtt {
		t.Fatalf("retransmitted again %v after the first send, not at the retransmission timer", d)
	}
}

// RFC 8985 7.2 and 7.3: with several segments in flight and nothing
// heard, a probe goes at PTO = 2 SRTT: one segment of new data when the
// windows allow it, and only one per episode; the RTO follows it.
func TestRFC8985_TLPSendsNewData(t *testing.T) {
	cfg := newDataProbeConfig() // RFC 8985 7.3's choice
	p, c, size := rackPeer(t, cfg)
	c.Write(make([]byte, 12*size)) // the initial window takes ten
	sent := dataSegs(p.take())
	if len(sent) != cfg.InitCwndSegments {
		t.Fatalf("sent %d segments", len(sent))
	}
	end := sent[len(sent)-1].end()
	srtt := 10 * time.Millisecond
	p.advance(2*srtt - time.Millisecond)
	p.expectNone("before the probe timeout")
	p.advance(time.Millisecond)
	probe := p.expect("probe", func(s sentSeg) bool { return true })
	if probe.Seq != end || len(probe.Payload) != size {
		t.Fatalf("probe %v, want new data at %d", probe, end)
	}
	if st := p.s.Stats(); st[StatTLP] != 1 || st[StatSndRexmitPack] != 0 {
		t.Fatalf("tlp %d, sndrexmitpack %d", st[StatTLP], st[StatSndRexmitPack])
	}
	rto := p.view().RTO
	p.advance(rto - time.Millisecond)
	p.expectNone("one probe per episode")
	p.advance(time.Millisecond)
	p.expect("RTO retransmission", func(s sentSeg) bool { return s.Seq == sent[0].Seq })
	if p.s.Stats()[StatRexmtTimeo] != 1 {
		t.Fatal("the RTO did not follow the probe")
	}
}

// RFC 8985 7.3: with nothing new to send the probe is the last segment
// again; 7.4: an ACK past it without a D-SACK shows it repaired a loss,
// and congestion control reduces cwnd once.
func TestRFC8985_TLPRetransmitsLastSegmentAndDetectsLoss(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	sent, seg := flight(t, p, c, size, 3)
	p.advance(20 * time.Millisecond)
	probe := p.expect("probe", func(s sentSeg) bool { return true })
	if probe.Seq != seg(2) || len(probe.Payload) != size {
		t.Fatalf("probe %v, want the last segment %v", probe, sent[2])
	}
	cwnd := c.Info().SndCwnd
	// The probe's ACK covers everything: the original last segment was
	// lost. The episode waits for the next ACK to tell.
	p.advance(rtt)
	p.ack()
	c.Write(make([]byte, size))
	p.take()
	p.advance(rtt)
	p.ack()
	st := p.s.Stats()
	if st[StatTLPRecovered] != 1 || c.Info().SndCwnd >= cwnd {
		t.Fatalf("tlp_recovered %d, cwnd %d (was %d): want the loss seen", st[StatTLPRecovered], c.Info().SndCwnd, cwnd)
	}
}

// RFC 8985 7.4 with RFC 2883: a D-SACK for the probe's bytes shows that the
// original and the probe both arrived: no loss, cwnd stays.
func TestRFC8985_TLPDSACKMeansNoLoss(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	_, seg := flight(t, p, c, size, 3)
	p.advance(20 * time.Millisecond)
	p.expect("probe", func(s sentSeg) bool { return s.Seq == seg(2) })
	cwnd := c.Info().SndCwnd
	p.advance(rtt)
	p.sackACK(seg(3), seg(2), seg(3))
	st := p.s.Stats()
	if st[StatTLPRecovered] != 0 || st[StatDSACKTLPBytes] != uint64(size) || c.Info().SndCwnd < cwnd {
		t.Fatalf("tlp_recovered %d, dsack_tlp_bytes %d, cwnd %d (was %d)", st[StatTLPRecovered], st[StatDSACKTLPBytes], c.Info().SndCwnd, cwnd)
	}
	// The episode is over: the next tail gets its own probe.
	flight(t, p, c, size, 2)
	p.advance(20 * time.Millisecond)
	p.expect("second episode's probe", func(s sentSeg) bool { return true })
}

// RFC 8985 7.2: with one segment in flight the probe timeout allows for a
// delayed ACK (2 SRTT + 200 ms), and never comes later than the RTO would.
func TestRFC8985_TLPLoneSegment(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	c.Write(make([]byte, size))
	first := p.expect("data", func(s sentSeg) bool { return true })
	rto := p.view().RTO // 230 ms
	p.advance(rto)
	probe := p.expect("probe", func(s sentSeg) bool { return true })
	if d := probe.at.Sub(first.at); d != 220*time.Millisecond || probe.Seq != first.Seq {
		t.Fatalf("probe %v after %v, want the segment again after 220 ms", probe, d)
	}
	if p.s.Stats()[StatRexmtTimeo] != 0 {
		t.Fatal("an RTO instead of a probe")
	}
}

// prrPeer sets up twenty segments in flight with NewReno (ssthresh is half
// the flight) and do_prr_conservative as given.
func prrPeer(t *testing.T, conservative bool) (*peer, *Conn, int, func(int) flow.Seq) {
	cfg := DefaultConfig()
	cfg.CCAlgorithm = "newreno"
	cfg.InitCwndSegments = 20
	cfg.SendSpace = 1 << 20 // room for what PRR lets out
	cfg.PRRConservative = conservative
	p, c, size := rackPeer(t, cfg)
	_, seg := flight(t, p, c, size, 20)
	c.Write(make([]byte, 20*size)) // more waits
	p.advance(rtt)
	return p, c, size, seg
}

// RFC 6937 3, the proportional part: while the pipe is above ssthresh,
// recovery sends ssthresh/RecoverFS (a half, with NewReno) of what each ACK
// delivers, the first retransmission at once.
func TestRFC6937_PRRProportional(t *testing.T) {
	p, _, _, seg := prrPeer(t, false)
	// Segment 0 is lost; SACKs arrive for 1, 2, 3... The first two let a
	// new segment out each (limited transmit, RFC 3042): 22 in flight.
	for i := 1; i <= 2; i++ {
		p.sackACK(seg(0), seg(1), seg(i+1))
		if n := len(dataSegs(p.take())); n != 1 {
			t.Fatalf("SACK %d: sent %d, want one (limited transmit)", i, n)
		}
	}
	// The third starts recovery: ssthresh 11 segments, RecoverFS 22. The
	// fast retransmit goes at once; then a segment for every two
	// delivered: 9 delivered in recovery allow ceil(9*11/22) = 5 segments'
	// worth, of which whole segments go when there is room for one: 4.
	sent := 0
	for i := 3; i <= 11; i++ {
		p.sackACK(seg(0), seg(1), seg(i+1))
		segs := dataSegs(p.take())
		if i == 3 && (len(segs) != 1 || segs[0].Seq != seg(0)) {
			t.Fatalf("entering recovery sent %v, want the fast retransmit", segs)
		}
		sent += len(segs)
	}
	if sent != 4 {
		t.Fatalf("sent %d segments in recovery for 9 delivered, want 4", sent)
	}
}

// RFC 6937 3, the two bounds once the pipe falls under ssthresh: with the
// slow start bound (PRR-SSRB, the default) an ACK may send one segment more
// than it delivered; with the conservative bound (PRR-CRB,
// do_prr_conservative) no more than was delivered.
func TestRFC6937_PRRSlowStartAndConservativeBounds(t *testing.T) {
	for _, conservative := range []bool{false, true} {
		p, _, _, seg := prrPeer(t, conservative)
		// Segments 0-14 are lost. Two SACKs (for 15 and 16) let two new
		// segments out (limited transmit), the third starts recovery with
		// a pipe of 4 segments, far under ssthresh's 11.
		p.sackACK(seg(0), seg(15), seg(16))
		p.sackACK(seg(0), seg(15), seg(17))
		p.take()
		var got []int
		for i := 18; i <= 20; i++ {
			p.sackACK(seg(0), seg(15), seg(i))
			got = append(got, len(dataSegs(p.take())))
		}
		want := []int{2, 2, 2} // delivered 1, plus one
		if conservative {
			want = []int{1, 1, 1}
		}
		if got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("conservative %v: sent %v per ACK, want %v", conservative, got, want)
		}
	}
}

// RFC 2018 4: the first SACK block reports the segment that triggered the
// ACK, and the others repeat the most recently reported blocks, most
// recent first — not in sequence order.
func TestRFC2018_4_SACKBlocksMostRecentFirst(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	base := p.nxt
	const size = 100
	blk := func(i, j int) SACKBlock {
		return SACKBlock{Left: base.Add(uint32(i * size)), Right: base.Add(uint32(j * size))}
	}
	var last sentSeg
	for _, i := range []int{8, 2, 6, 4} {
		s := p.mk(FlagACK, base.Add(uint32(i*size)), p.hi, make([]byte, size))
		p.inject(&s)
		last = p.expect("ACK", func(s sentSeg) bool { return true })
	}
	// Timestamps leave room for three blocks: 4, 6, 2 (8 is the oldest).
	want := []SACKBlock{blk(4, 5), blk(6, 7), blk(2, 3)}
	if last.Opts.NumSACK != 3 || [3]SACKBlock(last.Opts.SACK[:3]) != [3]SACKBlock(want) {
		t.Fatalf("after 8, 2, 6, 4: %v, want %v", last, want)
	}
	// Segment 7 joins 6 and 8: that block comes first, then 4 and 2.
	s := p.mk(FlagACK, base.Add(7*size), p.hi, make([]byte, size))
	p.inject(&s)
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	want = []SACKBlock{blk(6, 9), blk(4, 5), blk(2, 3)}
	if a.Opts.NumSACK != 3 || [3]SACKBlock(a.Opts.SACK[:3]) != [3]SACKBlock(want) {
		t.Fatalf("after 7: %v, want %v", a, want)
	}
}

// RFC 2883 4: a segment the receiver holds already is reported in a
// D-SACK block first in the ACK: one below rcv_nxt alone, one inside an
// out-of-order range followed by that range's block.
func TestRFC2883_DSACKSent(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	base := p.nxt
	const size = 100
	p.data(make([]byte, size))
	p.take()
	// The same segment again.
	s := p.mk(FlagACK, base, p.hi, make([]byte, size))
	p.inject(&s)
	a := p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Ack != base.Add(size) || a.Opts.NumSACK != 1 || a.Opts.SACK[0] != (SACKBlock{Left: base, Right: base.Add(size)}) {
		t.Fatalf("duplicate below rcv_nxt: %v, want a D-SACK for %d-%d", a, base, base.Add(size))
	}
	// An out-of-order segment, then the same again.
	ooo := p.mk(FlagACK, base.Add(3*size), p.hi, make([]byte, size))
	p.inject(&ooo)
	p.take()
	ooo = p.mk(FlagACK, base.Add(3*size), p.hi, make([]byte, size))
	p.inject(&ooo)
	a = p.expect("ACK", func(s sentSeg) bool { return true })
	dup := SACKBlock{Left: base.Add(3 * size), Right: base.Add(4 * size)}
	if a.Opts.NumSACK != 2 || a.Opts.SACK[0] != dup || a.Opts.SACK[1] != dup {
		t.Fatalf("duplicate out of order: %v, want the D-SACK then the range", a)
	}
	// The next ACK carries no D-SACK.
	p.data(make([]byte, size))
	a = p.expect("ACK", func(s sentSeg) bool { return true })
	if a.Opts.NumSACK != 1 || a.Opts.SACK[0] != dup {
		t.Fatalf("after: %v, want the range alone", a)
	}
	if n := p.s.Stats()[StatDSACKSent]; n != 2 {
		t.Fatalf("dsack_sent %d, want 2", n)
	}
}

// RFC 2883 and RFC 8985: a received D-SACK is counted, and with sack.dsack
// off none is sent.
func TestRFC2883_DSACKOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DSACK = false
	p := newPeer(t, cfg)
	p.open()
	base := p.nxt
	p.data(make([]byte, 100))
	p.take()
	s := p.mk(FlagACK, base, p.hi, make([]byte, 100))
	p.inject(&s)
	if a := p.expect("ACK", func(s sentSeg) bool { return true }); a.Opts.NumSACK != 0 {
		t.Fatalf("D-SACK sent with sack.dsack off: %v", a)
	}
}

// Memory follows data: the transmit map and RACK's in-flight state are
// taken from the pool with the first segment sent and given back once
// everything is acknowledged, so an idle connection holds neither.
func TestRACKStateFollowsData(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	if c.rk != nil {
		t.Fatal("a new connection holds a loss-recovery block")
	}
	flight(t, p, c, size, 3)
	if c.rk == nil || c.rk.txm.n != 3 {
		t.Fatalf("three segments in flight: block %v", c.rk)
	}
	p.advance(rtt)
	p.ack()
	if c.rk != nil {
		t.Fatal("everything acknowledged, the block is still held")
	}
}

// newDataProbeConfig is the default with RFC 8985 7.3's probe: new data
// when it can go (rack.tlp.probe_rexmit off).
func newDataProbeConfig() Config {
	cfg := DefaultConfig()
	cfg.RackTLPProbeRexmit = false
	return cfg
}

// rtoAfterProbe writes n segments (the first ten go), lets the probe and
// then the RTO go unanswered, and returns the sequence number of segment
// i, the cwnd before the timeout and snd_max at it.
func rtoAfterProbe(t *testing.T, p *peer, c *Conn, size, n int) (func(int) flow.Seq, uint32, flow.Seq) {
	t.Helper()
	c.Write(make([]byte, n*size))
	sent := dataSegs(p.take())
	una := sent[0].Seq
	seg := func(i int) flow.Seq { return una.Add(uint32(i * size)) }
	cwnd := c.Info().SndCwnd
	p.advance(20 * time.Millisecond)
	p.expect("probe", func(s sentSeg) bool { return s.Seq == seg(len(sent)) })
	p.advance(p.view().RTO)
	p.expect("RTO retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	if p.s.Stats()[StatRexmtTimeo] != 1 || c.Info().SndCwnd >= cwnd {
		t.Fatalf("no timeout, or cwnd %d not reduced from %d", c.Info().SndCwnd, cwnd)
	}
	return seg, cwnd, p.view().SndMax
}

// RFC 5682 (F-RTO): after a timeout, the first new ACK lets two new
// segments out instead of resending the rest; when the next ACK also
// acknowledges segments that were never sent again, the timeout was
// spurious (the ACKs were only late) and its reduction is taken back.
func TestRFC5682_FRTOSpuriousTimeoutUndo(t *testing.T) {
	p, c, size := rackPeer(t, newDataProbeConfig())
	seg, cwnd, max := rtoAfterProbe(t, p, c, size, 16)
	// The late ACKs of the first flight arrive.
	s := p.mk(FlagACK, p.nxt, seg(2), nil)
	p.inject(&s)
	got := dataSegs(p.take())
	if len(got) != 2 || got[0].Seq != max || got[1].Seq != max.Add(uint32(size)) {
		t.Fatalf("after the first new ACK: %v, want two new segments from %d", got, max)
	}
	s = p.mk(FlagACK, p.nxt, seg(4), nil)
	p.inject(&s)
	for _, g := range dataSegs(p.take()) {
		if g.Seq.LT(max) {
			t.Fatalf("resent %v after the timeout proved spurious", g)
		}
	}
	st := p.s.Stats()
	if st[StatRexmtTimeoSpurious] != 1 || st[StatCwndUndo] != 1 || c.Info().SndCwnd < cwnd {
		t.Fatalf("rexmttimeo_spurious %d, cwnd_undo %d, cwnd %d (was %d)", st[StatRexmtTimeoSpurious], st[StatCwndUndo], c.Info().SndCwnd, cwnd)
	}
}

// F-RTO after a timeout with only one segment of new data left to send:
// that one goes, nothing beyond the send buffer's end.
func TestRFC5682_FRTOWithOneNewSegment(t *testing.T) {
	p, c, size := rackPeer(t, newDataProbeConfig())
	seg, _, max := rtoAfterProbe(t, p, c, size, 12)
	s := p.mk(FlagACK, p.nxt, seg(2), nil)
	p.inject(&s)
	got := dataSegs(p.take())
	if len(got) != 1 || got[0].Seq != max || len(got[0].Payload) != size {
		t.Fatalf("after the first new ACK: %v, want the one new segment from %d", got, max)
	}
}

// RFC 5682 2.1 step 3a: when a duplicate ACK follows the two new
// segments, the timeout was real: what is missing is sent again, once
// (here RACK, told by the SACK, finds it lost), and the reduction stays.
func TestRFC5682_FRTOGenuineTimeout(t *testing.T) {
	p, c, size := rackPeer(t, newDataProbeConfig())
	seg, cwnd, max := rtoAfterProbe(t, p, c, size, 16)
	// Only the retransmission arrived: the ACK moves to segment 1.
	s := p.mk(FlagACK, p.nxt, seg(1), nil)
	p.inject(&s)
	if got := dataSegs(p.take()); len(got) != 2 || got[0].Seq != max {
		t.Fatalf("after the first new ACK: %v, want two new segments", got)
	}
	// A duplicate ACK SACKs the first of them.
	p.sackACK(seg(1), max, max.Add(uint32(size)))
	resent := 0
	for _, g := range dataSegs(p.take()) {
		if g.Seq == seg(1) {
			resent++
		}
	}
	st := p.s.Stats()
	if resent != 1 || st[StatRexmtTimeoSpurious] != 0 || st[StatCwndUndo] != 0 || c.Info().SndSsthresh >= cwnd {
		t.Fatalf("segment 1 resent %d times, rexmttimeo_spurious %d, cwnd_undo %d, ssthresh %d (cwnd was %d)",
			resent, st[StatRexmtTimeoSpurious], st[StatCwndUndo], c.Info().SndSsthresh, cwnd)
	}
}

// RFC 2883 with RFC 8985: a recovery whose only retransmission a D-SACK
// reports as received twice was spurious (the segment was reordered, not
// lost): the reduction is taken back and recovery ends.
func TestRFC2883_DSACKUndoesSpuriousRecovery(t *testing.T) {
	p, c, size := rackPeer(t, DefaultConfig())
	_, seg := flight(t, p, c, size, 5)
	cwnd := c.Info().SndCwnd
	p.advance(rtt)
	p.sackACK(seg(0), seg(1), seg(5))
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
	if c.Info().SndCwnd >= cwnd {
		t.Fatalf("cwnd %d not reduced from %d", c.Info().SndCwnd, cwnd)
	}
	p.advance(time.Millisecond)
	p.sackACK(seg(5), seg(0), seg(1)) // the original came first; the retransmission is a duplicate
	st := p.s.Stats()
	if st[StatCwndUndo] != 1 || st[StatSndRexmitBad] != 1 || c.Info().SndCwnd < cwnd || c.inRecovery {
		t.Fatalf("cwnd_undo %d, sndrexmitbad %d, cwnd %d (was %d), in recovery %v",
			st[StatCwndUndo], st[StatSndRexmitBad], c.Info().SndCwnd, cwnd, c.inRecovery)
	}
}

// The two stacks side by side on the in-memory network with random loss
// both ways, the same eight loss patterns each: RACK-TLP with PRR moves
// 4 MiB with fewer RTOs than RFC 6675's recovery, and at 5% loss sooner
// (at 1% the two take about as long).
func TestLossRecoveryRACKvsRFC6675(t *testing.T) {
	const seeds = 8
	for _, loss := range []float64{0.01, 0.05} {
		var took [2]time.Duration
		var rtos [2]uint64
		for i, stack := range []string{StackFreeBSD, StackRACK} {
			for seed := uint64(1); seed <= seeds; seed++ {
				cfg := DefaultConfig()
				cfg.SendSpace, cfg.RecvSpace = 1<<20, 1<<20
				cfg.FunctionsDefault = stack
				n := newTestNet(t, cfg, cfg)
				n.rng = rand.New(rand.NewPCG(seed, 7))
				n.loss, n.delay = loss, 2*time.Millisecond
				srv := &recorder{closeOnEOF: true}
				n.a.Listen(80, 0, srv)
				payload := make([]byte, 4<<20)
				cli := &recorder{toSend: payload}
				cli.onWritable = func(cc *Conn) {
					cli.pushSend(cc)
					if len(cli.toSend) == 0 {
						cc.CloseWrite()
					}
				}
				n.b.Dial(tupleAB(80), cli, n.now)
				start := n.now
				if !n.run(600e9, func() bool { return srv.closed == 1 }) || srv.data.Len() != len(payload) {
					t.Fatalf("%s, loss %v, seed %d: %d of %d bytes", stack, loss, seed, srv.data.Len(), len(payload))
				}
				took[i] += n.now.Sub(start)
				rtos[i] += n.b.Stats()[StatRexmtTimeo]
			}
			t.Logf("loss %.2f %-7s: %v on average, %d RTOs in %d transfers", loss, stack, took[i]/seeds, rtos[i], seeds)
		}
		if rtos[1] > rtos[0] || loss >= 0.05 && took[1] > took[0] {
			t.Errorf("loss %.2f: rack took %v with %d RTOs, freebsd %v with %d", loss, took[1]/seeds, rtos[1], took[0]/seeds, rtos[0])
		}
	}
}

// checkTxMap fails unless the transmit map agrees with the connection:
// records in order, back to back, from snd_una to snd_max (the FIN's
// included), and the SACKed and lost counts equal to what the records say.
func checkTxMap(t *testing.T, c *Conn) {
	t.Helper()
	if c.rk == nil {
		if c.sndUna != c.sndMax && c.txmExpected() {
			t.Fatalf("%v outstanding and no transmit map", c.sndMax.Sub(c.sndUna))
		}
		return
	}
	m := &c.rk.txm
	var sacked, lost uint32
	nSACK := 0
	for i := 0; i < m.n; i++ {
		r := m.at(i)
		if !r.start.LT(r.end) || i > 0 && m.at(i-1).end != r.start {
			t.Fatalf("record %d [%d, %d) after [%d, %d)", i, r.start, r.end, m.at(max(i-1, 0)).start, m.at(max(i-1, 0)).end)
		}
		if r.flags&txSACKed != 0 {
			sacked += r.end.Sub(r.start)
			nSACK++
		}
		if r.flags&txLost != 0 {
			lost += r.end.Sub(r.start)
		}
		if r.flags&txSACKed != 0 && r.flags&txLost != 0 {
			t.Fatalf("record %d both SACKed and lost", i)
		}
	}
	if m.n > 0 && (m.at(0).start != c.sndUna || m.at(m.n-1).end != c.sndMax) {
		t.Fatalf("records [%d, %d), outstanding [%d, %d)", m.at(0).start, m.at(m.n-1).end, c.sndUna, c.sndMax)
	}
	if sacked != m.sacked || lost != m.lost || nSACK != m.nSACK {
		t.Fatalf("counted sacked %d lost %d (%d SACKed records), map says %d %d (%d)", sacked, lost, nSACK, m.sacked, m.lost, m.nSACK)
	}
}

// txmExpected says whether what is outstanding must have records: data or
// a FIN sent by the synchronized connection (not the SYN).
func (c *Conn) txmExpected() bool { return c.rackOK && c.state.synchronized() && c.sndUna != c.iss }

// RACK's bookkeeping stays consistent through loss, reordering and
// duplication both ways, and the bytes arrive whole: after every step of
// the virtual network the transmit map matches the connection.
func TestRACKTransmitMapUnderLossReorderAndDuplication(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		cfg := DefaultConfig()
		cfg.SendSpace, cfg.RecvSpace = 256<<10, 256<<10
		n := newTestNet(t, cfg, cfg)
		n.rng = rand.New(rand.NewPCG(seed, 11))
		n.loss, n.delay = 0.03, time.Millisecond
		n.filter = func(p *packet) bool {
			switch x := n.rng.Float64(); {
			case x < 0.03: // reordered: held back up to 3 ms
				p.at = p.at.Add(time.Duration(n.rng.IntN(3_000_000)))
			case x < 0.04: // duplicated
				d := *p
				d.at = d.at.Add(time.Duration(n.rng.IntN(2_000_000)))
				n.queue = append(n.queue, d)
			}
			return true
		}
		srv := &recorder{closeOnEOF: true}
		n.a.Listen(80, 0, srv)
		payload := make([]byte, 2<<20)
		for i := range payload {
			payload[i] = byte(i*7 + i>>11)
		}
		cli := &recorder{toSend: payload}
		cli.onWritable = func(cc *Conn) {
			cli.pushSend(cc)
			if len(cli.toSend) == 0 {
				cc.CloseWrite()
			}
		}
		c, _ := n.b.Dial(tupleAB(80), cli, n.now)
		ok := n.run(600e9, func() bool {
			if c.State() != Closed {
				checkTxMap(t, c)
			}
			return srv.closed == 1
		})
		if !ok || !bytes.Equal(srv.data.Bytes(), payload) {
			t.Fatalf("seed %d: %d of %d bytes, equal %v", seed, srv.data.Len(), len(payload), bytes.Equal(srv.data.Bytes(), payload))
		}
		st := n.b.Stats()
		t.Logf("seed %d: %v, %d retransmitted, %d RTOs, %d D-SACKs received (%d spurious), %d undone, reordering seen %d",
			seed, n.now.Sub(1e9), st[StatSndRexmitPack], st[StatRexmtTimeo], st[StatDSACKCount], st[StatSndRexmitBad], st[StatCwndUndo], st[StatRackReorder])
	}
}

// The freebsd rack stack's tlpinrecovery: in fast recovery, when the
// retransmission is lost and nothing sent after it is heard of either (the
// receiver's one compressed SACK for them lost), the probe timeout still
// runs. Its probe (new data) is SACKed, RACK sees what was sent before it
// as lost, the retransmission among them, and sends it again: no RTO.
// With the tunable off, the RTO does it.
func TestRACKProbeInRecoveryFindsALostRetransmission(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := newDataProbeConfig() // the probe whose SACK shows the loss
		cfg.RackTLPInRecovery = on
		p, c, size := rackPeer(t, cfg)
		// One segment SACKed after the hole: the reordering timer finds
		// the hole lost (RFC 8985 6.3), and recovery starts from it.
		sent, seg := flight(t, p, c, size, 2)
		p.advance(rtt)
		p.sackACK(seg(0), seg(1), seg(2))
		c.Write(make([]byte, 8*size)) // goes out now, and is lost
		if n := len(dataSegs(p.take())); n != 8 {
			t.Fatalf("sent %d new segments, want 8", n)
		}
		p.advance(3 * time.Millisecond)
		out := dataSegs(p.take())
		if len(out) == 0 || out[0].Seq != seg(0) {
			t.Fatalf("after the reordering window: %v, want the retransmission first", out)
		}
		r1 := out[0]
		// The retransmission is lost too, and nothing more is heard; new
		// data waits (PRR lets none out without ACKs).
		c.Write(make([]byte, 4*size))
		p.take()
		end := p.view().SndMax
		if !on {
			p.advance(p.view().RTO)
			r := p.expect("RTO retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
			if st := p.s.Stats(); st[StatRexmtTimeo] != 1 || st[StatTLP] != 0 {
				t.Fatalf("tlpinrecovery off: rexmttimeo %d, tlp %d; want the RTO (%v after the first send)", st[StatRexmtTimeo], st[StatTLP], r.at.Sub(sent[0].at))
			}
			continue
		}
		p.advance(cfg.RackTLPMinTO - time.Millisecond)
		p.expectNone("before the probe timeout")
		p.advance(2 * rtt)
		probe := p.expect("probe in recovery", func(s sentSeg) bool { return len(s.Payload) > 0 })
		if probe.Seq != end || len(probe.Payload) != size {
			t.Fatalf("probe %v, want one segment of new data at %d", probe, end)
		}
		p.advance(rtt)
		p.sackACK(seg(0), seg(1), seg(2), probe.Seq, probe.end())
		r2 := p.expect("second retransmission", func(s sentSeg) bool { return s.Seq == seg(0) })
		st := p.s.Stats()
		if st[StatRexmtTimeo] != 0 || st[StatTLP] != 1 || st[StatSACKLostRexmt] != 1 {
			t.Fatalf("rexmttimeo %d, tlp %d, sack_lostrexmt %d: want 0, 1, 1", st[StatRexmtTimeo], st[StatTLP], st[StatSACKLostRexmt])
		}
		if d := r2.at.Sub(r1.at); d >= p.view().RTO/4 {
			t.Fatalf("sent again %v after the first retransmission: not well before the RTO", d)
		}
		// Everything is acknowledged in the end: recovery leaves nothing.
		for i := 0; i < 8 && p.view().SndUna != p.view().SndMax; i++ {
			p.take()
			p.advance(rtt)
			p.ack()
		}
		if v := p.view(); v.SndUna != v.SndMax || p.s.Stats()[StatRexmtTimeo] != 0 {
			t.Fatalf("snd_una %d, snd_max %d, rexmttimeo %d after the ACKs", v.SndUna, v.SndMax, p.s.Stats()[StatRexmtTimeo])
		}
	}
}

// rack.tlp.probe_rexmit (on by default): the probe sends the last segment
// again though new data waits, so that the receiver answers at once (a
// duplicate) instead of perhaps after its delayed-ACK time (one new
// in-order segment); its D-SACK then shows the flight arrived, and no RTO
// follows.
func TestRACKProbeRexmitSendsTheLastSegmentAgain(t *testing.T) {
	cfg := DefaultConfig()
	p, c, size := rackPeer(t, cfg)
	c.Write(make([]byte, 12*size)) // the initial window takes ten
	sent := dataSegs(p.take())
	if len(sent) != cfg.InitCwndSegments {
		t.Fatalf("sent %d segments", len(sent))
	}
	last := sent[len(sent)-1]
	p.advance(2 * rtt)
	probe := p.expect("probe", func(s sentSeg) bool { return len(s.Payload) > 0 })
	if probe.Seq != last.Seq || len(probe.Payload) != size {
		t.Fatalf("probe %v, want the last segment %v again", probe, last)
	}
	st := p.s.Stats()
	if st[StatTLP] != 1 || st[StatSndRexmitPack] != 1 {
		t.Fatalf("tlp %d, sndrexmitpack %d: want 1, 1", st[StatTLP], st[StatSndRexmitPack])
	}
	// The receiver had it all: its ACK covers the flight and reports the
	// probe's copy as a duplicate. The two segments that waited go next.
	p.advance(rtt)
	p.sackACK(last.end(), last.Seq, last.end())
	if st := p.s.Stats(); st[StatTLPRecovered] != 0 || st[StatRexmtTimeo] != 0 {
		t.Fatalf("tlp_recovered %d, rexmttimeo %d: want 0, 0", st[StatTLPRecovered], st[StatRexmtTimeo])
	}
	if n := len(dataSegs(p.take())); n != 2 {
		t.Fatalf("%d segments after the ACK, want the 2 that waited", n)
	}
}
