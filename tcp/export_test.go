package tcp

import (
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Test-only views of a connection's and a shard's internals. The state,
// timer and fuzz tests read the stack's fields through these and nowhere
// else, so a renamed field is fixed here once.

// connView is a snapshot of a connection's sequence spaces and buffers.
type connView struct {
	State                       State
	ISS, SndUna, SndNxt, SndMax flow.Seq
	SndWnd                      uint32
	IRS, RcvNxt, RcvAdv         flow.Seq
	RTO                         time.Duration
	SndQueued, SndCap           int      // bytes in the send buffer, its size
	RcvQueued, RcvCap           int      // in-order unread bytes, the receive buffer's size
	ReasEnd                     flow.Seq // end of the furthest out-of-order range (RcvNxt when none)
	ReasRanges                  int
	FinQueued, FinRcvd          bool
	TSOK                        bool
	TSRecent                    uint32
	RcvScale, SndScale          uint8
	MSS                         int
	PersistArmed                bool
	RexmtArmed                  bool
	KeepAt                      mono.Time // keepalive/keepinit deadline, 0 when not armed
	TwoMSLAt                    mono.Time // 2MSL / FIN_WAIT_2 deadline, 0 when not armed
}

func viewOf(c *Conn) connView {
	v := connView{
		State: c.state, ISS: c.iss, SndUna: c.sndUna, SndNxt: c.sndNxt, SndMax: c.sndMax,
		SndWnd: c.sndWnd, IRS: c.irs, RcvNxt: c.rcvNxt, RcvAdv: c.rcvAdv, RTO: c.rto,
		SndQueued: c.snd.n, SndCap: c.snd.cap(), RcvQueued: c.rcv.n, RcvCap: c.rcv.cap(),
		ReasEnd: c.rcvNxt, ReasRanges: c.reas.n,
		FinQueued: c.finQueued, FinRcvd: c.finRcvd, TSOK: c.tsOK, TSRecent: c.tsRecent,
		RcvScale: c.rcvScale, SndScale: c.sndScale, MSS: c.mss,
		PersistArmed: c.timers[timerPersist] != 0, RexmtArmed: c.timers[timerRexmt] != 0,
		KeepAt: c.timers[timerKeep], TwoMSLAt: c.timers[timer2MSL],
	}
	for i := 0; i < c.reas.n; i++ {
		v.ReasEnd = v.ReasEnd.Max(c.reas.ranges[i].end)
	}
	return v
}

// tableConns returns the connections in the shard's table.
func tableConns(s *Shard) []*Conn {
	cs := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// tableConn returns the connection the shard holds for t, or nil.
func tableConn(s *Shard, t flow.Tuple) *Conn { return s.conns[t] }

// rawStateCounts returns the shard's per-state counters as kept (StateCounts
// replaces LISTEN with the number of listeners).
func rawStateCounts(s *Shard) [NumStates]int { return s.stateCount }

// setSender replaces the shard's Sender.
func setSender(s *Shard, snd Sender) { s.send = snd }

// twView is what the shard's TIME_WAIT table keeps for a 4-tuple.
type twView struct {
	SndNxt, RcvNxt flow.Seq
	Window         uint16
	TSOK           bool
	TSRecent       uint32
	ExpiresAt      mono.Time // when its 2MSL ends
}

// timeWaitOf returns the TIME_WAIT entry the shard keeps for t.
func timeWaitOf(s *Shard, t flow.Tuple) (twView, bool) {
	r, ok := s.tw.Lookup(&t)
	if !ok {
		return twView{}, false
	}
	st := s.tw.Get(r)
	return twView{SndNxt: flow.Seq(st.SndNxt), RcvNxt: flow.Seq(st.RcvNxt), Window: st.Window, TSOK: st.TS,
		TSRecent: st.TSRecent, ExpiresAt: s.tw.Expiry(r)}, true
}

// stateOf is the state of connection c, which was on t: TIME_WAIT once the
// shard keeps a TIME_WAIT entry for t (the Conn itself is then closed and
// freed; it must not have been reused since).
func stateOf(s *Shard, c *Conn, t flow.Tuple) State {
	if c.State() == Closed && s.InTimeWait(&t) {
		return TimeWait
	}
	return c.State()
}
