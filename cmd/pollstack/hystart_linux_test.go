package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// HyStart++ against the kernel: curl downloads 4 MiB from serve over a
// 10 ms path whose pollstack -> kernel side is a 30 Mbit/s token bucket
// with a 1 MB queue (tbf on the relay's end toward the kernel). Once cwnd
// passes the path's BDP (about 26 segments) the queue shows in the RTT and
// the first slow start turns conservative (hystart_css_entries), then ends
// after CSS's rounds with the queue still short of the limit; with
// cc.hystartplusplus.enable=0 the same download never does. The bottleneck
// is well under what serve sends under the race detector on a loaded
// machine: at 100 Mbit/s such a serve was itself the bottleneck at times,
// the queue came and went, and every CSS entry was undone as spurious.
func TestServeHyStartSeesTheQueue(t *testing.T) {
	bedtest.NeedTools(t, "curl", "tc")
	bed := bedtest.ForTestWith(t, 1, testbed.Options{Relay: true})
	impairBed(t, bed, true, "--delay", "10ms")
	inNetns(t, bed.NsD, "tc", "qdisc", "replace", "dev", bed.IfaceDB, "root", "tbf",
		"rate", "30mbit", "burst", "16kb", "limit", "1000000")
	const size = 4 << 20
	rexmits := map[bool]float64{}
	for _, on := range []bool{true, false} {
		s := startServe(t, bed, "--app", "http", "--port", "8080", "--sysctl", "sendspace=4194304",
			"--sysctl", fmt.Sprintf("cc.hystartplusplus.enable=%d", hystartFlag(on)))
		start := time.Now()
		if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "60", fmt.Sprintf("http://198.18.0.1:8080/?size=%d", size)); len(out) != size {
			t.Fatalf("download: %d bytes", len(out))
		}
		took := time.Since(start)
		m := scrape(t, s.metrics)
		entries := metricValue(m, `pollstack_tcp_hystart_css_entries_total{core="0"}`)
		spurious := metricValue(m, `pollstack_tcp_hystart_css_spurious_total{core="0"}`)
		exits := metricValue(m, `pollstack_tcp_hystart_css_exits_total{core="0"}`)
		cssLoss := metricValue(m, `pollstack_tcp_hystart_css_loss_total{core="0"}`)
		ssLoss := metricValue(m, `pollstack_tcp_hystart_ss_loss_total{core="0"}`)
		rexmit := metricValue(m, `pollstack_tcp_sndrexmitpack_total{core="0"}`)
		s.stop(t)
		rexmits[on] = rexmit
		t.Logf("hystartplusplus.enable=%d: 4 MiB in %v; hystart_css_entries %v, css_spurious %v, css_exits %v, css_loss %v, ss_loss %v; sndrexmitpack %v",
			hystartFlag(on), took.Round(time.Millisecond), entries, spurious, exits, cssLoss, ssLoss, rexmit)
		if on && (entries < 1 || exits+cssLoss+ssLoss != 1) {
			t.Fatalf("on: hystart_css_entries %v, and %v slow starts ended: the queue never showed in the RTT", entries, exits+cssLoss+ssLoss)
		}
		if !on && (entries != 0 || exits+cssLoss+ssLoss != 0) {
			t.Fatalf("off: hystart_css_entries %v, %v slow starts ended by HyStart++'s count", entries, exits+cssLoss+ssLoss)
		}
	}
	// Without HyStart++ slow start runs until the queue overflows; with it,
	// it ends first.
	if rexmits[true]*4 > rexmits[false] {
		t.Fatalf("retransmitted %v segments with HyStart++ and %v without: want far fewer with it", rexmits[true], rexmits[false])
	}
}

func hystartFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}
