package tcp

import (
	"time"

	"github.com/pollstack/pollstack/flow"
)

// Sender-side SACK (RFC 2018, RFC 6675): a scoreboard of what the receiver
// holds above snd_una, and loss recovery that retransmits the holes below
// the highest SACKed byte while the pipe — bytes presumed in the network —
// stays under cwnd.

// scoreboard is the set of SACKed ranges above snd_una.
type scoreboard struct {
	ranges *rangeSet // from pool while n > 0
	pool   *chunkPool
	n      int
	bytes  uint32 // bytes SACKed
}

// reset empties the scoreboard and gives its storage back.
func (b *scoreboard) reset() {
	if b.ranges != nil {
		b.pool.putRanges(b.ranges)
		b.ranges = nil
	}
	b.n, b.bytes = 0, 0
}

// highest returns the end of the highest SACKed range (ok false when none).
func (b *scoreboard) highest() (flow.Seq, bool) {
	if b.n == 0 {
		return 0, false
	}
	return b.ranges[b.n-1].end, true
}

// add records a SACK block [l, r) clipped to (una, max].
func (b *scoreboard) add(l, r, una, max flow.Seq) {
	if l.LT(una) {
		l = una
	}
	if r.GT(max) {
		r = max
	}
	if !l.LT(r) {
		return
	}
	i := 0
	for i < b.n && b.ranges[i].end.LT(l) {
		i++
	}
	if i == b.n || r.LT(b.ranges[i].start) {
		if b.n == len(b.ranges) {
			return // full: the oldest information stays, this block is lost
		}
		if b.ranges == nil {
			b.ranges = b.pool.getRanges()
		}
		copy(b.ranges[i+1:b.n+1], b.ranges[i:b.n])
		b.ranges[i] = seqRange{l, r}
		b.n++
	} else {
		x := &b.ranges[i]
		x.start = x.start.Min(l)
		x.end = x.end.Max(r)
		j := i + 1
		for j < b.n && b.ranges[j].start.LEQ(x.end) {
			x.end = x.end.Max(b.ranges[j].end)
			j++
		}
		if j > i+1 {
			copy(b.ranges[i+1:], b.ranges[j:b.n])
			b.n -= j - i - 1
		}
	}
	b.count()
}

// trim forgets what lies below una (now cumulatively acknowledged).
func (b *scoreboard) trim(una flow.Seq) {
	k := 0
	for k < b.n && b.ranges[k].end.LEQ(una) {
		k++
	}
	if k > 0 {
		copy(b.ranges[:], b.ranges[k:b.n])
		b.n -= k
		if b.n == 0 {
			b.reset()
		}
	}
	if b.n > 0 && b.ranges[0].start.LT(una) {
		b.ranges[0].start = una
	}
	b.count()
}

func (b *scoreboard) count() {
	var n uint32
	for i := 0; i < b.n; i++ {
		n += b.ranges[i].end.Sub(b.ranges[i].start)
	}
	b.bytes = n
}

// sackedBelow returns the SACKed bytes below s.
func (b *scoreboard) sackedBelow(s flow.Seq) uint32 {
	var n uint32
	for i := 0; i < b.n; i++ {
		r := b.ranges[i]
		if !r.start.LT(s) {
			break
		}
		n += r.end.Min(s).Sub(r.start)
	}
	return n
}

// nextHole returns the first byte at or above from that is not SACKed and
// lies below the highest SACKed byte, with the hole's end.
func (b *scoreboard) nextHole(from flow.Seq) (start, end flow.Seq, ok bool) {
	for i := 0; i < b.n; i++ {
		r := b.ranges[i]
		if from.LT(r.start) {
			return from, r.start, true
		}
		if from.LT(r.end) {
			from = r.end
		}
	}
	return 0, 0, false
}

// sackInput records the SACK blocks of an ACK.
func (c *Conn) sackInput(o *Options) {
	for i := 0; i < o.NumSACK && i < MaxSACKBlocks; i++ {
		blk := o.SACK[i]
		c.sb.add(blk.Left, blk.Right, c.sndUna, c.sndMax)
	}
}

// pipe estimates the bytes in the network (RFC 6675 4): everything above
// the highest SACKed byte, plus the holes below it that were retransmitted
// (the others are presumed lost).
func (c *Conn) pipe() uint32 {
	high, ok := c.sb.highest()
	if !ok {
		return c.sndMax.Sub(c.sndUna)
	}
	p := c.sndMax.Sub(high)
	if c.highRxt.GT(c.sndUna) {
		h := c.highRxt.Min(high)
		p += h.Sub(c.sndUna) - c.sb.sackedBelow(h)
	}
	return p
}

const (
	// minPTO bounds the probe timeout from below.
	minPTO = 10 * time.Millisecond
	// wcDelAckT is the longest a receiver is assumed to delay an ACK
	// (RFC 8985 7.2, WCDelAckT).
	wcDelAckT = 200 * time.Millisecond
)

// sackEnterRecovery starts loss recovery (RFC 6675 5, steps 4.1-4.3).
func (c *Conn) sackEnterRecovery() {
	c.ssthresh = c.cc.OnCongestion(c)
	c.cwnd = c.ssthresh
	c.recover = c.sndMax
	c.highRxt = c.sndUna
	c.inRecovery = true
	c.sackRetransmit()
}

// sackRetransmit sends holes (and then new data) while the pipe allows
// (RFC 6675 5, step 4.3 and NextSeg).
func (c *Conn) sackRetransmit() {
	s := c.shard
	seg := c.segSize()
	for i := 0; i < 64; i++ {
		if c.pipe()+uint32(seg) > c.cwnd && i > 0 {
			return
		}
		from := c.highRxt.Max(c.sndUna)
		start, end, ok := c.sb.nextHole(from)
		if !ok {
			// No hole left below the highest SACK: new data, if any.
			c.output()
			return
		}
		n := min(int(end.Sub(start)), seg)
		off := int(start.Sub(c.sndUna))
		if off >= c.snd.n {
			return // only the FIN is missing: the RTO resends it
		}
		n = min(n, c.snd.n-off)
		if !c.emit(start, n, FlagACK) {
			c.noFrame() // the hole stays a hole: sent again from the next ACK or the RTO
			return
		}
		s.stats[StatSndRexmitPack]++
		s.stats[StatSndRexmitByte] += uint64(n)
		c.rtTime = 0
		c.highRxt = start.Add(uint32(n))
		if c.timers[timerRexmt] == 0 {
			c.armRexmt()
		}
	}
}

// armRexmt arms the retransmission timer for outstanding data: at the RTO,
// or earlier at the probe timeout of a tail loss probe (RFC 8985 7) when one
// may be sent — after SACK was agreed, outside recovery, once per flight.
func (c *Conn) armRexmt() {
	now := c.shard.now
	c.tlpPending = false
	if c.sackOK && c.srtt > 0 && !c.inRecovery && c.rexmits == 0 && !c.tlpDone && c.state.synchronized() {
		pto := max(2*c.srtt, minPTO)
		if c.inFlight() <= uint32(c.mss) {
			pto += wcDelAckT // a lone segment may wait for a delayed ACK
		}
		if pto < c.rto {
			c.tlpPending = true
			c.armTimer(timerRexmt, now.Add(pto))
			return
		}
	}
	c.armTimer(timerRexmt, now.Add(c.rto))
}

// tailLossProbe runs when the probe timeout passes with data outstanding:
// with SACK information, the holes below it are lost (recovery starts);
// without, the last segment is sent again so that the receiver's answer
// shows what is missing (RFC 8985 7.3).
func (c *Conn) tailLossProbe() {
	s := c.shard
	c.tlpDone = true
	if c.sb.bytes > 0 {
		c.sackEnterRecovery()
	} else if c.snd.n > 0 {
		end := c.sndUna.Add(uint32(c.snd.n)).Min(c.sndMax)
		seq := c.sndUna
		if end.Sub(c.sndUna) > uint32(c.segSize()) {
			seq = end.Add(-uint32(c.segSize()))
		}
		if n := int(end.Sub(seq)); n > 0 && c.emit(seq, n, FlagACK) {
			s.stats[StatSndRexmitPack]++
			s.stats[StatSndRexmitByte] += uint64(n)
			s.stats[StatTLP]++
			c.rtTime = 0
		} else if n > 0 {
			s.stats[StatSndNoFrame]++ // the RTO armed below comes next
		}
	}
	if c.timers[timerRexmt] == 0 && c.sndUna != c.sndMax {
		c.armTimer(timerRexmt, s.now.Add(c.rto))
	}
}
