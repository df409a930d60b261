package tw

import (
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// TCP header flags, as on the wire (RFC 9293 3.1).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

// Segment is what the rules need of a segment that found an entry.
type Segment struct {
	Seq, Ack flow.Seq
	Flags    uint8 // the header's flag bits (FlagFIN...)
	Len      int   // payload bytes
	HasTS    bool  // it carries a timestamp option
	TSVal    uint32
}

// Rule is the rule that decided what happens to a segment.
type Rule uint8

// The rules, in the order Decide applies them.
const (
	RuleNone   Rule = iota
	RuleRST         // 1: a RST is ignored (RFC 1337); the entry stays
	RulePAWS        // 2: a timestamp older than ts_recent (RFC 7323 PAWS): ACK, drop
	RuleReopen      // 3: a SYN RFC 6191 allows: the entry ends, the SYN goes to the listener
	RuleSYN         // 3: any other SYN: ACK (RFC 9293 3.10.7.4); the entry stays
	RuleNoACK       // 4: no ACK flag: drop
	RuleFIN         // 5: the peer's FIN again: ACK, restart 2MSL
	RuleACK         // 6: anything but a pure duplicate ACK: ACK
	RuleDupACK      // 6: a pure duplicate ACK: drop
)

var ruleNames = [...]string{RuleNone: "none", RuleRST: "1-rst", RulePAWS: "2-paws",
	RuleReopen: "3-reopen", RuleSYN: "3-syn", RuleNoACK: "4-noack", RuleFIN: "5-fin",
	RuleACK: "6-ack", RuleDupACK: "6-dupack"}

func (r Rule) String() string {
	if int(r) >= len(ruleNames) {
		return "invalid"
	}
	return ruleNames[r]
}

// Decide applies the TIME_WAIT rules (FreeBSD's tcp_twcheck, improved) to
// seg, which found the entry st; listening says a listener would take a
// new connection on the 4-tuple. In order:
//
//  1. RST: ignored, the entry stays (RFC 1337: TIME-WAIT assassination).
//  2. PAWS, when timestamps were in use: a segment whose TSval is older
//     than ts_recent gets an ACK and is dropped (RFC 7323 5.3).
//  3. SYN: a SYN without ACK opens a new connection on the 4-tuple when
//     RFC 6191 allows it: its timestamp is newer than ts_recent; or — the
//     old connection had no timestamps, the SYN carries none, or its
//     timestamp is from the same tick as ts_recent — its sequence number
//     lies above rcv_nxt (RFC 1122 4.2.2.13). The caller then ends the
//     entry's life and hands the SYN to the listener with an ISN above
//     snd_nxt. Any other SYN gets an ACK and the entry stays (RFC 9293
//     3.10.7.4, RFC 5961 4).
//  4. No ACK flag: dropped.
//  5. The peer's FIN again (its ACK of our FIN was lost): ACK it and
//     restart 2MSL (RFC 9293 3.10.7.4, eighth step).
//  6. Anything else that is not a pure duplicate ACK (ACK alone, no data,
//     SEQ=rcv_nxt, ACK=snd_nxt) gets an ACK carrying snd_nxt, rcv_nxt, the
//     last window and, with timestamps, ts_recent as the echo.
//
// RFC 6191 would honour a SYN with timestamps when the old connection had
// none, counting on RFC 7323 3.2's dropping of segments without timestamps
// to keep old duplicates out of the new connection; tcp does not drop them,
// so the sequence number decides there too. Where RFC 6191 silently drops a
// SYN it refuses, the entry answers with an ACK as RFC 9293 asks.
//
// Decide is pure: Table.Input applies its verdict.
func Decide(st *State, seg *Segment, listening bool) Rule {
	f := seg.Flags
	switch {
	case f&FlagRST != 0:
		return RuleRST
	case st.TS && seg.HasTS && flow.Seq(seg.TSVal).LT(flow.Seq(st.TSRecent)):
		return RulePAWS
	case f&FlagSYN != 0:
		if f&FlagACK == 0 && listening && reopenable(st, seg) {
			return RuleReopen
		}
		return RuleSYN
	case f&FlagACK == 0:
		return RuleNoACK
	case f&FlagFIN != 0 && seg.Seq.Add(uint32(seg.Len)+1) == flow.Seq(st.RcvNxt):
		return RuleFIN
	case f&(FlagFIN|FlagSYN|FlagRST|FlagPSH|FlagACK|FlagURG) == FlagACK && seg.Len == 0 &&
		seg.Seq == flow.Seq(st.RcvNxt) && seg.Ack == flow.Seq(st.SndNxt):
		return RuleDupACK
	}
	return RuleACK
}

// reopenable is rule 3's test (RFC 6191 with RFC 1122 4.2.2.13).
func reopenable(st *State, seg *Segment) bool {
	if ts, recent := flow.Seq(seg.TSVal), flow.Seq(st.TSRecent); st.TS && seg.HasTS && ts != recent {
		return ts.GT(recent)
	}
	return seg.Seq.GT(flow.Seq(st.RcvNxt))
}

// Action is what the caller does after Input.
type Action uint8

// Actions.
const (
	// Drop: send nothing.
	Drop Action = iota
	// SendACK: send <SEQ=SndNxt><ACK=RcvNxt><CTL=ACK> with the window
	// field Window and, when TS is set, a timestamp option with the
	// connection's clock and TSecr=TSRecent.
	SendACK
	// Reopen: the entry is gone; hand the SYN to the listener, whose new
	// connection must take an ISN above SndNxt.
	Reopen
)

// Reply is Input's verdict and the entry's state (as it was before a
// Reopen removed it).
type Reply struct {
	Action Action
	Rule   Rule
	State
}

// Input applies the rules (see Decide) to seg, which found the entry r, at
// now: it moves the counters, restarts 2MSL on a retransmitted FIN, removes
// the entry on a reopening SYN and limits the ACKs of rules 2, 3 and 6 to
// the table's ACKLimit per second (rule 5's ACK is not limited: the peer
// needs it to leave LAST_ACK, and an off-path sender cannot guess the
// FIN's sequence number). It does not allocate.
func (t *Table) Input(r Ref, seg *Segment, listening bool, now mono.Time) Reply {
	rep := Reply{State: t.Get(r)}
	rep.Rule = Decide(&rep.State, seg, listening)
	switch rep.Rule {
	case RuleRST:
		t.stats[RSTIgnored]++
	case RulePAWS:
		t.stats[PAWSDropped]++
		rep.Action = t.ack(now)
	case RuleReopen:
		t.Remove(r)
		t.stats[Reopened]++
		rep.Action = Reopen
	case RuleSYN, RuleACK:
		rep.Action = t.ack(now)
	case RuleFIN:
		t.Rearm(r, now)
		t.stats[FINRearmed]++
		t.stats[Responds]++
		rep.Action = SendACK
	}
	return rep
}

// ack decides whether a rate-limited ACK may go now.
func (t *Table) ack(now mono.Time) Action {
	if t.ackLimit > 0 {
		sec := now.Div(time.Second)
		if sec != t.ackSec {
			t.ackSec, t.ackCount = sec, 0
		}
		if t.ackCount >= t.ackLimit {
			t.stats[RateLimited]++
			return Drop
		}
		t.ackCount++
	}
	t.stats[Responds]++
	return SendACK
}
