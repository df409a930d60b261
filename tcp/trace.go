package tcp

import (
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Per-connection tracing, as FreeBSD's siftr(4): with a Tracer set, the
// shard fills one TraceRecord for every ACK a connection processes, every
// state change and every retransmission timeout, and hands it to the
// Tracer. The record is the shard's own (nothing is allocated); the Tracer
// copies what it keeps before it returns.

// TraceEvent says what made a trace record.
type TraceEvent uint8

// Trace events.
const (
	TraceAck   TraceEvent = 1 + iota // an acceptable ACK was processed
	TraceState                       // the connection changed state (State is the new one)
	TraceRTO                         // the retransmission timer expired with data in flight
	NumTraceEvents
)

var traceEventNames = [NumTraceEvents]string{TraceAck: "ack", TraceState: "state", TraceRTO: "rto"}

func (e TraceEvent) String() string {
	if e == 0 || e >= NumTraceEvents {
		return "unknown"
	}
	return traceEventNames[e]
}

// CCState is a connection's congestion control state, in Linux's terms
// (tcp_ca_state): what the sender is doing about loss and congestion.
type CCState uint8

// Congestion control states.
const (
	CCOpen     CCState = iota // nothing amiss
	CCDisorder                // duplicate ACKs or SACKed data, no loss deemed yet
	CCCWR                     // cwnd reduced for an ECN echo (RFC 3168)
	CCRecovery                // fast recovery (RACK-TLP, RFC 6675 or NewReno)
	CCLoss                    // after a retransmission timeout, until what was in flight then is acknowledged
	NumCCStates
)

var ccStateNames = [NumCCStates]string{"open", "disorder", "cwr", "recovery", "loss"}

func (s CCState) String() string {
	if s >= NumCCStates {
		return "unknown"
	}
	return ccStateNames[s]
}

// TraceRecord is one entry of a connection's trace: the congestion state
// after the event.
type TraceRecord struct {
	Time   mono.Time  // the shard's clock
	Tuple  flow.Tuple // the connection from our side
	Event  TraceEvent
	State  State
	CC     CCState
	Flags  uint8 // TraceECN...: what the connection agreed on
	Cwnd   uint32
	Ssth   uint32 // ssthresh
	SRTT   time.Duration
	RTTVar time.Duration
	RTO    time.Duration
	Pipe   uint32 // bytes in flight (RFC 6675's pipe with SACK)
	SndUna flow.Seq
	SndNxt flow.Seq
	SndMax flow.Seq
	SndWnd uint32 // the peer's window
	Sacked uint32 // bytes above snd_una the receiver SACKed
	Lost   uint32 // bytes deemed lost and not yet sent again (RACK)
	Rexmit uint32 // segments the connection retransmitted so far
	MSS    uint16
}

// Trace record flags.
const (
	TraceSACK uint8 = 1 << iota // SACK agreed
	TraceTS                     // timestamps agreed
	TraceECN                    // ECN agreed (RFC 3168)
)

// Tracer takes a shard's trace records. Trace is called on the shard's
// core, on the packet path: it must not block or allocate, and it returns
// false when it could not keep the record (counted as trace_dropped).
type Tracer interface {
	Trace(r *TraceRecord) bool
}

// SetTracer makes the shard trace its connections into t (nil stops).
// Owner only.
func (s *Shard) SetTracer(t Tracer) { s.tracer = t }

// trace records the connection's state for event ev when tracing is on.
func (c *Conn) trace(ev TraceEvent) {
	s := c.shard
	if s == nil || s.tracer == nil {
		return
	}
	r := &s.traceRec
	*r = TraceRecord{Time: s.now, Tuple: c.tuple, Event: ev, State: c.state, CC: c.ccState(),
		Cwnd: c.cwnd, Ssth: c.ssthresh, SRTT: c.srtt, RTTVar: c.rttvar, RTO: c.rto,
		SndUna: c.sndUna, SndNxt: c.sndNxt, SndMax: c.sndMax, SndWnd: c.sndWnd,
		Rexmit: c.rexmitSegs, MSS: uint16(min(c.mss, 0xffff))}
	if c.state.synchronized() {
		r.Pipe = c.pipe()
	}
	if c.rk != nil {
		r.Sacked, r.Lost = c.rk.txm.sacked, c.rk.txm.lost
	} else {
		r.Sacked = c.sb.bytes
	}
	if c.sackOK {
		r.Flags |= TraceSACK
	}
	if c.tsOK {
		r.Flags |= TraceTS
	}
	if c.ecnOK {
		r.Flags |= TraceECN
	}
	if s.tracer.Trace(r) {
		s.stats[StatTraceRecords]++
	} else {
		s.stats[StatTraceDropped]++
	}
}

// ccState is the connection's congestion control state for its trace.
func (c *Conn) ccState() CCState {
	switch {
	case c.inRecovery:
		return CCRecovery
	case c.inLoss:
		return CCLoss
	case c.inCWR:
		return CCCWR
	case c.dupAcks > 0 || c.rackSACKed() > 0 || c.sb.bytes > 0:
		return CCDisorder
	}
	return CCOpen
}
