package engine

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/pollstack/pollstack/tcp"
)

// scrape serves a collector for an engine with one core that has seen
// traffic and a TCP shard, over HTTP as the metrics listener does, and
// returns what a scrape gets.
func scrape(t *testing.T) []byte {
	t.Helper()
	c, l := newTestCore(t)
	run(c, l, 0, echo4Frame(t, peerIP4, ourIP4, []byte("x")))
	cfg := tcp.DefaultConfig()
	shard, err := tcp.NewShard(cfg, (*tcpSender)(c))
	if err != nil {
		t.Fatal(err)
	}
	c.tcp = shard
	c.Publish(1)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(&Engine{cores: []*Core{c}}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %s", err, resp.Status)
	}
	if !bytes.Contains(body, []byte("pollstack_tcp_")) || !bytes.Contains(body, []byte("pollstack_rx_packets_total")) {
		t.Fatalf("scrape lacks the engine's metrics:\n%s", body)
	}
	return body
}

// The exposition passes Prometheus's own lint: promtool check metrics when
// it is installed (CI installs it; a machine meant to run every test must
// have it), and client_golang's promlint, the same rules in-process, always.
func TestMetricsPassLint(t *testing.T) {
	body := scrape(t)
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("promtool not installed")
		}
		t.Log("promtool not installed: promlint only")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
