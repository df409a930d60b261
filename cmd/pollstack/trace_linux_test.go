package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/tcptrace"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/tcp"
)

// serve --trace on a path that loses 1% of the frames each way: curl
// downloads from the kernel's side, the trace keeps every record (none
// dropped at the default ring), shows the server's connections in
// recovery, and trace dump and trace plot read it (a panel per
// connection).
func TestServeTraceUnderLoss(t *testing.T) {
	bedtest.NeedTools(t, "curl", "tc")
	bed := bedtest.ForTest(t, 1)
	file := filepath.Join(t.TempDir(), "serve.trace")
	s := startServe(t, bed, "--app", "http", "--port", "8080", "--trace", file)
	impairBed(t, bed, true, "--loss", "0.01")
	const n, size = 4, 1 << 20
	for i := 0; i < n; i++ {
		url := "http://198.18.0.1:8080/?size=1048576"
		if i%2 == 1 {
			url = "http://[2001:2::1]:8080/?size=1048576"
		}
		if out := inNetns(t, bed.NsB, "curl", "-sS", "-g", "-m", "30", url); len(out) != size {
			t.Fatalf("curl %s: %d bytes", url, len(out))
		}
	}
	s.stop(t)
	m := regexp.MustCompile(`trace \S+: (\d+) records written, (\d+) dropped`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no trace summary:\n%s", s.stderr.String())
	}
	if m[2] != "0" {
		t.Fatalf("trace: %s records written, %s dropped", m[1], m[2])
	}
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
	recovery, episodes := 0, 0
	for _, c := range conns {
		if c.Tuple.LocalPort != 8080 {
			t.Errorf("a connection from port %d in the trace", c.Tuple.LocalPort)
		}
		prev := tcp.CCOpen
		for _, r := range c.Records {
			if r.CC == tcp.CCRecovery {
				recovery++
				if prev != tcp.CCRecovery {
					episodes++
				}
			}
			prev = r.CC
		}
	}
	t.Logf("%d records, %d connections, %d in recovery, %d episodes", len(recs), len(conns), recovery, episodes)
	if len(conns) != n || episodes == 0 {
		t.Fatalf("%d connections (want %d), %d recovery episodes", len(conns), n, episodes)
	}

	out, err := command(context.Background(), "trace", "dump", file, "--csv").Output()
	if err != nil {
		t.Fatalf("trace dump: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(recs)+1 || !strings.HasPrefix(lines[0], "time_s,core,local,remote,event") ||
		!strings.Contains(string(out), ",recovery,") {
		t.Fatalf("trace dump: %d lines for %d records; first %q", len(lines), len(recs), lines[0])
	}
	svg := filepath.Join(t.TempDir(), "serve.svg")
	if out, err := command(context.Background(), "trace", "plot", file, "-o", svg).CombinedOutput(); err != nil {
		t.Fatalf("trace plot: %v\n%s", err, out)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b, []byte(`<g class="panel"`)); got != n {
		t.Fatalf("%d panels, want %d", got, n)
	}
}

// bench bulk --trace traces the client's connection: pollstack sends 8 MiB
// to socat in the kernel's namespace through its own fault link (1% of
// frames dropped each way); the trace holds the one connection, in
// recovery at times, and its last record's retransmission count is the
// one bench reports.
func TestBenchBulkTrace(t *testing.T) {
	bedtest.NeedTools(t, "socat")
	bed := bedtest.ForTest(t, 1)
	srv := exec.Command("ip", "netns", "exec", bed.NsB, "socat", "-u", "TCP-LISTEN:9000,reuseaddr", "OPEN:/dev/null")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	time.Sleep(300 * time.Millisecond)
	file := filepath.Join(t.TempDir(), "bulk.trace")
	res, err := command(context.Background(), "bench", "bulk", "--iface", bed.IfaceA, "--netns", bed.NsA,
		"--connect", "198.18.0.2:9000", "--bytes", "8388608", "--json", "--idle-sleep-after", "64", "--stats-interval", "0",
		"--timeout", "2m", "--fault-drop", "0.01", "--trace", file).Output()
	if err != nil {
		t.Fatalf("bench bulk: %v\n%s", err, res)
	}
	var r struct {
		Bytes       int64 `json:"bytes"`
		Retransmits int64 `json:"retransmitted_segments"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Bytes != 8<<20 {
		t.Fatalf("bench bulk output %q: %v", res, err)
	}
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
	if len(conns) != 1 || conns[0].Tuple.RemotePort != 9000 {
		t.Fatalf("%d connections in the trace", len(conns))
	}
	recovery := 0
	for _, rec := range conns[0].Records {
		if rec.CC == tcp.CCRecovery {
			recovery++
		}
	}
	last := conns[0].Records[len(conns[0].Records)-1]
	t.Logf("%d records, %d in recovery, %d retransmissions (bench: %d), last state %v", len(recs), recovery, last.Rexmit, r.Retransmits, last.State)
	if recovery == 0 || int64(last.Rexmit) != r.Retransmits || r.Retransmits == 0 {
		t.Fatalf("%d records in recovery; the trace's retransmissions %d, bench's %d", recovery, last.Rexmit, r.Retransmits)
	}
}
