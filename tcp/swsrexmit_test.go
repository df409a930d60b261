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

// Data that silly window avoidance holds back (the window is under a
// segment, nothing in flight) is not left to wait for a window update that
// may be lost: the persist timer sends what the window takes (RFC 9293
// 3.8.6.2.1's override timeout).
func TestSmallWindowPersists(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open() // the peer offers 65535 bytes
	s := p.mk(FlagACK, p.nxt, p.hi, nil)
	s.Window = 1000 // its buffer filled
	p.inject(&s)
	c.Write(make([]byte, 5000))
	p.expectNone("a window under a segment, half the largest")
	if !p.view().PersistArmed {
		t.Fatal("the data waits with no timer armed")
	}
	for i := 0; i < 1000 && len(p.out.segs) == 0; i++ {
		p.advance(10e6)
	}
	d := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	if len(d.Payload) != 1000 {
		t.Fatalf("sent %d bytes into a window of 1000", len(d.Payload))
	}
	got := 0 // with the window open again, the rest follows
	for i := 0; i < 5 && got < 4000; i++ {
		p.advance(rtt)
		p.ack()
		for _, s := range p.take() {
			got += len(s.Payload)
		}
	}
	if got != 4000 {
		t.Fatalf("sent %d bytes after the window opened, want 4000", got)
	}
}
