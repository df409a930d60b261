package tcp

import (
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// HyStart++ (RFC 9406) tests. The rule tests drive one connection's
// hystartAck and congestion control as processACK does, one segment per
// ACK, with the RTT of each ACK chosen; TestHyStartThroughACKInput runs the
// real input path against a bottleneck with a queue.

const hsMSS = 1000

// hsConn is a connection at the start of its first slow start: IW10, the
// window refilled after each ACK.
func hsConn(t *testing.T, cc CongestionControl, cfg Config) (*Shard, *Conn) {
	t.Helper()
	s, err := NewShard(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{shard: s, mss: hsMSS, cc: cc, srtt: 10e6}
	c.cwnd, c.ssthresh = 10*hsMSS, MaxBufferSpace
	c.sndUna = 1
	c.sndMax = c.sndUna.Add(c.cwnd)
	return s, c
}

// hsAck acknowledges one segment that took rtt, as processACK does: the
// HyStart++ hook, then congestion control; then the sender fills cwnd.
func hsAck(c *Conn, rtt time.Duration) {
	ack := c.sndUna.Add(hsMSS)
	c.hystartAck(ack, rtt)
	c.sndUna = ack
	c.cc.OnAck(c, hsMSS)
	c.sndMax = c.sndUna.Add(c.cwnd)
}

// hsRound plays one round whose every ACK took rtt: from the ACK that
// begins it to the last one before windowEnd is acknowledged. It returns
// the ACKs it took.
func hsRound(c *Conn, rtt time.Duration) int {
	if c.hs.phase == hsDone || !c.shard.cfg.HyStartPlusPlus {
		// No rounds kept: a round is the flight.
		n := int(c.sndMax.Sub(c.sndUna) / hsMSS)
		for i := 0; i < n; i++ {
			hsAck(c, rtt)
		}
		return n
	}
	hsAck(c, rtt)
	n := 1
	for c.hs.phase != hsDone && c.sndUna.Add(hsMSS).LT(c.hs.end) {
		hsAck(c, rtt)
		n++
	}
	return n
}

// RFC 9406 4.2: a round begins with windowEnd = SND.NXT and ends when
// windowEnd is acknowledged; then lastRoundMinRTT takes
// currentRoundMinRTT, and the new round's minimum and sample count start
// over from the ACK that began it.
func TestHyStartRoundDetection(t *testing.T) {
	_, c := hsConn(t, NewReno{}, DefaultConfig())
	first := c.sndMax
	hsAck(c, 12*time.Millisecond)
	if c.hs.phase != hsSS || c.hs.end != first || c.hs.curMin != hsRTT(12*time.Millisecond) || c.hs.samples != 1 {
		t.Fatalf("first ACK: phase %d, windowEnd %d (want %d), curMin %d, samples %d", c.hs.phase, c.hs.end, first, c.hs.curMin, c.hs.samples)
	}
	// The rest of the round: the minimum and the count follow the samples,
	// the round does not end before windowEnd is acknowledged.
	for _, ms := range []int{11, 13, 10, 14, 12, 12, 15, 16} {
		hsAck(c, time.Duration(ms)*time.Millisecond)
	}
	if c.sndUna.Add(hsMSS) != first {
		t.Fatalf("test set-up: snd_una %d, want one segment below windowEnd %d", c.sndUna, first)
	}
	if c.hs.end != first || c.hs.lastMin != 0 || c.hs.curMin != hsRTT(10*time.Millisecond) || c.hs.samples != 9 {
		t.Fatalf("before windowEnd: windowEnd %d, lastMin %d, curMin %d, samples %d", c.hs.end, c.hs.lastMin, c.hs.curMin, c.hs.samples)
	}
	// The ACK of windowEnd begins the next round, which ends at snd_max as
	// it is at that ACK.
	sndMax := c.sndMax
	hsAck(c, 20*time.Millisecond)
	if c.hs.end != sndMax || c.hs.lastMin != hsRTT(10*time.Millisecond) || c.hs.curMin != hsRTT(20*time.Millisecond) || c.hs.samples != 1 {
		t.Fatalf("new round: windowEnd %d (want %d), lastMin %d, curMin %d, samples %d", c.hs.end, sndMax, c.hs.lastMin, c.hs.curMin, c.hs.samples)
	}
	// An ACK without a sample counts nothing.
	hsAck(c, -1)
	if c.hs.samples != 1 || c.hs.curMin != hsRTT(20*time.Millisecond) {
		t.Fatalf("ACK without an RTT sample: samples %d, curMin %d", c.hs.samples, c.hs.curMin)
	}
}

// RFC 9406 4.2: once a round has N_RTT_SAMPLE samples, a least RTT of
// lastRoundMinRTT + clamp(lastRoundMinRTT/8, 4 ms, 16 ms) or more enters
// CSS, with cssBaselineMinRTT the round's least RTT.
func TestHyStartDelayIncreaseTriggersCSS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, rise time.Duration
		samples    int // n_rttsamples
		css        bool
	}{
		{"10ms, +4ms: MIN_RTT_THRESH", 10 * time.Millisecond, 4 * time.Millisecond, 8, true},
		{"10ms, +3.9ms: below MIN_RTT_THRESH", 10 * time.Millisecond, 3900 * time.Microsecond, 8, false},
		{"64ms, +8ms: lastRoundMinRTT/8", 64 * time.Millisecond, 8 * time.Millisecond, 8, true},
		{"64ms, +7.9ms: below lastRoundMinRTT/8", 64 * time.Millisecond, 7900 * time.Microsecond, 8, false},
		{"200ms, +16ms: MAX_RTT_THRESH", 200 * time.Millisecond, 16 * time.Millisecond, 8, true},
		{"200ms, +15.9ms: below MAX_RTT_THRESH", 200 * time.Millisecond, 15900 * time.Microsecond, 8, false},
		{"too few samples a round", 10 * time.Millisecond, 20 * time.Millisecond, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HyStartNRTTSamples = tc.samples
			s, c := hsConn(t, Cubic{}, cfg)
			hsRound(c, tc.base)
			hsRound(c, tc.base)
			if c.hs.phase != hsSS {
				t.Fatalf("steady RTT: phase %d, want slow start", c.hs.phase)
			}
			n := hsRound(c, tc.base+tc.rise)
			if got := c.hs.phase == hsCSS; got != tc.css {
				t.Fatalf("a round of %d ACKs at %v after %v: in CSS %v, want %v", n, tc.base+tc.rise, tc.base, got, tc.css)
			}
			if want := uint64(b2u(tc.css)); s.stats[StatHyStartCSSEntries] != want {
				t.Fatalf("hystart_css_entries %d, want %d", s.stats[StatHyStartCSSEntries], want)
			}
			if tc.css && c.hs.baseline != hsRTT(tc.base+tc.rise) {
				t.Fatalf("cssBaselineMinRTT %d, want %d", c.hs.baseline, hsRTT(tc.base+tc.rise))
			}
			if c.ssthresh != MaxBufferSpace {
				t.Fatalf("ssthresh %d: entering CSS does not end slow start", c.ssthresh)
			}
		})
	}
}

func b2u(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hsEnterCSS plays rounds at 10 ms and one at 15 ms: CSS begins.
func hsEnterCSS(t *testing.T, c *Conn) {
	t.Helper()
	hsRound(c, 10*time.Millisecond)
	hsRound(c, 10*time.Millisecond)
	hsRound(c, 15*time.Millisecond)
	if c.hs.phase != hsCSS {
		t.Fatalf("phase %d after the RTT rose by 5 ms, want CSS", c.hs.phase)
	}
}

// RFC 9406 4.2: in CSS, cwnd grows by what slow start would grow it by
// over CSS_GROWTH_DIVISOR, for every algorithm that slow starts.
func TestHyStartCSSGrowthRate(t *testing.T) {
	for name, cc := range CongestionControls {
		for _, div := range []int{4, 2} {
			cfg := DefaultConfig()
			cfg.HyStartCSSGrowthDiv = div
			_, c := hsConn(t, cc, cfg)
			before := c.cwnd
			hsAck(c, 10*time.Millisecond)
			if c.cwnd-before != hsMSS {
				t.Fatalf("%s: slow start grew cwnd by %d for one segment, want %d", name, c.cwnd-before, hsMSS)
			}
			hsEnterCSS(t, c)
			for i := 0; i < 3; i++ {
				before = c.cwnd
				hsAck(c, 15*time.Millisecond)
				if c.cwnd-before != uint32(hsMSS/div) {
					t.Fatalf("%s, css_growth_div %d: CSS grew cwnd by %d for one segment, want %d", name, div, c.cwnd-before, hsMSS/div)
				}
			}
			// Two segments at once: L = 2 first, then the divisor.
			before = c.cwnd
			c.hystartAck(c.sndUna.Add(5*hsMSS), 15*time.Millisecond)
			c.cc.OnAck(c, 5*hsMSS)
			if c.cwnd-before != uint32(2*hsMSS/div) {
				t.Fatalf("%s: CSS grew cwnd by %d for five segments, want %d", name, c.cwnd-before, 2*hsMSS/div)
			}
		}
	}
}

// RFC 9406 4.2: in CSS, a round whose least RTT (over N_RTT_SAMPLE
// samples) falls below cssBaselineMinRTT shows the rise was spurious:
// slow start resumes at its full rate, and may enter CSS again.
func TestHyStartSpuriousCSSReturnsToSlowStart(t *testing.T) {
	s, c := hsConn(t, NewReno{}, DefaultConfig())
	hsEnterCSS(t, c)
	hsRound(c, 15*time.Millisecond)
	if c.hs.phase != hsCSS {
		t.Fatalf("phase %d: an RTT at the baseline is no reason to leave CSS", c.hs.phase)
	}
	// A round at 14.9 ms: below the baseline once it has 8 samples.
	for i := 0; i < 7; i++ {
		hsAck(c, 14900*time.Microsecond)
		if i == 0 && c.hs.samples != 1 {
			t.Fatalf("test set-up: the ACK did not begin a round (samples %d)", c.hs.samples)
		}
		if c.hs.phase != hsCSS {
			t.Fatalf("left CSS after %d samples, before N_RTT_SAMPLE", i+1)
		}
	}
	hsAck(c, 14900*time.Microsecond)
	if c.hs.phase != hsSS || s.stats[StatHyStartCSSSpurious] != 1 || c.hs.baseline != 0 {
		t.Fatalf("after 8 samples below the baseline: phase %d, hystart_css_spurious %d, baseline %d",
			c.hs.phase, s.stats[StatHyStartCSSSpurious], c.hs.baseline)
	}
	before := c.cwnd
	hsAck(c, 14900*time.Microsecond)
	if c.cwnd-before != hsMSS || c.ssthresh != MaxBufferSpace {
		t.Fatalf("back in slow start: cwnd grew by %d, want %d; ssthresh %d", c.cwnd-before, hsMSS, c.ssthresh)
	}
	// The next rise enters CSS again.
	hsRound(c, 14900*time.Microsecond)
	hsRound(c, 20*time.Millisecond)
	if c.hs.phase != hsCSS || s.stats[StatHyStartCSSEntries] != 2 {
		t.Fatalf("a second rise: phase %d, hystart_css_entries %d", c.hs.phase, s.stats[StatHyStartCSSEntries])
	}
}

// RFC 9406 4.2: CSS_ROUNDS rounds of CSS end slow start with ssthresh =
// cwnd, without a loss; congestion avoidance follows.
func TestHyStartCSSRoundsEndSlowStart(t *testing.T) {
	for _, rounds := range []int{5, 2, 0} {
		cfg := DefaultConfig()
		cfg.HyStartCSSRounds = rounds
		s, c := hsConn(t, Cubic{}, cfg)
		if rounds == 0 {
			hsRound(c, 10*time.Millisecond)
			hsRound(c, 10*time.Millisecond)
			hsRound(c, 15*time.Millisecond)
		} else {
			hsEnterCSS(t, c)
		}
		// The round CSS began in ends: the first of its rounds.
		for i := 1; i < rounds; i++ {
			hsRound(c, 15*time.Millisecond)
			if c.hs.phase != hsCSS || c.ssthresh != MaxBufferSpace {
				t.Fatalf("css_rounds %d: phase %d, ssthresh %d after %d rounds", rounds, c.hs.phase, c.ssthresh, i)
			}
		}
		if rounds > 0 {
			end := c.hs.end
			for c.sndUna.Add(hsMSS).LT(end) {
				hsAck(c, 15*time.Millisecond)
			}
			cwnd := c.cwnd
			c.hystartAck(end, 15*time.Millisecond)
			if c.hs.phase != hsDone || c.ssthresh != cwnd {
				t.Fatalf("css_rounds %d: the last round's end: phase %d, ssthresh %d, want cwnd %d", rounds, c.hs.phase, c.ssthresh, cwnd)
			}
			c.sndUna = end
		} else if c.hs.phase != hsDone || c.ssthresh != c.cwnd {
			t.Fatalf("css_rounds 0: phase %d, ssthresh %d, cwnd %d: slow start should end at CSS's entry", c.hs.phase, c.ssthresh, c.cwnd)
		}
		if s.stats[StatHyStartCSSExits] != 1 || s.stats[StatHyStartCSSLoss] != 0 {
			t.Fatalf("hystart_css_exits %d, hystart_css_loss %d", s.stats[StatHyStartCSSExits], s.stats[StatHyStartCSSLoss])
		}
		// Congestion avoidance: cubic's growth from W_max = cwnd, far
		// below slow start's.
		before := c.cwnd
		for i := 0; i < 10; i++ {
			hsAck(c, 15*time.Millisecond)
		}
		if c.cwnd-before >= 10*hsMSS/4 {
			t.Fatalf("css_rounds %d: after slow start cwnd grew by %d in 10 ACKs", rounds, c.cwnd-before)
		}
		if c.hs.phase != hsDone {
			t.Fatalf("phase %d after the end", c.hs.phase)
		}
	}
}

// RFC 9406 4.2: a loss (or an ECN echo) in CSS or slow start ends both as
// it ends slow start: the algorithm's ssthresh. HyStart++ serves the first
// slow start only, so a later one is the standard one.
func TestHyStartLossInCSS(t *testing.T) {
	s, c := hsConn(t, Cubic{}, DefaultConfig())
	hsEnterCSS(t, c)
	hsAck(c, 15*time.Millisecond)
	cwnd := c.cwnd
	c.ssthresh = c.lossSsthresh()
	if c.hs.phase != hsDone || c.ssthresh != uint32(float64(cwnd)*cubicBeta) || s.stats[StatHyStartCSSLoss] != 1 {
		t.Fatalf("loss in CSS: phase %d, ssthresh %d (want %d), hystart_css_loss %d",
			c.hs.phase, c.ssthresh, uint32(float64(cwnd)*cubicBeta), s.stats[StatHyStartCSSLoss])
	}
	// The reduction undone (ssthresh back to where it was): slow start
	// again, at its full rate, and no CSS whatever the RTT does.
	c.ssthresh = MaxBufferSpace
	hsRound(c, 10*time.Millisecond)
	hsRound(c, 10*time.Millisecond)
	before := c.cwnd
	hsRound(c, 30*time.Millisecond)
	if c.hs.phase != hsDone || s.stats[StatHyStartCSSEntries] != 1 || c.cwnd < 2*before-hsMSS {
		t.Fatalf("after the loss: phase %d, hystart_css_entries %d, cwnd %d in a round from %d", c.hs.phase, s.stats[StatHyStartCSSEntries], c.cwnd, before)
	}

	// Before CSS: hystart_ss_loss.
	s, c = hsConn(t, NewReno{}, DefaultConfig())
	hsRound(c, 10*time.Millisecond)
	c.ssthresh = c.lossSsthresh()
	if c.hs.phase != hsDone || s.stats[StatHyStartSSLoss] != 1 || s.stats[StatHyStartCSSLoss] != 0 {
		t.Fatalf("loss in slow start: phase %d, hystart_ss_loss %d", c.hs.phase, s.stats[StatHyStartSSLoss])
	}

	// An ECN echo in CSS, with dctcp's own response.
	s, c = hsConn(t, DCTCP{}, DefaultConfig())
	c.dctcpAlpha = DCTCPMaxAlpha
	hsEnterCSS(t, c)
	c.ssthresh = DCTCP{}.OnECE(c)
	if c.hs.phase != hsDone || s.stats[StatHyStartCSSLoss] != 1 {
		t.Fatalf("ECN echo in CSS: phase %d, hystart_css_loss %d", c.hs.phase, s.stats[StatHyStartCSSLoss])
	}
}

// cc.hystartplusplus.enable=0: slow start ignores the RTT, and turning it
// off in CSS brings slow start's full rate back.
func TestHyStartOffSwitch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HyStartPlusPlus = false
	s, c := hsConn(t, Cubic{}, cfg)
	hsRound(c, 10*time.Millisecond)
	hsRound(c, 10*time.Millisecond)
	for i := 0; i < 3; i++ {
		before := c.cwnd
		n := hsRound(c, 40*time.Millisecond)
		if c.cwnd-before != uint32(n*hsMSS) {
			t.Fatalf("off: cwnd grew by %d in a round of %d ACKs, want %d", c.cwnd-before, n, n*hsMSS)
		}
	}
	var none [numStats]uint64
	if c.hs.phase != hsNew || c.ssthresh != MaxBufferSpace || s.stats[StatHyStartCSSEntries] != none[StatHyStartCSSEntries] {
		t.Fatalf("off: phase %d, ssthresh %d, hystart_css_entries %d", c.hs.phase, c.ssthresh, s.stats[StatHyStartCSSEntries])
	}

	s, c = hsConn(t, Cubic{}, DefaultConfig())
	hsEnterCSS(t, c)
	s.cfg.HyStartPlusPlus = false
	before := c.cwnd
	hsAck(c, 15*time.Millisecond)
	if c.cwnd-before != hsMSS {
		t.Fatalf("turned off in CSS: cwnd grew by %d, want %d", c.cwnd-before, hsMSS)
	}
}

// bottleneck plays a path for the peer: every data segment the shard sends
// joins a FIFO drained at one segment per perSeg, holding at most limit
// segments; the peer acknowledges each as it leaves, base later. It stops
// at the first segment the queue has no room for.
type bottleneck struct {
	p       *peer
	perSeg  time.Duration
	base    time.Duration
	limit   int
	free    mono.Time // when the link has sent what is queued
	acks    []hsPendingAck
	dropped bool
	dropAt  uint32 // cwnd when it dropped
	hi      flow.Seq
}

type hsPendingAck struct {
	at   mono.Time
	ack  flow.Seq
	tsEc uint32
}

// run moves data until total bytes are acknowledged or a segment is lost.
func (b *bottleneck) run(t *testing.T, c *Conn, total uint32) {
	t.Helper()
	start := c.sndUna
	for i := 0; c.sndUna.Sub(start) < total; i++ {
		if i > 1e6 {
			t.Fatal("bottleneck: no end")
		}
		for _, s := range b.p.take() {
			if len(s.Payload) == 0 {
				continue
			}
			b.free = max(b.free, s.at)
			if queued := int(b.free.Sub(s.at) / b.perSeg); queued >= b.limit {
				b.dropped, b.dropAt = true, c.cwnd
				return
			}
			b.free = b.free.Add(b.perSeg)
			if b.hi == 0 || s.end().GT(b.hi) {
				b.hi = s.end() // a cumulative ACK: a segment sent again acknowledges no less
			}
			b.acks = append(b.acks, hsPendingAck{at: b.free.Add(b.base), ack: b.hi, tsEc: s.Opts.TSVal})
		}
		if len(b.acks) == 0 {
			t.Fatalf("bottleneck: nothing in flight at snd_una %d", c.sndUna)
		}
		a := b.acks[0]
		b.acks = b.acks[1:]
		b.p.advance(a.at.Sub(b.p.now))
		seg := b.p.mk(FlagACK, b.p.nxt, a.ack, nil)
		seg.Opts.TSEcr = a.tsEc
		b.p.inject(&seg)
	}
}

// hsBulk opens a connection (the peer's window scaled, so only cwnd limits
// the flight) and writes 8 MiB on it.
func hsBulk(t *testing.T, cfg Config) (*peer, *Conn) {
	t.Helper()
	cfg.SendSpace = 8 << 20
	p := newPeer(t, cfg)
	syn := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&syn)
	syn.Opts.WScale = 8
	p.inject(&syn)
	p.nxt = p.iss + 1
	p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
	p.advance(rtt)
	p.ack()
	c := tableConn(p.s, p.tuple)
	if c == nil || c.State() != Established {
		t.Fatalf("open: %v", c)
	}
	p.c, p.h = c, p.srv
	p.take()
	if n, err := c.Write(make([]byte, 8<<20)); n != 8<<20 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	return p, c
}

// Through processACK: a 10 ms path with a 1000 segments/s bottleneck (a
// BDP of 10 segments) and a queue of 150. Plain slow start doubles cwnd
// each round until the queue overflows; HyStart++ sees the queue in the
// RTT, and CSS ends slow start before it overflows — with RACK's RTT
// samples, and with only the timestamps' (no SACK, so no RACK).
func TestHyStartThroughACKInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sack    bool
		cc      string
		hystart bool
	}{
		{"cubic, RACK samples", true, "cubic", true},
		{"newreno, RACK samples", true, "newreno", true},
		{"cubic, timestamp samples", false, "cubic", true},
		{"cubic, off", true, "cubic", false},
		{"newreno, off, timestamps", false, "newreno", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SACK = tc.sack
			cfg.CCAlgorithm = tc.cc
			cfg.HyStartPlusPlus = tc.hystart
			p, c := hsBulk(t, cfg)
			b := &bottleneck{p: p, perSeg: time.Millisecond, base: 10 * time.Millisecond, limit: 150}
			b.run(t, c, 4<<20)
			st := p.s.Stats()
			if !tc.hystart {
				if !b.dropped || b.dropAt < 150*uint32(c.mss) {
					t.Fatalf("off: dropped %v with cwnd %d: slow start should overflow the queue (160 segments in flight)", b.dropped, b.dropAt)
				}
				if st[StatHyStartCSSEntries] != 0 {
					t.Fatalf("off: hystart_css_entries %d", st[StatHyStartCSSEntries])
				}
				return
			}
			if b.dropped {
				t.Fatalf("a segment dropped with cwnd %d (%d segments; ssthresh %d): HyStart++ did not end slow start in time (phase %d, stats: entries %d spurious %d)",
					b.dropAt, b.dropAt/uint32(c.mss), c.ssthresh, c.hs.phase, st[StatHyStartCSSEntries], st[StatHyStartCSSSpurious])
			}
			if c.hs.phase != hsDone || st[StatHyStartCSSExits] != 1 || st[StatHyStartCSSEntries] < 1 ||
				c.ssthresh == MaxBufferSpace || st[StatSndRexmitPack] != 0 {
				t.Fatalf("phase %d, ssthresh %d, hystart_css_entries %d, hystart_css_exits %d, sndrexmitpack %d",
					c.hs.phase, c.ssthresh, st[StatHyStartCSSEntries], st[StatHyStartCSSExits], st[StatSndRexmitPack])
			}
			if segs := c.ssthresh / uint32(c.mss); segs < 10 || segs > 160 {
				t.Fatalf("slow start ended at %d segments, want between the BDP (10) and what overflows the queue (160)", segs)
			}
			t.Logf("slow start ended at cwnd %d segments, hystart_css_entries %d, hystart_css_spurious %d",
				c.ssthresh/uint32(c.mss), st[StatHyStartCSSEntries], st[StatHyStartCSSSpurious])
		})
	}
}

// The HyStart++ path allocates nothing: ACKs of a connection in its first
// slow start whose RTT goes up and down, through slow start, CSS and
// spurious returns to slow start.
func TestHyStartAllocs(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	d := &discardSender{}
	setSender(p.s, d)
	seg := c.segSize()
	data := make([]byte, 10*seg)
	round := 0
	allocs := testing.AllocsPerRun(300, func() {
		p.s.SetNow(p.now)
		if n, err := c.Write(data); n != len(data) || err != nil {
			t.Fatalf("Write: %d %v", n, err)
		}
		ecr := c.tsNow()
		rtt := 10 * time.Millisecond
		if round%5 >= 3 {
			rtt = 20 * time.Millisecond
		}
		round++
		sent := p.now
		for k := 1; k <= 10; k++ {
			p.now = sent.Add(rtt + time.Duration(k)*100*time.Microsecond)
			s := p.mk(FlagACK, p.nxt, c.sndUna.Add(uint32(seg)), nil)
			s.Opts.TSEcr = ecr // the segments' TSVal
			p.inject(&s)

		}
		p.s.Tick(p.now)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per round of 10 ACKs", allocs)
	}
	st := p.s.Stats()
	if c.sndUna != c.sndMax || st[StatHyStartCSSEntries] < 10 || st[StatHyStartCSSSpurious] < 10 || c.hs.phase == hsDone {
		t.Fatalf("snd_una %d snd_max %d, hystart_css_entries %d, hystart_css_spurious %d, phase %d: the test did not exercise HyStart++",
			c.sndUna, c.sndMax, st[StatHyStartCSSEntries], st[StatHyStartCSSSpurious], c.hs.phase)
	}
}
