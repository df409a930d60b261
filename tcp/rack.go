package tcp

import (
	"math"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// RACK-TLP (RFC 8985) with Proportional Rate Reduction (RFC 6937): the
// loss recovery of the "rack" stack (functions_default), for connections
// that agreed on SACK.
//
// Every segment sent and not yet cumulatively acknowledged has a record in
// the connection's transmit map (txMap): its sequence range, when it was
// last sent, and whether it was SACKed, is deemed lost, or was sent more
// than once. RACK keeps the send time and end of the most recently sent
// segment that the receiver is known to hold (RACK.xmit_ts, RACK.end_seq);
// a segment sent before it that is still missing RACK.rtt plus a
// reordering window later is lost. That one rule covers the first loss of
// a flight, the loss of a retransmission (the retransmission has its own,
// later, send time), and tail losses once a probe draws an ACK. The
// reordering window is min_RTT/4 (reorder_thresh), grown by D-SACKs that
// show a retransmission was spurious, and never more than SRTT.
//
// In recovery PRR decides how much may be sent on each ACK: in proportion
// to what the ACK delivered while the pipe is above ssthresh, then up to
// ssthresh (by the slow-start bound, or the conservative bound with
// do_prr_conservative).

// txSeg is one segment sent and not yet cumulatively acknowledged.
type txSeg struct {
	start, end flow.Seq
	xmit       mono.Time // when it was last sent
	flags      uint8
}

const (
	txSACKed  uint8 = 1 << iota // the receiver holds it
	txLost                      // deemed lost and not sent again since
	txRetrans                   // sent more than once
)

const (
	// minTxSegs is the smallest transmit map; it doubles as needed up to
	// maxTxSegs, past which a segment sent is merged into the last record
	// (RACK then sees it as sent with the one before).
	minTxSegs = 16
	maxTxSegs = 1 << 16
	// dupThresh is RFC 8985's DupThresh: with this many segments SACKed and
	// no reordering seen, the reordering window is 0.
	dupThresh = 3
	// reoWndPersist is how many recoveries a grown reordering window lasts
	// (RFC 8985 6.2, step 4).
	reoWndPersist = 16
	// maxReoWndMult bounds the D-SACK growth of the reordering window.
	maxReoWndMult = 255
	// rexRecentLen is how many of the latest retransmissions a D-SACK is
	// matched against.
	rexRecentLen = 16
)

// txMap is the transmit map: a ring of records in sequence order, its
// storage from the shard's pool while it holds one.
type txMap struct {
	segs   []txSeg // len a power of two
	head   int
	n      int
	pool   *chunkPool
	sacked uint32 // bytes of SACKed records
	lost   uint32 // bytes of records deemed lost and not sent again
	nSACK  int    // SACKed records
}

func (m *txMap) at(i int) *txSeg { return &m.segs[(m.head+i)&(len(m.segs)-1)] }

// reset forgets every record and gives the storage back.
func (m *txMap) reset() {
	if m.segs != nil {
		m.pool.putSegs(m.segs)
		m.segs = nil
	}
	m.head, m.n, m.sacked, m.lost, m.nSACK = 0, 0, 0, 0, 0
}

// grow doubles the ring; false at maxTxSegs.
func (m *txMap) grow() bool {
	k := minTxSegs
	if m.segs != nil {
		k = 2 * len(m.segs)
	}
	if k > maxTxSegs {
		return false
	}
	s := m.pool.getSegs(k)
	for i := 0; i < m.n; i++ {
		s[i] = *m.at(i)
	}
	if m.segs != nil {
		m.pool.putSegs(m.segs)
	}
	m.segs, m.head = s, 0
	return true
}

// push appends a record for [start, end) sent at now.
func (m *txMap) push(start, end flow.Seq, now mono.Time) {
	if m.n == len(m.segs) && !m.grow() {
		t := m.at(m.n - 1)
		t.end, t.xmit = end, now
		return
	}
	*m.at(m.n) = txSeg{start: start, end: end, xmit: now}
	m.n++
}

// find returns the index of the first record that ends after s.
func (m *txMap) find(s flow.Seq) int {
	lo, hi := 0, m.n
	for lo < hi {
		mid := (lo + hi) / 2
		if m.at(mid).end.LEQ(s) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// unmark clears r's SACKed and lost marks, keeping the counts.
func (m *txMap) unmark(r *txSeg) {
	n := r.end.Sub(r.start)
	if r.flags&txSACKed != 0 {
		m.sacked -= n
		m.nSACK--
	}
	if r.flags&txLost != 0 {
		m.lost -= n
	}
	r.flags &^= txSACKed | txLost
}

// rackBlock is the loss-recovery state of a connection with data in
// flight: the transmit map and the rest of RACK's, TLP's and PRR's state
// that matters only then. It comes from the shard's pool with the first
// segment sent and goes back when everything sent is acknowledged, so an
// idle connection does not carry it.
type rackBlock struct {
	txm  txMap
	rack rackState
}

// tlpState is a tail loss probe's episode (RFC 8985 7), kept until an ACK
// says what became of the probe, which may come after everything sent was
// acknowledged.
type tlpState struct {
	active  bool     // a probe is out (TLP.end_seq is set)
	retrans bool     // TLP.is_retrans
	dsacked bool     // a D-SACK reported the probe's bytes twice
	end     flow.Seq // TLP.end_seq
}

// rackReo is the part of RACK's state a connection keeps while idle: what
// it learned of the path's round trip and reordering.
type rackReo struct {
	minRTT  uint32 // RACK.min_RTT in ns (at most about 4.3 s)
	seen    bool   // RACK.reordering_seen
	mult    uint8  // RACK.reo_wnd_mult
	persist uint8  // RACK.reo_wnd_persist
}

// rackState is RACK's state (RFC 8985 5.2) and TLP's (7) while data is in
// flight, and PRR's in recovery.
type rackState struct {
	xmit       mono.Time     // RACK.xmit_ts; 0 before the first delivery
	endSeq     flow.Seq      // RACK.end_seq
	rtt        time.Duration // RACK.rtt
	fack       flow.Seq      // RACK.fack: the highest end delivered
	dsackRound bool          // a D-SACK grew the window this round
	dsackEnd   flow.Seq      // RACK.dsack_round: snd_max when it did

	prrDelivered uint32                 // PRR: bytes delivered in this recovery
	prrOut       uint32                 // PRR: bytes sent in this recovery
	recoverFS    uint32                 // PRR: the flight when recovery began
	rexmitBytes  uint32                 // bytes retransmitted in this recovery (the legacy pipe)
	rexRecent    [rexRecentLen]flow.Seq // where the latest retransmissions began
	rexNext      uint8
}

// rackBlock returns the connection's block, taking one from the pool when
// it has none.
func (c *Conn) rackBlock() *rackBlock {
	if c.rk == nil {
		c.rk = c.shard.pool.getRack()
	}
	return c.rk
}

// releaseRack gives the block (and its map's storage) back to the pool.
func (c *Conn) releaseRack() {
	if c.rk != nil {
		c.rk.txm.reset()
		c.shard.pool.putRack(c.rk)
		c.rk = nil
	}
}

// rackSACKed is the bytes of the segments in flight that were SACKed.
func (c *Conn) rackSACKed() uint32 {
	if c.rk == nil {
		return 0
	}
	return c.rk.txm.sacked
}

// tlpOut reports whether a tail loss probe's episode is open.
func (c *Conn) tlpOut() bool { return c.tlp.active }

// rackSentAfter reports whether a segment sent at t1 ending at s1 was sent
// after one sent at t2 ending at s2 (RFC 8985 6.2: later, or at the same
// instant with a higher end).
func rackSentAfter(t1 mono.Time, s1 flow.Seq, t2 mono.Time, s2 flow.Seq) bool {
	return t1 > t2 || t1 == t2 && s1.GT(s2)
}

// txSent records that [seq, seq+n) was sent now (new data is appended, a
// retransmission marks what it covers). Called for every data segment.
func (c *Conn) txSent(seq flow.Seq, n int) {
	b := c.rackBlock()
	m := &b.txm
	now := c.shard.now
	end := seq.Add(uint32(n))
	var tail flow.Seq
	if m.n > 0 {
		tail = m.at(m.n - 1).end
	}
	if m.n == 0 || seq.GEQ(tail) {
		m.push(seq, end, now)
		return
	}
	for i := m.find(seq); i < m.n; i++ {
		r := m.at(i)
		if r.start.GEQ(end) {
			break
		}
		if r.flags&txLost != 0 {
			m.lost -= r.end.Sub(r.start)
			r.flags &^= txLost
		}
		r.flags |= txRetrans
		r.xmit = now
	}
	b.rack.rexmitted(seq)
	if end.GT(tail) {
		m.push(tail, end, now)
	}
}

// rexmitted notes that a retransmission began at s, for telling a D-SACK
// for it (a spurious retransmission) from one for a duplicate the network
// made.
func (r *rackState) rexmitted(s flow.Seq) {
	r.rexRecent[r.rexNext%rexRecentLen] = s
	r.rexNext++
}

// wasRexmitted reports whether one of the latest retransmissions began at s.
func (r *rackState) wasRexmitted(s flow.Seq) bool {
	n := min(int(r.rexNext), rexRecentLen)
	for i := 0; i < n; i++ {
		if r.rexRecent[i] == s {
			return true
		}
	}
	return false
}

// txAcked drops the records below ack, taking a RACK sample from those the
// receiver had not SACKed (RFC 8985 6.2 for a cumulative ACK).
func (c *Conn) txAcked(ack flow.Seq) {
	if c.rk == nil {
		return
	}
	m := &c.rk.txm
	for m.n > 0 {
		r := m.at(0)
		if r.start.GEQ(ack) {
			break
		}
		if r.flags&txSACKed == 0 {
			c.rackUpdate(r)
		}
		if r.end.GT(ack) {
			// Acknowledged in part: the rest stays, marked as it was.
			d := ack.Sub(r.start)
			if r.flags&txSACKed != 0 {
				m.sacked -= d
			}
			if r.flags&txLost != 0 {
				m.lost -= d
			}
			r.start = ack
			break
		}
		m.unmark(r)
		m.head = (m.head + 1) & (len(m.segs) - 1)
		m.n--
	}
	if m.n == 0 {
		c.releaseRack()
	}
}

// txSACKed marks the records a SACK block covers whole, taking a RACK
// sample from each newly SACKed one.
func (c *Conn) txSACKed(l, r flow.Seq) {
	if c.rk == nil {
		return
	}
	m := &c.rk.txm
	for i := m.find(l); i < m.n; i++ {
		s := m.at(i)
		if s.end.GT(r) {
			break
		}
		if s.start.LT(l) || s.flags&txSACKed != 0 {
			continue
		}
		if s.flags&txLost != 0 {
			m.lost -= s.end.Sub(s.start)
			s.flags &^= txLost
		}
		s.flags |= txSACKed
		m.sacked += s.end.Sub(s.start)
		m.nSACK++
		c.rackUpdate(s)
	}
}

// rackUpdate is RFC 8985 6.2 steps 2 and 3 for a segment just delivered.
func (c *Conn) rackUpdate(r *txSeg) {
	k, o := &c.rk.rack, &c.reo
	now := c.shard.now
	rtt := now.Sub(r.xmit)
	if r.flags&txRetrans != 0 && o.minRTT > 0 && rtt < time.Duration(o.minRTT) {
		// The ACK is likely for the first transmission, not this one.
		return
	}
	if o.minRTT == 0 || rtt < time.Duration(o.minRTT) {
		o.minRTT = uint32(min(max(rtt, 1), math.MaxUint32))
	}
	if k.xmit == 0 {
		k.fack = r.end
	} else if r.end.LT(k.fack) && r.flags&txRetrans == 0 {
		c.reorderingSeen()
	}
	k.fack = k.fack.Max(r.end)
	if k.xmit == 0 || rackSentAfter(r.xmit, r.end, k.xmit, k.endSeq) {
		k.xmit, k.endSeq, k.rtt = r.xmit, r.end, rtt
	}
}

// rackReoWnd is RFC 8985 6.2 step 4: the reordering window.
func (c *Conn) rackReoWnd() time.Duration {
	o := &c.reo
	if !o.seen && (c.inRecovery || c.rk != nil && c.rk.txm.nSACK >= dupThresh) {
		return 0
	}
	w := time.Duration(o.minRTT) >> uint(c.shard.cfg.RackReorderThresh) * time.Duration(max(o.mult, 1))
	if c.srtt > 0 {
		w = min(w, c.srtt)
	}
	return w
}

// rackDSACK takes a D-SACK block [l, r): the receiver got those bytes
// twice. One per round trip grows the reordering window (RFC 8985 6.2
// step 4); one for bytes sent again lately was a spurious retransmission.
func (c *Conn) rackDSACK(l, r flow.Seq) {
	s := c.shard
	s.stats[StatDSACKCount]++
	s.stats[StatDSACKBytes] += uint64(r.Sub(l))
	if t := &c.tlp; t.active && t.retrans && r == t.end {
		s.stats[StatDSACKTLPBytes] += uint64(r.Sub(l))
		t.dsacked = true // the probe and what it probed both arrived
	}
	if c.rk == nil {
		return // nothing in flight: nothing sent again lately either
	}
	k := &c.rk.rack
	if k.wasRexmitted(l) {
		// A retransmission arrived after the original: it was not needed
		// (the original was late, not lost: that is reordering).
		s.stats[StatSndRexmitBad]++
		c.reorderingSeen()
		c.undoDSACK(l, r)
	}
	if k.dsackRound && c.sndUna.GEQ(k.dsackEnd) {
		k.dsackRound = false
	}
	if !k.dsackRound {
		k.dsackRound, k.dsackEnd = true, c.sndMax
		c.reo.mult = min(max(c.reo.mult, 1)+1, maxReoWndMult)
		c.reo.persist = reoWndPersist
	}
}

// reorderingSeen notes that the path reorders (RACK.reordering_seen).
func (c *Conn) reorderingSeen() {
	if !c.reo.seen {
		c.shard.stats[StatRackReorder]++
	}
	c.reo.seen = true
}

// rackDetectLoss is RFC 8985 6.2 step 5: it marks lost every segment sent
// before RACK's segment that is still missing RACK.rtt plus the reordering
// window after it was sent, and returns when the next one would be (0 when
// none waits).
func (c *Conn) rackDetectLoss() time.Duration {
	if c.rk == nil {
		return 0
	}
	k, m := &c.rk.rack, &c.rk.txm
	if k.xmit == 0 || m.nSACK == 0 && !c.inRecovery {
		// Without SACKed data outside recovery everything sent before
		// RACK's segment was acknowledged with it.
		return 0
	}
	now := c.shard.now
	reo := c.rackReoWnd()
	var wait time.Duration
	for i := 0; i < m.n; i++ {
		r := m.at(i)
		if r.flags&(txSACKed|txLost) != 0 || !rackSentAfter(k.xmit, k.endSeq, r.xmit, r.end) {
			continue
		}
		left := r.xmit.Add(k.rtt + reo).Sub(now)
		if left > 0 {
			wait = max(wait, left)
			continue
		}
		r.flags |= txLost
		m.lost += r.end.Sub(r.start)
		if r.flags&txRetrans != 0 {
			c.shard.stats[StatSACKLostRexmt]++
		}
	}
	return wait
}

// rackPipe is the pipe with RACK: what was sent and is neither SACKed nor
// deemed lost (RFC 6675's pipe with RACK as its IsLost), or with
// rfc6675_pipe off, FreeBSD's older estimate: the flight less the SACKed
// bytes, plus what recovery sent again.
func (c *Conn) rackPipe() uint32 {
	f := c.inFlight()
	if c.rk == nil {
		return f
	}
	m := &c.rk.txm
	if !c.shard.cfg.RFC6675Pipe {
		return f - min(f, m.sacked) + c.rk.rack.rexmitBytes
	}
	return f - min(f, m.sacked+m.lost)
}

// rackOnAck runs after an ACK's cumulative and selective parts were taken
// (RFC 8985 6.2 and 7.4, RFC 6937): the probe's outcome, loss detection,
// recovery and how much it may send, the retransmissions, and the timer.
// delivered is what the ACK newly acknowledged or SACKed; dupNoSACK says it
// was a duplicate ACK carrying no SACK information.
func (c *Conn) rackOnAck(delivered uint32, advanced, dupNoSACK bool) {
	s := c.shard
	if c.frto != frtoNone {
		c.frtoAck(advanced)
	}
	if c.tlp.active && c.sndUna.GEQ(c.tlp.end) {
		c.tlpAck(dupNoSACK)
	}
	if c.rk == nil {
		// Everything sent is acknowledged.
		if c.rexmtMode == rexmtReorder {
			c.rexmtMode = rexmtRTO
		}
		return
	}
	k := &c.rk.rack
	wait := c.rackDetectLoss()
	if c.rk.txm.lost > 0 && !c.inRecovery {
		c.rackEnterRecovery()
	}
	if c.inRecovery {
		k.prrDelivered += delivered
		c.prrUpdate(delivered)
		c.rackRetransmit()
	}
	if wait > 0 && c.sndUna != c.sndMax {
		c.rexmtMode = rexmtReorder
		c.armTimer(timerRexmt, s.now.Add(max(wait, timerTick)))
	} else if c.rexmtMode == rexmtReorder {
		c.armRexmt()
	}
}

// tlpAck is RFC 8985 7.4.2 for an ACK at or past the probe's end: what it
// says of the probe. A probe of new data needs nothing more (RACK sees its
// delivery). A probe that sent the last segment again arrived with the
// original when a D-SACK reports it, or when the ACK is a pure duplicate
// at the probe's end (the probe's own ACK); when the ACK moves past the
// probe's end with neither seen first, the probe repaired a loss, which
// congestion control hears of. An ACK that reaches exactly the probe's end
// leaves the question to the next one.
func (c *Conn) tlpAck(dup bool) {
	t := &c.tlp
	switch {
	case !t.retrans || t.dsacked || dup && c.sndUna == t.end:
		*t = tlpState{}
	case c.sndUna.GT(t.end):
		*t = tlpState{}
		c.shard.stats[StatTLPRecovered]++
		if !c.inRecovery && !c.inCWR && c.sndUna.GEQ(c.recover) {
			c.ssthresh = c.cc.OnCongestion(c)
			c.cwnd = c.ssthresh
			c.recover = c.sndMax
		}
	}
}

// rackEnterRecovery starts fast recovery once RACK deemed a segment lost:
// a new congestion event unless it lies in the window of the last one.
func (c *Conn) rackEnterRecovery() {
	s := c.shard
	k := &c.rk.rack
	if c.sndUna.GEQ(c.recover) {
		c.startUndo()
		c.ssthresh = c.lossSsthresh()
		s.stats[StatSACKRecoveryEpisode]++
	}
	c.frto = frtoNone // losses: the timeout, if any, was real
	c.recover = c.sndMax
	c.inRecovery = true
	c.tlp = tlpState{}
	// After a timeout snd_nxt may have gone back (go-back-N): RACK now says
	// what is lost and rackRetransmit resends it; output sends new data.
	c.sndNxt = c.sndMax
	k.prrDelivered, k.prrOut, k.rexmitBytes = 0, 0, 0
	k.recoverFS = max(c.inFlight(), 1) // RecoverFS: the flight when it began
}

// rackExitRecovery ends recovery once snd_una reached recover.
func (c *Conn) rackExitRecovery() {
	o := &c.reo
	c.cwnd = c.ssthresh
	c.inRecovery = false
	c.dupAcks = 0
	if o.persist > 0 {
		o.persist--
		if o.persist == 0 {
			o.mult = 1
		}
	}
}

// prrUpdate is RFC 6937's per-ACK step: cwnd becomes the pipe plus what
// may be sent now. Without PRR (do_prr 0) cwnd is ssthresh throughout, as
// RFC 6675.
func (c *Conn) prrUpdate(delivered uint32) {
	s := c.shard
	k := &c.rk.rack
	if !s.cfg.DoPRR {
		c.cwnd = c.ssthresh
		return
	}
	mss := uint32(c.mss)
	pipe := c.rackPipe()
	var sndcnt int64
	if pipe > c.ssthresh {
		// Proportional rate reduction.
		num := uint64(k.prrDelivered)*uint64(c.ssthresh) + uint64(k.recoverFS) - 1
		sndcnt = int64(num/uint64(k.recoverFS)) - int64(k.prrOut)
	} else {
		limit := int64(k.prrDelivered) - int64(k.prrOut)
		if !s.cfg.PRRConservative {
			// Slow start reduction bound: as slow start would, at most
			// one segment more than what was delivered.
			limit = max(limit, int64(delivered)) + int64(mss)
		}
		sndcnt = min(int64(c.ssthresh-pipe), limit)
	}
	if k.prrOut == 0 {
		// The first retransmission goes whatever the ratio (the fast
		// retransmit of RFC 6937's successor, as Linux does).
		sndcnt = max(sndcnt, int64(mss))
	}
	sndcnt = max(sndcnt, 0)
	c.cwnd = pipe + uint32(sndcnt)
}

// rackRetransmit sends the segments deemed lost, oldest first, while the
// pipe is under cwnd.
func (c *Conn) rackRetransmit() {
	s := c.shard
	m := &c.rk.txm
	for i := 0; i < m.n && m.lost > 0; i++ {
		r := m.at(i)
		if r.flags&txLost == 0 {
			continue
		}
		for start := r.start; start.LT(r.end); {
			n, fin := c.resendPiece(start, r.end)
			if n == 0 && !fin {
				break
			}
			if p := c.rackPipe(); p >= c.cwnd || c.cwnd-p < uint32(max(n, 1)) {
				return
			}
			if !c.resend(start, n, fin) {
				c.noFrame() // still lost: sent from the next ACK, or the RTO
				return
			}
			s.stats[StatSACKRexmits]++
			s.stats[StatSACKRexmitBytes] += uint64(n)
			start = start.Add(uint32(n))
			if fin {
				start++
			}
		}
	}
}

// resendPiece returns what one segment sent again from start carries
// within [start, end): n data bytes, and the FIN when it lies there.
func (c *Conn) resendPiece(start, end flow.Seq) (n int, fin bool) {
	off := int(start.Sub(c.sndUna))
	n = max(min(int(end.Sub(start)), c.segSize(), c.snd.n-off), 0)
	fin = c.finQueued && start.Add(uint32(n)) == c.finSeq && end.GT(c.finSeq) && c.sndMax.GT(c.finSeq)
	return n, fin
}

// resend sends n bytes from start again (and the FIN after them), counts
// them and stops the RTT timing (Karn). It reports false for want of a
// frame.
func (c *Conn) resend(start flow.Seq, n int, fin bool) bool {
	flags := FlagACK
	if fin {
		flags |= FlagFIN
	}
	if !c.emit(start, n, flags) {
		return false
	}
	s := c.shard
	if n > 0 {
		s.stats[StatSndRexmitPack]++
		s.stats[StatSndRexmitByte] += uint64(n)
	}
	c.rtTime = 0
	return true
}

// rackTimeout is the reordering timer's expiry (RFC 8985 6.3): segments
// waited out their reordering window are lost now.
func (c *Conn) rackTimeout() {
	c.shard.stats[StatRackReoTimeo]++
	c.rexmtMode = rexmtRTO
	if c.rk == nil {
		return
	}
	wait := c.rackDetectLoss()
	if c.rk.txm.lost > 0 && !c.inRecovery {
		c.rackEnterRecovery()
	}
	if c.inRecovery {
		c.prrUpdate(0)
		c.rackRetransmit()
		c.output()
	}
	if wait > 0 && c.sndUna != c.sndMax {
		c.rexmtMode = rexmtReorder
		c.armTimer(timerRexmt, c.shard.now.Add(max(wait, timerTick)))
		return
	}
	if c.sndUna != c.sndMax {
		c.armRexmt()
	}
}

// probeRexmit reports whether a probe sends the last segment again though
// new data could go (rack.tlp.probe_rexmit): a receiver answers a
// duplicate at once, where it may hold its ACK of one new in-order
// segment for its delayed-ACK time. (Keeping new data for probes in
// recovery, whose SACK would show a lost retransmission, measured slower:
// docs/benchmarks.md.)
func (c *Conn) probeRexmit() bool {
	return c.shard.cfg.RackTLPProbeRexmit && c.rk != nil && c.rk.txm.n > 0
}

// rackProbe is the probe timeout's expiry with RACK (RFC 8985 7.3): one
// segment of new data if the windows allow it (only with
// rack.tlp.probe_rexmit off), else the last segment sent again; then the
// RTO.
func (c *Conn) rackProbe() {
	s := c.shard
	seg := c.segSize()
	off := int(c.sndMax.Sub(c.sndUna))
	sent, retrans := false, false
	if avail := c.snd.n - off; avail > 0 && c.sndNxt == c.sndMax && c.sndWnd > c.inFlight() && !c.probeRexmit() {
		n := min(avail, seg, int(c.sndWnd-c.inFlight()))
		flags := FlagACK
		if n == avail {
			flags |= FlagPSH
		}
		if c.emit(c.sndMax, n, flags) {
			s.stats[StatSndPack]++
			s.stats[StatSndByte] += uint64(n)
			if c.rtTime == 0 {
				c.rtSeq, c.rtTime = c.sndMax, s.now
			}
			c.sndMax = c.sndMax.Add(uint32(n))
			c.sndNxt = c.sndMax
			sent = true
		} else {
			s.stats[StatSndNoFrame]++
		}
	} else if c.rk != nil && c.rk.txm.n > 0 {
		// The last segment again: the last record's last segment-size
		// piece.
		r := c.rk.txm.at(c.rk.txm.n - 1)
		start := r.start
		if l := r.end.Sub(start); l > uint32(seg)+1 {
			start = r.end.Add(-uint32(seg))
		}
		if n, fin := c.resendPiece(start, r.end); n > 0 || fin {
			if c.resend(start, n, fin) {
				sent, retrans = true, true
			} else {
				s.stats[StatSndNoFrame]++
			}
		}
	}
	if sent {
		s.stats[StatTLP]++
		c.tlp = tlpState{active: true, retrans: retrans, end: c.sndMax}
	}
	c.rexmtMode = rexmtRTO
	if c.sndUna != c.sndMax {
		c.armTimer(timerRexmt, s.now.Add(c.rto))
	}
}

// rackRTO is what a retransmission timeout does to RACK's state: what was
// SACKed is forgotten with the scoreboard, the probe's episode ends, and
// go-back-N resends from snd_una.
func (c *Conn) rackRTO() {
	c.tlp = tlpState{}
	if c.rk == nil {
		return
	}
	m := &c.rk.txm
	for i := 0; i < m.n; i++ {
		m.unmark(m.at(i))
	}
	c.rk.rack.rexmitBytes = 0
}

// ptoFor returns the probe timeout (RFC 8985 7.2): two smoothed round trips
// (at least tlpminto), plus the receiver's longest ACK delay when a lone
// segment is in flight.
func (c *Conn) ptoFor() time.Duration {
	pto := max(2*c.srtt, c.shard.cfg.RackTLPMinTO)
	if c.inFlight() <= uint32(c.mss) {
		pto += wcDelAckT
	}
	return pto
}

// undoState is what a congestion window reduction took, kept so that it
// can be given back when every retransmission it led to proves spurious
// (Linux's undo; RFC 2883 and RFC 5682 say how that is seen).
type undoState struct {
	cwnd, ssthresh uint32   // before the reduction
	marker         flow.Seq // snd_una when it began: D-SACKs at or above it count
	retrans        uint16   // retransmissions since not yet reported twice by a D-SACK
	on             bool
}

// startUndo notes a reduction about to be made (a recovery episode or a
// timeout), before cwnd and ssthresh change.
func (c *Conn) startUndo() {
	c.undo = undoState{cwnd: c.cwnd, ssthresh: c.ssthresh, marker: c.sndUna, on: true}
}

// undoDSACK takes a D-SACK block [l, r) for a retransmission into the
// reduction's account: when it reports the last of the episode's
// retransmissions as received twice, none was needed and the reduction is
// taken back.
func (c *Conn) undoDSACK(l, r flow.Seq) {
	u := &c.undo
	if !u.on || u.retrans == 0 || l.LT(u.marker) {
		return
	}
	n := max(r.Sub(l)/uint32(max(c.segSize(), 1)), 1)
	u.retrans -= uint16(min(n, uint32(u.retrans)))
	if u.retrans == 0 {
		c.undoReduction()
	}
}

// undoReduction gives back the last reduction: cwnd and ssthresh as they
// were before it, and recovery ends (nothing was lost).
func (c *Conn) undoReduction() {
	u := &c.undo
	c.cwnd = max(c.cwnd, u.cwnd)
	c.ssthresh = max(c.ssthresh, u.ssthresh)
	u.on = false
	c.shard.stats[StatCwndUndo]++
	if c.inRecovery {
		c.inRecovery = false
		c.dupAcks = 0
		if c.rk != nil {
			m := &c.rk.txm
			for i := 0; i < m.n && m.lost > 0; i++ {
				if r := m.at(i); r.flags&txLost != 0 {
					m.lost -= r.end.Sub(r.start)
					r.flags &^= txLost
				}
			}
		}
	}
}

// F-RTO steps (Conn.frto).
const (
	frtoNone      uint8 = iota
	frtoFirstAck        // the timeout's retransmission went: wait for the next new ACK
	frtoSecondAck       // two new segments went: the next ACK tells
)

// frtoAck is RFC 5682's steps 2 and 3, run for each ACK after a timeout
// while F-RTO is on: advanced says the ACK moved snd_una. A new ACK after
// the retransmission sends two segments of new data instead of going back
// to resend what may not be lost; if the ACK after them also acknowledges
// new data, segments that were never sent again were delivered: the
// timeout was spurious and its reduction is taken back. A duplicate ACK
// there, or no new data to send, falls back to the conventional recovery.
func (c *Conn) frtoAck(advanced bool) {
	s := c.shard
	switch c.frto {
	case frtoFirstAck:
		if !advanced {
			return // wait for the new ACK
		}
		if c.sndUna.GEQ(c.recover) {
			c.frto = frtoNone // everything outstanding at the timeout arrived
			return
		}
		off := int(c.sndMax.Sub(c.sndUna))
		if c.snd.n-off < c.segSize() || c.sndWnd < c.inFlight()+2*uint32(c.segSize()) {
			c.frto = frtoNone // no new data to probe with: conventional
			return
		}
		c.frto = frtoSecondAck
		c.sndNxt = c.sndMax
		for i := 0; i < 2; i++ {
			// At most what the send buffer holds beyond snd_max: one
			// segment of new data may be all there is.
			n := min(c.segSize(), c.snd.n-int(c.sndMax.Sub(c.sndUna)))
			if n <= 0 {
				break
			}
			if !c.emit(c.sndMax, n, FlagACK) {
				c.noFrame()
				break
			}
			s.stats[StatSndPack]++
			s.stats[StatSndByte] += uint64(n)
			c.sndMax = c.sndMax.Add(uint32(n))
			c.sndNxt = c.sndMax
		}
	case frtoSecondAck:
		c.frto = frtoNone
		if advanced {
			s.stats[StatRexmtTimeoSpurious]++
			c.rexmits = 0
			c.undoReduction()
			return
		}
		// A duplicate: the timeout was real. Back to go-back-N from snd_una
		// with at most three segments' worth of window (RFC 5682 2.1 3a).
		c.sndNxt = c.sndUna
		c.cwnd = min(c.cwnd, 3*uint32(c.segSize()))
	}
}
