package tcp

import (
	"testing"
	"time"
)

// A receiver with room under a window it rounded down to zero takes the
// byte of a window probe, as FreeBSD's and pollstack's do, and acknowledges
// it: that ACK is no ACK of unsent data. It moves snd_una past the byte,
// draws no ACK in answer, and the rest of the data follows once the window
// opens.
func TestWindowProbeByteTakenIsAcknowledged(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.wnd = 0
	c := p.open()
	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i)
	}
	if n, err := c.Write(payload); n != len(payload) || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	una := p.view().SndUna
	before := *p.s.Stats()
	p.advance(MinPersist + time.Second)
	probe := p.expect("probe", func(s sentSeg) bool { return len(s.Payload) == 1 })
	if probe.Seq != una {
		t.Fatalf("probe %v, want one byte at %d", probe, una)
	}
	p.advance(rtt)
	a := p.mk(FlagACK, p.nxt, una+1, nil)
	p.inject(&a) // window still 0: the byte taken, nothing more
	p.expectNone("the ACK of a probe's byte")
	if v := p.view(); v.SndUna != una+1 || v.SndNxt != una+1 || v.SndMax != una+1 || v.SndQueued != len(payload)-1 {
		t.Fatalf("after the probe's ACK: %+v", v)
	}
	p.wnd = 65535
	a = p.mk(FlagACK, p.nxt, una+1, nil)
	p.inject(&a)
	d := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	if d.Seq != una+1 || len(d.Payload) != len(payload)-1 || d.Payload[0] != payload[1] {
		t.Fatalf("after the window opened: %v", d)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatRcvAckTooMuch: 0, StatSndProbe: 1})
}

// ACKs of data never sent, and segments out of window, are answered with
// an ACK at most ack_war_cnt times per ack_war_timewindow, so two ends that
// find each other's ACKs unacceptable do not answer each other for ever;
// a new window answers again. With the limit off every one is answered.
func TestAckWarIsBounded(t *testing.T) {
	for _, limit := range []int{5, 0} {
		cfg := DefaultConfig()
		cfg.AckWarCnt = limit
		p := newPeer(t, cfg)
		p.open()
		una := p.view().SndUna
		before := *p.s.Stats()
		answered := 0
		for i := range 20 {
			var s Segment
			if i%2 == 0 {
				s = p.mk(FlagACK, p.nxt, una+1000, nil) // acknowledges unsent data
			} else {
				s = p.mk(FlagACK, p.nxt-1000, una, nil) // left of the window
			}
			p.inject(&s)
			answered += len(p.take())
			p.advance(10 * time.Millisecond)
		}
		want := 20
		if limit > 0 {
			want = limit
		}
		if answered != want {
			t.Fatalf("ack_war_cnt %d: %d of 20 answered, want %d", limit, answered, want)
		}
		if limit == 0 {
			continue
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatAckWarSuppressed: 15, StatRcvAckTooMuch: 10})
		p.advance(time.Second)
		s := p.mk(FlagACK, p.nxt, una+1000, nil)
		p.inject(&s)
		if got := len(p.take()); got != 1 {
			t.Fatalf("after the window: %d answers, want 1", got)
		}
		// Data already held still draws its ACK at once, whatever the count.
		for range 10 {
			d := p.mk(FlagACK, p.nxt-1, una, []byte{0})
			p.inject(&d)
		}
		if got := len(p.take()); got != 10 {
			t.Fatalf("10 duplicate data segments drew %d ACKs, want 10", got)
		}
	}
}
