package tcp

import "testing"

// A segment without data at the right edge of our window is acceptable, as
// in BSD and Linux: it is how a peer that filled the window and lost it
// sends its ACKs (from its snd_max). Dropped, its ACKs went unheard until
// it retransmitted, and with its retransmission held back a lossy echo hung.
func TestPureACKAtTheRightEdgeIsAccepted(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write([]byte("in flight"))
	d := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	edge := p.view().RcvAdv
	// The peer sent a whole window, all of it lost; its ACK comes from the edge.
	s := p.mk(FlagACK, edge, d.end(), nil)
	p.inject(&s)
	if v := p.view(); v.SndUna != d.end() {
		t.Fatalf("the ACK at the right edge was dropped: snd_una %d, want %d", v.SndUna, d.end())
	}
	// One past the edge is still out of the window.
	c.Write([]byte("more"))
	d = p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	s = p.mk(FlagACK, edge+1, d.end(), nil)
	p.inject(&s)
	if v := p.view(); v.SndUna == d.end() {
		t.Fatal("an ACK beyond the right edge was taken")
	}
}
