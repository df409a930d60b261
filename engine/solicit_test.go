package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/mono"
)

// countSolicits counts the ARP requests and neighbour solicitations in out.
func countSolicits(t *testing.T, out [][]byte) int {
	t.Helper()
	n := 0
	for _, f := range out {
		p := decode(t, f)
		if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok && a.Operation == layers.ARPRequest {
			n++
		}
		if p.Layer(layers.LayerTypeICMPv6NeighborSolicitation) != nil {
			n++
		}
	}
	return n
}

// Echo requests from forged on-link sources, each needing a solicitation
// before its reply: at one instant, new neighbours take a burst less its
// last quarter and the rest are dropped as solicit_limit; over two seconds
// of a steady flood the core sends no more than the rate allows.
func TestSolicitBudget(t *testing.T) {
	c, l := newTestCore(t)
	burst := NeighSolicitRate / 10
	forged := func(i int) []byte { // a new address for each i
		if i < 250 {
			return echo4Frame(t, netip.AddrFrom4([4]byte{198, 18, 0, byte(3 + i)}), ourIP4, []byte("f"))
		}
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 8: 0xf1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		return echo6Frame(t, src, ourIP6, []byte("f"))
	}
	// A neighbour we ask for first: it is in the table when the flood comes.
	peer := netip.AddrFrom4([4]byte{198, 18, 0, 2})
	if out := run(c, l, 0, echo4Frame(t, peer, ourIP4, []byte("p"))); countSolicits(t, out) != 1 {
		t.Fatalf("the peer's first echo drew %d solicitations, want 1", countSolicits(t, out))
	}
	var flood [][]byte
	for i := range 1000 {
		flood = append(flood, forged(i))
	}
	sent := countSolicits(t, run(c, l, 0, flood...))
	if want := burst - 1 - burst/4; sent != want {
		t.Fatalf("1000 new neighbours at one instant drew %d solicitations, want %d (a burst of %d less the first one's and its last quarter)", sent, want, burst)
	}
	if got := c.stats[DropSolicitLimit]; got != uint64(1000-sent) {
		t.Fatalf("solicit_limit %d, want %d", got, 1000-sent)
	}
	// Two seconds of 10,000 new sources a second, 1 ms apart.
	total := 0
	for ms := 1; ms <= 2000; ms++ {
		var fs [][]byte
		for k := range 10 {
			fs = append(fs, forged(1000+ms*10+k))
		}
		now := mono.Time(0).Add(time.Duration(ms) * time.Millisecond)
		total += countSolicits(t, run(c, l, now, fs...))
	}
	if limit := 2*NeighSolicitRate + burst; total > limit {
		t.Fatalf("%d solicitations in 2 s of flood, want at most %d", total, limit)
	}
	if total < NeighSolicitRate {
		t.Fatalf("only %d solicitations in 2 s of flood: the budget should allow about %d", total, 2*NeighSolicitRate)
	}
}

// New neighbours leave the last quarter of a burst to the retries and
// checks of neighbours already in the table.
func TestSolicitBudgetKeepsAQuarterForKnownNeighbours(t *testing.T) {
	var b solicitBudget
	b.init(1000)
	news := 0
	for b.takeNew(0) {
		news++
	}
	if news != b.burst-b.burst/4 {
		t.Fatalf("new neighbours took %d of a burst of %d, want all but its last quarter", news, b.burst)
	}
	known := 0
	for b.take(0) {
		known++
	}
	if known != b.burst/4 {
		t.Fatalf("known neighbours had %d left, want %d", known, b.burst/4)
	}
}

// No bound when asked for none: every new neighbour is solicited.
func TestSolicitBudgetUnbounded(t *testing.T) {
	var b solicitBudget
	b.init(-1)
	for i := range 100_000 {
		if !b.takeNew(0) {
			t.Fatalf("refused at %d with no bound", i)
		}
	}
	b.init(10)
	if b.burst != 4 || !b.takeNew(0) || !b.take(0) || !b.take(0) || !b.take(0) || b.take(0) {
		t.Fatalf("rate 10: burst %d, tokens %d", b.burst, b.tokens)
	}
	if b.take(mono.Time(99 * time.Millisecond)) {
		t.Fatal("a token before its 100 ms")
	}
	if !b.take(mono.Time(100 * time.Millisecond)) {
		t.Fatal("no token after 100 ms")
	}
}
