package main

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// impairBed runs 'pollstack testbed impair' on bed with flags; it fails t
// unless the command succeeds, and returns its error output when it fails
// and fail is false.
func impairBed(t *testing.T, bed *testbed.Bed, fail bool, flags ...string) (string, error) {
	t.Helper()
	args := append([]string{"testbed", "impair", "--name", bed.Name}, flags...)
	out, err := command(context.Background(), args...).CombinedOutput()
	if err != nil && fail {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err == nil {
		t.Logf("%s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	return string(out), err
}

// pingStats pings from the kernel's namespace and returns how many replies
// came back and the rtt line's min and avg; ping's exit status (1 when
// replies are missing) is no failure.
func pingStats(t *testing.T, ns string, args ...string) (received int, min, avg time.Duration) {
	t.Helper()
	out, _ := exec.Command("ip", append([]string{"netns", "exec", ns, "ping"}, args...)...).CombinedOutput()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("ping %s: no summary:\n%s", strings.Join(args, " "), out)
	}
	received, _ = strconv.Atoi(m[2])
	if r := regexp.MustCompile(`= ([\d.]+)/([\d.]+)/`).FindStringSubmatch(string(out)); r != nil {
		ms := func(s string) time.Duration {
			f, _ := strconv.ParseFloat(s, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		min, avg = ms(r[1]), ms(r[2])
	}
	t.Logf("ping %s: %s", strings.Join(args, " "), lastLines(string(out), 2))
	return received, min, avg
}

// With --loss 0.2 each direction drops about a fifth of the frames: of 200
// pings pollstack answers about 160 (the kernel's egress program) and about
// 128 replies come back (its ingress program). Cleared, the path loses none.
func TestImpairLossBothWays(t *testing.T) {
	bedtest.NeedTools(t, "ping", "tc")
	bed := bedtest.ForTest(t, 1)
	s := startServe(t, bed)
	pingAll(t, bed.NsB, "-c", "200", "-i", "0.01", "-W", "2", "198.18.0.1") // resolves the neighbours on a clean path
	var base float64
	for i := 0; i < 50 && base < 200; i++ { // counters are published every few milliseconds
		base = metricValue(scrape(t, s.metrics), `pollstack_echo_replies_out_total{core="0"}`)
		time.Sleep(20 * time.Millisecond)
	}

	impairBed(t, bed, true, "--loss", "0.2")
	got, _, _ := pingStats(t, bed.NsB, "-c", "200", "-i", "0.01", "-W", "1", "198.18.0.1")
	var answered float64
	for i := 0; i < 50; i++ {
		answered = metricValue(scrape(t, s.metrics), `pollstack_echo_replies_out_total{core="0"}`) - base
		if answered >= float64(got) && i > 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	toPollstack := 1 - answered/200
	toKernel := 1 - float64(got)/answered
	total := 1 - float64(got)/200
	t.Logf("loss 0.2: kernel -> pollstack %.1f%%, pollstack -> kernel %.1f%%, round trip %.1f%% (%d/200)",
		100*toPollstack, 100*toKernel, 100*total, got)
	if total < 0.2 || total > 0.5 {
		t.Errorf("round-trip loss %.1f%%, want 20..50%% (two draws at 0.2: 36%%)", 100*total)
	}
	for dir, l := range map[string]float64{"kernel -> pollstack": toPollstack, "pollstack -> kernel": toKernel} {
		if l < 0.08 || l > 0.35 {
			t.Errorf("%s: loss %.1f%%, want about 20%%", dir, 100*l)
		}
	}

	impairBed(t, bed, true, "--loss", "0", "--delay", "0", "--rate", "0")
	pingAll(t, bed.NsB, "-c", "200", "-i", "0.01", "-W", "2", "198.18.0.1")
	pingAll(t, bed.NsB, "-6", "-c", "200", "-i", "0.01", "-W", "2", "2001:2::1")
	s.stop(t)
}

// --delay needs a relayed bed: on a bed of one veth pair impair refuses it
// in one line. 'testbed up --delay 10ms' makes the relay in NAME-d: every
// round trip to pollstack serve takes at least 10 ms more (the relay holds
// each frame 5 ms each way) and not much more, a 1 MiB HTTP body comes
// through intact, --jitter spreads the round trips without losing any, and
// 'testbed down' reports the relay's counters and leaves nothing behind.
func TestImpairDelay(t *testing.T) {
	bedtest.NeedTools(t, "ping", "tc", "curl")
	plain := bedtest.ForTest(t, 1)
	if out, err := impairBed(t, plain, false, "--delay", "20ms"); err == nil || !strings.Contains(out, "no relay") {
		t.Errorf("impair --delay on a bed without a relay: %v\n%s\nwant a refusal naming the relay", err, out)
	}

	name := testbed.Unique("pd")
	t.Cleanup(func() {
		if err := testbed.Down(name); err != nil {
			t.Errorf("down %s: %v", name, err)
		}
	})
	out, err := command(context.Background(), "testbed", "up", "--name", name, "--delay", "10ms").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<-relay->") {
		t.Fatalf("testbed up --delay 10ms: %v\n%s", err, out)
	}
	t.Logf("testbed up --delay 10ms: %s", strings.TrimSpace(string(out)))
	bed := &testbed.Bed{Name: name, Queues: 1, IfaceA: name + "-a", NsA: name + "-a", IfaceB: name + "-b", NsB: name + "-b"}
	s := startServe(t, bed, "--app", "http", "--port", "8080")

	const d = 10 * time.Millisecond
	for _, dst := range [][]string{{"198.18.0.1"}, {"-6", "2001:2::1"}} {
		got, min, avg := pingStats(t, bed.NsB, append([]string{"-c", "20", "-i", "0.05", "-W", "2"}, dst...)...)
		// A timing check of correctness, not speed: at least the delay,
		// and on average not far above it even on a busy machine. The
		// first ping may wait for the neighbour (a round trip more).
		if got != 20 || min < d || avg > 30*time.Millisecond {
			t.Errorf("ping %v with delay %v: %d/20, rtt min %v avg %v; want 20/20, min >= %v, avg <= 30ms", dst, d, got, min, avg, d)
		}
	}
	const size = 1 << 20
	want := patternBody(size)
	for _, u := range []string{fmt.Sprintf("http://198.18.0.1:8080/?size=%d", size), fmt.Sprintf("http://[2001:2::1]:8080/?size=%d", size)} {
		start := time.Now()
		body, err := exec.Command("ip", "netns", "exec", bed.NsB, "curl", "-sS", "-m", "30", u).Output()
		if err != nil || !bytes.Equal(body, want) {
			t.Fatalf("curl %s through the relay: %v, %d bytes, intact %v", u, err, len(body), bytes.Equal(body, want))
		}
		t.Logf("curl %s: %d bytes intact in %v", u, len(body), time.Since(start).Round(time.Millisecond))
	}

	impairBed(t, bed, true, "--delay", "20ms", "--jitter", "10ms")
	got, min, avg := pingStats(t, bed.NsB, "-c", "20", "-i", "0.05", "-W", "2", "198.18.0.1")
	// 20 ms ± 10 ms: at least 10 ms; the average generous, as serve's
	// own answer is late now and then on a busy machine.
	if got != 20 || min < 10*time.Millisecond || avg > 50*time.Millisecond {
		t.Errorf("ping with delay 20ms jitter 10ms: %d/20, rtt min %v avg %v; want 20/20, 10ms <= min, avg <= 50ms", got, min, avg)
	}
	s.stop(t)

	out, err = command(context.Background(), "testbed", "down", "--name", name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "relay stats:") {
		t.Fatalf("testbed down: %v\n%s", err, out)
	}
	t.Logf("testbed down: %s", strings.TrimSpace(string(out)))
	if _, err := os.Stat(filepath.Join(testbed.StateDir, name)); err == nil {
		t.Errorf("state of %s left after testbed down", name)
	}
	if out, err := exec.Command("ip", "netns", "exec", name+"-d", "true").CombinedOutput(); err == nil {
		t.Errorf("netns %s-d left after testbed down: %s", name, out)
	}
}

// echoTransfer sends n bytes from the kernel to serve's echo app, reads them
// back and returns how long it took.
func echoTransfer(t *testing.T, ns string, n int) time.Duration {
	t.Helper()
	var c net.Conn
	if err := netns.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", "198.18.0.1:8080", 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial serve: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, n))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.Copy(io.Discard, c)
	if err != nil || got != int64(n) {
		t.Fatalf("echo of %d bytes: got %d: %v", n, got, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("send %d bytes: %v", n, err)
	}
	return time.Since(start)
}

// With --rate the kernel's sending is paced: 2 MB at 8mbit (1 MB/s) take
// about 2 s; cleared, the same transfer is far faster.
func TestImpairRatePacesTheKernel(t *testing.T) {
	bedtest.NeedTools(t, "tc")
	bed := bedtest.ForTest(t, 1)
	s := startServe(t, bed, "--app", "echo")
	const n, rate = 2 << 20, 1_000_000 // bytes, bytes/s
	floor := time.Duration(float64(n) / rate * float64(time.Second))

	impairBed(t, bed, true, "--rate", "8mbit")
	took := echoTransfer(t, bed.NsB, n)
	t.Logf("%d bytes at 8mbit: %v (%.2f MB/s; %v at the rate)", n, took, float64(n)/took.Seconds()/1e6, floor)
	if took < floor*95/100 || took > 2*floor+2*time.Second {
		t.Errorf("%d bytes at 8mbit took %v, want about %v", n, took, floor)
	}

	impairBed(t, bed, true, "--loss", "0", "--delay", "0", "--rate", "0")
	took = echoTransfer(t, bed.NsB, n)
	t.Logf("%d bytes cleared: %v", n, took)
	if took > floor/2 { // half the paced time: the limiter is gone, even on a busy machine under -race
		t.Errorf("cleared: %d bytes took %v, want well under %v", n, took, floor)
	}
	s.stop(t)
}
