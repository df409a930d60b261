package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/perf/internal/harness"
)

func TestParseFlags(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the defaults want two CPUs")
	}
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := options{Mode: "tcp", Rate: 5000, Rounds: 3, Duration: 10 * time.Second, Warmup: time.Second, Connections: 32,
		Proxies: []string{"pollstack", "haproxy", "nginx"}, ProxyCPU: 0, GenCPU: 1, SleepAt: 64, GRO: true, Offload: true, SmartConnect: true}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults %+v, want %+v", o, want)
	}
	o, err = parseFlags([]string{"--rounds", "5", "--duration", "3s", "--warmup", "0s", "--connections", "100",
		"--proxies", "nginx,pollstack", "--proxy-cpu", "1", "--gen-cpu", "0", "--json", "--keep-bed", "--pollstack", "/x/p"}, io.Discard)
	if err != nil || o.Rounds != 5 || o.Duration != 3*time.Second || o.Warmup != 0 || o.Connections != 100 ||
		!reflect.DeepEqual(o.Proxies, []string{"nginx", "pollstack"}) || o.ProxyCPU != 1 || o.GenCPU != 0 || !o.JSON || !o.KeepBed || o.Pollstack != "/x/p" {
		t.Errorf("got %+v, %v", o, err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, f := range []string{"-rounds", "-duration", "-warmup", "-connections", "-proxies", "-proxy-cpu", "-gen-cpu",
		"-idle-sleep-after", "-gro", "-offload", "-pollstack", "-keep-bed", "-json", "-v", "root", "libnginx-mod-stream", "exit status"} {
		if !strings.Contains(strings.ToLower(help.String()), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	for _, bad := range [][]string{
		{"--bogus"}, {"--rounds", "0"}, {"--duration", "1500ms"}, {"--duration", "0s"}, {"--warmup", "-1s"},
		{"--connections", "0"}, {"--connections", "4001"}, {"--proxies", "pollstack,squid"}, {"--proxies", "nginx,nginx"},
		{"--proxies", ""}, {"--proxy-cpu", "1"}, {"--gen-cpu", "4096"}, {"--proxy-cpu", "-1"}, {"--idle-sleep-after", "-1"}, {"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if first := strings.SplitN(out.String(), "\n", 2)[0]; !strings.Contains(out.String(), "usage:") || (bad[0] != "--bogus" && !strings.HasPrefix(first, "proxycmp: ")) {
			t.Errorf("%q: want one line and the usage, got %q", bad, out.String())
		}
	}
}

func TestOrderRotates(t *testing.T) {
	l := []string{"a", "b", "c"}
	for r, want := range map[int]string{1: "abc", 2: "bca", 3: "cab", 4: "abc"} {
		if got := strings.Join(order(r, l), ""); got != want {
			t.Errorf("order(%d) = %s, want %s", r, got, want)
		}
	}
}

const procStat1 = `cpu  100 0 100 1000 0 0 0 0 0 0
cpu0 10 1 20 300 4 0 5 0 0 0
cpu1 50 0 30 100 0 1 9 0 0 0
intr 1 2 3
`

const procStat2 = `cpu  100 0 100 1000 0 0 0 0 0 0
cpu0 40 1 40 320 4 0 35 0 0 0
cpu1 150 0 30 100 0 1 9 0 0 0
`

func TestCPUUsage(t *testing.T) {
	a, err := parseCPUTimes([]byte(procStat1))
	if err != nil {
		t.Fatal(err)
	}
	z, _ := parseCPUTimes([]byte(procStat2))
	if len(a) != 2 || a[1].SoftIRQ != 9 || a[0].IOWait != 4 {
		t.Fatalf("parsed %+v", a)
	}
	// CPU 0: 100 ticks, 20 idle: 80% busy, 30 user, 20 system, 30 softirq.
	if u := usage(0, a, z); u != (cpuUse{CPU: 0, Busy: 80, User: 30, System: 20, SoftIRQ: 30}) {
		t.Errorf("cpu0 %+v", u)
	}
	if u := usage(1, a, z); u.Busy != 100 || u.User != 100 {
		t.Errorf("cpu1 %+v", u)
	}
	if u := usage(7, a, z); u.Busy != 0 {
		t.Errorf("unknown CPU %+v", u)
	}
	if _, err := parseCPUTimes([]byte("intr 1\n")); err == nil {
		t.Error("no cpuN line accepted")
	}
	if _, err := readCPUTimes(); err != nil {
		t.Error(err)
	}
}

func TestProcStat(t *testing.T) {
	p, err := parseProcStat("1234 (nginx: worker (x)) S 1200 1234 1234 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 100 0 0")
	if err != nil || p.PPID != 1200 || p.UTime != 17 || p.STime != 5 {
		t.Errorf("%+v %v", p, err)
	}
	if _, err := parseProcStat("1 (x) S 1"); err == nil {
		t.Error("short line accepted")
	}
	stats := map[int]procStat{
		10: {PPID: 1, UTime: 1, STime: 2},
		11: {PPID: 10, UTime: 10, STime: 20},
		12: {PPID: 11, UTime: 100},
		13: {PPID: 1, UTime: 1000},
	}
	if got := sumTree(10, stats); got != 133 {
		t.Errorf("sumTree = %d, want 133", got)
	}
	if n, err := treeTicks(os.Getpid()); err != nil || n == 0 && testing.Short() {
		t.Errorf("treeTicks(self) = %d, %v", n, err)
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics(`# HELP x
pollstack_proxy_listener_accepted_total{core="0",listener="cps"} 100
pollstack_proxy_listener_accepted_total{core="1",listener="bulk"} 2
pollstack_proxy_server_connect_timeout_total{core="0",backend="cps",server="h1"} 3
pollstack_tcp_drops_total 1.5e+01
pollstack_tcp_connections{state="TIME_WAIT"} 7
pollstack_poll_busy_total{core="0"} 9
go_goroutines 12
bad line
`)
	if m["pollstack_proxy_listener_accepted_total"] != 102 || m["pollstack_tcp_drops_total"] != 15 || m["go_goroutines"] != 12 {
		t.Errorf("%v", m)
	}
	c := proxyCounters(m)
	if len(c) != 4 || c["pollstack_poll_busy_total"] != 9 || c["pollstack_tcp_connections"] != 0 {
		t.Errorf("counters %v", c)
	}
	if got := pollstackErrors(c, modeTCP); got != "server_connect_timeout 3" {
		t.Errorf("errors %q", got)
	}
}

const wrkOut = `Running 2s test @ http://198.18.0.1:8080/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms    2.74ms  40.33ms   94.37%
    Req/Sec    10.25k     2.64k   14.48k    60.00%
  Latency Distribution
     50%    1.62ms
     75%    2.33ms
     90%    3.91ms
     99%   14.83ms
  51191 requests in 5.02s, 7.23MB read
Requests/sec:  10199.13
Transfer/sec:      1.44MB
`

func TestWrkP99(t *testing.T) {
	if v, err := wrkP99(wrkOut); err != nil || v != 14830 {
		t.Errorf("p99 %v %v", v, err)
	}
	if v, _ := wrkP99(strings.Replace(wrkOut, "14.83ms", "812.00us", 1)); v != 812 {
		t.Errorf("us: %v", v)
	}
	if v, _ := wrkP99(strings.Replace(wrkOut, "14.83ms", "1.20s", 1)); v != 1.2e6 {
		t.Errorf("s: %v", v)
	}
	if _, err := wrkP99(strings.Replace(wrkOut, "99%", "98%", 1)); err == nil {
		t.Error("no 99% line accepted")
	}
}

func TestSaturated(t *testing.T) {
	for _, tc := range []struct {
		p, g float64
		want string
	}{{99, 99, satBoth}, {99, 50, satProxy}, {50, 96, satGen}, {80, 80, satNeither}} {
		if got := saturated(tc.p, tc.g); got != tc.want {
			t.Errorf("saturated(%v, %v) = %s, want %s", tc.p, tc.g, got, tc.want)
		}
	}
	if got := mostFrequent([]string{"both", "generator", "both"}); got != "both (2 of 3)" {
		t.Errorf("mostFrequent %q", got)
	}
	if got := mostFrequent([]string{"proxy", "proxy"}); got != "proxy" {
		t.Errorf("mostFrequent %q", got)
	}
}

// The configurations: pollstack's parses, every proxy has ports of its
// own, and the backends listen on all of them.
func TestConfigs(t *testing.T) {
	if _, err := config.Parse("pollstack-proxy.conf", strings.NewReader("global\n    iface x-a\n"+pollstackConf(true))); err != nil {
		t.Errorf("pollstack's configuration: %v\n%s", err, pollstackConf(true))
	}
	seen := map[int]string{}
	be := backendConf("/d", 1)
	for _, px := range allProxies {
		p := portsOf(px)
		for _, port := range []int{p.CPS, p.Bulk, p.HTTP[0], p.HTTP[1], p.Sink} {
			if other, ok := seen[port]; ok {
				t.Errorf("port %d of %s is %s's too", port, px, other)
			}
			seen[port] = px
		}
		for i := range p.HTTP {
			if !strings.Contains(be, "listen "+p.httpAddr(i).String()+" ") {
				t.Errorf("backends do not listen on %s:\n%s", p.httpAddr(i), be)
			}
		}
	}
	for name, c := range map[string]string{"backends": be, "haproxy": haproxyConf(0, true), "nginx": nginxStreamConf("/d", 3)} {
		if strings.Count(c, "{") != strings.Count(c, "}") {
			t.Errorf("%s: unbalanced braces:\n%s", name, c)
		}
	}
	for _, want := range []string{"nbthread 1", "cpu-map 1/1 0", "mode tcp", "bind 198.18.0.1:8081", "server h1 198.18.0.2:8182", "server sink 198.18.0.2:9181", "option tcp-smart-connect"} {
		if !strings.Contains(haproxyConf(0, true), want) {
			t.Errorf("haproxy lacks %q", want)
		}
	}
	for _, want := range []string{"load_module " + streamModule, "worker_processes 1;", "worker_cpu_affinity 1000;", "listen 198.18.0.1:8082 backlog", "server 198.18.0.2:8185;"} {
		if !strings.Contains(nginxStreamConf("/d", 3), want) {
			t.Errorf("nginx stream lacks %q", want)
		}
	}
	if affinityMask(0) != "1" || affinityMask(2) != "100" {
		t.Errorf("affinityMask: %s %s", affinityMask(0), affinityMask(2))
	}
}

func testReport() *report {
	o, _ := parseFlags([]string{"--gen-cpu", "1", "--proxy-cpu", "0"}, io.Discard)
	o.Proxies = []string{"pollstack", "haproxy", "nginx"} // in case the machine has one CPU
	w := func(pb, gb, ps float64) window {
		return window{Seconds: 10, ProxyCPU: cpuUse{CPU: 0, Busy: pb, User: 30, System: 40, SoftIRQ: 20},
			GenCPU: cpuUse{CPU: 1, Busy: gb}, ProxySeconds: ps, ProxyPct: ps * 10, Saturated: saturated(pb, gb)}
	}
	c := func(rate, p99, pb, gb, ps float64) *cpsRun {
		return &cpsRun{Rate: rate, P99: p99, Window: w(pb, gb, ps), Wrk: harness.Wrk{Requests: uint64(rate * 10)},
			ProxyUsPerConn: 1e6 * ps / (rate * 10), CoreUsPerConn: 1e6 * 10 * pb / 100 / (rate * 10)}
	}
	k := func(gbps, pb, gb, ps float64) *bulkRun {
		return &bulkRun{Gbps: gbps, Bytes: uint64(gbps * 10 / 8 * 1e9), Window: w(pb, gb, ps), ProxySPerGB: ps / (gbps * 10 / 8), CoreSPerGB: 10 * pb / 100 / (gbps * 10 / 8)}
	}
	yes := true
	return &report{Bed: "proxycmp0000", Kernel: "6.18", Options: o, LoadAvg: 0.25,
		Commands: map[string]string{"pollstack": "taskset -c 0 pollstack proxy ...", "haproxy": "haproxy -db", "nginx": "nginx -c",
			"backends": "nginx backends", "cps": "wrk -H 'Connection: close'", "bulk": "one TCP connection"},
		Turns: []turn{
			{Round: 1, Proxy: "pollstack", CPS: c(12000, 5000, 90, 99, 6), Bulk: k(4, 99, 80, 9.9), Abnormal: 30, XDPDetached: &yes,
				Counters: map[string]float64{"pollstack_proxy_listener_accepted_total": 120001, "pollstack_tcp_drops_total": 3, "pollstack_tcp_sndtotal_total": 9}},
			{Round: 1, Proxy: "haproxy", CPS: c(10000, 8000, 99, 99, 7), Bulk: k(3, 99, 70, 9.8), Abnormal: 32},
			{Round: 1, Proxy: "nginx", CPS: c(9000, 9000, 99, 98, 7.5), Bulk: k(2, 99, 60, 9.7), Abnormal: 31},
			{Round: 2, Proxy: "haproxy", CPS: c(11000, 7000, 99, 99, 7), Bulk: k(3.2, 99, 70, 9.8)},
			{Round: 2, Proxy: "nginx", CPSError: "wrk: Socket errors: connect 0, read 3, write 0, timeout 0", CPS: c(1, 1, 1, 1, 1), Bulk: k(2.2, 99, 60, 9.7)},
			{Round: 2, Proxy: "pollstack", CPS: c(14000, 4000, 92, 99, 6), Error: "stop: killed", Bulk: k(5, 99, 80, 9.9)},
		}}
}

func TestSummarize(t *testing.T) {
	r := testReport()
	summarize(r)
	if len(r.Summary) != 3 || len(r.Ratios) != 2 {
		t.Fatalf("summary %+v ratios %+v", r.Summary, r.Ratios)
	}
	ps, hp, ng := r.Summary[0], r.Summary[1], r.Summary[2]
	if ps.CPS != (stat{N: 1, Median: 12000, Min: 12000, Max: 12000}) || ps.Gbps.N != 1 {
		t.Errorf("pollstack: a turn with an error counted: %+v", ps)
	}
	if hp.CPS != (stat{N: 2, Median: 10500, Min: 10000, Max: 11000}) || hp.CPSSaturated != satBoth {
		t.Errorf("haproxy %+v", hp)
	}
	if ng.CPS.N != 1 || ng.Gbps.N != 2 || ng.Gbps.Median != 2.1 || ng.BulkSaturated != satProxy {
		t.Errorf("nginx %+v", ng)
	}
	if q := r.Ratios[0]; q.Other != "haproxy" || q.CPS != harness.Ratio(12000, 10500) || q.Gbps != harness.Ratio(4, 3.1) {
		t.Errorf("ratio %+v", q)
	}
}

func TestPrintReport(t *testing.T) {
	r := testReport()
	summarize(r)
	var b bytes.Buffer
	printReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"proxycmp: bed proxycmp0000, kernel 6.18, 3 round(s), proxies on CPU 0, generator and backends on CPU 1, 10s windows after 1s warm-up, 32 wrk connections, load average 0.25 at the start",
		"pollstack: taskset -c 0 pollstack proxy ...",
		"1     pollstack     12000     5.00     90% (30/40/20)     99% ( 0/ 0/ 0)    60%      50.0      75.0 generator       30\n",
		"2     nginx             1     0.00",
		"FAILED: wrk: Socket errors: connect 0, read 3",
		"counters: (not read)",
		"2     pollstack      5.00     99% (30/40/20)     80% ( 0/ 0/ 0)    99%     1.584     1.584 proxy  FAILED: stop: killed\n",
		"XDP program detached on exit: yes",
		"counters: proxy_listener_accepted 120001, tcp_drops 3\n",
		"haproxy    2 10500 [10000..11000]     7.50 [7.00..8.00]      66.8 [63.6..70.0]      94.5 [90.0..99.0]            99%       99% both\n",
		"pollstack / haproxy  conn/s 1.14",
		"pollstack connections/s: saturated generator -- the generator and backends' CPU was the limit",
		"a busy-polling core counts 100%",
		"(64 a turn)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var j bytes.Buffer
	if err := harness.WriteJSON(&j, r); err != nil || !strings.Contains(j.String(), `"proxy_cpu_us_per_conn"`) || !strings.Contains(j.String(), `"saturated": "generator"`) {
		t.Errorf("json: %v\n%s", err, j.String())
	}
}

func TestPinSelf(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("no taskset")
	}
	allowed := func() map[string]bool {
		seen := map[string]bool{}
		tasks, _ := filepath.Glob("/proc/self/task/*/status")
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // the thread ended
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
					seen[strings.TrimSpace(v)] = true
				}
			}
		}
		return seen
	}
	before := allowed()
	restore, err := pinSelf(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := allowed(); len(got) != 1 || !got["0"] {
		t.Errorf("pinned to CPU 0, the threads allow %v", got)
	}
	restore()
	if got := allowed(); !reflect.DeepEqual(got, before) {
		t.Errorf("restored %v, was %v", got, before)
	}
}

// Segments per proxied connection come from the TCP totals over the
// listeners' accepted connections, summed over their labels.
func TestSegmentsPerConn(t *testing.T) {
	m := parseMetrics(`# HELP x
pollstack_proxy_listener_accepted_total{core="0",listener="cps"} 600
pollstack_proxy_listener_accepted_total{core="1",listener="cps"} 400
pollstack_tcp_sndtotal_total{core="0"} 3600
pollstack_tcp_sndtotal_total{core="1"} 2400
pollstack_tcp_rcvtotal_total{core="0"} 5400
pollstack_tcp_rcvtotal_total{core="1"} 3600
`)
	if out, in := segmentsPerConn(m); out != 6 || in != 9 {
		t.Errorf("segments per connection %v sent, %v received; want 6 and 9", out, in)
	}
	if out, in := segmentsPerConn(map[string]float64{"pollstack_tcp_sndtotal_total": 10}); out != 0 || in != 0 {
		t.Errorf("with no connection accepted: %v, %v; want 0, 0", out, in)
	}
}
