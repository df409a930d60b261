package tcp

import (
	"strings"
	"syscall"
	"testing"
)

// Ephemeral ports come from net.inet.ip.portrange; once every port's
// 4-tuple is taken, Dial says EADDRNOTAVAIL and counts it; an upside-down
// range is refused.
func TestPortRangeBoundsEphemeralPorts(t *testing.T) {
	cfg := DefaultConfig()
	if err := Set(&cfg, "net.inet.ip.portrange.first", "50000"); err != nil {
		t.Fatal(err)
	}
	if err := Set(&cfg, "net.inet.ip.portrange.last", "50009"); err != nil {
		t.Fatal(err)
	}
	n := newTestNet(t, DefaultConfig(), cfg)
	seen := map[uint16]bool{}
	for i := 0; i < 10; i++ {
		tu := tupleAB(80)
		tu.LocalPort = 0
		c, err := n.b.Dial(tu, &recorder{}, n.now)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		p := c.Tuple().LocalPort
		if p < 50000 || p > 50009 || seen[p] {
			t.Fatalf("dial %d took port %d (seen before: %v)", i, p, seen[p])
		}
		seen[p] = true
	}
	tu := tupleAB(80)
	tu.LocalPort = 0
	if _, err := n.b.Dial(tu, &recorder{}, n.now); err != syscall.EADDRNOTAVAIL {
		t.Fatalf("dial with every port taken: %v, want EADDRNOTAVAIL", err)
	}
	if got := n.b.Stats()[StatPortsExhausted]; got != 1 {
		t.Fatalf("ports_exhausted = %d, want 1", got)
	}
	if err := Set(&cfg, "net.inet.ip.portrange.last", "40000"); err == nil || !strings.Contains(err.Error(), "above") {
		t.Fatalf("an upside-down range: %v", err)
	}
}
