package tcp

import "github.com/pollstack/pollstack/mono"

// A receive batch is the segments a core takes from its ring in one turn
// of its loop. Within one, the ACK that every second full segment earns
// (RFC 9293 3.8.6.3, RFC 5681 4.2) is not sent segment by segment: the
// connection is noted, and EndBatch sends one ACK for all it received
// (unless data it sent in the meantime carried it). It is what Linux's GRO
// and FreeBSD's LRO do by merging segments before TCP sees them: a sender
// hears one cumulative ACK per batch instead of one per two segments, and
// the receiver sends a fraction of the frames. Every other ACK (a hole
// filled, data out of order, a duplicate, a window update, a FIN, a
// delayed_ack of 0) goes at once as before, and a batch is at most a ring's
// burst, so the ACK is late by one turn of the loop at most.
//
// Data written within a batch (an application answering in its Readable
// what the batch brought, a proxy forwarding from one connection to
// another) waits for the batch's end in the same way, as Linux's
// autocorking holds small writes while the device is busy: an answer
// written in pieces (a head, then a body; chunk framing around data) or
// data that arrived in several segments of one batch leaves in full
// segments, and the ACK the batch owes rides on it.

// BeginBatch starts a receive batch: until EndBatch, ACKs owed by the
// every-second-segment rule wait for its end.
func (s *Shard) BeginBatch() { s.batching = true }

// EndBatch ends the receive batch: each connection still owing an ACK from
// it sends one now.
func (s *Shard) EndBatch(now mono.Time) {
	s.batching = false
	if len(s.ackList) == 0 {
		return
	}
	s.now = now
	for i, c := range s.ackList {
		s.ackList[i] = nil
		c.inAckList = false
		if (c.ackBatch || c.outBatch) && c.shard == s && c.state.synchronized() {
			c.ackNow = c.ackNow || c.ackBatch
			c.ackBatch, c.outBatch = false, false
			c.output()
		}
		c.ackBatch, c.outBatch = false, false
	}
	s.ackList = s.ackList[:0]
}

// deferOutput notes that c has data to send at the end of the batch.
func (c *Conn) deferOutput() {
	c.outBatch = true
	if !c.inAckList {
		c.inAckList = true
		c.shard.ackList = append(c.shard.ackList, c)
	}
}

// deferAck notes that c owes an ACK at the end of the batch.
func (c *Conn) deferAck() {
	c.ackBatch = true
	if !c.inAckList {
		c.inAckList = true
		c.shard.ackList = append(c.shard.ackList, c)
	}
}
