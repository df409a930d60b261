package main

import (
	"bytes"
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// socatUDP sends in as one datagram from the kernel's namespace with
// socat to target (socat's address, UDP:... or UDP6:...) and returns what
// socat printed (the echoed datagram) and its error.
func socatUDP(t *testing.T, bed *testbed.Bed, target string, in []byte) ([]byte, string, error) {
	t.Helper()
	// -b: one read of stdin, one datagram; -t: how long socat waits for
	// the answer after stdin's end.
	cmd := exec.Command("ip", "netns", "exec", bed.NsB, "socat", "-b", "65536", "-t", "0.5", "-", target)
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.Bytes(), stderr.String(), err
}

// Acceptance (UDP 4): 'serve --app echo' echoes the kernel's datagrams on
// its port over IPv4 and IPv6, 8 KiB ones included, which travel in
// fragments both ways (the kernel fragments them to us, we fragment the
// echo); a datagram to a closed port draws a port unreachable, which the
// kernel's socket (socat) reports as ECONNREFUSED.
func TestServeEchoesUDP(t *testing.T) {
	bedtest.NeedTools(t, "socat")
	bed := bedtest.ForTest(t, 1)
	s := startServe(t, bed, "--app", "echo", "--port", "7")
	for _, target := range []string{"UDP:198.18.0.1:7", "UDP6:[2001:2::1]:7"} {
		for _, size := range []int{1, 1000, 1472, 1473, 8192, 30000} {
			in := make([]byte, size)
			rand.Read(in)
			out, stderr, err := socatUDP(t, bed, target, in)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("%s, %d bytes: echoed %d bytes (equal: %v), %v\n%s", target, size, len(out), bytes.Equal(out, in), err, stderr)
			}
		}
	}
	for _, target := range []string{"UDP:198.18.0.1:9", "UDP6:[2001:2::1]:9"} {
		_, stderr, err := socatUDP(t, bed, target, []byte("anyone?"))
		if err == nil || !strings.Contains(stderr, "Connection refused") {
			t.Fatalf("%s (closed port): %v, want Connection refused\n%s", target, err, stderr)
		}
	}
	var metrics string
	for i := 0; i < 50; i++ {
		metrics = scrape(t, s.metrics)
		if metricValue(metrics, `pollstack_icmp_unreach_out_total{core="0"}`) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range []string{"udp_ipackets", "udp_opackets", "ip_reassembled", "ip6_reassembled",
		"ip_fragmented", "ip6_fragmented", "ip_ofragments", "ip6_ofragments", "udp_noport", "icmp_unreach_out"} {
		if v := metricValue(metrics, `pollstack_`+m+`_total{core="0"}`); v == 0 {
			t.Errorf("%s = 0", m)
		}
	}
	for _, m := range []string{"udp_badsum", "udp_fullsock", "ip_fragdropped", "ip6_fragdropped"} {
		if v := metricValue(metrics, `pollstack_`+m+`_total{core="0"}`); v != 0 {
			t.Errorf("%s = %v, want 0", m, v)
		}
	}
	t.Logf("udp_ipackets %v, ip_reassembled %v, ip6_reassembled %v, ip_ofragments %v, ip6_ofragments %v",
		metricValue(metrics, `pollstack_udp_ipackets_total{core="0"}`), metricValue(metrics, `pollstack_ip_reassembled_total{core="0"}`),
		metricValue(metrics, `pollstack_ip6_reassembled_total{core="0"}`), metricValue(metrics, `pollstack_ip_ofragments_total{core="0"}`),
		metricValue(metrics, `pollstack_ip6_ofragments_total{core="0"}`))
	s.stop(t)
}

// On two cores and two queues, the echo socket belongs to one core: the
// kernel's datagrams that arrive on the other queue (in fragments too)
// are handed to it, and every one is echoed.
func TestServeEchoesUDPOnTwoCores(t *testing.T) {
	bedtest.NeedTools(t, "socat")
	bed := bedtest.ForTest(t, 2)
	s := startServe(t, bed, "--cores", "0,1", "--app", "echo", "--port", "7")
	for i := 0; i < 3; i++ {
		for _, target := range []string{"UDP:198.18.0.1:7", "UDP6:[2001:2::1]:7"} {
			for _, size := range []int{1000, 8192} {
				in := make([]byte, size)
				rand.Read(in)
				out, stderr, err := socatUDP(t, bed, target, in)
				if err != nil || !bytes.Equal(out, in) {
					t.Fatalf("%s, %d bytes: echoed %d bytes (equal: %v), %v\n%s", target, size, len(out), bytes.Equal(out, in), err, stderr)
				}
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // the counters' publication
	metrics := scrape(t, s.metrics)
	var in, steered float64
	for _, core := range []string{"0", "1"} {
		in += metricValue(metrics, `pollstack_udp_ipackets_total{core="`+core+`"}`)
		steered += metricValue(metrics, `pollstack_steered_out_total{core="`+core+`"}`)
	}
	if in != 12 {
		t.Fatalf("udp_ipackets %v over both cores, want 12", in)
	}
	t.Logf("12 datagrams echoed; %v hand-offs between the cores", steered)
	s.stop(t)
}
