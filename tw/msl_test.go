package tw

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// After msl shrinks, entries made afterwards expire 2*(the new msl) after
// they were made, ahead of the older entries, which keep their own expiry;
// both families, and lookups, find entries of either generation.
func TestShorterMSLNewEntriesLeaveOnTime(t *testing.T) {
	tb := newTable(t, Config{MSL: 30e9})
	old4, old6 := tuple4(1), tuple6(1)
	mustInsert(t, tb, old4, tsState, t0)
	mustInsert(t, tb, old6, tsState, t0)
	if err := tb.SetMSL(5e9); err != nil {
		t.Fatal(err)
	}
	if tb.Generations() != 2 {
		t.Fatalf("%d generations after msl shrank, want 2", tb.Generations())
	}
	new4, new6 := tuple4(2), tuple6(2)
	mustInsert(t, tb, new4, tsState, t0+1e9)
	mustInsert(t, tb, new6, tsState, t0+1e9)
	for _, c := range []struct {
		tu  flow.Tuple
		exp mono.Time
	}{{old4, t0 + 60e9}, {old6, t0 + 60e9}, {new4, t0 + 11e9}, {new6, t0 + 11e9}} {
		if got := tb.Expiry(mustLookup(t, tb, c.tu)); got != c.exp {
			t.Errorf("%v expires at %d, want %d", c.tu, got, c.exp)
		}
	}
	if at, ok := tb.NextExpiry(); !ok || at != t0+11e9 {
		t.Fatalf("next expiry %d %v, want %d", at, ok, t0+11e9)
	}
	if k := tb.Expire(t0 + 11e9 - 1); k != 0 {
		t.Fatalf("%d expired before 2*(new msl)", k)
	}
	if k := tb.Expire(t0 + 11e9); k != 2 || tb.Len() != 2 {
		t.Fatalf("at 2*(new msl): %d expired, %d left; want 2 and 2", k, tb.Len())
	}
	if _, ok := tb.Lookup(&new4); ok {
		t.Fatal("the new entry is still there")
	}
	mustLookup(t, tb, old4)
	if k := tb.Expire(t0 + 60e9 - 1); k != 0 {
		t.Fatalf("%d old entries left early", k)
	}
	if k := tb.Expire(t0 + 60e9); k != 2 || tb.Len() != 0 || tb.Generations() != 1 {
		t.Fatalf("at the old 2MSL: %d expired, %d left, %d generations", k, tb.Len(), tb.Generations())
	}
	if st := tb.Stats(); st[Expired] != 4 || st[Created] != 4 {
		t.Fatalf("stats %v", st)
	}
}

// Remove, Insert over an old entry, Rearm (which moves the entry to the
// live queue with the new msl) and recycling (oldest generation first)
// work on retired entries; the indexes stay exact.
func TestRetiredGenerationOperations(t *testing.T) {
	tb := newTable(t, Config{Limit: 4, MSL: 30e9})
	a, b, c, d, e := tuple4(1), tuple4(2), tuple4(3), tuple4(4), tuple4(5)
	for _, tu := range []flow.Tuple{a, b, c} {
		mustInsert(t, tb, tu, tsState, t0)
	}
	tb.SetMSL(1e9)
	tb.Remove(mustLookup(t, tb, a))
	if _, ok := tb.Lookup(&a); ok || tb.Len() != 2 {
		t.Fatalf("Remove of a retired entry: len %d", tb.Len())
	}
	tb.Rearm(mustLookup(t, tb, b), t0+5e9)
	if got := tb.Expiry(mustLookup(t, tb, b)); got != t0+7e9 {
		t.Fatalf("a re-armed old entry expires at %d, want %d", got, t0+7e9)
	}
	mustInsert(t, tb, c, tsState, t0+5e9) // replaces the retired entry for c
	if tb.Len() != 2 || tb.Generations() != 1 {
		t.Fatalf("len %d, %d generations; want 2 and 1", tb.Len(), tb.Generations())
	}
	checkIndex(t, tb, &tb.v4)

	// Recycling takes the retired generation's entries first.
	tb = newTable(t, Config{Limit: 3, MSL: 30e9})
	mustInsert(t, tb, a, tsState, t0)
	mustInsert(t, tb, b, tsState, t0)
	tb.SetMSL(1e9)
	mustInsert(t, tb, c, tsState, t0+1e9)
	mustInsert(t, tb, d, tsState, t0+1e9)
	if _, ok := tb.Lookup(&a); ok {
		t.Fatal("the oldest entry (retired) was not recycled first")
	}
	if err := tb.SetLimit(2); err != nil {
		t.Fatal(err)
	}
	if n := tb.Trim(); n != 1 || tb.Len() != 2 || tb.Generations() != 1 {
		t.Fatalf("Trim: %d recycled, len %d, %d generations", n, tb.Len(), tb.Generations())
	}
	mustLookup(t, tb, c)
	mustLookup(t, tb, d)
	mustInsert(t, tb, e, tsState, t0+2e9)
	if st := tb.Stats(); st[Recycled] != 3 {
		t.Fatalf("recycled %d, want 3", st[Recycled])
	}
	checkIndex(t, tb, &tb.v4)
}

// Trim ends the oldest entries down to a lowered limit, and nothing when
// the table is within it.
func TestTrimToLowerLimit(t *testing.T) {
	tb := newTable(t, Config{Limit: 100})
	for i := range 50 {
		mustInsert(t, tb, tuple4(i), tsState, t0+mono.Time(i)*1e6)
	}
	if n := tb.Trim(); n != 0 {
		t.Fatalf("Trim within the limit ended %d", n)
	}
	tb.SetLimit(32)
	before := *tb.Stats()
	if n := tb.Trim(); n != 18 || tb.Len() != 32 {
		t.Fatalf("Trim ended %d, %d left; want 18 and 32", n, tb.Len())
	}
	statsMoved(t, tb, before, map[Stat]uint64{Recycled: 18})
	if _, ok := tb.Lookup(&[]flow.Tuple{tuple4(17)}[0]); ok {
		t.Fatal("entry 17 (among the oldest) survived")
	}
	mustLookup(t, tb, tuple4(18))
	checkIndex(t, tb, &tb.v4)
}
