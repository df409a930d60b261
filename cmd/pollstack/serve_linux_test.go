package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// The test binary doubles as the pollstack command when this is set, so the
// integration tests run the real CLI without building it separately.
const asCommandEnv = "POLLSTACK_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if spec := os.Getenv(holderEnv); spec != "" {
		os.Exit(holdConnections(spec))
	}
	os.Exit(m.Run())
}

// command returns a pollstack command line run by the test binary.
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommandEnv+"=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// server is a running 'pollstack serve'.
type server struct {
	cmd     *exec.Cmd
	metrics string // HOST:PORT
	stderr  strings.Builder
	lines   chan string
}

// startServe runs serve on the bed's pollstack end and waits until it is up.
func startServe(t *testing.T, bed *testbed.Bed, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--iface", bed.IfaceA, "--netns", bed.NsA,
		"--metrics", "127.0.0.1:0", "--idle-sleep-after", "64", "--stats-interval", "0"}, extra...)
	s := &server{cmd: command(context.Background(), args...), lines: make(chan string, 100)}
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	re := regexp.MustCompile(`metrics on http://([^/]+)/metrics`)
	timeout := time.After(20 * time.Second)
	for s.metrics == "" {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("serve exited before it was up: %s", s.stderr.String())
			}
			s.stderr.WriteString(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				s.metrics = m[1]
			}
		case <-timeout:
			t.Fatalf("serve not up after 20 s: %s", s.stderr.String())
		}
	}
	return s
}

// stop sends SIGINT and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for line := range s.lines {
			s.stderr.WriteString(line + "\n")
		}
		done <- s.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on SIGINT: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve still running 15 s after SIGINT:\n%s", s.stderr.String())
	}
}

func inNetns(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

func pingAll(t *testing.T, ns string, args ...string) {
	t.Helper()
	out := inNetns(t, ns, append([]string{"ping"}, args...)...)
	if !strings.Contains(out, "200 packets transmitted, 200 received") {
		t.Fatalf("ping %s: not 200/200:\n%s", strings.Join(args, " "), out)
	}
	t.Logf("ping %s: %s", strings.Join(args, " "), lastLines(out, 2))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Acceptance: serve on AF_XDP answers 200/200 pings over IPv4 and IPv6 from
// the kernel, which resolves us through ARP and ND (no static entries); the
// metrics endpoint lists per-core counters; SIGINT detaches the program.
func TestServeAnswersPingOverAFXDP(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	s := startServe(t, bed)

	pingAll(t, bed.NsB, "-c", "200", "-i", "0.01", "-W", "2", "198.18.0.1")
	pingAll(t, bed.NsB, "-6", "-c", "200", "-i", "0.01", "-W", "2", "2001:2::1")

	neigh := inNetns(t, bed.NsB, "ip", "neigh", "show", "dev", bed.IfaceB)
	if strings.Contains(neigh, "PERMANENT") {
		t.Fatalf("static neighbour entries on the kernel side:\n%s", neigh)
	}
	for _, ip := range []string{"198.18.0.1", "2001:2::1"} {
		if !strings.Contains(neigh, ip+" lladdr "+bed.LocalMAC.String()) {
			t.Fatalf("kernel did not resolve %s to %s through ARP/ND:\n%s", ip, bed.LocalMAC, neigh)
		}
	}

	// Counters are published every few milliseconds: wait for the last replies.
	var metrics string
	for i := 0; i < 50; i++ {
		metrics = scrape(t, s.metrics)
		if metricValue(metrics, `pollstack_echo_replies_out_total{core="0"}`) >= 400 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`pollstack_rx_packets_total{core="0"}`, `pollstack_tx_packets_total{core="0"}`,
		`pollstack_rx_bytes_total{core="0"}`, `pollstack_tx_bytes_total{core="0"}`,
		`pollstack_drops_total{core="0",reason="malformed"}`, `pollstack_drops_total{core="0",reason="checksum"}`,
		`pollstack_drops_total{core="0",reason="no_route"}`, `pollstack_drops_total{core="0",reason="ring_full"}`,
		`pollstack_drops_total{core="0",reason="unknown_protocol"}`,
		`pollstack_rx_ring_empty_total{core="0"}`, `pollstack_tx_ring_full_total{core="0"}`,
		`pollstack_poll_busy_total{core="0"}`, `pollstack_poll_idle_total{core="0"}`,
		`pollstack_neighbour_entries{core="0"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if v := metricValue(metrics, `pollstack_echo_replies_out_total{core="0"}`); v < 400 {
		t.Errorf("echo_replies_out = %v, want at least 400", v)
	}

	// pollstack stat reads the same counters through the control socket.
	out, err := command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA, "--json").Output()
	if err != nil {
		t.Fatalf("stat --json: %v", err)
	}
	var st statReply
	if err := json.Unmarshal(out, &st); err != nil || len(st.Engine.Cores) != 1 {
		t.Fatalf("stat --json: %v: %s", err, out)
	}
	if n := st.Engine.Cores[0].Counters["echo_replies_out"]; n < 400 {
		t.Fatalf("stat: echo_replies_out %d, want at least 400", n)
	}
	out, err = command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA).Output()
	if err != nil || !strings.Contains(string(out), "core 0 (CPU 0): rx") || !strings.Contains(string(out), "drops:") {
		t.Fatalf("stat: %v\n%s", err, out)
	}

	s.stop(t)
	if _, err := os.Stat(controlPath(bed.IfaceA, bed.NsA)); err == nil {
		t.Fatal("control socket left behind after serve stopped")
	}
	link := inNetns(t, bed.NsA, "ip", "-d", "link", "show", bed.IfaceA)
	if strings.Contains(link, "xdp") {
		t.Fatalf("XDP program still attached after serve stopped:\n%s", link)
	}
}

func scrape(t *testing.T, hostport string) string {
	t.Helper()
	resp, err := http.Get("http://" + hostport + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func metricValue(metrics, name string) float64 {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// The testbed commands make and remove everything, idempotently.
func TestTestbedCommandsUpDown(t *testing.T) {
	bedtest.RequirePrivileged(t)
	name := testbed.Unique("pc")
	t.Cleanup(func() { testbed.Down(name) })
	for i := 0; i < 2; i++ {
		out, err := command(context.Background(), "testbed", "up", "--name", name, "--queues", "2").CombinedOutput()
		if err != nil {
			t.Fatalf("testbed up (run %d): %v\n%s", i+1, err, out)
		}
	}
	nss, _ := exec.Command("ip", "netns", "list").Output()
	if !strings.Contains(string(nss), name+"-a") || !strings.Contains(string(nss), name+"-b") {
		t.Fatalf("namespaces missing after up:\n%s", nss)
	}
	for i := 0; i < 2; i++ {
		out, err := command(context.Background(), "testbed", "down", "--name", name).CombinedOutput()
		if err != nil {
			t.Fatalf("testbed down (run %d): %v\n%s", i+1, err, out)
		}
	}
	nss, _ = exec.Command("ip", "netns", "list").Output()
	links, _ := exec.Command("ip", "link", "show").Output()
	if strings.Contains(string(nss), name) || strings.Contains(string(links), name) {
		t.Fatalf("left behind after down:\n%s\n%s", nss, links)
	}
}
