package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/tcptrace"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/tcp"
)

// The kernel with net.ipv4.tcp_ecn=1 (set inside its namespace) asks for
// ECN when it connects to serve, whose default ecn.enable 2 accepts it: the
// kernel's ss -tei shows the connection "ecn" (agreed) and "ecnseen" (it
// received ECT segments from pollstack), over IPv4 and IPv6; serve counts
// the handshakes (ecn_shs), the ECT(0) segments it received (ecn_ect0) and
// sent (ecn_sndect0), and its trace marks the connections ECN.
func TestServeNegotiatesECNWithTheKernel(t *testing.T) {
	bedtest.NeedTools(t, "ss")
	bed := bedtest.ForTest(t, 1)
	file := filepath.Join(t.TempDir(), "ecn.trace")
	s := startServe(t, bed, "--app", "echo", "--trace", file)
	kernelECN(t, bed.NsB)
	for _, addr := range []string{"198.18.0.1:8080", "[2001:2::1]:8080"} {
		var c net.Conn
		if err := netns.Do(bed.NsB, func() (err error) {
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		const n = 256 << 10
		go c.Write(make([]byte, n))
		if got, err := io.CopyN(io.Discard, c, n); err != nil || got != n {
			t.Fatalf("%s: echo %d of %d bytes: %v", addr, got, n, err)
		}
		local := c.LocalAddr().(*net.TCPAddr)
		out, err := exec.Command("ip", "netns", "exec", bed.NsB, "ss", "-tein", "state", "established",
			"sport", "= :"+strconv.Itoa(local.Port)).CombinedOutput()
		c.Close()
		if err != nil {
			t.Fatalf("ss: %v\n%s", err, out)
		}
		t.Logf("%s: ss -tein:\n%s", addr, strings.TrimSpace(string(out)))
		if !regexp.MustCompile(`\becn\b`).Match(out) || !strings.Contains(string(out), "ecnseen") {
			t.Fatalf("%s: the kernel's connection did not agree on ECN or saw no ECT segment:\n%s", addr, out)
		}
	}
	var shs, ect0, sndect0 float64
	for i := 0; i < 50; i++ { // counters are published every few milliseconds
		m := scrape(t, s.metrics)
		shs = metricValue(m, `pollstack_tcp_ecn_shs_total{core="0"}`)
		ect0 = metricValue(m, `pollstack_tcp_ecn_ect0_total{core="0"}`)
		sndect0 = metricValue(m, `pollstack_tcp_ecn_sndect0_total{core="0"}`)
		if shs >= 2 && ect0 > 0 && sndect0 > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ecn_shs %v, ecn_ect0 %v, ecn_sndect0 %v", shs, ect0, sndect0)
	if shs != 2 || ect0 == 0 || sndect0 == 0 {
		t.Fatalf("ecn_shs %v (want 2), ecn_ect0 %v, ecn_sndect0 %v", shs, ect0, sndect0)
	}
	s.stop(t)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tcptrace.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	conns := tcptrace.Conns(recs)
	if len(conns) != 2 {
		t.Fatalf("%d connections in the trace, want 2", len(conns))
	}
	for _, c := range conns {
		last := c.Records[len(c.Records)-1]
		ecn := false
		for _, r := range c.Records {
			ecn = ecn || r.Flags&tcp.TraceECN != 0
		}
		if !ecn {
			t.Fatalf("%s: no record says ECN (last %+v)", tcptrace.ConnName(c.Tuple), last)
		}
	}
}

// testbed impair --rate R --ecn-mark-above N marks CE instead of queueing:
// the kernel (net.ipv4.tcp_ecn=1) sending to serve's echo app through the
// tbf at R gets its frames marked (serve's ecn_ce), and serve sending a
// download faster than R gets its frames marked on the way in, which the
// kernel echoes: serve's window is reduced (ecn_rcwnd), with dctcp here.
func TestImpairECNMarkAbove(t *testing.T) {
	bedtest.NeedTools(t, "tc", "curl")
	bed := bedtest.ForTest(t, 1)
	kernelECN(t, bed.NsB)
	impairBed(t, bed, true, "--rate", "50mbit", "--ecn-mark-above", "30000")

	s := startServe(t, bed, "--app", "echo")
	echoTransfer(t, bed.NsB, 4<<20)
	var ce float64
	for i := 0; i < 50 && ce == 0; i++ {
		ce = metricValue(scrape(t, s.metrics), `pollstack_tcp_ecn_ce_total{core="0"}`)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("kernel -> pollstack: ecn_ce %v", ce)
	if ce == 0 {
		t.Fatal("the kernel's frames through the rate cap were never marked CE")
	}
	s.stop(t)

	s = startServe(t, bed, "--app", "http", "--port", "8080", "--sysctl", "cc.algorithm=dctcp")
	if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "30", "http://198.18.0.1:8080/?size=8388608"); len(out) != 8<<20 {
		t.Fatalf("download: %d bytes", len(out))
	}
	var rcwnd, shs float64
	for i := 0; i < 50 && rcwnd == 0; i++ {
		m := scrape(t, s.metrics)
		rcwnd = metricValue(m, `pollstack_tcp_ecn_rcwnd_total{core="0"}`)
		shs = metricValue(m, `pollstack_tcp_ecn_shs_total{core="0"}`)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("pollstack -> kernel: ecn_shs %v, ecn_rcwnd %v", shs, rcwnd)
	if shs != 1 || rcwnd == 0 {
		t.Fatalf("ecn_shs %v, ecn_rcwnd %v: the download's marks were not echoed and acted on", shs, rcwnd)
	}
	impairBed(t, bed, true) // clears it
}

// kernelECN sets net.ipv4.tcp_ecn=1 (ask for ECN on connect, IPv6 too) in
// the namespace ns, which goes with it.
func kernelECN(t *testing.T, ns string) {
	t.Helper()
	if err := netns.Do(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/tcp_ecn", []byte("1\n"), 0o644)
	}); err != nil {
		t.Fatalf("net.ipv4.tcp_ecn=1 in %s: %v", ns, err)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/tcp_ecn").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("net.ipv4.tcp_ecn in %s reads %q (%v)", ns, out, err)
	}
}
