package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// A send that fails for want of a frame is a delayed send, never a lost
// one: with the Sender's pool held empty nothing goes and nothing claims to
// have gone (snd_nxt, the send counters); once frames return, the timer or
// the next event sends it and the connection completes.

// starved is a Sender whose pool is empty while empty is set.
type starved struct {
	inner Sender
	empty bool
}

func (s *starved) Buffer(t *flow.Tuple) []byte {
	if s.empty {
		return nil
	}
	return s.inner.Buffer(t)
}

func (s *starved) Send(t *flow.Tuple, n int) { s.inner.Send(t, n) }

func starve(p *peer) *starved {
	s := &starved{inner: p.out, empty: true}
	setSender(p.s, s)
	return s
}

func TestNoFrameSYNACKIsSentByTheTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	pool := starve(p)
	p.syn()
	p.expectNone("no frame")
	c := tableConn(p.s, p.tuple)
	if c == nil || c.State() != SynReceived || viewOf(c).SndNxt != viewOf(c).ISS || !viewOf(c).RexmtArmed {
		t.Fatalf("after a SYN-ACK that found no frame: %+v", c)
	}
	pool.empty = false
	p.advance(DefaultConfig().RexmitInitial)
	p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK && s.Ack == p.iss+1 })
	p.ack()
	if c.State() != Established || p.srv.established != 1 {
		t.Fatalf("not established: %v", c.State())
	}
	if st := p.s.Stats(); st[StatRexmtTimeo] != 0 || st[StatSndCtrl] != 1 || st[StatSndNoFrame] != 1 {
		t.Fatalf("rexmttimeo %d, sndctrl %d, sndnoframe %d", st[StatRexmtTimeo], st[StatSndCtrl], st[StatSndNoFrame])
	}
}

func TestNoFrameSYNIsSentByTheTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	pool := starve(p)
	c := p.dial()
	p.expectNone("no frame")
	if v := p.view(); v.SndNxt != v.ISS || !v.RexmtArmed || p.s.Stats()[StatSndCtrl] != 0 {
		t.Fatalf("after a SYN that found no frame: snd_nxt-iss %d, rexmt %v", v.SndNxt-v.ISS, v.RexmtArmed)
	}
	pool.empty = false
	p.advance(DefaultConfig().RexmitInitial)
	syn := p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	p.hi, p.hiSet = syn.end(), true
	s := p.mk(FlagSYN|FlagACK, p.iss, p.hi, nil)
	p.synOpts(&s)
	p.inject(&s)
	if c.State() != Established {
		t.Fatalf("not established: %v", c.State())
	}
	if st := p.s.Stats(); st[StatRexmtTimeo] != 0 || st[StatSndCtrl] != 1 {
		t.Fatalf("rexmttimeo %d, sndctrl %d: the delayed SYN is the first, not a retransmission", st[StatRexmtTimeo], st[StatSndCtrl])
	}
}

func TestNoFrameDataIsSentByTheTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	pool := starve(p)
	before := *p.s.Stats()
	c.Write([]byte("delayed, not lost"))
	p.expectNone("no frame")
	if v := p.view(); v.SndNxt != v.SndUna || v.SndMax != v.SndUna || !v.RexmtArmed {
		t.Fatalf("snd_nxt moved past what was sent: %+v", v)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSndPack: 0, StatSndByte: 0, StatSndNoFrame: 1})
	pool.empty = false
	p.advance(p.view().RTO)
	d := p.expect("data", func(s sentSeg) bool { return string(s.Payload) == "delayed, not lost" })
	p.ack()
	if v := p.view(); v.SndUna != d.end() {
		t.Fatalf("not acknowledged: %+v", v)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSndPack: 1, StatRexmtTimeo: 0, StatSndRexmitPack: 0})
}

func TestNoFrameFINIsSentByTheTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	pool := starve(p)
	c.CloseWrite()
	p.expectNone("no frame")
	if v := p.view(); v.State != FinWait1 || v.SndNxt != v.SndUna {
		t.Fatalf("after a FIN that found no frame: %+v", v)
	}
	pool.empty = false
	p.advance(p.view().RTO)
	p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	p.ack()
	if c.State() != FinWait2 {
		t.Fatalf("FIN not acknowledged: %v", c.State())
	}
}

func TestNoFrameRSTOfAbortIsQueued(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	pool := starve(p)
	snd := p.view().SndNxt
	c.Abort()
	p.expectNone("no frame")
	if p.s.Conns() != 0 {
		t.Fatal("the aborted connection stays")
	}
	pool.empty = false
	p.advance(timerTick)
	p.expect("RST", func(s sentSeg) bool { return s.Flags&FlagRST != 0 && s.Seq == snd })
	if n := p.s.Stats()[StatNoFrameDrop]; n != 0 {
		t.Fatalf("noframedrop %d for a RST that went", n)
	}
}

// A RST answering a stray segment is dropped and counted: the peer sends
// the segment again.
func TestNoFrameRSTForStraySegmentIsDropped(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	pool := starve(p)
	s := p.mk(FlagACK, 5, 7, nil)
	p.inject(&s)
	pool.empty = false
	p.advance(timerTick)
	p.expectNone("a dropped RST")
	if st := p.s.Stats(); st[StatNoFrameDrop] != 1 || st[StatRSTSent] != 0 {
		t.Fatalf("noframedrop %d, rstsent %d: want 1, 0", st[StatNoFrameDrop], st[StatRSTSent])
	}
}

func TestNoFrameRetransmissionIsNotCountedNorBackedOff(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write([]byte("lost once"))
	first := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	pool := starve(p)
	rto := p.view().RTO
	p.advance(rto)
	p.expectNone("no frame")
	if v := p.view(); v.RTO != rto || c.Info().Retransmits != 0 || !v.RexmtArmed {
		t.Fatalf("a retransmission that found no frame counted: RTO %v (was %v), retransmits %d", v.RTO, rto, c.Info().Retransmits)
	}
	pool.empty = false
	p.advance(rto)
	p.expect("retransmission", func(s sentSeg) bool { return s.Seq == first.Seq && len(s.Payload) == len(first.Payload) })
	p.ack()
	if v := p.view(); v.SndUna != first.end() || v.RexmtArmed {
		t.Fatalf("not acknowledged: %+v", v)
	}
}

func TestNoFrameACKStaysOwed(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	pool := starve(p)
	p.data(make([]byte, 1000))
	p.data(make([]byte, 1000)) // two segments: an ACK at once
	p.expectNone("no frame")
	pool.empty = false
	p.advance(timerTick)
	a := p.expect("ACK", func(s sentSeg) bool { return s.Flags == FlagACK })
	if a.Ack != p.nxt {
		t.Fatalf("ACK %d, want %d", a.Ack, p.nxt)
	}
}

// A SYN flood that empties the pool: every SYN-ACK that found no frame
// goes once frames return, none is left half-open.
func TestNoFrameSYNACKsOfAFloodAllGo(t *testing.T) {
	const n = 2000
	p := newPeer(t, DefaultConfig())
	if _, err := p.s.Listen(81, n, p.srv); err != nil {
		t.Fatal(err)
	}
	pool := starve(p)
	for i := 0; i < n; i++ {
		p.tuple = flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, LocalPort: 81, RemotePort: uint16(10000 + i)}
		p.syn()
	}
	p.expectNone("no frame")
	pool.empty = false
	p.advance(DefaultConfig().RexmitInitial)
	got := map[uint16]bool{}
	for _, s := range p.take() {
		if s.Flags == FlagSYN|FlagACK {
			got[s.tuple.RemotePort] = true
		}
	}
	if len(got) != n || p.s.Conns() != n {
		t.Fatalf("%d of %d SYN-ACKs sent, %d connections", len(got), n, p.s.Conns())
	}
}

func TestNoFrameKeepaliveIsSentAtTheNextInterval(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.SetKeepalive(true)
	pool := starve(p)
	cfg := DefaultConfig()
	p.advance(cfg.KeepIdle)
	p.expectNone("no frame")
	if n := p.s.Stats()[StatKeepProbe]; n != 0 {
		t.Fatalf("keepprobe %d for a probe that did not go", n)
	}
	pool.empty = false
	p.advance(cfg.KeepIntvl)
	p.expect("keepalive", func(s sentSeg) bool { return s.Seq == p.view().SndUna-1 && len(s.Payload) == 0 })
	if n := p.s.Stats()[StatKeepProbe]; n != 1 {
		t.Fatalf("keepprobe %d, want 1", n)
	}
}

func TestNoFramePersistProbeIsSentByTheTimer(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	s := p.mk(FlagACK, p.nxt, p.hi, nil)
	s.Window = 0
	p.inject(&s)
	c.Write([]byte("waiting"))
	p.expectNone("a shut window")
	pool := starve(p)
	p.advance(MinPersist)
	p.expectNone("no frame")
	if n := p.s.Stats()[StatSndProbe]; n != 0 || !p.view().PersistArmed {
		t.Fatalf("sndprobe %d, persist armed %v", n, p.view().PersistArmed)
	}
	pool.empty = false
	for i := 0; i < 1000 && len(p.out.segs) == 0; i++ {
		p.advance(10e6)
	}
	p.expect("probe", func(s sentSeg) bool { return len(s.Payload) <= 1 })
	if n := p.s.Stats()[StatSndProbe]; n != 1 {
		t.Fatalf("sndprobe %d, want 1", n)
	}
}
