package engine

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pollstack/pollstack/tcp"
)

// Every metric is documented in docs/metrics.md.
func TestEveryMetricIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := Counter(0); i < numCounters; i++ {
		var name string // a drop reason is documented by its reason's name
		if i.IsDrop() {
			name = "`" + i.String() + "`"
		} else {
			n, _ := metricName(i)
			name = "`" + n + "`"
		}
		if !strings.Contains(string(doc), name) {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
	for i := tcp.Stat(0); i < tcp.Stat(tcp.NumStats); i++ {
		if !strings.Contains(string(doc), "`"+i.String()+"`") {
			t.Errorf("docs/metrics.md does not document tcpstat %s", i)
		}
	}
}

// The collector exports each core's published counters with a core label,
// and passes the registry's consistency checks.
func TestCollectorExportsPublishedCounters(t *testing.T) {
	c, l := newTestCore(t)
	run(c, l, 0, echo4Frame(t, peerIP4, ourIP4, []byte("x")), []byte{1, 2, 3})
	c.Publish(1)
	e := &Engine{cores: []*Core{c}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(e))
	want := `
# HELP pollstack_rx_packets_total Frames received.
# TYPE pollstack_rx_packets_total counter
pollstack_rx_packets_total{core="0"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pollstack_rx_packets_total"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n != int(numCounters)+1 { // and the engine's pollstack_memory_returns_total
		t.Fatalf("%d series, want %d", n, numCounters+1)
	}
}
