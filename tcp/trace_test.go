package tcp

import "testing"

// traceLog keeps the records a shard traces; full refuses them.
type traceLog struct {
	recs []TraceRecord
	full bool
}

func (l *traceLog) Trace(r *TraceRecord) bool {
	if l.full {
		return false
	}
	l.recs = append(l.recs, *r)
	return true
}

// A connection's trace: its state changes, a record per ACK, and after a
// retransmission timeout an RTO record in the loss state, which lasts
// until what was in flight then is acknowledged. A tracer that refuses
// records has them counted as dropped.
func TestTraceRecordsStatesACKsAndLoss(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	log := &traceLog{}
	p.s.SetTracer(log)
	c := p.open()
	var states []State
	for _, r := range log.recs {
		if r.Event == TraceState {
			states = append(states, r.State)
		}
	}
	if len(states) != 2 || states[0] != SynReceived || states[1] != Established {
		t.Fatalf("state records %v, want SYN_RCVD, ESTABLISHED", states)
	}
	c.Write(make([]byte, 4*1448))
	p.take()
	n := len(log.recs)
	p.advance(c.rto + c.rto) // the probe, then the timeout
	var rto *TraceRecord
	for i := n; i < len(log.recs); i++ {
		if log.recs[i].Event == TraceRTO {
			rto = &log.recs[i]
			break
		}
	}
	if rto == nil || rto.CC != CCLoss || rto.Cwnd != uint32(c.segSize()) || rto.Tuple != p.tuple || rto.Rexmit == 0 {
		t.Fatalf("RTO record %+v", rto)
	}
	p.take()
	n = len(log.recs)
	p.ack() // everything
	if len(log.recs) != n+1 {
		t.Fatalf("%d records for one ACK", len(log.recs)-n)
	}
	if r := log.recs[n]; r.Event != TraceAck || r.CC != CCOpen || r.SndUna != c.sndMax || r.Pipe != 0 || r.Flags&TraceTS == 0 {
		t.Fatalf("ACK record %+v", r)
	}
	before := *p.s.Stats()
	log.full = true
	c.Write(make([]byte, 100))
	p.advance(rtt)
	p.ack()
	statsDelta(t, p.s, before, map[Stat]uint64{StatTraceDropped: 1, StatTraceRecords: 0})
}
