package tw

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// The TIME_WAIT input rules (Decide, Table.Input), one test per rule, named
// after it, each checking the counters the rule moves and that no other
// counter moves. The clock is virtual: now is whatever the test says.

const (
	sndNxt   = 5000
	rcvNxt   = 9000
	tsRecent = 700_000
)

var tsState = State{SndNxt: sndNxt, RcvNxt: rcvNxt, TSRecent: tsRecent, Window: 1024, TS: true}

// ruleTable returns a table holding one entry for tuple4(1), made at t0
// with st, and the entry's 4-tuple.
func ruleTable(t *testing.T, st State, cfg Config) (*Table, flow.Tuple) {
	t.Helper()
	tb := newTable(t, cfg)
	tu := tuple4(1)
	mustInsert(t, tb, tu, st, t0)
	return tb, tu
}

// input looks tu up and applies seg at now.
func input(t *testing.T, tb *Table, tu flow.Tuple, seg Segment, listening bool, now mono.Time) Reply {
	t.Helper()
	return tb.Input(mustLookup(t, tb, tu), &seg, listening, now)
}

// wantReply checks an Input verdict.
func wantReply(t *testing.T, what string, got Reply, action Action, rule Rule) {
	t.Helper()
	if got.Action != action || got.Rule != rule {
		t.Fatalf("%s: action %d rule %v, want action %d rule %v", what, got.Action, got.Rule, action, rule)
	}
}

// wantStays checks that the entry is still there with its state and expiry.
func wantStays(t *testing.T, tb *Table, tu flow.Tuple, st State, exp mono.Time) {
	t.Helper()
	r := mustLookup(t, tb, tu)
	if got := tb.Get(r); got != st {
		t.Fatalf("entry %+v, want %+v", got, st)
	}
	if got := tb.Expiry(r); got != exp {
		t.Fatalf("entry expires at %d, want %d", got, exp)
	}
}

// Rule 1 (RFC 1337, RFC 9293 3.10.7.4 "second, check the RST bit"): a RST
// in TIME_WAIT is ignored, whatever its sequence number, ACK or timestamp;
// the entry keeps its state and its 2MSL.
func TestRule1_RSTIgnoredRFC1337(t *testing.T) {
	tb, tu := ruleTable(t, tsState, Config{})
	exp := t0.Add(2 * DefaultMSL)
	before := *tb.Stats()
	segs := []Segment{
		{Seq: rcvNxt, Flags: FlagRST},
		{Seq: rcvNxt, Ack: sndNxt, Flags: FlagRST | FlagACK},
		{Seq: rcvNxt + 1, Flags: FlagRST},
		{Seq: rcvNxt - 1, Flags: FlagRST, HasTS: true, TSVal: tsRecent - 5}, // old timestamp: still rule 1
		{Seq: rcvNxt, Flags: FlagRST | FlagSYN, HasTS: true, TSVal: tsRecent + 5},
	}
	for i, seg := range segs {
		wantReply(t, "RST", input(t, tb, tu, seg, true, t0+mono.Time(i)*1e9), Drop, RuleRST)
	}
	wantStays(t, tb, tu, tsState, exp)
	statsMoved(t, tb, before, map[Stat]uint64{RSTIgnored: uint64(len(segs))})
}

// Rule 2 (RFC 7323 5.3, PAWS): when the connection used timestamps, a
// segment whose TSval is older than ts_recent is answered with an ACK and
// dropped — a SYN too, which therefore reopens nothing. Without timestamps
// on the connection there is no PAWS.
func TestRule2_PAWSOldTimestampACKedAndDropped(t *testing.T) {
	tb, tu := ruleTable(t, tsState, Config{})
	before := *tb.Stats()
	old := []Segment{
		{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK | FlagPSH, Len: 100, HasTS: true, TSVal: tsRecent - 1},
		{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK, HasTS: true, TSVal: wrap(tsRecent - 1<<30)}, // a pure duplicate ACK, but old
		{Seq: rcvNxt + 100000, Flags: FlagSYN, HasTS: true, TSVal: tsRecent - 1},               // would reopen by its sequence number
		{Seq: rcvNxt - 1, Ack: sndNxt, Flags: FlagFIN | FlagACK, HasTS: true, TSVal: tsRecent - 1},
	}
	for _, seg := range old {
		rep := input(t, tb, tu, seg, true, t0+1e9)
		wantReply(t, "old timestamp", rep, SendACK, RulePAWS)
		if rep.State != tsState {
			t.Fatalf("the ACK would carry %+v, want %+v", rep.State, tsState)
		}
	}
	wantStays(t, tb, tu, tsState, t0.Add(2*DefaultMSL))
	statsMoved(t, tb, before, map[Stat]uint64{PAWSDropped: 4, Responds: 4})

	// The same segments on a connection without timestamps are judged by
	// the other rules.
	noTS := tsState
	noTS.TS, noTS.TSRecent = false, 0
	tb, tu = ruleTable(t, noTS, Config{})
	before = *tb.Stats()
	wantReply(t, "no timestamps, data", input(t, tb, tu, old[0], true, t0+1e9), SendACK, RuleACK)
	wantReply(t, "no timestamps, duplicate ACK", input(t, tb, tu, old[1], true, t0+1e9), Drop, RuleDupACK)
	statsMoved(t, tb, before, map[Stat]uint64{Responds: 1})
}

// Rule 3 (RFC 6191, RFC 1122 4.2.2.13, RFC 9293 3.10.7.4): a SYN opens a
// new connection on the 4-tuple when its timestamp is newer than ts_recent,
// or — no timestamps on either side, or a timestamp from the same tick —
// when its sequence number lies above rcv_nxt. The entry is gone and the
// reply carries the old snd_nxt, above which the new ISN must lie. Any
// other SYN gets an ACK and the entry stays.
func TestRule3_SYNReopensWhenRFC6191Allows(t *testing.T) {
	noTS := tsState
	noTS.TS, noTS.TSRecent = false, 0
	for _, tc := range []struct {
		name      string
		st        State
		seg       Segment
		listening bool
		reopen    bool
	}{
		{"newer timestamp, old sequence number", tsState, Segment{Seq: rcvNxt - 100, Flags: FlagSYN, HasTS: true, TSVal: tsRecent + 1}, true, true},
		{"same tick, sequence number above rcv_nxt", tsState, Segment{Seq: rcvNxt + 1, Flags: FlagSYN, HasTS: true, TSVal: tsRecent}, true, true},
		{"same tick, sequence number at rcv_nxt", tsState, Segment{Seq: rcvNxt, Flags: FlagSYN, HasTS: true, TSVal: tsRecent}, true, false},
		{"no timestamp in the SYN, sequence number above", tsState, Segment{Seq: rcvNxt + 1<<20, Flags: FlagSYN}, true, true},
		{"no timestamp in the SYN, sequence number below", tsState, Segment{Seq: rcvNxt - 1, Flags: FlagSYN}, true, false},
		{"connection without timestamps, sequence number above", noTS, Segment{Seq: rcvNxt + 1, Flags: FlagSYN, HasTS: true, TSVal: 1}, true, true},
		{"connection without timestamps, sequence number below", noTS, Segment{Seq: flow.Seq(wrap(rcvNxt - 1<<20)), Flags: FlagSYN, HasTS: true, TSVal: 1 << 31}, true, false},
		{"sequence number half the space ahead: not above", noTS, Segment{Seq: rcvNxt + 1<<31, Flags: FlagSYN}, true, false},
		{"SYN-ACK", tsState, Segment{Seq: rcvNxt + 1, Ack: sndNxt, Flags: FlagSYN | FlagACK, HasTS: true, TSVal: tsRecent + 1}, true, false},
		{"nobody listens", tsState, Segment{Seq: rcvNxt + 1, Flags: FlagSYN, HasTS: true, TSVal: tsRecent + 1}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, tu := ruleTable(t, tc.st, Config{})
			before := *tb.Stats()
			rep := input(t, tb, tu, tc.seg, tc.listening, t0+1e9)
			if rep.State != tc.st {
				t.Fatalf("reply state %+v, want %+v", rep.State, tc.st)
			}
			if tc.reopen {
				wantReply(t, "SYN", rep, Reopen, RuleReopen)
				if _, ok := tb.Lookup(&tu); ok || tb.Len() != 0 {
					t.Fatal("the entry outlived the reopening SYN")
				}
				statsMoved(t, tb, before, map[Stat]uint64{Reopened: 1})
				return
			}
			wantReply(t, "SYN", rep, SendACK, RuleSYN)
			wantStays(t, tb, tu, tc.st, t0.Add(2*DefaultMSL))
			statsMoved(t, tb, before, map[Stat]uint64{Responds: 1})
		})
	}
}

// Rule 4 (RFC 9293 3.10.7.4, "fifth, check the ACK field: if the ACK bit is
// off, drop the segment"): without ACK, nothing is sent and nothing changes.
func TestRule4_NoACKDropped(t *testing.T) {
	tb, tu := ruleTable(t, tsState, Config{})
	before := *tb.Stats()
	for _, seg := range []Segment{
		{Seq: rcvNxt - 1, Flags: FlagFIN, HasTS: true, TSVal: tsRecent}, // the FIN again, without ACK
		{Seq: rcvNxt, Flags: FlagPSH, Len: 10, HasTS: true, TSVal: tsRecent + 1},
		{Seq: rcvNxt},
	} {
		wantReply(t, "no ACK", input(t, tb, tu, seg, true, t0+5e9), Drop, RuleNoACK)
	}
	wantStays(t, tb, tu, tsState, t0.Add(2*DefaultMSL))
	statsMoved(t, tb, before, nil)
}

// Rule 5 (RFC 9293 3.10.7.4, "eighth, check the FIN bit ... TIME-WAIT:
// Remain in the TIME-WAIT state. Restart the 2 MSL time-out"): the peer's
// FIN again (with or without the data before it) is acknowledged and 2MSL
// restarts; the entry moves to the tail of the queue. These ACKs are not
// rate limited.
func TestRule5_FINRetransmissionRearms(t *testing.T) {
	tb, tu := ruleTable(t, tsState, Config{ACKLimit: 1})
	other := tuple4(2)
	mustInsert(t, tb, other, tsState, t0+5e9) // made after the first, expires before it once re-armed
	before := *tb.Stats()
	at := t0 + 10e9
	fin := Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: FlagFIN | FlagACK, HasTS: true, TSVal: tsRecent}
	wantReply(t, "retransmitted FIN", input(t, tb, tu, fin, true, at), SendACK, RuleFIN)
	wantStays(t, tb, tu, tsState, at.Add(2*DefaultMSL))
	withData := Segment{Seq: rcvNxt - 101, Ack: sndNxt, Flags: FlagFIN | FlagACK | FlagPSH, Len: 100, HasTS: true, TSVal: tsRecent}
	wantReply(t, "retransmitted data and FIN", input(t, tb, tu, withData, true, at), SendACK, RuleFIN)
	statsMoved(t, tb, before, map[Stat]uint64{FINRearmed: 2, Responds: 2})
	if tb.v4.n-tb.v4.live != 1 {
		t.Fatalf("%d tombstones after re-arming the oldest entry twice, want 1 (the head's went)", tb.v4.n-tb.v4.live)
	}
	checkIndex(t, tb, &tb.v4)

	// The queue now holds the other entry first.
	if n := tb.Expire(t0.Add(5e9+2*DefaultMSL) - 1); n != 0 {
		t.Fatalf("%d expired early", n)
	}
	if n := tb.Expire(t0.Add(5e9 + 2*DefaultMSL)); n != 1 {
		t.Fatalf("%d expired at the other entry's 2MSL, want 1", n)
	}
	if _, ok := tb.Lookup(&other); ok {
		t.Fatal("the other entry is still there")
	}
	if n := tb.Expire(at.Add(2*DefaultMSL) - 1); n != 0 {
		t.Fatal("the re-armed entry expired early")
	}
	if n := tb.Expire(at.Add(2 * DefaultMSL)); n != 1 || tb.Len() != 0 {
		t.Fatalf("the re-armed entry: %d expired, %d left", n, tb.Len())
	}

	// A FIN at another sequence number is not a retransmission: rule 6.
	tb, tu = ruleTable(t, tsState, Config{})
	bad := fin
	bad.Seq++
	wantReply(t, "FIN at rcv_nxt", input(t, tb, tu, bad, true, at), SendACK, RuleACK)
	wantStays(t, tb, tu, tsState, t0.Add(2*DefaultMSL))
}

// Rule 6 (FreeBSD tcp_twcheck, RFC 9293 3.10.7.4): anything with ACK that
// is not a pure duplicate ACK (ACK alone, no data, SEQ=rcv_nxt,
// ACK=snd_nxt) is answered with <SEQ=snd_nxt><ACK=rcv_nxt><CTL=ACK>, the
// last window and the timestamp echo; the duplicate ACK is dropped. These
// ACKs (and those of rules 2 and 3) are limited to ACKLimit per second.
func TestRule6_ACKUnlessPureDuplicateACK(t *testing.T) {
	tb, tu := ruleTable(t, tsState, Config{ACKLimit: 4})
	before := *tb.Stats()
	now := t0 + 3e9
	for _, seg := range []Segment{
		{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK | FlagPSH, Len: 1, HasTS: true, TSVal: tsRecent + 1},
		{Seq: rcvNxt + 1, Ack: sndNxt, Flags: FlagACK, HasTS: true, TSVal: tsRecent + 1},
		{Seq: rcvNxt, Ack: sndNxt + 1, Flags: FlagACK, HasTS: true, TSVal: tsRecent + 1},
		{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK | FlagPSH, HasTS: true, TSVal: tsRecent + 1},
	} {
		rep := input(t, tb, tu, seg, true, now)
		wantReply(t, "not a duplicate ACK", rep, SendACK, RuleACK)
		if rep.SndNxt != sndNxt || rep.RcvNxt != rcvNxt || rep.Window != 1024 || !rep.TS || rep.TSRecent != tsRecent {
			t.Fatalf("the ACK would carry %+v", rep.State)
		}
	}
	dup := Segment{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK, HasTS: true, TSVal: tsRecent + 1}
	wantReply(t, "duplicate ACK", input(t, tb, tu, dup, true, now), Drop, RuleDupACK)
	statsMoved(t, tb, before, map[Stat]uint64{Responds: 4})

	// The fifth ACK in the same second is not sent, nor is the ACK of a
	// refused SYN (rule 3) or of PAWS (rule 2); the next second they are.
	before = *tb.Stats()
	data := Segment{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK, Len: 10}
	syn := Segment{Seq: rcvNxt - 1, Flags: FlagSYN}
	paws := Segment{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK, HasTS: true, TSVal: 1}
	wantReply(t, "fifth ACK", input(t, tb, tu, data, true, now+999_999_999), Drop, RuleACK)
	wantReply(t, "SYN over the limit", input(t, tb, tu, syn, true, now), Drop, RuleSYN)
	wantReply(t, "PAWS over the limit", input(t, tb, tu, paws, true, now), Drop, RulePAWS)
	statsMoved(t, tb, before, map[Stat]uint64{RateLimited: 3, PAWSDropped: 1})
	before = *tb.Stats()
	wantReply(t, "the next second", input(t, tb, tu, data, true, now+1e9), SendACK, RuleACK)
	statsMoved(t, tb, before, map[Stat]uint64{Responds: 1})
	wantStays(t, tb, tu, tsState, t0.Add(2*DefaultMSL))
}

// Decide is pure: it neither reads nor writes anything but its arguments.
func TestDecideIsPure(t *testing.T) {
	st := tsState
	seg := Segment{Seq: rcvNxt + 1, Flags: FlagSYN, HasTS: true, TSVal: tsRecent + 1}
	for i := 0; i < 3; i++ {
		if r := Decide(&st, &seg, true); r != RuleReopen {
			t.Fatalf("Decide: %v", r)
		}
	}
	if st != tsState {
		t.Fatalf("Decide changed the state: %+v", st)
	}
}
