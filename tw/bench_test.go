package tw

import (
	"runtime"
	"sync"
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// benchEntries is the table size the acceptance names.
const benchEntries = 10_000_000

// benchTuple returns the i-th of the benchmarks' 4-tuples: clients in
// 198.18.0.0/15 (RFC 2544) on ports 1024..61023, all talking to
// 198.19.255.254:80.
func benchTuple(i int, t *flow.Tuple) {
	*t = flow.Tuple{LocalPort: 80}
	copy(t.LocalAddr[:12], v4Prefix[:])
	t.LocalAddr[12], t.LocalAddr[13], t.LocalAddr[14], t.LocalAddr[15] = 198, 19, 255, 254
	a := i / 60000
	copy(t.RemoteAddr[:12], v4Prefix[:])
	t.RemoteAddr[12], t.RemoteAddr[13], t.RemoteAddr[14], t.RemoteAddr[15] = 198, 18+byte(a>>16), byte(a>>8), byte(a)
	t.RemotePort = uint16(1024 + i%60000)
}

// fill makes n entries in a table whose limit is n, one per microsecond of
// virtual time (all within 2MSL).
func fill(tb testing.TB, n int) *Table {
	t, err := NewTable(Config{Limit: n, MSL: DefaultMSL})
	if err != nil {
		tb.Fatal(err)
	}
	var tu flow.Tuple
	st := State{SndNxt: 1000, RcvNxt: 2000, TSRecent: 3000, Window: 512, TS: true}
	now := mono.Time(1e9)
	for i := 0; i < n; i++ {
		benchTuple(i, &tu)
		st.SndNxt++
		now += 1000
		if _, ok := t.Insert(&tu, &st, now); !ok {
			tb.Fatal("Insert failed")
		}
	}
	if t.Len() != n {
		tb.Fatalf("%d entries, want %d", t.Len(), n)
	}
	return t
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkTimeWaitMemory builds 10,000,000 IPv4 entries on one table
// (maxtcptw 10M) and reports the heap they hold per entry, index and
// expiry marks included, as B/entry, and the time per Insert.
//
//	go test ./tw -run '^$' -bench BenchmarkTimeWaitMemory -benchtime 1x
func BenchmarkTimeWaitMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		before := heapAlloc()
		b.ResetTimer()
		t := fill(b, benchEntries)
		b.StopTimer()
		after := heapAlloc()
		b.ReportMetric(float64(int64(after)-int64(before))/benchEntries, "B/entry")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/benchEntries, "ns/insert")
		b.ReportMetric(float64(t.Bytes())/benchEntries, "arrayB/entry")
		runtime.KeepAlive(t)
	}
}

var (
	bigOnce  sync.Once
	bigTable *Table
)

// big is a table of benchEntries entries shared by the lookup benchmarks.
func big(b *testing.B) *Table {
	bigOnce.Do(func() { bigTable = fill(b, benchEntries) })
	return bigTable
}

// BenchmarkTimeWaitLookup looks up the 4-tuple of a SYN that finds a
// TIME_WAIT entry among 10,000,000, in a scattered order (each lookup
// misses the CPU caches, as a server's would).
//
//	go test ./tw -run '^$' -bench BenchmarkTimeWaitLookup -benchmem
func BenchmarkTimeWaitLookup(b *testing.B) {
	t := big(b)
	var tu flow.Tuple
	seg := Segment{Seq: 5000, Flags: FlagSYN, HasTS: true, TSVal: 3001}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchTuple(int(uint64(i)*2654435761%benchEntries), &tu)
		r, ok := t.Lookup(&tu)
		if !ok {
			b.Fatal("entry not found")
		}
		st := t.Get(r)
		if Decide(&st, &seg, true) != RuleReopen {
			b.Fatal("the SYN would not reopen")
		}
	}
}

// BenchmarkTimeWaitLookupMiss looks up 4-tuples that have no entry among
// 10,000,000 (every new connection's SYN does this).
func BenchmarkTimeWaitLookupMiss(b *testing.B) {
	t := big(b)
	var tu flow.Tuple
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchTuple(int(uint64(i)*2654435761%benchEntries), &tu)
		tu.LocalPort = 443
		if _, ok := t.Lookup(&tu); ok {
			b.Fatal("found an entry that is not there")
		}
	}
}

// BenchmarkTimeWaitLookupCore looks up 4-tuples with entries in a table of
// a core's default share of maxtcptw (8191 entries: it fits in the caches).
func BenchmarkTimeWaitLookupCore(b *testing.B) {
	const n = 8191
	t := fill(b, n)
	var tu flow.Tuple
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchTuple(int(uint64(i)*2654435761%n), &tu)
		if _, ok := t.Lookup(&tu); !ok {
			b.Fatal("entry not found")
		}
	}
}

// BenchmarkTimeWaitChurn is a core's steady state: a full table of 8191
// entries, each Insert recycling or following an expiry, each Expire popping
// the head.
func BenchmarkTimeWaitChurn(b *testing.B) {
	const n = 8191
	t := fill(b, n)
	var tu flow.Tuple
	st := State{SndNxt: 1, RcvNxt: 2, TS: true}
	now := mono.Time(1e12)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchTuple(n+i%(1<<20), &tu)
		now += 1000
		t.Insert(&tu, &st, now)
		t.Expire(now)
	}
}
