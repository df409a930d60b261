package tcp

import (
	"math"
	"time"
)

// CongestionControl is a congestion control algorithm (FreeBSD mod_cc,
// Linux tcp_congestion_ops). Its methods run on the connection's core and
// keep per-connection state in the Conn; implementations are stateless
// values, so choosing one allocates nothing.
type CongestionControl interface {
	// Name is the algorithm's name for cc.algorithm and TCP_CONGESTION.
	Name() string
	// OnAck grows cwnd for acked new bytes outside loss recovery.
	OnAck(c *Conn, acked uint32)
	// OnCongestion returns the ssthresh to use when loss is detected
	// (fast retransmit or RTO), and notes the event (which ends HyStart++,
	// hystartCongestion).
	OnCongestion(c *Conn) uint32
}

// slowStart grows cwnd by the acked bytes, at most two segments per ACK
// (RFC 3465, L = 2), and by a css_growth_div-th of that in HyStart++'s
// Conservative Slow Start (hystart.go); it reports false when cwnd is at
// or above ssthresh.
func slowStart(c *Conn, acked uint32) bool {
	if c.cwnd >= c.ssthresh {
		return false
	}
	inc := min(acked, 2*uint32(c.mss)) / c.hystartDivisor()
	c.cwnd = min(c.cwnd+inc, MaxBufferSpace)
	return true
}

// NewReno is RFC 5681's congestion avoidance: about one segment per RTT.
type NewReno struct{}

func (NewReno) Name() string { return "newreno" }

func (NewReno) OnAck(c *Conn, acked uint32) {
	if slowStart(c, acked) {
		return
	}
	mss := uint32(c.mss)
	c.cwnd = min(c.cwnd+max(mss*mss/max(c.cwnd, 1), 1), MaxBufferSpace)
}

func (NewReno) OnCongestion(c *Conn) uint32 {
	c.hystartCongestion()
	return max(c.inFlight()/2, 2*uint32(c.mss))
}

// CUBIC constants (RFC 9438 4.1, 4.2).
const (
	cubicBeta = 0.7
	cubicC    = 0.4
)

// Cubic is RFC 9438: after a loss, cwnd follows a cubic function of the
// time since it, centred on the window where the loss happened, and never
// below what Reno would reach (the Reno-friendly region).
type Cubic struct{}

func (Cubic) Name() string { return "cubic" }

func (Cubic) OnAck(c *Conn, acked uint32) {
	if slowStart(c, acked) {
		return
	}
	now := c.shard.now
	mss := float64(c.mss)
	cwnd := float64(c.cwnd) / mss // segments
	if c.cubicEpoch == 0 {
		c.cubicEpoch = now
		if c.cubicWMax < cwnd {
			c.cubicK = 0
			c.cubicWMax = cwnd
		} else {
			c.cubicK = math.Cbrt(c.cubicWMax * (1 - cubicBeta) / cubicC)
		}
		c.cubicWEst = cwnd
	}
	rtt := max(c.srtt, 100*time.Microsecond).Seconds()
	t := now.Sub(c.cubicEpoch).Seconds() + rtt
	target := cubicC*math.Pow(t-c.cubicK, 3) + c.cubicWMax
	// Reno-friendly estimate (RFC 9438 4.3).
	c.cubicWEst += 3 * (1 - cubicBeta) / (1 + cubicBeta) * float64(acked) / mss / cwnd
	if c.cubicWEst > target {
		target = c.cubicWEst
	}
	if target > cwnd {
		// Grow by (target - cwnd) / cwnd segments per segment acked.
		inc := (target - cwnd) / cwnd * float64(acked)
		inc = min(inc, float64(acked)) // never faster than slow start
		c.cubicFrac += inc
	} else {
		c.cubicFrac += float64(acked) / (100 * cwnd) // a slow probe
	}
	if c.cubicFrac >= 1 {
		whole := uint32(c.cubicFrac)
		c.cubicFrac -= float64(whole)
		c.cwnd = min(c.cwnd+whole, MaxBufferSpace)
	}
}

func (Cubic) OnCongestion(c *Conn) uint32 {
	c.hystartCongestion()
	mss := float64(c.mss)
	cwnd := float64(c.cwnd) / mss
	// Fast convergence (RFC 9438 4.7).
	if cwnd < c.cubicWMax {
		c.cubicWMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.cubicWMax = cwnd
	}
	c.cubicEpoch = 0
	c.cubicFrac = 0
	return max(uint32(float64(c.cwnd)*cubicBeta), 2*uint32(c.mss))
}

// DCTCPMaxAlpha is DCTCP's alpha for a fraction of 1: alpha is kept in
// 1024ths, as FreeBSD's cc_dctcp keeps it.
const DCTCPMaxAlpha = 1024

// DCTCP is Data Center TCP (RFC 8257): NewReno's growth and loss response,
// and on an ECN echo a reduction in proportion to alpha, the moving
// average of the fraction of bytes acknowledged with ECE, updated once per
// window of data (the observation window) with gain 1/2^shift_g. Without
// ECN agreed it is NewReno.
type DCTCP struct{}

func (DCTCP) Name() string { return "dctcp" }

func (DCTCP) OnAck(c *Conn, acked uint32) { NewReno{}.OnAck(c, acked) }

func (DCTCP) OnCongestion(c *Conn) uint32 { return NewReno{}.OnCongestion(c) }

// OnECNAck is RFC 8257 3.3 steps 1 to 8: count the bytes acknowledged and
// those with ECE; at the end of the observation window (an ACK past
// snd_nxt as it was when the window began) fold their ratio into alpha
// and begin the next.
func (DCTCP) OnECNAck(c *Conn, acked uint32, ece bool) {
	c.dctcpAcked += acked
	if ece {
		c.dctcpMarked += acked
	}
	if c.sndUna.LEQ(c.dctcpEnd) {
		return
	}
	g := uint(c.shard.cfg.DCTCPShiftG)
	var frac uint64
	if c.dctcpAcked > 0 {
		frac = uint64(c.dctcpMarked) * DCTCPMaxAlpha / uint64(c.dctcpAcked)
	}
	// alpha = (1 - g) * alpha + g * F, with g = 2^-shift_g.
	a := uint64(c.dctcpAlpha)
	a = a - a>>g + frac>>g
	c.dctcpAlpha = uint16(min(a, DCTCPMaxAlpha))
	c.dctcpEnd = c.sndMax
	c.dctcpAcked, c.dctcpMarked = 0, 0
}

// OnECE is RFC 8257 3.3 step 9: cwnd = cwnd * (1 - alpha/2), at least two
// segments; with cc.dctcp.slowstart an echo in slow start halves it.
func (DCTCP) OnECE(c *Conn) uint32 {
	c.hystartCongestion()
	mss := uint32(c.mss)
	if c.shard.cfg.DCTCPSlowStart && c.cwnd < c.ssthresh {
		return max(c.cwnd/2, 2*mss)
	}
	cut := uint64(c.cwnd) * uint64(c.dctcpAlpha) / (2 * DCTCPMaxAlpha)
	return max(c.cwnd-uint32(cut), 2*mss)
}
