package tcp

import (
	"testing"
	"time"
)

// A window update is not acknowledged, so one lost after a zero window
// could leave a peer waiting for its next, backed-off, zero-window probe.
// When the reader opens a window the peer could not send a segment into
// and the peer stays silent, the ACK that opened it goes again after the
// RTO, then at twice the wait each time, winUpTries times; any segment from
// the peer ends that, and a window that was open all along is not sent
// again.
func TestWindowUpdateAfterAZeroWindowIsSentAgainUntilThePeerIsHeard(t *testing.T) {
	for _, heard := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.RecvSpace, cfg.RecvBufAuto = 8*1460, false
		p := newPeer(t, cfg)
		p.srv.onReadable = func(*Conn) {} // the reader holds off
		c := p.open()
		mss := c.ourMSS
		for i := 0; i < cfg.RecvSpace/mss; i++ {
			p.data(make([]byte, mss))
		}
		p.advance(time.Second)
		acks := p.take()
		if len(acks) == 0 || acks[len(acks)-1].Window >= uint16(mss) {
			t.Fatalf("after filling the buffer: %v, want the last ACK to shut the window", acks)
		}
		before := *p.s.Stats()
		// The reader takes everything: the window update goes, and is lost.
		buf := make([]byte, cfg.RecvSpace)
		if n := c.Read(buf); n != cfg.RecvSpace/mss*mss {
			t.Fatalf("Read %d", n)
		}
		upd := p.expect("window update", func(s sentSeg) bool { return s.Flags == FlagACK && int(s.Window) >= mss })
		if heard {
			// The peer's probe (or data) tells the update arrived: nothing
			// more is sent, however long the peer then stays silent.
			p.advance(10 * time.Millisecond)
			p.ack()
			p.advance(time.Minute)
			p.expectNone("the peer was heard from after the update")
			statsDelta(t, p.s, before, map[Stat]uint64{StatWinUpResent: 0})
			continue
		}
		var at []time.Duration
		start := p.now
		for range 3000 { // 30 s in steps of 10 ms
			p.advance(10 * time.Millisecond)
			for _, s := range p.take() {
				if s.Flags != FlagACK || s.Window != upd.Window || s.Ack != upd.Ack || len(s.Payload) != 0 {
					t.Fatalf("sent %v while the peer was silent, want the update %v again", s, upd)
				}
				at = append(at, time.Duration(p.now-start))
			}
		}
		if len(at) != winUpTries {
			t.Fatalf("the update went again at %v, want %d times", at, winUpTries)
		}
		if first := at[0]; first < winUpMinWait || first > time.Second+10*time.Millisecond {
			t.Fatalf("the update went again first after %v, want the RTO (200 ms to a second)", first)
		}
		for i := 2; i < len(at); i++ {
			if gap, prev := at[i]-at[i-1], at[i-1]-at[i-2]; gap < 2*prev-20*time.Millisecond || gap > 2*prev+20*time.Millisecond {
				t.Fatalf("the update went again at %v: each wait should be twice the one before", at)
			}
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatWinUpResent: winUpTries})
		// A window the peer could always send into is not sent again.
		p.data(make([]byte, mss))
		p.advance(time.Second)
		c.Read(buf)
		p.take()
		p.advance(time.Minute)
		p.expectNone("a window that was never shut")
	}
}
