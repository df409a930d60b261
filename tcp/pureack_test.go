package tcp

import "testing"

// A pure ACK carries snd_max, not a snd_nxt the retransmission timer pulled
// back: the peer has received up to snd_max, finds an older sequence number
// unacceptable and drops the segment unread. When both ends had pulled
// snd_nxt back, neither read the other's ACKs, and a lossy echo hung with
// both RTO counters rising.
func TestPureACKCarriesSndMaxAfterRTO(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SACK = false // no tail loss probe: the RTO comes first
	p := newPeer(t, cfg)
	c := p.open()
	size := p.view().MSS - 12
	c.Write(make([]byte, 3*size))
	first := p.take()[0]
	p.advance(p.view().RTO) // the peer had them all: its ACK was lost
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == first.Seq })
	if v := p.view(); v.SndNxt == v.SndMax {
		t.Fatalf("the RTO did not pull snd_nxt back: %+v", v)
	}
	// The peer's data, acknowledging nothing new (its ACK of the three
	// segments is lost again): two segments, so an ACK goes at once.
	for i := 0; i < 2; i++ {
		d := p.mk(FlagACK, p.nxt, first.Seq, make([]byte, 100))
		p.inject(&d)
		p.nxt = p.nxt.Add(100)
	}
	a := p.expect("ACK", func(s sentSeg) bool { return s.Flags == FlagACK && len(s.Payload) == 0 })
	if v := p.view(); a.Seq != v.SndMax {
		t.Fatalf("pure ACK with seq %d, want snd_max %d (snd_nxt %d)", a.Seq, v.SndMax, v.SndNxt)
	}
}

// After a loss the receiver acknowledges each in-order segment at once, for
// quickAckSegs segments, then goes back to every second segment with a
// delayed ACK for a lone one. Before any loss a lone segment waits.
func TestQuickACKsAfterLoss(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	p.take()
	b := make([]byte, 1000)
	acks := func() int {
		n := 0
		for _, s := range p.take() {
			if s.Flags&FlagACK != 0 && len(s.Payload) == 0 {
				n++
			}
		}
		return n
	}
	p.data(b)
	if n := acks(); n != 0 {
		t.Fatalf("a lone segment before any loss drew %d ACKs at once, want 0 (delayed)", n)
	}
	p.advance(DefaultConfig().DelAckTime)
	if n := acks(); n != 1 {
		t.Fatalf("the delayed ACK: %d ACKs", n)
	}
	// A loss: the second segment comes before the first.
	hole := p.nxt
	p.nxt = hole.Add(uint32(len(b)))
	p.data(b)
	if n := acks(); n != 1 {
		t.Fatalf("a segment out of order drew %d ACKs at once, want 1", n)
	}
	p.nxt = hole
	p.data(b)
	if n := acks(); n != 1 {
		t.Fatalf("the hole filled drew %d ACKs at once, want 1", n)
	}
	p.nxt = hole.Add(uint32(2 * len(b)))
	for i := 0; i < quickAckSegs; i++ {
		p.data(b)
		if n := acks(); n != 1 {
			t.Fatalf("in-order segment %d after the loss drew %d ACKs at once, want 1", i+1, n)
		}
	}
	p.data(b)
	if n := acks(); n != 0 {
		t.Fatalf("segment %d after the loss drew %d ACKs at once, want 0 (quick ACKs are over)", quickAckSegs+1, n)
	}
	p.data(b)
	if n := acks(); n != 1 {
		t.Fatalf("the second segment of a pair drew %d ACKs, want 1", n)
	}
}
