package engine

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/pollstack/pollstack/rings"
)

// Pinned loops hold their Ps for good, so the engine leaves the
// application at least one P beside them.
func TestPinnedLoopsLeaveTheApplicationAP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, Pin: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}},
		[]rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS %d with one pinned loop, started at 1; want 2", got)
	}
}

// The runtime's other threads run at the loops' nice value when it is
// negative, at -20 beside real-time loops, and are left alone otherwise.
func TestHelperNiceFollowsTheLoops(t *testing.T) {
	for _, c := range []struct{ nice, rt, want int }{
		{0, 0, 0}, {5, 0, 0}, {-5, 0, -5}, {-20, 0, -20}, {0, 10, -20}, {-5, 10, -5}, {3, 10, -20},
	} {
		if got := helperNiceFor(c.nice, c.rt); got != c.want {
			t.Errorf("loops at nice %d, SCHED_FIFO %d: others at %d, want %d", c.nice, c.rt, got, c.want)
		}
	}
}
