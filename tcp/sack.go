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
		b.ranges[i] = seqRange{start: l, end: r}
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

// sackInput records the SACK blocks of an ACK and returns the index of the
// first block that reports data held above ack: a first block below ack,
// or inside the second block, is a D-SACK (RFC 2883 4), reporting bytes the
// receiver got twice, and is taken as such.
func (c *Conn) sackInput(o *Options, ack flow.Seq) int {
	first := 0
	if b := o.SACK[0]; b.Left.LT(b.Right) && (b.Right.LEQ(ack) && ack.Sub(b.Left) <= MaxBufferSpace ||
		o.NumSACK > 1 && o.SACK[1].Left.LEQ(b.Left) && b.Right.LEQ(o.SACK[1].Right)) {
		first = 1
		c.rackDSACK(b.Left, b.Right)
	}
	for i := first; i < o.NumSACK && i < MaxSACKBlocks; i++ {
		blk := o.SACK[i]
		c.sb.add(blk.Left, blk.Right, c.sndUna, c.sndMax)
	}
	return first
}

// txSACKBlocks marks the transmit map's records the ACK's SACK blocks
// (from first on) cover.
func (c *Conn) txSACKBlocks(o *Options, first int) {
	for i := first; i < o.NumSACK && i < MaxSACKBlocks; i++ {
		l, r := o.SACK[i].Left, o.SACK[i].Right
		if l.LT(c.sndUna) {
			l = c.sndUna
		}
		if r.GT(c.sndMax) {
			r = c.sndMax
		}
		if l.LT(r) {
			c.txSACKed(l, r)
		}
	}
}

// pipe estimates the bytes in the network. With RACK see rackPipe; else
// (RFC 6675 4) everything above the highest SACKed byte, plus the holes
// below it that were retransmitted (the others are presumed lost), or with
// rfc6675_pipe off the flight less the SACKed bytes.
func (c *Conn) pipe() uint32 {
	if c.rackOK {
		return c.rackPipe()
	}
	if !c.shard.cfg.RFC6675Pipe {
		f := c.inFlight()
		return f - min(f, c.sb.bytes)
	}
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
	// wcDelAckT is the longest a receiver is assumed to delay an ACK
	// (RFC 8985 7.2, WCDelAckT).
	wcDelAckT = 200 * time.Millisecond
)

// sackEnterRecovery starts loss recovery (RFC 6675 5, steps 4.1-4.3).
func (c *Conn) sackEnterRecovery() {
	c.shard.stats[StatSACKRecoveryEpisode]++
	c.ssthresh = c.lossSsthresh()
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

// What the retransmission timer runs when it expires (Conn.rexmtMode).
const (
	rexmtRTO     uint8 = iota // the retransmission timeout
	rexmtTLP                  // a tail loss probe (RFC 8985 7)
	rexmtReorder              // RACK's reordering timer (RFC 8985 6.3)
)

// armRexmt arms the retransmission timer for outstanding data: at the RTO,
// or earlier at the probe timeout of a tail loss probe (RFC 8985 7) when one
// may be sent — after SACK was agreed, outside recovery (with RACK, in
// recovery too unless rack.tlp.tlpinrecovery is off), and with RACK while
// no probe is out (the freebsd stack: once per flight).
func (c *Conn) armRexmt() {
	now := c.shard.now
	c.rexmtMode = rexmtRTO
	probe := !c.tlpDone
	recoveryOK := !c.inRecovery
	if c.rackOK {
		probe = !c.tlpOut()
		recoveryOK = recoveryOK || c.shard.cfg.RackTLPInRecovery
	}
	if c.sackOK && c.srtt > 0 && recoveryOK && c.rexmits == 0 && probe && c.state.synchronized() {
		if pto := c.ptoFor(); pto < c.rto || c.rackOK {
			// With RACK a probe later than the RTO goes at the RTO
			// instead of it (RFC 8985 7.2: PTO = min(PTO, RTO)).
			pto = min(pto, c.rto)
			c.rexmtMode = rexmtTLP
			c.armTimer(timerRexmt, now.Add(pto))
			return
		}
	}
	c.armTimer(timerRexmt, now.Add(c.rto))
}

// rearmPTO restarts the probe timeout after new data was sent, with RACK
// (RFC 8985 7.2): a running probe timer starts again, and an RTO armed
// when a lone segment was out (its probe timeout then includes the
// receiver's ACK delay) gives way to a probe timer that now comes first.
// The reordering timer stays.
func (c *Conn) rearmPTO() {
	if c.rexmtMode == rexmtReorder || c.inRecovery || c.rexmits != 0 || c.tlpOut() || c.srtt == 0 {
		return
	}
	at := c.shard.now.Add(min(c.ptoFor(), c.rto))
	if c.rexmtMode == rexmtTLP || at < c.timers[timerRexmt] {
		c.rexmtMode = rexmtTLP
		c.armTimer(timerRexmt, at)
	}
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
