package engine

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// idleApp is a stateless on-core app: the client writes one request, the
// server reads and drops it, and the connection goes idle.
type idleApp struct{ req []byte }

func (a idleApp) Established(c *tcp.Conn) {
	if a.req != nil {
		c.Write(a.req)
	}
}
func (idleApp) Readable(c *tcp.Conn)    { c.Consume(c.Readable()) }
func (idleApp) Writable(*tcp.Conn)      {}
func (idleApp) Closed(*tcp.Conn, error) {}

// memClientAddrs is how many addresses the client core dials from: each
// has the ephemeral range (16384 ports) towards each of the server's ports,
// and a larger n takes as many server ports as it needs.
const memClientAddrs = 7

// What an idle established connection costs: n connections between two
// cores over the in-memory link (each has two ends, one per core), Go heap
// (HeapAlloc after a collection) and resident memory measured before,
// with every connection idle, and after they all closed. The default, 5000
// connections, runs everywhere and holds an end to 4 KiB of heap;
// POLLSTACK_MEMTEST=1 runs 100k (any larger number: that many).
func TestIdleConnectionMemory(t *testing.T) {
	n := 5000
	if v := os.Getenv("POLLSTACK_MEMTEST"); v != "" {
		n = 100_000
		if k, err := strconv.Atoi(v); err == nil && k > 1 {
			n = k
		}
	}
	// Each server port takes somewhat fewer than the full ephemeral range
	// from each address (the port pick skips ports it tried of late).
	perPort := memClientAddrs * (tcp.PortLastAuto - tcp.PortFirstAuto + 1) * 3 / 4
	nPorts := (n + perPort - 1) / perPort
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{1}
	a, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}, TCP: &cfg}, la)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Prefix
	for i := range memClientAddrs {
		addrs = append(addrs, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i + 1)}), 16))
	}
	b, err := NewCore(CoreConfig{ID: 1, MAC: peerMAC, Addrs: addrs, TCP: &cfg}, lb)
	if err != nil {
		t.Fatal(err)
	}
	for p := range nPorts {
		if _, err := a.TCP().Listen(uint16(80+p), 4096, idleApp{}); err != nil {
			t.Fatal(err)
		}
	}
	cli := idleApp{req: []byte("GET / HTTP/1.1\r\nHost: pollstack\r\n\r\n")}
	now := mono.Time(1e9)
	settle := func() {
		for range 4 {
			now += mono.Time(50 * time.Millisecond) // past the delayed ACKs
			a.Timers(now)
			b.Timers(now)
			drain(a, b, now)
		}
	}
	settle()
	before := memNow()

	conns := make([]*tcp.Conn, 0, n) // the test's own: counted apart below
	sliceBytes := int64(cap(conns)) * 8
	for i := 0; i < n; {
		for j := 0; j < 128 && i < n; i, j = i+1, j+1 {
			tu := flow.Tuple{LocalAddr: v4Mapped(addrs[i%memClientAddrs].Addr().As4()),
				RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: uint16(80 + i/perPort)}
			b.now = now
			c, err := b.TCP().Dial(tu, cli, now)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		b.Flush()
		now += mono.Time(time.Millisecond)
		a.Timers(now) // the delayed ACKs, a batch at a time
		b.Timers(now)
		drain(a, b, now)
	}
	// Segments dropped on the way (a SYN that waited for the neighbour
	// cache, a burst past the wire's slots) are sent again on their timers.
	for k := 0; ; k++ {
		settle()
		ea, eb := a.TCP().StateCounts()[tcp.Established], b.TCP().StateCounts()[tcp.Established]
		if ea == n && eb == n && a.TCP().BufferBytes()+b.TCP().BufferBytes() == 0 {
			break
		}
		if k == 100 {
			t.Fatalf("%d and %d established, want %d; states %v and %v; %v", ea, eb, n, a.TCP().StateCounts(), b.TCP().StateCounts(), a.Counters())
		}
	}
	if ba, bb := a.TCP().BufferBytes(), b.TCP().BufferBytes(); ba+bb != 0 {
		t.Fatalf("idle connections hold %d+%d bytes of buffer", ba, bb)
	}
	busy := memNow() // the pool still keeps the chunks the requests used
	trim := func() { // past the pool's trim interval twice: its free chunks go
		for range 3 {
			now += mono.Time(11 * time.Second)
			a.Timers(now)
			b.Timers(now)
			drain(a, b, now)
		}
	}
	trim()
	idle := memNow()

	for i, c := range conns {
		b.now = now
		c.Abort() // no TIME_WAIT entries left to count
		if i%128 == 127 {
			b.Flush()
			drain(a, b, now)
		}
	}
	b.Flush()
	clear(conns) // the slice itself is dead past here: the collector takes it
	settle()
	if ca, cb := a.TCP().Conns(), b.TCP().Conns(); ca+cb != 0 {
		t.Fatalf("%d and %d connections left", ca, cb)
	}
	trim()
	after := memNow()
	debug.FreeOSMemory() // what the scavenger would give back in time
	returned := memNow()

	ends := float64(2 * n)
	heap := float64(idle.heap-before.heap-sliceBytes) / ends
	rss := float64(idle.rss-before.rss) / ends
	t.Logf("%d connections (%d ends): heap %.0f B an end, resident %.0f B an end; "+
		"heap %s before, %s just after the requests (the pool's free chunks not yet trimmed), %s idle, %s after closing; "+
		"resident %s, %s, %s, %s (%s once the runtime gave back the free pages)",
		n, 2*n, heap, rss, mib(before.heap), mib(busy.heap), mib(idle.heap), mib(after.heap),
		mib(before.rss), mib(busy.rss), mib(idle.rss), mib(after.rss), mib(returned.rss))
	if heap > 4096 {
		t.Errorf("an idle connection end takes %.0f B of heap, want at most 4096", heap)
	}
	// What stays: the free control blocks kept for reuse and the tables'
	// grown arrays (the connection map does not shrink).
	if left := float64(after.heap-before.heap) / ends; left > heap/2 {
		t.Errorf("after closing, %.0f B an end stays on the heap (idle: %.0f)", left, heap)
	}
}

// drain runs both cores until neither has anything left to take.
func drain(a, b *Core, now mono.Time) {
	for a.Poll(now)+b.Poll(now) > 0 {
	}
}

type memSample struct{ heap, rss int64 }

// memNow collects garbage and reads the live heap and the resident set.
func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: int64(ms.HeapAlloc)}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = pages * int64(os.Getpagesize())
		}
	}
	return s
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
