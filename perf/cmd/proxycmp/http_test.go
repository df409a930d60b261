package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

func TestHTTPConfigs(t *testing.T) {
	c := pollstackHTTPConf()
	if _, err := config.Parse("pollstack-proxy.conf", strings.NewReader("global\n    iface x-a\n"+c)); err != nil {
		t.Errorf("pollstack's configuration: %v\n%s", err, c)
	}
	for _, want := range []string{"mode http", "bind :8080", "server h1 198.18.0.2:8180", "server h2 198.18.0.2:8181", "pool-max-idle 256"} {
		if !strings.Contains(c, want) {
			t.Errorf("pollstack lacks %q", want)
		}
	}
	h := haproxyHTTPConf(0)
	for _, want := range []string{"nbthread 1", "cpu-map 1/1 0", "mode http", "http-reuse always", "option forwardfor", "bind 198.18.0.1:8081", "server h2 198.18.0.2:8183"} {
		if !strings.Contains(h, want) {
			t.Errorf("haproxy lacks %q", want)
		}
	}
	n := nginxHTTPConf("/d", 1)
	for _, want := range []string{"worker_processes 1;", "worker_cpu_affinity 10;", "keepalive 256;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"listen 198.18.0.1:8082 backlog", "server 198.18.0.2:8185;", "keepalive_requests 1000000;"} {
		if !strings.Contains(n, want) {
			t.Errorf("nginx lacks %q", want)
		}
	}
	if strings.Contains(n, "load_module") || strings.Count(n, "{") != strings.Count(n, "}") {
		t.Errorf("nginx:\n%s", n)
	}
	b := &bench{o: options{Mode: modeHTTP}, dir: "/d"}
	if got := b.confPath(pxNginx); got != "/d/nginx-http/nginx.conf" {
		t.Errorf("confPath %s", got)
	}
	b.o.Mode = modeTCP
	if got := b.confPath(pxNginx); got != "/d/nginx-stream/nginx.conf" {
		t.Errorf("confPath %s", got)
	}
	if got := pollstackErrors(map[string]float64{"pollstack_proxy_listener_http_502_total": 2}, modeHTTP); got != "listener_http_502 2" {
		t.Errorf("http errors %q", got)
	}
	if got := pollstackErrors(map[string]float64{"pollstack_proxy_listener_http_502_total": 2}, modeTCP); got != "" {
		t.Errorf("tcp errors %q", got)
	}
}

// helloServer serves nsproc.NginxBody (or status) on a loopback port.
func helloServer(t *testing.T, status int) (netip.AddrPort, *atomic.Int64) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
		io.WriteString(w, nsproc.NginxBody)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String()), &n
}

func TestOpenLoop(t *testing.T) {
	addr, served := helloServer(t, http.StatusOK)
	var edges []int
	var at [2]time.Time
	spec := openSpec{addr: addr, rate: 2000, conns: 4, warmup: 200 * time.Millisecond, d: time.Second}
	start := time.Now()
	res, err := openLoop(context.Background(), spec, func(e int) { edges = append(edges, e); at[e] = time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 2 || edges[0] != 0 || edges[1] != 1 {
		t.Fatalf("edges %v", edges)
	}
	// The edges come at the window's times, give or take the scheduling of
	// a loaded machine.
	if d := at[1].Sub(at[0]); d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("window %v, want about 1s", d)
	}
	if !at[0].After(start.Add(150 * time.Millisecond)) {
		t.Errorf("window began %v after the start, before the 200ms warm-up's end", at[0].Sub(start))
	}
	if res.Scheduled < 1990 || res.Scheduled > 2010 || res.Done != res.Scheduled || uint64(len(res.Latencies)) != res.Done {
		t.Errorf("scheduled %d, done %d, %d latencies; want 2000", res.Scheduled, res.Done, len(res.Latencies))
	}
	if got := served.Load(); got < int64(res.Done)+300 {
		t.Errorf("server saw %d requests, want the window's %d and the warm-up's", got, res.Done)
	}
	for i := 1; i < len(res.Latencies); i++ {
		if res.Latencies[i] < res.Latencies[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
	if p50 := quantile(res.Latencies, 0.5); p50 <= 0 || p50 > time.Second {
		t.Errorf("p50 %v", p50)
	}

	bad, _ := helloServer(t, http.StatusBadGateway)
	spec.addr, spec.warmup, spec.d = bad, 0, 200*time.Millisecond
	if _, err := openLoop(context.Background(), spec, func(int) {}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("502s: %v", err)
	}
	spec.addr = netip.MustParseAddrPort("127.0.0.1:1")
	if _, err := openLoop(context.Background(), spec, func(int) {}); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("no server: %v", err)
	}
}

func TestQuantile(t *testing.T) {
	var x []time.Duration
	for i := 1; i <= 1000; i++ {
		x = append(x, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 500, 0.99: 990, 0.999: 999, 1: 1000, 0: 1} {
		if got := quantile(x, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if quantile(nil, 0.99) != 0 {
		t.Error("empty")
	}
}

func testHTTPReport() *report {
	o, _ := parseFlags([]string{"--mode", "http", "--gen-cpu", "1", "--proxy-cpu", "0", "--rate", "4000"}, io.Discard)
	o.Proxies = []string{"pollstack", "haproxy", "nginx"}
	w := func(pb, gb, ps float64) window {
		return window{Seconds: 10, ProxyCPU: cpuUse{CPU: 0, Busy: pb, User: 30, System: 40, SoftIRQ: 20},
			GenCPU: cpuUse{CPU: 1, Busy: gb}, ProxySeconds: ps, ProxyPct: ps * 10, Saturated: saturated(pb, gb), OthersPct: max(0, pb-ps*10)}
	}
	rq := func(rate, p99, pb, gb, ps float64) *reqRun {
		return &reqRun{Rate: rate, P99: p99, Window: w(pb, gb, ps), Wrk: harness.Wrk{Requests: uint64(rate * 10)},
			ProxyUsPerReq: 1e6 * ps / (rate * 10), CoreUsPerReq: 1e6 * 10 * pb / 100 / (rate * 10)}
	}
	op := func(p99, pb, ps float64) *openRun {
		return &openRun{Rate: 4000, Requests: 40000, Achieved: 4000, P50: p99 / 4, P90: p99 / 2, P99: p99, P999: 2 * p99, Max: 3 * p99,
			Window: w(pb, 50, ps), ProxyUsPerReq: 1e6 * ps / 40000, CoreUsPerReq: 1e6 * 10 * pb / 100 / 40000}
	}
	yes := true
	return &report{Bed: "proxycmp0000", Kernel: "6.18", Options: o, LoadAvg: 0.25,
		Commands: map[string]string{"pollstack": "pollstack proxy ...", "haproxy": "haproxy -db", "nginx": "nginx -c",
			"backends": "nginx backends", "keepalive": "wrk -c32", "close": "wrk -H 'Connection: close'", "open": "4000 GET requests/s"},
		Turns: []turn{
			{Round: 1, Proxy: "pollstack", KeepAlive: rq(40000, 2000, 90, 99, 4), Close: rq(12000, 4000, 90, 99, 6), Open: op(500, 30, 1), XDPDetached: &yes,
				Counters: map[string]float64{"pollstack_proxy_server_http_requests_total": 1000, "pollstack_proxy_server_pool_reused_total": 998}},
			{Round: 1, Proxy: "haproxy", KeepAlive: rq(15000, 3000, 99, 80, 9.9), Close: rq(5000, 9000, 99, 70, 9.9), Open: op(900, 40, 3)},
			{Round: 1, Proxy: "nginx", KeepAlive: rq(12000, 3500, 99, 70, 9.9), Close: rq(6000, 8000, 99, 80, 9.9), Open: op(800, 45, 3.5)},
			{Round: 2, Proxy: "nginx", KAError: "wrk: Socket errors: connect 0, read 3, write 0, timeout 0", KeepAlive: rq(1, 1, 1, 1, 1)},
		}}
}

func TestSummarizeHTTP(t *testing.T) {
	r := testHTTPReport()
	summarize(r)
	if len(r.HTTP) != 3 || len(r.HTTPRatios) != 3 || len(r.Targets) != 5 || len(r.Summary) != 0 {
		t.Fatalf("http %+v ratios %+v targets %+v", r.HTTP, r.HTTPRatios, r.Targets)
	}
	if n := r.HTTP[2].KeepAlive.Rate.N; n != 1 {
		t.Errorf("nginx keepalive: a turn with an error counted (%d)", n)
	}
	best := r.HTTPRatios[2]
	if best.Other != "better" || best.KARate != harness.Ratio(40000, 15000) || best.CloseRate != harness.Ratio(12000, 6000) || best.OpenP99 != harness.Ratio(500, 800) {
		t.Errorf("better %+v", best)
	}
	want := map[string]bool{"keepalive requests/s": true, "keepalive CPU time per request": true, "close requests/s": true,
		"close CPU time per request": true, "p99 at 4000 requests/s (open loop)": true}
	for _, g := range r.Targets {
		if m, ok := want[g.What]; !ok || m != g.Met {
			t.Errorf("target %+v", g)
		}
	}
	if !strings.Contains(r.Targets[0].Note, "generator") {
		t.Errorf("keepalive note %q", r.Targets[0].Note)
	}
	// Slower, and costlier per request: not met.
	r = testHTTPReport()
	r.Turns[0].KeepAlive.Rate, r.Turns[0].KeepAlive.ProxyUsPerReq = 20000, 50
	summarize(r)
	if g := r.Targets[0]; g.Met || g.Value != harness.Ratio(20000, 15000) {
		t.Errorf("keepalive rate %+v", g)
	}
	if g := r.Targets[1]; g.Met {
		t.Errorf("keepalive CPU %+v", g)
	}
	var b bytes.Buffer
	printReport(&b, r)
	if !strings.Contains(b.String(), "NOT MET") {
		t.Errorf("no NOT MET:\n%s", b.String())
	}
}

func TestPrintHTTPReport(t *testing.T) {
	r := testHTTPReport()
	summarize(r)
	var b bytes.Buffer
	printReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"proxycmp --mode http: bed proxycmp0000, kernel 6.18, 3 round(s), proxies on CPU 0, generator and backends on CPU 1, 10s windows after 1s warm-up, 32 connections, open loop at 4000 requests/s",
		"keepalive: wrk -c32",
		"1     pollstack keepalive     40000     2.00     90% (30/40/20)     99% ( 0/ 0/ 0)    40%    50%     10.0     22.5 generator        0",
		"In 3 of 10 windows 15% or more of CPU0's time was not the proxy's",
		"1     haproxy   open           4000     0.90",
		"2     nginx     keepalive         1",
		"FAILED: wrk: Socket errors",
		"backend connections reused for 99.80% of the requests",
		"pollstack / better of the others (figure by figure): keepalive req/s 2.67",
		"keepalive requests/s",
		"pollstack keepalive: saturated generator",
		"(128 a turn)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var j bytes.Buffer
	if err := harness.WriteJSON(&j, r); err != nil || !strings.Contains(j.String(), `"keepalive_req_per_s"`) || !strings.Contains(j.String(), `"targets"`) {
		t.Errorf("json: %v\n%s", err, j.String())
	}
}
