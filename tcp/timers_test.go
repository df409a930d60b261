package tcp

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
)

// The timers: retransmission (RFC 6298), SYN retransmission, keepinit,
// persist (RFC 9293 3.8.6.1) and keepalive (RFC 1122 4.2.3.6), all on the
// virtual clock, at their exact deadlines.

// RFC 6298 5.4-5.6 and RFC 9293 3.8.1 (R2): on each expiry the oldest
// unacknowledged segment is retransmitted and the RTO doubles (up to 64 s);
// after MaxRexmits retransmissions the connection is dropped with a RST and
// ETIMEDOUT. With SACK a tail loss probe may come first (RFC 8985 7.3),
// and the RTO series then starts from it.
func TestRFC6298_5_5_RTOBackoff(t *testing.T) {
	for _, sack := range []bool{false, true} {
		name := map[bool]string{false: "no SACK", true: "SACK, tail loss probe"}[sack]
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SACK = sack
			p := newPeer(t, cfg)
			c := p.open()
			rto0 := p.view().RTO
			if rto0 != 230e6 {
				// 10 ms RTT: SRTT 10 ms, RTTVAR 5 ms, RTO = 10+4*5 ms + 200 ms slop.
				t.Fatalf("RTO after a 10 ms handshake: %d, want 230 ms", rto0)
			}
			before := *p.s.Stats()
			payload := []byte("are you there?")
			c.Write(payload)
			first := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
			p.advance(30 * 60e9)
			segs := p.take()
			at, tlp := first.at, 0
			if len(segs) > 0 && segs[0].at.Sub(first.at) < rto0 {
				// A probe before the RTO: only with SACK, only one, and it
				// re-arms the RTO (RFC 8985 7.3).
				if !sack || segs[0].Seq != first.Seq {
					t.Fatalf("sent %v before the RTO", segs[0])
				}
				at, segs, tlp = segs[0].at, segs[1:], 1
			}
			if len(segs) != MaxRexmits+1 {
				t.Fatalf("sent %d segments after the data, want %d retransmissions and a RST: %v", len(segs), MaxRexmits, segs)
			}
			d := rto0
			for i, s := range segs[:MaxRexmits] {
				if s.Seq != first.Seq || string(s.Payload) != string(payload) {
					t.Fatalf("retransmission %d: %v %q, want the first segment again", i+1, s, s.Payload)
				}
				if s.at.Sub(at) != d {
					t.Fatalf("retransmission %d after %.3f s, want %.3f s", i+1, float64(s.at-at)/1e9, float64(d)/1e9)
				}
				at, d = s.at, min(2*d, MaxRTO)
			}
			rst := segs[MaxRexmits]
			if rst.Flags&FlagRST == 0 || rst.at.Sub(at) != d || rst.Seq != first.Seq+flow.Seq(len(payload)) {
				t.Fatalf("after the last retransmission %v, want a RST %.3f s later", rst, float64(d)/1e9)
			}
			if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ETIMEDOUT) || p.s.Conns() != 0 {
				t.Fatalf("Closed %d %v, %d connections: want ETIMEDOUT", p.h.closed, p.h.errs, p.s.Conns())
			}
			stateCountsMatch(t, p.s)
			statsDelta(t, p.s, before, map[Stat]uint64{
				StatRexmtTimeo: MaxRexmits + 1, StatSndRexmitPack: MaxRexmits + uint64(tlp),
				StatSndRexmitByte: (MaxRexmits + uint64(tlp)) * uint64(len(payload)),
				StatSndPack:       1, StatDrops: 1, StatClosed: 1, StatConnDrops: 0, StatTLP: uint64(tlp),
				StatTimeoutDrop: 1,
			})
		})
	}
}

// RFC 6298 5.7 / RFC 9293 3.8.1: an unanswered SYN is retransmitted with the
// timer doubling from 1 s (rexmit_initial) and the attempt is given up after
// MaxSynRexmits retransmissions with ETIMEDOUT (keepinit raised so that it
// does not end the attempt first).
func TestRFC6298_5_7_SYNRetransmission(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KeepInit = 1000e9
	p := newPeer(t, cfg)
	before := *p.s.Stats()
	p.dial()
	checkSYNBackoff(t, p, FlagSYN)
	if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ETIMEDOUT) {
		t.Fatalf("Closed %d %v: want ETIMEDOUT", p.h.closed, p.h.errs)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{
		StatConnAttempt: 1, StatRexmtTimeo: MaxSynRexmits + 1, StatSndCtrl: MaxSynRexmits + 1,
		StatConnDrops: 1, StatClosed: 1, StatDrops: 0, StatKeepDrops: 0, StatTimeoutDrop: 1,
	})
}

// RFC 6298 5.7 / RFC 9293 3.8.1 for the SYN-ACK of a passive open: the same
// backoff, then the embryonic connection is dropped and the listener's
// backlog slot freed.
func TestRFC6298_5_7_SYNACKRetransmission(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KeepInit = 1000e9
	p := newPeer(t, cfg)
	before := *p.s.Stats()
	p.syn()
	p.c = tableConn(p.s, p.tuple)
	checkSYNBackoff(t, p, FlagSYN|FlagACK)
	if p.srv.closed != 0 || p.s.listeners[serverPort].pending != 0 {
		t.Fatalf("listener: Closed heard %d times, %d pending", p.srv.closed, p.s.listeners[serverPort].pending)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{
		StatRexmtTimeo: MaxSynRexmits + 1, StatSndCtrl: MaxSynRexmits + 1,
		StatConnDrops: 1, StatClosed: 1, StatDrops: 0, StatAccepts: 0, StatTimeoutDrop: 1,
	})
}

func checkSYNBackoff(t *testing.T, p *peer, flags Flags) {
	t.Helper()
	segs := p.take()
	if len(segs) != 1 || segs[0].Flags != flags {
		t.Fatalf("sent %v, want one %v", segs, flags)
	}
	first := segs[0]
	// Retransmissions after 1, 2, 4 ... s; given up when the last one
	// times out, 2^MaxSynRexmits s after it.
	giveUp := first.at.Add((2<<MaxSynRexmits - 1) * DefaultRexmitInitial)
	p.advance(giveUp.Sub(p.now) - 1)
	if p.s.Conns() != 1 {
		t.Fatal("the attempt ended early")
	}
	segs = p.take()
	if len(segs) != MaxSynRexmits {
		t.Fatalf("%d retransmissions, want %d: %v", len(segs), MaxSynRexmits, segs)
	}
	at, d := first.at, DefaultRexmitInitial
	for i, s := range segs {
		if s.Flags != flags || s.Seq != first.Seq || s.Ack != first.Ack || !sameSYNOptions(s.Opts, first.Opts) {
			t.Fatalf("retransmission %d: %v %+v, want %v %+v", i+1, s, s.Opts, first, first.Opts)
		}
		if s.at.Sub(at) != d {
			t.Fatalf("retransmission %d after %.3f s, want %.3f s", i+1, float64(s.at-at)/1e9, float64(d)/1e9)
		}
		at, d = s.at, 2*d
	}
	p.advance(1)
	if p.s.Conns() != 0 {
		t.Fatalf("the attempt is still alive %d ns after its last retransmission", d)
	}
	p.expectNone("giving up an unsynchronized connection")
	stateCountsMatch(t, p.s)
}

// sameSYNOptions compares SYN options but the timestamps, which tick.
func sameSYNOptions(a, b Options) bool {
	a.TSVal, b.TSVal = 0, 0
	return a == b
}

// FreeBSD tcp(4) keepinit: a connection that does not reach ESTABLISHED
// within keepinit (75 s) is dropped with ETIMEDOUT, in SYN_SENT and in
// SYN_RCVD, before the SYN retransmissions give up.
func TestFreeBSD_keepinit(t *testing.T) {
	for _, active := range []bool{true, false} {
		name := map[bool]string{true: "SYN_SENT", false: "SYN_RCVD"}[active]
		t.Run(name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			before := *p.s.Stats()
			start := p.now
			if active {
				p.dial()
			} else {
				p.syn()
			}
			p.advance(DefaultKeepInit - 1)
			if p.s.Conns() != 1 {
				t.Fatal("the attempt ended before keepinit")
			}
			p.advance(1)
			if p.s.Conns() != 0 {
				t.Fatal("the attempt outlived keepinit")
			}
			segs := p.take()
			last := segs[len(segs)-1]
			if last.Flags&FlagRST != 0 {
				t.Fatalf("a RST was sent for an unsynchronized connection: %v", last)
			}
			if p.now.Sub(start) != DefaultKeepInit {
				t.Fatalf("dropped after %d ns", p.now-start)
			}
			if active && (p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ETIMEDOUT)) {
				t.Fatalf("Closed %d %v: want ETIMEDOUT", p.h.closed, p.h.errs)
			}
			stateCountsMatch(t, p.s)
			// SYN at 0, retransmissions at 1, 3, 7, 15, 31 and 63 s.
			statsDelta(t, p.s, before, map[Stat]uint64{
				StatKeepTimeo: 1, StatKeepDrops: 1, StatConnDrops: 1, StatClosed: 1, StatRexmtTimeo: 6, StatSndCtrl: 7,
			})
		})
	}
}

// RFC 9293 3.8.6.1 (zero-window probing, MUST-36, MUST-38): with a zero
// window and data to send, the persist timer sends one-byte probes with an
// exponential backoff between 5 and 60 s (FreeBSD TCPTV_PERSMIN/MAX); the
// connection stays up as long as the peer answers, and the data flows once
// the window opens.
func TestRFC9293_3_8_6_1_ZeroWindowProbe(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.wnd = 0
	c := p.open()
	v := p.view()
	if v.SndWnd != 0 {
		t.Fatalf("snd_wnd %d after a zero window", v.SndWnd)
	}
	before, before0 := *p.s.Stats(), p.now
	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i)
	}
	if n, err := c.Write(payload); n != len(payload) || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	p.expectNone("a zero window admits no data")
	if !p.view().PersistArmed {
		t.Fatal("persist timer not armed")
	}
	una := v.SndUna
	rto := p.view().RTO
	const probes = 20
	last := p.now // the persist timer was armed by the Write
	for k := 0; k < probes; k++ {
		want := min(max(rto<<k, MinPersist), MaxPersist)
		p.advance(last.Add(want).Sub(p.now))
		probe := p.expect("probe", func(s sentSeg) bool { return true })
		if probe.Seq != una || len(probe.Payload) != 1 || probe.Payload[0] != payload[0] {
			t.Fatalf("probe %d: %v, want one byte at %d", k+1, probe, una)
		}
		if probe.at.Sub(last) != want {
			t.Fatalf("probe %d after %.3f s, want %.3f s", k+1, float64(probe.at-last)/1e9, float64(want)/1e9)
		}
		last = probe.at
		// The peer answers: its window is still closed, the byte not taken.
		p.advance(rtt)
		a := p.mk(FlagACK, p.nxt, una, nil)
		p.inject(&a)
		p.expectNone("an ACK of a probe with a zero window")
		if c.State() != Established {
			t.Fatalf("after probe %d: %v", k+1, c.State())
		}
	}
	if p.now-before0 < 10*60e9 {
		t.Fatalf("only %.0f s of probing", float64(p.now-before0)/1e9)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{
		StatPersistTimeo: probes, StatSndProbe: probes, StatRexmtTimeo: 0, StatDrops: 0, StatSndPack: 0,
	})
	// The window opens: the data goes at once.
	p.wnd = 65535
	a := p.mk(FlagACK, p.nxt, una, nil)
	p.inject(&a)
	d := p.expect("data", func(s sentSeg) bool { return len(s.Payload) > 0 })
	if d.Seq != una || len(d.Payload) != len(payload) || d.Payload[999] != payload[999] {
		t.Fatalf("after the window opened: %v", d)
	}
	if v := p.view(); v.PersistArmed || !v.RexmtArmed {
		t.Fatalf("persist armed %v, rexmt armed %v", v.PersistArmed, v.RexmtArmed)
	}
	p.advance(rtt)
	p.ack()
	if v := p.view(); v.SndUna != una.Add(uint32(len(payload))) || v.SndQueued != 0 {
		t.Fatalf("after the ACK: %+v", v)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatSndPack: 1, StatSndByte: uint64(len(payload))})
}

// RFC 9293 3.8.6.1 leaves open what happens when probes go unanswered; BSD
// and Linux do not keep such a connection for ever. FreeBSD's
// tcp_timer_persist drops it once it has been idle for tcp_maxpersistidle
// (keepidle) with the backoff exhausted, and at once after TCPTV_PERSMAX of
// silence when the application has closed it (an orphan); Linux's
// tcp_probe_timer drops after tcp_retries2 unanswered probes.
func TestFreeBSD_tcp_timer_persist_UnansweredProbes(t *testing.T) {
	for _, closed := range []bool{false, true} {
		name := map[bool]string{false: "open", true: "closed"}[closed]
		t.Run(name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			p.wnd = 0
			c := p.open()
			c.Write(make([]byte, 1000))
			if closed {
				c.Close()
				if c.State() != FinWait1 {
					t.Fatalf("Close with data waiting: %v", c.State())
				}
			}
			before := *p.s.Stats()
			p.advance(DefaultKeepIdle + 3600e9)
			probes := p.s.Stats()[StatSndProbe] - before[StatSndProbe]
			if p.s.Conns() != 0 {
				t.Fatalf("a connection whose zero-window probes go unanswered is never dropped (%s by the application; %d probes over %.0f s, still %v)",
					name, probes, float64(DefaultKeepIdle+3600e9)/1e9, c.State())
			}
			if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ETIMEDOUT) {
				t.Fatalf("Closed %d %v: want ETIMEDOUT", p.h.closed, p.h.errs)
			}
			stateCountsMatch(t, p.s)
		})
	}
}

// RFC 1122 4.2.3.6 and FreeBSD tcp(4) keepidle, keepintvl, keepcnt: with
// SO_KEEPALIVE an idle connection is probed after keepidle with
// <SEQ=SND.NXT-1> and no data, then every keepintvl; after keepcnt
// unanswered probes it is dropped with ETIMEDOUT. A live peer's answer
// restarts the idle time. Without SO_KEEPALIVE nothing is sent.
func TestRFC1122_4_2_3_6_Keepalive(t *testing.T) {
	t.Run("dead peer", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		una := p.view().SndUna
		before := *p.s.Stats()
		c.SetKeepalive(true)
		start := p.now
		p.advance(DefaultKeepIdle + DefaultKeepCnt*DefaultKeepIntvl + 1e9)
		segs := p.take()
		if len(segs) != DefaultKeepCnt+1 {
			t.Fatalf("sent %d segments, want %d probes and a RST: %v", len(segs), DefaultKeepCnt, segs)
		}
		for i, s := range segs[:DefaultKeepCnt] {
			want := start.Add(DefaultKeepIdle + time.Duration(i)*DefaultKeepIntvl)
			if s.Flags != FlagACK || s.Seq != una-1 || len(s.Payload) != 0 || s.Ack != p.nxt || s.at != want {
				t.Fatalf("probe %d: %v, want <SEQ=%d><ACK=%d><CTL=ACK> at %.0f s", i+1, s, una-1, p.nxt, float64(want-start)/1e9)
			}
		}
		rst := segs[DefaultKeepCnt]
		if rst.Flags&FlagRST == 0 || rst.at != start.Add(DefaultKeepIdle+DefaultKeepCnt*DefaultKeepIntvl) {
			t.Fatalf("after the last probe: %v, want a RST keepintvl later", rst)
		}
		if p.h.closed != 1 || !errors.Is(p.h.errs[0], syscall.ETIMEDOUT) || p.s.Conns() != 0 {
			t.Fatalf("Closed %d %v, %d connections: want ETIMEDOUT", p.h.closed, p.h.errs, p.s.Conns())
		}
		stateCountsMatch(t, p.s)
		statsDelta(t, p.s, before, map[Stat]uint64{
			StatKeepTimeo: DefaultKeepCnt + 1, StatKeepProbe: DefaultKeepCnt, StatKeepDrops: 1, StatDrops: 1, StatClosed: 1,
		})
	})
	t.Run("live peer", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		una := p.view().SndUna
		before := *p.s.Stats()
		c.SetKeepalive(true)
		last := p.now
		const rounds = 5
		for i := 0; i < rounds; i++ {
			p.advance(last.Add(DefaultKeepIdle).Sub(p.now))
			probe := p.expect("keepalive probe", func(s sentSeg) bool { return true })
			if probe.Seq != una-1 || probe.at != last.Add(DefaultKeepIdle) {
				t.Fatalf("round %d: %v, want a probe keepidle after the last answer", i+1, probe)
			}
			p.advance(rtt)
			a := p.mk(FlagACK, p.nxt, una, nil)
			p.inject(&a)
			p.expectNone("an answer to a keepalive probe")
			last = p.now
		}
		if c.State() != Established {
			t.Fatalf("after %d answered probes: %v", rounds, c.State())
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatKeepProbe: rounds, StatKeepTimeo: rounds, StatKeepDrops: 0, StatDrops: 0})
		// Data traffic counts as an answer too.
		p.advance(DefaultKeepIdle / 2)
		p.data([]byte("x"))
		p.advance(DefaultKeepIdle - 1)
		for _, s := range p.take() {
			if s.Seq == una-1 {
				t.Fatalf("probe %v less than keepidle after data", s)
			}
		}
		p.advance(1)
		p.expect("keepalive probe", func(s sentSeg) bool { return s.Seq == una-1 })
	})
	t.Run("off", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		p.advance(3 * DefaultKeepIdle)
		p.expectNone("an idle connection without SO_KEEPALIVE")
		if c.State() != Established {
			t.Fatalf("idle connection: %v", c.State())
		}
	})
}

// RFC 9293 3.8.6.1 ("The sending TCP peer must regularly retransmit to the
// receiving TCP peer even when the window is zero") and RFC 6298 5: when
// the retransmission timer finds a zero window it gives way to the persist
// timer; once the window opens again, data or a FIN that was in flight and
// lost must still be retransmitted (FreeBSD's tcp_input re-arms REXMT on
// every ACK while data is outstanding and persist is not running).
func TestRFC9293_3_8_6_1_RetransmissionAfterZeroWindow(t *testing.T) {
	t.Run("data", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		una := p.view().SndUna
		c.Write(make([]byte, 3000))
		p.take()
		// The peer takes the first 1000 bytes, loses the rest and closes
		// its window.
		p.advance(rtt)
		p.wnd = 0
		a := p.mk(FlagACK, p.nxt, una+1000, nil)
		p.inject(&a)
		p.advance(10e9)
		p.take()
		// Its window opens again.
		p.wnd = 65535
		a = p.mk(FlagACK, p.nxt, una+1000, nil)
		p.inject(&a)
		p.advance(120e9)
		var resent bool
		for _, s := range p.take() {
			if s.Seq == una+1000 && len(s.Payload) > 0 {
				resent = true
			}
		}
		if v := p.view(); !resent {
			t.Fatalf("after a zero window reopens, lost data in flight is never retransmitted: no timer is left (rexmt armed %v, persist armed %v, %d bytes outstanding)",
				v.RexmtArmed, v.PersistArmed, v.SndMax.Sub(v.SndUna))
		}
	})
	t.Run("FIN", func(t *testing.T) {
		p := newPeer(t, DefaultConfig())
		p.wnd = 0
		c := p.open()
		c.Close()
		fin := p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
		// The FIN is lost; the peer's window opens later.
		p.advance(10e9)
		p.take()
		p.wnd = 65535
		a := p.mk(FlagACK, p.nxt, fin.Seq, nil)
		p.inject(&a)
		p.advance(120e9)
		var resent bool
		for _, s := range p.take() {
			if s.Flags&FlagFIN != 0 && s.Seq == fin.Seq {
				resent = true
			}
		}
		if v := p.view(); !resent {
			t.Fatalf("a FIN lost while the peer's window was zero is never retransmitted once it opens; %v with no timer (rexmt armed %v, persist armed %v)",
				v.State, v.RexmtArmed, v.PersistArmed)
		}
	})
}

// A window probe's byte is data the peer may take: when its window opened
// and the update was lost (or crossed the probe), the peer keeps the byte
// and acknowledges it. That ACK, one past snd_max, is the probe's, not one
// for data never sent: dropping it, and every segment after it that
// carries it, data included, would stop the connection both ways for good.
func TestRFC9293_3_8_6_1_ProbeByteTaken(t *testing.T) {
	for _, wndAfter := range []uint16{65535, 0} {
		t.Run(fmt.Sprintf("window %d after", wndAfter), func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			p.wnd = 0
			c := p.open()
			v := p.view()
			una := v.SndUna
			payload := make([]byte, 1000)
			for i := range payload {
				payload[i] = byte(i)
			}
			c.Write(payload)
			before := *p.s.Stats()
			p.advance(min(max(v.RTO, MinPersist), MaxPersist))
			probe := p.expect("probe", func(s sentSeg) bool { return len(s.Payload) == 1 })
			if probe.Seq != una {
				t.Fatalf("probe %v, want one byte at %d", probe, una)
			}
			// The peer's window had opened (the update lost): it takes the
			// byte and acknowledges it, with its own data.
			p.advance(rtt)
			p.wnd = wndAfter
			a := p.mk(FlagACK|FlagPSH, p.nxt, una+1, []byte("from the peer"))
			p.inject(&a)
			p.nxt = p.nxt.Add(uint32(len(a.Payload)))
			if v := p.view(); v.SndUna != una+1 {
				t.Fatalf("snd_una %d after the probe's byte was acknowledged, want %d (rcvacktoomuch %d)",
					v.SndUna, una+1, p.s.Stats()[StatRcvAckTooMuch]-before[StatRcvAckTooMuch])
			}
			if got := p.srv.data.String(); got != "from the peer" {
				t.Fatalf("the peer's data with that ACK: %q taken", got)
			}
			if wndAfter == 0 {
				// Still shut: probing goes on from the next byte.
				p.take()
				p.advance(MaxPersist)
				var probes []sentSeg
				for _, s := range p.take() {
					if len(s.Payload) > 0 {
						probes = append(probes, s)
					}
				}
				if len(probes) == 0 || probes[0].Seq != una+1 || len(probes[0].Payload) != 1 || probes[0].Payload[0] != payload[1] {
					t.Fatalf("next probes %v, want payload[1] at %d", probes, una+1)
				}
				p.wnd = 65535
				a := p.mk(FlagACK, p.nxt, una+1, nil)
				p.inject(&a)
			}
			var rest []byte
			for _, s := range p.take() {
				if len(s.Payload) > 1 && s.Seq == una+1 {
					rest = s.Payload
				}
			}
			if string(rest) != string(payload[1:]) {
				t.Fatalf("after the probe's byte: sent %d bytes from %d, want the other %d", len(rest), una+1, len(payload)-1)
			}
			p.advance(rtt)
			p.ack()
			if v := p.view(); v.SndUna != una+1000 || v.SndQueued != 0 || p.s.Stats()[StatRcvAckTooMuch] != before[StatRcvAckTooMuch] {
				t.Fatalf("at the end: snd_una %d (want %d), %d queued, rcvacktoomuch +%d", v.SndUna, una+1000, v.SndQueued,
					p.s.Stats()[StatRcvAckTooMuch]-before[StatRcvAckTooMuch])
			}
		})
	}
}
