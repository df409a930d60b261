package tw

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// PortUse follows entries through insert, replacement, removal, expiry and
// recycling.
func TestPortUseFollowsEntries(t *testing.T) {
	tb, err := NewTable(Config{Limit: 3, MSL: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	tu := func(lport, rport uint16) *flow.Tuple {
		x := &flow.Tuple{LocalPort: lport, RemotePort: rport}
		x.LocalAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1}
		x.RemoteAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}
		return x
	}
	check := func(port uint16, all, noRP int) {
		t.Helper()
		if a, n := tb.PortUse(port); a != all || n != noRP {
			t.Fatalf("PortUse(%d) = %d, %d; want %d, %d", port, a, n, all, noRP)
		}
	}
	check(80, 0, 0)
	tb.Insert(tu(80, 1000), &State{}, 0)
	tb.Insert(tu(80, 1001), &State{ReusePort: true}, 1)
	check(80, 2, 1)
	tb.Insert(tu(80, 1001), &State{}, 2) // replaces the entry for the same 4-tuple
	check(80, 2, 2)
	r, _ := tb.Lookup(tu(80, 1000))
	tb.Remove(r)
	check(80, 1, 1)
	tb.Insert(tu(443, 1), &State{ReusePort: true}, 3)
	tb.Insert(tu(443, 2), &State{ReusePort: true}, 4)
	tb.Insert(tu(443, 3), &State{ReusePort: true}, 5) // recycles the oldest: port 80's
	check(80, 0, 0)
	check(443, 3, 0)
	r, _ = tb.Lookup(tu(443, 3))
	tb.Rearm(r, 6)
	check(443, 3, 0)
	tb.Expire(3e9)
	check(443, 0, 0)
	if tb.Len() != 0 {
		t.Fatalf("%d entries left", tb.Len())
	}
}
