package tw

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// t0 is the tests' start time.
const t0 = mono.Time(1e9)

func tuple4(i int) flow.Tuple {
	var t flow.Tuple
	benchTuple(i, &t)
	return t
}

func tuple6(i int) flow.Tuple {
	t := flow.Tuple{LocalPort: 80, RemotePort: uint16(1024 + i%60000)}
	t.LocalAddr = [16]byte{0x20, 0x01, 0x00, 0x02, 15: 1}
	t.RemoteAddr = [16]byte{0x20, 0x01, 0x00, 0x02, 4: 0xbb, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
	return t
}

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	if cfg.Limit == 0 {
		cfg.Limit = 1 << 16
	}
	if cfg.MSL == 0 {
		cfg.MSL = DefaultMSL
	}
	tb, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func mustInsert(t testing.TB, tb *Table, tu flow.Tuple, st State, now mono.Time) {
	t.Helper()
	if _, ok := tb.Insert(&tu, &st, now); !ok {
		t.Fatalf("Insert %v failed", tu)
	}
}

func mustLookup(t testing.TB, tb *Table, tu flow.Tuple) Ref {
	t.Helper()
	r, ok := tb.Lookup(&tu)
	if !ok {
		t.Fatalf("no entry for %v", tu)
	}
	return r
}

// statsMoved checks that exactly the counters in want moved, by the
// amounts given, since before.
func statsMoved(t testing.TB, tb *Table, before Stats, want map[Stat]uint64) {
	t.Helper()
	now := *tb.Stats()
	for s := Stat(0); s < NumStats; s++ {
		if d := now[s] - before[s]; d != want[s] {
			t.Errorf("%s moved by %d, want %d", s, d, want[s])
		}
	}
}

// checkIndex verifies the index against the ring: every live entry is
// indexed once, under Robin Hood order with the right distances, and
// nothing else is.
func checkIndex[E any, P entryPtr[E]](t testing.TB, tb *Table, s *store[E, P]) {
	t.Helper()
	ix := &s.ix
	if s.live == 0 && len(s.ring) == 0 {
		return
	}
	seen := map[int]bool{}
	count := 0
	for i, v := range ix.slots {
		if v == 0 {
			continue
		}
		count++
		p := ix.pos(i)
		if p < 0 || p >= len(s.ring) {
			t.Fatalf("slot %d holds position %d of a %d-slot ring", i, p, len(s.ring))
		}
		if seen[p] {
			t.Fatalf("position %d indexed twice", p)
		}
		seen[p] = true
		e := P(&s.ring[p])
		if !e.live() {
			t.Fatalf("slot %d points at a tombstone (position %d)", i, p)
		}
		tu := e.tuple(&tb.locals)
		h := tb.hash(&tu)
		d := i - ix.home(h)
		if d < 0 {
			d += len(ix.slots)
		}
		if uint32(d) != ix.dib(v) {
			t.Fatalf("slot %d: distance %d stored, %d real", i, ix.dib(v), d)
		}
		if v>>(ix.posBits+dibBits) != ix.tag(h) {
			t.Fatalf("slot %d: wrong tag", i)
		}
		prev := i - 1
		if prev < 0 {
			prev += len(ix.slots)
		}
		if pv := ix.slots[prev]; d > 0 && (pv == 0 || ix.dib(pv)+1 < uint32(d)) {
			t.Fatalf("slot %d (distance %d) follows slot %v: Robin Hood order broken", i, d, pv)
		}
	}
	if count != ix.n || count != s.live {
		t.Fatalf("index holds %d slots (n %d), store %d live entries", count, ix.n, s.live)
	}
	live := 0
	for i, p := 0, s.head; i < s.n; i, p = i+1, s.next(p) {
		if P(&s.ring[p]).live() {
			live++
			if !seen[p] {
				t.Fatalf("live entry at position %d is not indexed", p)
			}
		}
	}
	if live != s.live {
		t.Fatalf("%d live entries in the ring, store counts %d", live, s.live)
	}
	// The marks cover the ring in order.
	if s.n > 0 {
		if s.marks.n == 0 || s.marks.front().at > s.headL {
			t.Fatalf("the first mark does not cover the head")
		}
		for i := 1; i < s.marks.n; i++ {
			a, b := s.marks.get(i-1), s.marks.get(i)
			if a.at >= b.at || a.exp >= b.exp {
				t.Fatalf("marks out of order: %+v then %+v", *a, *b)
			}
		}
		if s.marks.back().at >= s.headL+uint64(s.n) {
			t.Fatalf("the last mark lies beyond the tail")
		}
	}
}

// wrap returns x modulo 2^32, for sequence numbers and timestamps below zero.
func wrap(x int64) uint32 { return uint32(x) }
