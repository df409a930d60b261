package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// streamGen is a deterministic byte stream (xorshift64), so that a
// receiver can check a transfer of any size byte for byte without holding
// it: a segment out of place, lost or doubled changes what it reads,
// however it is read.
type streamGen struct {
	s, v uint64 // state, and the word being handed out
	left int    // bytes of v not handed out yet
}

func (g *streamGen) Read(p []byte) (int, error) {
	for i := range p {
		if g.left == 0 {
			g.s ^= g.s << 13
			g.s ^= g.s >> 7
			g.s ^= g.s << 17
			g.v, g.left = g.s, 8
		}
		p[i] = byte(g.v)
		g.v >>= 8
		g.left--
	}
	return len(p), nil
}

// echoExact sends size bytes of a seeded stream from the kernel in ns to
// serve's echo app at addr (HOST:PORT) and checks that what comes back is
// the same stream, byte for byte. It fails t when no byte moves for stall.
// It returns how long the transfer took. diag, when not nil, is called
// before a failure, to log the state of what is under test.
func echoExact(t *testing.T, ns, addr string, size int64, stall time.Duration, diag func()) time.Duration {
	t.Helper()
	var c net.Conn
	if err := netns.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		src := io.LimitReader(&streamGen{s: 0x5eed}, size)
		buf := make([]byte, 256<<10)
		var err error
		for err == nil {
			n, rerr := src.Read(buf)
			if n == 0 && rerr != nil {
				break
			}
			tc.SetWriteDeadline(time.Now().Add(stall))
			_, err = tc.Write(buf[:n])
		}
		if err == nil {
			err = tc.CloseWrite()
		}
		errc <- err
	}()
	want := &streamGen{s: 0x5eed}
	got, exp := make([]byte, 256<<10), make([]byte, 256<<10)
	var off int64
	next := size / 4
	for {
		tc.SetReadDeadline(time.Now().Add(stall))
		n, err := tc.Read(got)
		if n > 0 {
			want.Read(exp[:n])
			for i := 0; i < n; i++ {
				if got[i] != exp[i] {
					t.Fatalf("echo: byte %d is %#x, want %#x", off+int64(i), got[i], exp[i])
				}
			}
			off += int64(n)
			if off >= next && size >= 64<<20 {
				t.Logf("echo: %d MiB of %d back after %v", off>>20, size>>20, time.Since(start).Round(time.Second))
				next += size / 4
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if diag != nil {
				diag()
			}
			t.Fatalf("echo: after %d of %d bytes back: %v", off, size, err)
		}
	}
	if off != size {
		t.Fatalf("echo: %d bytes back, want %d", off, size)
	}
	if err := <-errc; err != nil {
		t.Fatalf("echo: send: %v", err)
	}
	return time.Since(start)
}

// kernelStats reads the kernel's TCP counters (nstat, absolute) in ns: a
// bed's namespace is new, so they are the bed's.
func kernelStats(t *testing.T, ns string, names ...string) map[string]float64 {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nstat", "-asz"}, names...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nstat in %s: %v\n%s", ns, err, out)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			m[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	return m
}

// relayCounts reads the relay's counters of both directions ("NAME-da->"
// is pollstack -> kernel): frames reordered and duplicated.
func relayCounts(t *testing.T, name string) (line string, reordered, duplicated [2]uint64) {
	t.Helper()
	line, err := testbed.RelayStats(name)
	if err != nil {
		t.Fatalf("relay stats: %v", err)
	}
	for i, dir := range []string{name + "-da->", name + "-db->"} {
		m := regexp.MustCompile(regexp.QuoteMeta(dir) + `\S+ passed \d+ .*? reordered (\d+) held-alone \d+ duplicated (\d+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("relay stats without %s's counters: %s", dir, line)
		}
		reordered[i], _ = strconv.ParseUint(m[1], 10, 64)
		duplicated[i], _ = strconv.ParseUint(m[2], 10, 64)
	}
	return line, reordered, duplicated
}

// tcpCounter reads pollstack's tcpstat counter name on core 0, waiting
// for the published value to reach at least min (counters are published
// every few milliseconds).
func tcpCounter(t *testing.T, s *server, name string, min float64) float64 {
	t.Helper()
	var v float64
	for i := 0; i < 50; i++ {
		if v = metricValue(scrape(t, s.metrics), `pollstack_tcp_`+name+`_total{core="0"}`); v >= min {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return v
}

// 'testbed impair --reorder P --duplicate P' on a relayed bed reorders and
// duplicates frames both ways: an echo through pollstack serve comes back
// byte for byte, the relay counts frames reordered and duplicated in each
// direction, pollstack counts out-of-order and duplicate segments from the
// kernel, and the kernel the same from pollstack (nstat: segments queued
// out of order, D-SACKs sent for duplicates). (A bed without the relay
// refuses them: TestImpairInstallsAndClears.)
func TestImpairReorderDuplicate(t *testing.T) {
	bedtest.NeedTools(t, "tc", "nstat")
	bed := bedtest.ForTestWith(t, 1, testbed.Options{Relay: true})
	out, _ := impairBed(t, bed, true, "--reorder", "0.05", "--duplicate", "0.02", "--seed", "7")
	for _, want := range []string{"reorder 0.05 both ways", "duplicate 0.02 both ways", "relay seed 7"} {
		if !strings.Contains(out, want) {
			t.Errorf("impair's description %q lacks %q", out, want)
		}
	}
	s := startServe(t, bed, "--app", "echo")
	const size = 4 << 20
	took := echoExact(t, bed.NsB, "198.18.0.1:8080", size, 10*time.Second, nil)
	line, reordered, duplicated := relayCounts(t, bed.Name)
	t.Logf("%d bytes echoed byte-exact in %v; %s", size, took.Round(time.Millisecond), line)
	for i, dir := range []string{"pollstack -> kernel", "kernel -> pollstack"} {
		if reordered[i] == 0 || duplicated[i] == 0 {
			t.Errorf("relay %s: %d reordered, %d duplicated; want both above 0", dir, reordered[i], duplicated[i])
		}
	}
	oo, dup := tcpCounter(t, s, "rcvoopack", 1), tcpCounter(t, s, "rcvduppack", 1)
	k := kernelStats(t, bed.NsB, "TcpExtTCPOFOQueue", "TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent", "TcpRetransSegs")
	t.Logf("pollstack: rcvoopack %v rcvduppack %v; kernel: %v", oo, dup, k)
	if oo <= 0 || dup <= 0 {
		t.Errorf("pollstack: rcvoopack %v rcvduppack %v; want both above 0", oo, dup)
	}
	if k["TcpExtTCPOFOQueue"] <= 0 || k["TcpExtTCPDSACKOldSent"]+k["TcpExtTCPDSACKOfoSent"] <= 0 {
		t.Errorf("kernel: %v; want segments queued out of order and D-SACKs sent for duplicates", k)
	}
	s.stop(t)
}

// bedSize is the size of each way of TestBedLossyEchoByteExact:
// POLLSTACK_BED=gib for 1 GiB, POLLSTACK_BED=BYTES for any, a few MiB
// otherwise (CI).
func bedSize(t *testing.T) int64 {
	switch v := os.Getenv("POLLSTACK_BED"); v {
	case "":
		if raceEnabled {
			return 2 << 20
		}
		return 8 << 20
	case "gib":
		return 1 << 30
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("POLLSTACK_BED=%q: want gib or a number of bytes", v)
		}
		return n
	}
}

// Byte-exact both ways through the bed's own impairments, pollstack against
// the kernel: 5% of the frames lost each way (tc BPF on NAME-b), 1%
// reordered and 0.1% duplicated each way (the relay), the kernel in NAME-b
// sending a seeded stream to serve --app echo and checking every byte that
// comes back. A few MiB in CI; POLLSTACK_BED=gib for 1 GiB each way. It
// prints the time, both stacks' retransmissions and timeouts, and the
// relay's counters.
func TestBedLossyEchoByteExact(t *testing.T) {
	bedtest.NeedTools(t, "tc", "nstat")
	size := bedSize(t)
	bed := bedtest.ForTestWith(t, 1, testbed.Options{Relay: true})
	impairBed(t, bed, true, "--loss", "0.05", "--reorder", "0.01", "--duplicate", "0.001")
	trace := t.TempDir() + "/serve.trace"
	s := startServe(t, bed, "--app", "echo", "--trace", trace)
	stall := 30 * time.Second // a run of timeouts at 5% loss, with backoff
	diag := func() {
		out, _ := exec.Command("ip", "netns", "exec", bed.NsB, "ss", "-tino").CombinedOutput()
		t.Logf("the kernel's socket: %s", out)
		if line, err := testbed.RelayStats(bed.Name); err == nil {
			t.Logf("%s", line)
		}
		out, _ = command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA).CombinedOutput()
		t.Logf("pollstack stat: %s", out)
		out, _ = command(context.Background(), "trace", "dump", trace).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("serve's trace: %d lines; the first and the last 40:\n%s\n...\n%s", len(lines), lines[0],
			strings.Join(lines[max(len(lines)-40, 1):], "\n"))
	}
	took := echoExact(t, bed.NsB, "198.18.0.1:8080", size, stall, diag)
	line, reordered, duplicated := relayCounts(t, bed.Name)
	names := []string{"sndrexmitpack", "rexmttimeo", "rexmttimeo_spurious", "sack_rexmits", "rcvoopack", "rcvduppack"}
	var ps []string
	for _, n := range names {
		ps = append(ps, fmt.Sprintf("%s %v", n, tcpCounter(t, s, n, 0)))
	}
	k := kernelStats(t, bed.NsB, "TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPOFOQueue", "TcpExtTCPDSACKOldSent")
	cc, _ := exec.Command("ip", "netns", "exec", bed.NsB, "sysctl", "-n", "net.ipv4.tcp_congestion_control").Output()
	t.Logf("%d bytes each way, byte-exact, in %v (%.1f Mbit/s each way; the kernel's congestion control %s)",
		size, took.Round(time.Millisecond), float64(size)*8/took.Seconds()/1e6, strings.TrimSpace(string(cc)))
	t.Logf("pollstack (sends %d bytes to the kernel): %s", size, strings.Join(ps, ", "))
	t.Logf("kernel (sends %d bytes to pollstack): TcpRetransSegs %v, TcpExtTCPTimeouts %v, TcpExtTCPLossProbes %v, TcpExtTCPOFOQueue %v, TcpExtTCPDSACKOldSent %v",
		size, k["TcpRetransSegs"], k["TcpExtTCPTimeouts"], k["TcpExtTCPLossProbes"], k["TcpExtTCPOFOQueue"], k["TcpExtTCPDSACKOldSent"])
	t.Logf("relay: reordered %v, duplicated %v (pollstack -> kernel, kernel -> pollstack); %s", reordered, duplicated, line)
	if rx := tcpCounter(t, s, "sndrexmitpack", 1); rx <= 0 || k["TcpRetransSegs"] <= 0 {
		t.Errorf("no retransmissions at 5%% loss: pollstack %v, kernel %v", rx, k["TcpRetransSegs"])
	}
	for i := range 2 {
		if reordered[i] == 0 {
			t.Errorf("relay direction %d reordered nothing", i)
		}
	}
	s.stop(t)
}
