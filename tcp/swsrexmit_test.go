package tcp

import "testing"

// Sender silly window avoidance holds back new short segments, never a
// retransmission (BSD's tcp_output sends whatever lies below snd_max): a
// receiver whose window is down to less than a segment, its buffer full of
// data its application cannot take yet, must still get what it lost. Held
// back, the segment never went, the RTO fired again and again with nothing
// sent, and a lossy echo hung.
func TestRetransmissionIsNotHeldBySWSAvoidance(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SACK = false // the RTO, not a tail loss probe
	p := newPeer(t, cfg)
	c := p.open() // the peer offers 65535 bytes
	size := p.view().MSS - 12 - 12
	c.Write(make([]byte, size)) // all there is, nothing in flight: it goes
	first := p.expect("data", func(s sentSeg) bool { return len(s.Payload) == size })
	// The peer's buffer fills: its window is now exactly that segment,
	// which is lost.
	s := p.mk(FlagACK, p.nxt, first.Seq, nil)
	s.Window = uint16(size)
	p.inject(&s)
	c.Write(make([]byte, 10*size)) // more waits behind it
	p.expectNone("the window is full")
	rto := p.view().RTO
	p.advance(rto)
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == first.Seq && len(s.Payload) == size })
	if r := c.Info().Retransmits; r != 1 {
		t.Fatalf("%d retransmissions counted, want 1", r)
	}
}
