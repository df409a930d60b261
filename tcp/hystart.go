package tcp

import (
	"math"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// HyStart++ (RFC 9406) ends the first slow start before it overshoots:
// slow start is cut into rounds (a round ends when what was sent before it
// began is acknowledged), and when a round's least RTT has grown by a
// threshold over the last round's — the bottleneck queue is filling — cwnd
// grows at a quarter of the rate (Conservative Slow Start, CSS) for a few
// rounds. If the RTT falls back below what it was when CSS began, the
// increase was a passing one and slow start resumes; if CSS lasts its
// rounds, slow start ends with ssthresh = cwnd, without a loss. A loss or
// an ECN echo at any point ends it as it ends slow start (RFC 9406 4.2).
//
// It serves the first slow start only (RFC 9406 4.3): once a congestion
// event set ssthresh, or CSS ended, slow start (after a timeout, or after
// an undo) is the standard one. Every algorithm here grows cwnd in slow
// start through slowStart (cc.go), so newreno, cubic and dctcp all use it;
// cc.hystartplusplus.enable turns it off.
//
// RTT samples: RACK's (the send time of the latest segment this ACK
// delivered, to the nanosecond) when the ACK gave one, else the sample
// rttSample took (the timed segment, or the timestamp echo, in
// milliseconds). A connection with neither SACK nor timestamps takes one
// sample a round and so never has the samples a round needs: it slow
// starts as before.

// HyStart++ defaults (RFC 9406 4.3; FreeBSD's net.inet.tcp.cc.hystartplusplus.*).
const (
	DefaultHyStartMinRTTThresh  = 4 * time.Millisecond  // MIN_RTT_THRESH
	DefaultHyStartMaxRTTThresh  = 16 * time.Millisecond // MAX_RTT_THRESH
	DefaultHyStartMinRTTDivisor = 8                     // MIN_RTT_DIVISOR
	DefaultHyStartNRTTSamples   = 8                     // N_RTT_SAMPLE
	DefaultHyStartCSSGrowthDiv  = 4                     // CSS_GROWTH_DIVISOR
	DefaultHyStartCSSRounds     = 5                     // CSS_ROUNDS
	// MaxHyStartNRTTSamples bounds n_rttsamples (the count is a byte).
	MaxHyStartNRTTSamples = math.MaxUint8
	// MaxHyStartCSSRounds bounds css_rounds (the count is a byte).
	MaxHyStartCSSRounds = math.MaxUint8
	// MaxHyStartCSSGrowthDiv bounds css_growth_div.
	MaxHyStartCSSGrowthDiv = 1024
	// MaxHyStartRTTThresh bounds minrtt_thresh and maxrtt_thresh (1 s).
	MaxHyStartRTTThresh = time.Second
)

// HyStart++ phases.
const (
	hsNew  uint8 = iota // no round begun yet
	hsSS                // standard slow start, watching each round's least RTT
	hsCSS               // Conservative Slow Start
	hsDone              // over: a congestion event, or CSS ran its rounds
)

// hystart is a connection's HyStart++ state. RTTs are in nanoseconds, 0
// for none (RFC 9406's infinity); about 4.3 s at most.
type hystart struct {
	end      flow.Seq // windowEnd: the round ends once it is acknowledged
	lastMin  uint32   // lastRoundMinRTT
	curMin   uint32   // currentRoundMinRTT
	baseline uint32   // cssBaselineMinRTT
	samples  uint8    // rttSampleCount (it stops at 255)
	rounds   uint8    // CSS rounds ended
	phase    uint8
}

// hsRTT is an RTT sample as hystart keeps it.
func hsRTT(d time.Duration) uint32 {
	return uint32(min(max(d, 1), math.MaxUint32))
}

// hystartAck is RFC 9406 4.2 for an ACK that acknowledged new data up to
// ack, with rtt its RTT sample (negative: none). It runs before
// congestion control grows cwnd for the ACK, which then grows it by
// slowStart's rule for the phase this left.
func (c *Conn) hystartAck(ack flow.Seq, rtt time.Duration) {
	s := c.shard
	cfg := &s.cfg
	h := &c.hs
	if !cfg.HyStartPlusPlus || h.phase == hsDone {
		return
	}
	if c.cwnd >= c.ssthresh || c.inRecovery || c.inLoss || c.inCWR {
		return
	}
	switch {
	case h.phase == hsNew:
		// The first round: what is in flight now.
		*h = hystart{phase: hsSS, end: c.sndMax}
	case ack.GEQ(h.end):
		// A new round: what was sent up to now.
		h.lastMin, h.curMin, h.samples = h.curMin, 0, 0
		h.end = c.sndMax
		if h.phase == hsCSS {
			h.rounds++
			if int(h.rounds) >= cfg.HyStartCSSRounds {
				c.hystartEnd()
				return
			}
		}
	}
	if rtt >= 0 {
		if r := hsRTT(rtt); h.curMin == 0 || r < h.curMin {
			h.curMin = r
		}
		if h.samples < math.MaxUint8 {
			h.samples++
		}
	}
	if int(h.samples) < cfg.HyStartNRTTSamples || h.curMin == 0 {
		return
	}
	switch h.phase {
	case hsSS:
		if h.lastMin == 0 {
			return
		}
		// RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
		thresh := uint64(h.lastMin) / uint64(cfg.HyStartMinRTTDivisor)
		thresh = max(uint64(cfg.HyStartMinRTTThresh), min(thresh, uint64(cfg.HyStartMaxRTTThresh)))
		if uint64(h.curMin) >= uint64(h.lastMin)+thresh {
			h.baseline = h.curMin
			h.phase = hsCSS
			h.rounds = 0
			s.stats[StatHyStartCSSEntries]++
			if cfg.HyStartCSSRounds == 0 {
				c.hystartEnd()
			}
		}
	case hsCSS:
		if h.curMin < h.baseline {
			// The increase passed: it was a spurious one.
			h.baseline = 0
			h.phase = hsSS
			s.stats[StatHyStartCSSSpurious]++
		}
	}
}

// hystartEnd ends slow start when CSS ran its rounds: ssthresh = cwnd, and
// congestion avoidance goes on from there.
func (c *Conn) hystartEnd() {
	c.ssthresh = max(c.cwnd, 2*uint32(c.mss))
	c.hs.phase = hsDone
	c.shard.stats[StatHyStartCSSExits]++
}

// hystartCongestion notes a congestion event (a loss, a timeout, an ECN
// echo): HyStart++ is over, and the algorithm's response sets ssthresh.
func (c *Conn) hystartCongestion() {
	switch c.hs.phase {
	case hsSS:
		c.shard.stats[StatHyStartSSLoss]++
	case hsCSS:
		c.shard.stats[StatHyStartCSSLoss]++
	}
	c.hs.phase = hsDone
}

// hystartDivisor is what slowStart divides cwnd's growth by: the CSS
// growth divisor in CSS, else 1.
func (c *Conn) hystartDivisor() uint32 {
	if c.hs.phase == hsCSS && c.shard.cfg.HyStartPlusPlus {
		return uint32(c.shard.cfg.HyStartCSSGrowthDiv)
	}
	return 1
}

// rackXmit is RACK.xmit_ts, 0 without RACK's block.
func (c *Conn) rackXmit() mono.Time {
	if c.rk == nil {
		return 0
	}
	return c.rk.rack.xmit
}

// hystartRTT is the RTT sample of an ACK for HyStart++: RACK's when the
// ACK moved RACK.xmit_ts from before (it delivered a segment sent later
// than any delivered before, and RACK.rtt is that segment's round trip),
// else rttSample's (negative: none).
func (c *Conn) hystartRTT(before mono.Time, sample time.Duration) time.Duration {
	if c.rk != nil && c.rk.rack.xmit != before && c.rk.rack.xmit != 0 {
		return c.rk.rack.rtt
	}
	return sample
}
