package sinkcmp

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

func TestParseEthdevStats(t *testing.T) {
	// As DPDK 22.11's telemetry answers "/ethdev/stats,0" (abridged).
	reply := `{"/ethdev/stats": {"ipackets": 12345, "opackets": 0, "ibytes": 790080, "obytes": 0, ` +
		`"imissed": 17, "ierrors": 0, "oerrors": 0, "rx_nombuf": 3, "q_ipackets": [12345, 0], "q_opackets": [0, 0]}}`
	s, err := parseEthdevStats([]byte(reply))
	if err != nil {
		t.Fatal(err)
	}
	if want := (portStats{IPackets: 12345, IBytes: 790080, IMissed: 17, RxNoMbuf: 3}); s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	for _, bad := range []string{`{"/ethdev/stats": null}`, `{"/ethdev/list": [0]}`, `not json`} {
		if _, err := parseEthdevStats([]byte(bad)); err == nil {
			t.Errorf("parseEthdevStats(%s) succeeded", bad)
		}
	}
}

func TestSummarizeRatio(t *testing.T) {
	r := &Report{Median: map[string]Rates{}, Receivers: []Receiver{
		{Name: "pollstack", Kind: ReceiverSink}, {Name: "pollstack:spin=0", Kind: ReceiverSink}, {Name: "testpmd", Kind: ReceiverTestpmd},
	}, Windows: []Window{
		{Receiver: "pollstack:spin=0", RxPPS: 9e6, GenPPS: 9e6},
		{Receiver: ReceiverSink, RxPPS: 2e6, GenPPS: 2e6},
		{Receiver: ReceiverTestpmd, RxPPS: 1e6, GenPPS: 2e6},
		{Receiver: ReceiverSink, RxPPS: 4e6, GenPPS: 4e6},
		{Receiver: ReceiverTestpmd, RxPPS: 3e6, GenPPS: 4e6},
	}}
	Summarize(r)
	if r.Median[ReceiverSink].RxPPS != 3e6 || r.Median[ReceiverTestpmd].RxPPS != 2e6 || r.Ratio != 1.5 {
		t.Errorf("medians %+v, ratio %v", r.Median, r.Ratio)
	}
}

func TestParseReceivers(t *testing.T) {
	o := Options{IdleSpin: 2 * time.Microsecond, BusyPoll: 0, TestpmdBusyBudget: -1}
	rs, err := ParseReceivers("pollstack, pollstack:spin=0+busy=64 ,testpmd,testpmd:busy=0", o)
	if err != nil {
		t.Fatal(err)
	}
	want := []Receiver{
		{Name: "pollstack", Kind: ReceiverSink, IdleSpin: 2 * time.Microsecond, BusyBudget: -1},
		{Name: "pollstack:spin=0+busy=64", Kind: ReceiverSink, BusyPoll: 64, BusyBudget: -1},
		{Name: "testpmd", Kind: ReceiverTestpmd, IdleSpin: 2 * time.Microsecond, BusyBudget: -1},
		{Name: "testpmd:busy=0", Kind: ReceiverTestpmd, IdleSpin: 2 * time.Microsecond, BusyBudget: 0},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %+v", rs)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("receiver %d: got %+v, want %+v", i, rs[i], want[i])
		}
	}
	for _, bad := range []string{"", "linux", "pollstack:spin", "pollstack:spin=-1us", "testpmd:spin=0", "pollstack,pollstack", "pollstack:busy=x"} {
		if _, err := ParseReceivers(bad, o); err == nil {
			t.Errorf("parseReceivers(%q) accepted it", bad)
		}
	}
}

func TestTestpmdArgs(t *testing.T) {
	args := strings.Join(testpmdArgs(testpmdConfig{Path: "/usr/bin/dpdk-testpmd", Netns: "bed-a", Iface: "bed-a",
		CPU: 0, Prefix: "p", BusyBudget: -1, Nice: -20}), " ")
	for _, want := range []string{
		"ip netns exec bed-a nice -n -20 taskset -c 0 ",
		"--vdev net_af_xdp0,iface=bed-a ",
		"--lcores 0@0,1@0 ",
		"--file-prefix p ",
		"-- --forward-mode=rxonly",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("%q lacks %q", args, want)
		}
	}
	if strings.Contains(args, "busy_budget") {
		t.Errorf("%q sets busy_budget", args)
	}
	args = strings.Join(testpmdArgs(testpmdConfig{Iface: "x", BusyBudget: 0}), " ")
	if !strings.Contains(args, "iface=x,busy_budget=0 ") {
		t.Errorf("%q: want busy_budget=0", args)
	}
}

// TestCompareOnBed runs a short comparison on a real bed. It needs root
// and AF_XDP (skips otherwise, or fails with POLLSTACK_REQUIRE_PRIVILEGED=1)
// and dpdk-testpmd (skips without it).
func TestCompareOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	const tpmd = "/usr/bin/dpdk-testpmd"
	if _, err := exec.LookPath(tpmd); err != nil {
		if os.Getenv(testbed.RequirePrivilegedEnv) == "1" {
			t.Fatalf("no %s (Debian package dpdk-dev), and %s=1: %v", tpmd, testbed.RequirePrivilegedEnv, err)
		}
		t.Skipf("no %s (Debian package dpdk-dev): %v", tpmd, err)
	}
	name := testbed.Unique("sct")
	t.Cleanup(func() {
		if err := testbed.Down(name); err != nil {
			t.Error(err)
		}
	})
	var log io.Writer = io.Discard
	if testing.Verbose() {
		log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Duration: time.Second, Warmup: time.Second, Size: 64, Flows: 1, Rounds: 1,
		GenCPU: 1, RxCPU: 0, Testpmd: tpmd, TestpmdBusyBudget: -1}
	rep, err := Compare(ctx, name, o, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Windows) != 2 {
		t.Fatalf("%d windows, want 2: %+v", len(rep.Windows), rep.Windows)
	}
	for _, w := range rep.Windows {
		if w.RxPackets == 0 || w.GenPackets == 0 || w.Seconds < 0.9 {
			t.Errorf("window %+v: nothing measured", w)
		}
	}
	if rep.Ratio <= 0 || rep.XDPMode == "" {
		t.Errorf("ratio %v, XDP mode %q", rep.Ratio, rep.XDPMode)
	}
	// Both receivers took their XDP programs away again.
	out, err := exec.Command("ip", "-n", name+"-a", "-d", "link", "show", "dev", name+"-a").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "xdp") {
		t.Errorf("an XDP program is left on %s-a:\n%s", name, out)
	}
}
