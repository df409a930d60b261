package tw

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// The layout the package documents: 24 bytes per IPv4 entry, 36 per IPv6.
func TestEntrySizes(t *testing.T) {
	if s := unsafe.Sizeof(entry4{}); s != 24 {
		t.Errorf("IPv4 entry: %d bytes, want 24", s)
	}
	if s := unsafe.Sizeof(entry6{}); s != 36 {
		t.Errorf("IPv6 entry: %d bytes, want 36", s)
	}
}

func TestConfigLimits(t *testing.T) {
	for _, cfg := range []Config{
		{Limit: 0, MSL: DefaultMSL},
		{Limit: MaxLimit + 1, MSL: DefaultMSL},
		{Limit: 32, MSL: 0},
		{Limit: 32, MSL: MaxMSL + 1},
		{Limit: 32, MSL: DefaultMSL, Reserve: -1},
	} {
		if _, err := NewTable(cfg); err == nil {
			t.Errorf("NewTable(%+v) accepted", cfg)
		}
	}
	tb := newTable(t, Config{Limit: 32})
	if tb.SetLimit(0) == nil || tb.SetMSL(0) == nil || tb.SetMSL(MaxMSL+1) == nil {
		t.Error("SetLimit or SetMSL accepted a value out of range")
	}
}

// The 2MSL queue is a FIFO: entries expire in creation order, each 2*msl
// after it was made (rounded up to the millisecond: never early), and
// Expire reports how many ended.
func TestExpireFIFOOrder(t *testing.T) {
	tb := newTable(t, Config{MSL: 10e9})
	const n = 100
	for i := 0; i < n; i++ {
		mustInsert(t, tb, tuple4(i), tsState, t0+mono.Time(i)*1e6+500) // 0.5 µs past each millisecond
	}
	tu := tuple4(0)
	if got, want := tb.Expiry(mustLookup(t, tb, tu)), t0+20e9+1e6; got != want {
		t.Fatalf("first entry expires at %d, want %d (2MSL rounded up to the millisecond)", got, want)
	}
	if at, ok := tb.NextExpiry(); !ok || at != t0+20e9+1e6 {
		t.Fatalf("NextExpiry %d %v", at, ok)
	}
	before := *tb.Stats()
	if k := tb.Expire(t0 + 20e9 + 500); k != 0 {
		t.Fatalf("%d entries expired before their 2MSL", k)
	}
	for i := 0; i < n; i++ {
		if k := tb.Expire(t0 + 20e9 + mono.Time(i+1)*1e6); k != 1 {
			t.Fatalf("step %d: %d expired, want 1", i, k)
		}
		for j := 0; j < n; j++ {
			tu := tuple4(j)
			if _, ok := tb.Lookup(&tu); ok != (j > i) {
				t.Fatalf("after %d expiries, entry %d present = %v", i+1, j, ok)
			}
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("%d entries left", tb.Len())
	}
	if _, ok := tb.NextExpiry(); ok {
		t.Fatal("NextExpiry on an empty table")
	}
	statsMoved(t, tb, before, map[Stat]uint64{Expired: n})
	// Many at once.
	for i := 0; i < n; i++ {
		mustInsert(t, tb, tuple4(i), tsState, t0+40e9+mono.Time(i)*1e3)
	}
	if k := tb.Expire(t0 + 100e9); k != n || tb.Len() != 0 {
		t.Fatalf("%d expired at once, %d left", k, tb.Len())
	}
}

// A change of msl applies to the entries made after it; when msl shrinks,
// the newer entries wait behind the older ones rather than leave early.
func TestSetMSLAppliesToNewEntries(t *testing.T) {
	tb := newTable(t, Config{MSL: 10e9})
	a, b, c := tuple4(1), tuple4(2), tuple4(3)
	mustInsert(t, tb, a, tsState, t0)
	tb.SetMSL(20e9)
	mustInsert(t, tb, b, tsState, t0+1e9)
	if got := tb.Expiry(mustLookup(t, tb, a)); got != t0+20e9 {
		t.Fatalf("the older entry's expiry changed to %d", got)
	}
	if got := tb.Expiry(mustLookup(t, tb, b)); got != t0+1e9+40e9 {
		t.Fatalf("the newer entry expires at %d, want %d", got, t0+41e9)
	}
	tb.SetMSL(1e9)
	mustInsert(t, tb, c, tsState, t0+2e9) // its own 2*msl, ahead of the older entries (msl.go)
	if got := tb.Expiry(mustLookup(t, tb, c)); got != t0+4e9 {
		t.Fatalf("after msl shrank, a new entry expires at %d, want %d", got, t0+4e9)
	}
	for _, at := range []mono.Time{t0 + 4e9, t0 + 20e9, t0 + 41e9} {
		if k := tb.Expire(at); k != 1 {
			t.Fatalf("%d expired at %d, want 1", k, at)
		}
	}
}

// tcp_tw_2msl_scan(reuse): a full table recycles its oldest entry for the
// new one and counts it; IPv4 and IPv6 entries share the limit and the
// oldest of either goes first.
func TestRecycleAtLimit(t *testing.T) {
	tb := newTable(t, Config{Limit: 32})
	for i := 0; i < 32; i++ {
		tu := tuple4(i)
		if i%2 == 1 {
			tu = tuple6(i)
		}
		mustInsert(t, tb, tu, tsState, t0+mono.Time(i)*1e6)
	}
	before := *tb.Stats()
	for i := 32; i < 40; i++ {
		tu := tuple4(i)
		if recycled, ok := tb.Insert(&tu, &tsState, t0+mono.Time(i)*1e6); recycled != 1 || !ok {
			t.Fatalf("insert %d into a full table: recycled %d, ok %v", i, recycled, ok)
		}
	}
	if tb.Len() != 32 {
		t.Fatalf("%d entries, want 32", tb.Len())
	}
	for i := 0; i < 40; i++ {
		tu := tuple4(i)
		if i%2 == 1 && i < 32 {
			tu = tuple6(i)
		}
		if _, ok := tb.Lookup(&tu); ok != (i >= 8) {
			t.Fatalf("entry %d present = %v: the 8 oldest should have gone", i, ok)
		}
	}
	statsMoved(t, tb, before, map[Stat]uint64{Recycled: 8, Created: 8})
	// A lowered limit is reached by recycling on the next inserts.
	tb.SetLimit(20)
	tu := tuple4(100)
	if recycled, _ := tb.Insert(&tu, &tsState, t0+1e9); recycled != 13 || tb.Len() != 20 {
		t.Fatalf("limit lowered to 20: recycled %d, %d entries", recycled, tb.Len())
	}
	checkIndex(t, tb, &tb.v4)
	checkIndex(t, tb, &tb.v6)
}

// Insert on a 4-tuple that has an entry replaces it.
func TestInsertReplaces(t *testing.T) {
	tb := newTable(t, Config{})
	tu := tuple4(7)
	mustInsert(t, tb, tu, tsState, t0)
	st := tsState
	st.SndNxt++
	mustInsert(t, tb, tu, st, t0+1e9)
	if tb.Len() != 1 || tb.Get(mustLookup(t, tb, tu)) != st {
		t.Fatalf("%d entries, state %+v", tb.Len(), tb.Get(mustLookup(t, tb, tu)))
	}
}

// Entries keep what tcp gives them, IPv4 and IPv6 alike.
func TestStateRoundTrip(t *testing.T) {
	tb := newTable(t, Config{})
	st := State{SndNxt: 0xfffffff0, RcvNxt: 7, TSRecent: 0x80000001, Window: 0xffff, TS: true, ReuseAddr: true, ReusePort: true}
	for _, tu := range []flow.Tuple{tuple4(3), tuple6(3)} {
		mustInsert(t, tb, tu, st, t0)
		r := mustLookup(t, tb, tu)
		if got := tb.Get(r); got != st {
			t.Fatalf("%v: state %+v, want %+v", tu, got, st)
		}
		if got := tb.Tuple(r); got != tu {
			t.Fatalf("tuple %v, want %v", got, tu)
		}
	}
	// A tuple that differs in any field finds nothing.
	base := tuple4(3)
	for _, f := range []func(*flow.Tuple){
		func(t *flow.Tuple) { t.LocalPort++ }, func(t *flow.Tuple) { t.RemotePort++ },
		func(t *flow.Tuple) { t.LocalAddr[15]++ }, func(t *flow.Tuple) { t.RemoteAddr[15]++ },
		func(t *flow.Tuple) { t.RemoteAddr[0] = 1 }, // the same low 4 bytes, not IPv4-mapped
	} {
		tu := base
		f(&tu)
		if _, ok := tb.Lookup(&tu); ok {
			t.Fatalf("%v found %v's entry", tu, base)
		}
	}
}

// A core has few local addresses: entries refer to them by a one-byte
// index. A 257th distinct local address in use gets no entry (the
// connection closes without TIME_WAIT, counted as an overflow); once an
// address's entries are gone its index is free again.
func TestLocalAddressOverflow(t *testing.T) {
	tb := newTable(t, Config{})
	local := func(i int) flow.Tuple {
		tu := tuple4(i)
		tu.LocalAddr[13], tu.LocalAddr[14], tu.LocalAddr[15] = 18, byte(i>>8), byte(i)
		return tu
	}
	for i := 0; i < 256; i++ {
		mustInsert(t, tb, local(i), tsState, t0+mono.Time(i)*1e6)
	}
	before := *tb.Stats()
	tu := local(256)
	if _, ok := tb.Insert(&tu, &tsState, t0+1e9); ok {
		t.Fatal("a 257th local address got an entry")
	}
	statsMoved(t, tb, before, map[Stat]uint64{Overflow: 1})
	tb.Remove(mustLookup(t, tb, local(5)))
	mustInsert(t, tb, tu, tsState, t0+1e9)
	if tb.Tuple(mustLookup(t, tb, tu)) != tu {
		t.Fatal("the reused local address index names the wrong address")
	}
	for i := 0; i < 256; i++ {
		if _, ok := tb.Lookup(new(local(i))); ok != (i != 5) {
			t.Fatalf("entry %d present = %v", i, ok)
		}
	}
}

// A random mix of inserts, lookups, removals (reopening SYNs), re-arms
// (retransmitted FINs), expiries and recycling, IPv4 and IPv6, checked
// against a plain map: the ring grows, compacts its tombstones and wraps,
// the index grows and shifts, and every entry stays findable with its state
// and expiry.
func TestLookupAfterChurn(t *testing.T) {
	type want struct {
		st  State
		exp mono.Time
	}
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 99))
		limit := 3000
		tb := newTable(t, Config{Limit: limit, MSL: 1e9})
		ref := map[flow.Tuple]want{}
		tuple := func(i int) flow.Tuple {
			if i%5 == 0 {
				return tuple6(i)
			}
			return tuple4(i)
		}
		now := t0
		steps := 60000
		if testing.Short() || raceEnabled {
			steps = 15000
		}
		for step := 0; step < steps; step++ {
			// Fast enough in the first third that the table fills and
			// recycles, slower afterwards so that entries live out their 2MSL.
			if step < steps/3 {
				now += mono.Time(rng.IntN(200_000))
			} else {
				now += mono.Time(rng.IntN(2_000_000))
			}
			tu := tuple(rng.IntN(8000))
			switch op := rng.IntN(10); {
			case op < 5:
				st := State{SndNxt: rng.Uint32(), RcvNxt: rng.Uint32(), TSRecent: rng.Uint32(), Window: uint16(rng.Uint32()), TS: rng.IntN(2) == 0}
				_, present := ref[tu]
				full := len(ref) >= limit && !present
				recycled, ok := tb.Insert(&tu, &st, now)
				if !ok || (recycled == 1) != full {
					t.Fatalf("step %d: Insert: recycled %d ok %v with %d entries", step, recycled, ok, len(ref))
				}
				if full {
					// The oldest went: find it in the reference.
					var oldest flow.Tuple
					first := true
					for k, v := range ref {
						if first || v.exp < ref[oldest].exp {
							oldest, first = k, false
						}
					}
					if _, ok := tb.Lookup(&oldest); ok {
						// Several may share the oldest expiry: any of them may go.
						for k, v := range ref {
							if v.exp == ref[oldest].exp {
								if _, ok := tb.Lookup(&k); !ok {
									oldest = k
									break
								}
							}
						}
					}
					delete(ref, oldest)
				}
				ref[tu] = want{st, tb.expiry(now)}
			case op < 7:
				r, ok := tb.Lookup(&tu)
				if _, inRef := ref[tu]; ok != inRef {
					t.Fatalf("step %d: Lookup %v = %v, reference %v", step, tu, ok, inRef)
				}
				if ok {
					tb.Remove(r)
					delete(ref, tu)
				}
			case op < 9:
				if r, ok := tb.Lookup(&tu); ok {
					tb.Rearm(r, now)
					w := ref[tu]
					w.exp = tb.expiry(now)
					ref[tu] = w
				}
			default:
				n := tb.Expire(now)
				k := 0
				for tu, w := range ref {
					if w.exp <= now {
						delete(ref, tu)
						k++
					}
				}
				if n != k {
					t.Fatalf("step %d: Expire ended %d, reference %d", step, n, k)
				}
			}
			if tb.Len() != len(ref) {
				t.Fatalf("step %d: %d entries, reference %d", step, tb.Len(), len(ref))
			}
			if step%997 == 0 {
				checkIndex(t, tb, &tb.v4)
				checkIndex(t, tb, &tb.v6)
				for tu, w := range ref {
					r := mustLookup(t, tb, tu)
					if got := tb.Get(r); got != w.st {
						t.Fatalf("step %d: %v state %+v, want %+v", step, tu, got, w.st)
					}
					if got := tb.Expiry(r); got != w.exp {
						t.Fatalf("step %d: %v expires at %d, want %d", step, tu, got, w.exp)
					}
				}
			}
		}
		checkIndex(t, tb, &tb.v4)
		checkIndex(t, tb, &tb.v6)
		st := tb.Stats()
		t.Logf("seed %d: %d entries; created %d expired %d recycled %d; ring %d/%d slots (v4/v6), index scale %d/%d",
			seed, tb.Len(), st[Created], st[Expired], st[Recycled], len(tb.v4.ring), len(tb.v6.ring), tb.v4.scale, tb.v6.scale)
	}
}

// Re-arming keeps making tombstones; the ring compacts them away instead of
// growing without end.
func TestRearmTombstonesCompact(t *testing.T) {
	tb := newTable(t, Config{Limit: 64})
	for i := 0; i < 64; i++ {
		mustInsert(t, tb, tuple4(i), tsState, t0)
	}
	now := t0
	for k := 0; k < 100_000; k++ {
		now += 1e6
		tu := tuple4(k * 7 % 64)
		tb.Rearm(mustLookup(t, tb, tu), now)
	}
	if len(tb.v4.ring) > 2*64+16 {
		t.Fatalf("ring of %d slots for 64 entries", len(tb.v4.ring))
	}
	checkIndex(t, tb, &tb.v4)
	if tb.Len() != 64 {
		t.Fatalf("%d entries", tb.Len())
	}
}

// Robin Hood deletion shifts the following elements back: a table filled to
// its load factor and emptied entry by entry in random order stays
// consistent.
func TestIndexDeleteShifts(t *testing.T) {
	const n = 5000
	tb := newTable(t, Config{Limit: n, Reserve: n})
	for i := 0; i < n; i++ {
		mustInsert(t, tb, tuple4(i), tsState, t0)
	}
	order := rand.New(rand.NewPCG(5, 6)).Perm(n)
	for k, i := range order {
		tb.Remove(mustLookup(t, tb, tuple4(i)))
		if k%500 == 0 {
			checkIndex(t, tb, &tb.v4)
		}
	}
	if tb.Len() != 0 || tb.v4.ix.n != 0 {
		t.Fatalf("%d entries, %d index slots used", tb.Len(), tb.v4.ix.n)
	}
}

// The packet path does not allocate: Lookup, Input and, once the table has
// reached its size, Insert and Expire.
func TestAllocs(t *testing.T) {
	const n = 4096
	tb := newTable(t, Config{Limit: n, MSL: 1e9})
	now := t0
	i := 0
	insert := func() {
		now += 1e6 / 2 // 2000 a second: about 4000 live at 2MSL = 2 s
		tu := tuple4(i % (4 * n))
		i++
		tb.Insert(&tu, &tsState, now)
		tb.Expire(now)
	}
	for k := 0; k < 8*n; k++ { // warm up: the ring, index and marks reach their size
		insert()
	}
	if a := testing.AllocsPerRun(20000, insert); a != 0 {
		t.Errorf("Insert and Expire: %v allocations", a)
	}
	tu := tuple4((i - 1) % (4 * n))
	if a := testing.AllocsPerRun(1000, func() { tb.Lookup(&tu) }); a != 0 {
		t.Errorf("Lookup: %v allocations", a)
	}
	miss := tuple6(1)
	if a := testing.AllocsPerRun(1000, func() { tb.Lookup(&miss) }); a != 0 {
		t.Errorf("Lookup (miss): %v allocations", a)
	}
	seg := Segment{Seq: rcvNxt, Ack: sndNxt, Flags: FlagACK, Len: 5}
	if a := testing.AllocsPerRun(1000, func() {
		r, _ := tb.Lookup(&tu)
		tb.Input(r, &seg, true, now)
	}); a != 0 {
		t.Errorf("Input: %v allocations", a)
	}
	fin := Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: FlagFIN | FlagACK}
	if a := testing.AllocsPerRun(1000, func() {
		now += 1e3
		r, _ := tb.Lookup(&tu)
		tb.Input(r, &fin, true, now)
	}); a != 0 {
		t.Errorf("Input (re-arm): %v allocations", a)
	}
}

// An element that would land more than maxDIB slots from home makes insert
// fail; the store then rebuilds its index larger until everything fits.
func TestIndexOverflowGrows(t *testing.T) {
	var ix index
	ix.reset(1000, posBitsFor(1000))
	h := uint64(0x1234_5678_9abc_def0)
	for p := 0; p <= maxDIB; p++ {
		if !ix.insert(h, p) {
			t.Fatalf("insert %d of one home failed", p)
		}
	}
	if ix.insert(h, maxDIB+1) {
		t.Fatalf("element %d slots from home accepted", maxDIB+1)
	}

	const n = 4096
	tb := newTable(t, Config{Limit: n, Reserve: n})
	for i := 0; i < n; i++ {
		mustInsert(t, tb, tuple4(i), tsState, t0)
	}
	tb.v4.scale = 8 // a full index: some element lands too far
	tb.v4.rebuild(tb)
	if tb.v4.scale <= 8 {
		t.Fatalf("scale %d after rebuilding a full index", tb.v4.scale)
	}
	checkIndex(t, tb, &tb.v4)
	for i := 0; i < n; i++ {
		mustLookup(t, tb, tuple4(i))
	}
}
