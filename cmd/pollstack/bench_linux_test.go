package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// startNginx runs nginx (internal/nsproc.NginxConf: one worker answering
// "hello\n" on port 80) in the bed's kernel namespace on both of its
// addresses until the test ends.
func startNginx(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	n, err := nsproc.StartNginx(context.Background(), bed.NsB, t.TempDir(), nil, testbed.PeerIPv4, testbed.PeerIPv6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("nginx: %v", err)
		}
	})
}

// benchReport is the part of bench rps/cps --json the tests read.
type benchReport struct {
	Mode        string            `json:"mode"`
	Requests    uint64            `json:"requests"`
	Connections uint64            `json:"connections"`
	Rate        float64           `json:"rate"`
	ErrorsTotal uint64            `json:"errors_total"`
	Errors      map[string]uint64 `json:"errors"`
	Sent        uint64            `json:"sent"`
	Late        uint64            `json:"late"`
	Behind      uint64            `json:"behind_at_end"`
	Duration    time.Duration     `json:"duration_ns"`
	Latency     struct {
		P50  int64 `json:"p50_ns"`
		P99  int64 `json:"p99_ns"`
		P999 int64 `json:"p999_ns"`
		Max  int64 `json:"max_ns"`
	} `json:"latency"`
	Seconds []json.RawMessage `json:"seconds"`
}

// benchOnBed runs a bench command against the bed and decodes its report.
// An AF_XDP bind can find the queue still held by the previous run's
// socket for a moment after that process exited (EBUSY): then it retries.
func benchOnBed(t *testing.T, bed *testbed.Bed, args ...string) benchReport {
	t.Helper()
	args = append([]string{"bench"}, args...)
	args = append(args, "--iface", bed.IfaceA, "--netns", bed.NsA, "--json", "--stats-interval", "0")
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := command(ctx, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil && strings.Contains(stderr.String(), "device or resource busy") && try < 5 {
			time.Sleep(time.Second)
			continue
		}
		if err != nil {
			t.Fatalf("pollstack %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		var r benchReport
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("pollstack %s: not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
		}
		t.Logf("%s: %.0f/s, %d requests, %d connections, p50 %v p99 %v p99.9 %v max %v, errors %v, late %d of %d",
			strings.Join(args[:2], " "), r.Rate, r.Requests, r.Connections, time.Duration(r.Latency.P50), time.Duration(r.Latency.P99),
			time.Duration(r.Latency.P999), time.Duration(r.Latency.Max), r.Errors, r.Late, r.Sent)
		return r
	}
}

// bench rps and bench cps against nginx on the kernel, over IPv4 and IPv6:
// requests flow and nothing fails. One open-loop run keeps its schedule's
// count, and one writes its plot.
func TestBenchAgainstNginx(t *testing.T) {
	bedtest.NeedTools(t, "nginx", "curl")
	bed := bedtest.ForTest(t, 1)
	startNginx(t, bed)
	plot := filepath.Join(t.TempDir(), "rps.svg")
	for _, tc := range []struct {
		mode, target string
		extra        []string
	}{
		{"rps", "198.18.0.2:80", []string{"--plot", plot}},
		{"rps", "[2001:2::2]:80", nil},
		{"cps", "198.18.0.2:80", nil},
		{"cps", "[2001:2::2]:80", nil},
		// The schedule starts with the first connection, which on a fresh
		// bed may wait a second for address resolution: a longer warm-up.
		{"rps", "198.18.0.2:80", []string{"--rate", "2000", "--conns", "16", "--warmup", "1500ms"}},
	} {
		args := append([]string{tc.mode, "--connect", tc.target, "--duration", "2500ms", "--warmup", "500ms", "--conns", "32"}, tc.extra...)
		r := benchOnBed(t, bed, args...)
		if r.Mode != tc.mode || r.Requests == 0 || r.ErrorsTotal != 0 || r.Rate <= 0 || len(r.Seconds) == 0 {
			t.Errorf("%s %s: %+v", tc.mode, tc.target, r)
		}
		// A connection's response and its close may fall on two sides of
		// the window's edges: at most --conns apart.
		if d := int64(r.Requests) - int64(r.Connections); tc.mode == "cps" && (r.Connections == 0 || d < -32 || d > 32) {
			t.Errorf("cps %s: %d connections, %d requests", tc.target, r.Connections, r.Requests)
		}
		if tc.extra != nil && tc.extra[0] == "--rate" {
			// The schedule's points in the measured window (2.5 s, a little
			// more when the machine is slow to close it): made or still
			// due, 2000 a second, give or take a point at each edge (the
			// loop's clock reading for a call can be a turn older than the
			// one its poll made starts with) and one for rounding.
			want := 2000 * r.Duration.Seconds()
			if got := float64(r.Sent + r.Behind); r.Duration < 2500*time.Millisecond || got < want-3 || got > want+3 {
				t.Errorf("open loop at 2000/s: %d starts made and %d due in a %v window, want %.0f", r.Sent, r.Behind, r.Duration, want)
			}
		}
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("<polyline")) {
		t.Errorf("--plot wrote %d bytes (%v)", len(svg), err)
	}
}

// serve --pcap captures a curl exchange whole: every request is in the
// capture, tshark finds nothing malformed and no bad checksum, and no
// frame was left out.
func TestServePcap(t *testing.T) {
	bedtest.NeedTools(t, "curl", "tshark")
	bed := bedtest.ForTest(t, 1)
	file := filepath.Join(t.TempDir(), "serve.pcap")
	s := startServe(t, bed, "--app", "http", "--port", "8080", "--pcap", file)
	const n = 20
	for i := 0; i < n; i++ {
		url := "http://198.18.0.1:8080/?size=3000"
		if i%2 == 1 {
			url = "http://[2001:2::1]:8080/?size=3000"
		}
		if out := inNetns(t, bed.NsB, "curl", "-sS", "-g", "-m", "5", url); len(out) != 3000 {
			t.Fatalf("curl %s: %d bytes", url, len(out))
		}
	}
	s.stop(t)
	m := regexp.MustCompile(`pcap \S+: (\d+) frames written, (\d+) left out`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no capture summary:\n%s", s.stderr.String())
	}
	if written, _ := strconv.Atoi(m[1]); written < n*6 || m[2] != "0" {
		t.Fatalf("capture: %s frames written, %s left out", m[1], m[2])
	}
	checkCapture(t, file)
	out, err := exec.Command("tshark", "-r", file, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(out), "/?size=3000"); got != n {
		t.Fatalf("%d HTTP requests in the capture, want %d:\n%s", got, n, out)
	}
	out, err = exec.Command("tshark", "-r", file, "-q", "-z", "expert,error").CombinedOutput()
	if err != nil || strings.Contains(string(out), "Errors (") {
		t.Fatalf("tshark expert errors: %v\n%s", err, out)
	}
}
