package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// HyStart++ against the kernel: curl downloads 8 MiB from serve over a
// 10 ms path whose pollstack -> kernel side is a 100 Mbit/s token bucket
// with a 2 MB queue (tbf on the relay's end toward the kernel). Once cwnd
// passes the path's BDP (about 85 segments) the queue shows in the RTT and
// the first slow start turns conservative (hystart_css_entries); with
// cc.hystartplusplus.enable=0 the same download never does.
func TestServeHyStartSeesTheQueue(t *testing.T) {
	bedtest.NeedTools(t, "curl", "tc")
	bed := bedtest.ForTestWith(t, 1, testbed.Options{Relay: true})
	impairBed(t, bed, true, "--delay", "10ms")
	inNetns(t, bed.NsD, "tc", "qdisc", "replace", "dev", bed.IfaceDB, "root", "tbf",
		"rate", "100mbit", "burst", "32kb", "limit", "2000000")
	const size = 8 << 20
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
		t.Logf("hystartplusplus.enable=%d: 8 MiB in %v; hystart_css_entries %v, css_spurious %v, css_exits %v, css_loss %v, ss_loss %v; sndrexmitpack %v",
			hystartFlag(on), took.Round(time.Millisecond), entries, spurious, exits, cssLoss, ssLoss, rexmit)
		if on && (entries < 1 || exits+cssLoss+ssLoss != 1) {
			t.Fatalf("on: hystart_css_entries %v, and %v slow starts ended: the queue never showed in the RTT", entries, exits+cssLoss+ssLoss)
		}
		if !on && (entries != 0 || exits+cssLoss+ssLoss != 0) {
			t.Fatalf("off: hystart_css_entries %v, %v slow starts ended by HyStart++'s count", entries, exits+cssLoss+ssLoss)
		}
	}
}

func hystartFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}
