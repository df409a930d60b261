package balance

import (
	"errors"
	"testing"
)

// lookups returns the backend each key maps to.
func lookups(t *testing.T, b *Maglev, ks []uint64) []int {
	t.Helper()
	got := make([]int, len(ks))
	for i, k := range ks {
		idx, ok := b.Pick(k)
		if !ok {
			t.Fatal("no backend picked")
		}
		got[i] = idx
	}
	return got
}

func TestMagHashRemovingOneOfNRemapsAtMostOneNthAnd2PercentAndAddingItBackRestores(t *testing.T) {
	ks := keys(100000)
	for _, n := range []int{3, 5, 10} {
		ws := make([]int, n)
		for i := range ws {
			ws[i] = 1
		}
		s := newSet(t, ws...)
		b, err := NewMagHash(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		before := lookups(t, b, ks)
		bound := 1/float64(n) + 0.02
		worst := 0.0
		for gone := range n {
			s.SetUp(gone, false)
			after := lookups(t, b, ks)
			moved, stray := 0, 0
			for i := range ks {
				if after[i] == gone {
					t.Fatalf("n=%d: key %d still maps to backend %d, which is down", n, i, gone)
				}
				if after[i] != before[i] {
					moved++
					if before[i] != gone {
						stray++
					}
				}
			}
			f := float64(moved) / float64(len(ks))
			worst = max(worst, f)
			t.Logf("n=%d, backend %d down: %.4f of keys remapped (1/n = %.4f), %.4f of keys moved between backends that stayed",
				n, gone, f, 1/float64(n), float64(stray)/float64(len(ks)))
			if f > bound {
				t.Errorf("n=%d, backend %d down: %.4f of keys remapped, want at most %.4f", n, gone, f, bound)
			}
			s.SetUp(gone, true)
			for i, idx := range lookups(t, b, ks) {
				if idx != before[i] {
					t.Fatalf("n=%d, backend %d back up: key %d maps to %d, was %d", n, gone, i, idx, before[i])
				}
			}
		}
		t.Logf("n=%d: at most %.4f remapped, bound %.4f", n, worst, bound)
	}
}

func TestMagHashDrainingAndAddingMoveOnlyTheirShare(t *testing.T) {
	ks := keys(100000)
	s := newSet(t, 1, 1, 1, 1)
	b, err := NewMagHash(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := lookups(t, b, ks)
	// Drained, like down: its keys move, about all the others' stay.
	if err := s.SetWeight(2, 0); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, idx := range lookups(t, b, ks) {
		if idx == 2 {
			t.Fatal("a drained backend was picked")
		}
		if idx != before[i] {
			moved++
		}
	}
	if f := float64(moved) / float64(len(ks)); f > 0.25+0.02 {
		t.Errorf("draining one of 4 remapped %.4f of keys", f)
	}
	if err := s.SetWeight(2, 1); err != nil {
		t.Fatal(err)
	}
	// A fifth backend added takes about a fifth of the keys; few move
	// between the four.
	if _, err := s.Add("198.18.9.9:8080", 1); err != nil {
		t.Fatal(err)
	}
	moved, stray := 0, 0
	for i, idx := range lookups(t, b, ks) {
		if idx != before[i] {
			moved++
			if idx != 4 {
				stray++
			}
		}
	}
	f, fs := float64(moved)/float64(len(ks)), float64(stray)/float64(len(ks))
	t.Logf("a fifth backend added: %.4f of keys remapped, %.4f between the four", f, fs)
	if f > 0.2+0.02 || fs > 0.02 {
		t.Errorf("adding a fifth backend remapped %.4f of keys, %.4f between the four", f, fs)
	}
}

// tableShares returns each backend's share of b's table.
func tableShares(b *Maglev, backends int) []float64 {
	count := make([]int, backends)
	for _, idx := range b.table {
		count[idx]++
	}
	f := make([]float64, backends)
	for i, c := range count {
		f[i] = float64(c) / float64(len(b.table))
	}
	return f
}

func TestMagHashTableEntriesFollowWeights(t *testing.T) {
	for _, ws := range [][]int{
		{1, 1, 1},
		{1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{1, 2, 3, 4},
		{256, 128, 64, 32, 16},
		{10, 0, 30, 60},
		{256, 1, 1},
	} {
		s := newSet(t, ws...)
		b, err := NewMagHash(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		e := weightError(t, tableShares(b, len(ws)), ws)
		t.Logf("weights %v: largest relative error of table share %.3f%%", ws, 100*e)
		if e > 0.03 {
			t.Errorf("weights %v: a backend's table share is off by %.3f%%, want within 3%%", ws, 100*e)
		}
		// Picks follow the table.
		ks := keys(30000)
		got := make([]float64, len(ws))
		for _, idx := range lookups(t, b, ks) {
			got[idx] += 1 / float64(len(ks))
		}
		if e := weightError(t, got, ws); e > 0.15 {
			t.Errorf("weights %v: picks off their weight by %.3f%%", ws, 100*e)
		}
	}
}

func TestMagHashBuildsTheSameTableOnEveryCore(t *testing.T) {
	a, err := NewMagHash(newSet(t, 3, 1, 2, 5), 65521)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMagHash(newSet(t, 3, 1, 2, 5), 65521)
	if err != nil {
		t.Fatal(err)
	}
	if a.TableSize() != 65521 {
		t.Fatalf("table size %d", a.TableSize())
	}
	for i := range a.table {
		if a.table[i] != b.table[i] {
			t.Fatalf("slot %d: %d on one core, %d on another", i, a.table[i], b.table[i])
		}
	}
}

func TestMagHashTableSizeIsAPrimeInRange(t *testing.T) {
	s := newSet(t, 1, 1)
	for _, size := range []int{1, 2, 4, 6, 65536, 65535, MaxTableSize, MaxTableSize + 43, -7} {
		if _, err := NewMagHash(s, size); !errors.Is(err, ErrTableSize) {
			t.Errorf("NewMagHash(size %d) = %v, want ErrTableSize", size, err)
		}
	}
	for _, size := range []int{0, MinTableSize, 251, 65521, 65537, 655373} {
		b, err := NewMagHash(s, size)
		if err != nil {
			t.Errorf("NewMagHash(size %d) = %v", size, err)
			continue
		}
		if size == 0 && b.TableSize() != DefaultTableSize {
			t.Errorf("size 0 made a table of %d", b.TableSize())
		}
	}
	if _, err := New(MagHash, s, Options{TableSize: 100}); !errors.Is(err, ErrTableSize) {
		t.Errorf("New(MagHash, size 100) = %v", err)
	}
}

func BenchmarkMagHashRebuild(b *testing.B) {
	s := newSet(b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	m, err := NewMagHash(s, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	up := false
	for b.Loop() {
		s.SetUp(3, up)
		up = !up
		m.Sync()
	}
}
