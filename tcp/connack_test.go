package tcp

import (
	"testing"
	"time"
)

// With SetDeferHandshakeACK, the last ACK of an active open waits for the
// application's first write and goes with it: one segment, not an ACK and
// then the data. Nothing written within delacktime: the ACK goes alone at
// its end. Data queued before the SYN-ACK came carries the ACK at once,
// and without the option the ACK goes at once, as before.
func TestDeferredHandshakeACKRidesOnTheFirstData(t *testing.T) {
	cfg := DefaultConfig()
	isData := func(n int, ack func() bool) func(sentSeg) bool {
		return func(s sentSeg) bool { return s.Flags&FlagACK != 0 && len(s.Payload) == n && ack() }
	}

	t.Run("the first write carries it", func(t *testing.T) {
		p := newPeer(t, cfg)
		c := p.dial()
		c.SetDeferHandshakeACK(true)
		before := *p.s.Stats()
		p.answerSYN()
		p.advance(cfg.DelAckTime / 2)
		p.expectNone("the handshake's ACK waits for data")
		c.Write(make([]byte, 300))
		seg := p.expect("the request with the ACK", isData(300, func() bool { return true }))
		if seg.Ack != p.iss+1 {
			t.Fatalf("the data acknowledges %d, want the SYN-ACK's %d", seg.Ack, p.iss+1)
		}
		p.advance(time.Second)
		if segs := p.take(); len(segs) != 0 && segs[0].Flags == FlagACK && len(segs[0].Payload) == 0 {
			t.Fatalf("a pure ACK went after the data had carried it: %v", segs)
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatConnAckDeferred: 1, StatDelAck: 0})
	})

	t.Run("nothing written: the ACK goes alone after delacktime", func(t *testing.T) {
		p := newPeer(t, cfg)
		c := p.dial()
		c.SetDeferHandshakeACK(true)
		p.answerSYN()
		at := p.now
		p.advance(cfg.DelAckTime - timerTick)
		p.expectNone("the handshake's ACK before delacktime")
		p.advance(2 * timerTick)
		a := p.expect("the handshake's ACK", func(s sentSeg) bool { return s.Flags == FlagACK && len(s.Payload) == 0 })
		if a.Ack != p.iss+1 {
			t.Fatalf("the ACK acknowledges %d, want %d", a.Ack, p.iss+1)
		}
		if d := time.Duration(a.at - at); d < cfg.DelAckTime-timerTick || d > cfg.DelAckTime+timerTick {
			t.Fatalf("the ACK went %v after the SYN-ACK, want delacktime %v", d, cfg.DelAckTime)
		}
	})

	t.Run("data queued before the SYN-ACK goes at once", func(t *testing.T) {
		p := newPeer(t, cfg)
		c := p.dial()
		c.SetDeferHandshakeACK(true)
		c.Write(make([]byte, 40)) // a PROXY protocol header, say
		before := *p.s.Stats()
		p.answerSYN()
		p.expect("the queued data with the ACK", isData(40, func() bool { return true }))
		statsDelta(t, p.s, before, map[Stat]uint64{StatConnAckDeferred: 0})
	})

	t.Run("without the option the ACK goes at once", func(t *testing.T) {
		p := newPeer(t, cfg)
		p.dial()
		before := *p.s.Stats()
		p.answerSYN()
		p.expect("the handshake's ACK", func(s sentSeg) bool { return s.Flags == FlagACK && len(s.Payload) == 0 })
		statsDelta(t, p.s, before, map[Stat]uint64{StatConnAckDeferred: 0})
	})
}
