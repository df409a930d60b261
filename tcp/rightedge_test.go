package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// The usable window's right edge is snd_una + snd_wnd of the last window
// taken (RFC 9293 3.8.6, SND.WL1/SND.WL2). An ACK that moves snd_una
// without its window being taken — a partial ACK in SACK recovery, handled
// before the window update, or an ACK older than the last window — must
// not move the edge with it: data past the receiver's window is dropped,
// and once that window shuts the receiver drops our ACKs too (their
// sequence number lies beyond it), so both ends wait for good. A lossy echo
// hung that way (the receiver's RTO counter rising).

// sentBeyond fails if the shard sent data past edge.
func sentBeyond(t *testing.T, segs []sentSeg, edge flow.Seq, what string) {
	t.Helper()
	for _, s := range segs {
		if len(s.Payload) > 0 && s.Seq.Add(uint32(len(s.Payload))).GT(edge) {
			t.Fatalf("%s: sent %v, past the right edge %d", what, s, edge)
		}
	}
}

func TestRightEdgeHoldsOnAPartialACKInSACKRecovery(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	segs := 10
	size := p.view().MSS - 12 // with timestamps
	p.wnd = uint16(segs * size)
	p.ack() // the window: exactly ten segments
	c.Write(make([]byte, 3*segs*size))
	sent := p.take()
	una := p.view().SndUna
	edge := una.Add(uint32(segs * size))
	if len(sent) != segs || p.view().SndMax != edge {
		t.Fatalf("sent %d segments up to %d, want %d up to the edge %d", len(sent), p.view().SndMax, segs, edge)
	}
	seg := func(i int) flow.Seq { return una.Add(uint32(i * size)) }
	// Segments 0 and 5 are lost: three duplicate ACKs SACK 1-4 and 6-9.
	for i := 0; i < 3; i++ {
		s := p.mk(FlagACK, p.nxt, una, nil)
		s.Opts.NumSACK = 2
		s.Opts.SACK[0] = SACKBlock{seg(1), seg(5)}
		s.Opts.SACK[1] = SACKBlock{seg(6), seg(10)}
		p.inject(&s)
	}
	sentBeyond(t, p.take(), edge, "entering recovery")
	// The retransmitted segment 0 arrives: the ACK moves to segment 5, and
	// the receiver, whose application reads nothing, offers what is left
	// of the same window (the edge does not move).
	s := p.mk(FlagACK, p.nxt, seg(5), nil)
	s.Window = uint16(5 * size)
	s.Opts.NumSACK = 1
	s.Opts.SACK[0] = SACKBlock{seg(6), seg(10)}
	p.inject(&s)
	sentBeyond(t, p.take(), edge, "after a partial ACK")
	if v := p.view(); v.SndMax.GT(edge) {
		t.Fatalf("snd_max %d past the right edge %d", v.SndMax, edge)
	}
}

func TestRightEdgeHoldsOnAnACKWhoseWindowIsOld(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	size := p.view().MSS - 12
	p.wnd = uint16(4 * size)
	p.ack()
	c.Write(make([]byte, 20*size))
	una := p.view().SndUna
	edge := una.Add(uint32(4 * size))
	sentBeyond(t, p.take(), edge, "first flight")
	// The peer's data arrives out of order: the later segment first. Its
	// window is taken (SND.WL1 is its sequence number).
	late := p.mk(FlagACK, p.nxt.Add(100), una, make([]byte, 100))
	p.inject(&late)
	p.take()
	// The earlier one fills the hole and acknowledges two segments; its
	// sequence number is below SND.WL1, so its window is not taken and
	// the edge stays.
	early := p.mk(FlagACK, p.nxt, una.Add(uint32(2*size)), make([]byte, 100))
	p.inject(&early)
	p.nxt = p.nxt.Add(200)
	sentBeyond(t, p.take(), edge, "after an ACK whose window is older than the last taken")
	// A current ACK moves the edge.
	p.ack()
	if segs := p.take(); len(segs) == 0 {
		t.Fatal("nothing sent once the window moved")
	}
}
