package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// One short round on a real bed: each of the three proxies moves both
// workloads' traffic without an error, pollstack's XDP program is gone
// after its turn, the report is whole, and so is the bed afterwards. The
// windows are 2 s: in a 1 s one a proxy starved by other work on the
// machine once completed no request at all.
func TestCompareOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "wrk", "curl", "nginx", "haproxy", "taskset", "sysctl", "go")
	if _, err := os.Stat(streamModule); err != nil {
		if os.Getenv(testbed.RequirePrivilegedEnv) == "1" {
			t.Fatalf("nginx's stream module: %v (libnginx-mod-stream; and %s=1)", err, testbed.RequirePrivilegedEnv)
		}
		t.Skipf("nginx's stream module: %v (libnginx-mod-stream)", err)
	}
	o, err := parseFlags([]string{"--rounds", "1", "--duration", "2s", "--warmup", "1s", "--connections", "8"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := compare(ctx, o, &log)
	if rep != nil {
		var b bytes.Buffer
		printReport(&b, rep)
		t.Logf("%v\n%s", time.Since(start).Round(time.Second), b.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Turns) != 3 || len(rep.Summary) != 3 || len(rep.Ratios) != 2 {
		t.Fatalf("%d turns, %d summaries, %d ratios\n%s", len(rep.Turns), len(rep.Summary), len(rep.Ratios), log.String())
	}
	for _, tn := range rep.Turns {
		if errs := tn.errors(); len(errs) > 0 || !tn.cpsOK() || !tn.bulkOK() {
			t.Errorf("%s: %v", tn.Proxy, errs)
			continue
		}
		if c := tn.CPS; c.Wrk.Requests == 0 || c.Wrk.SockErrs != 0 || c.Wrk.Non2xx != 0 || c.Rate <= 0 || c.P99 <= 0 ||
			c.Window.Seconds < 1.9 || c.Window.ProxySeconds <= 0 || c.ProxyUsPerConn <= 0 || c.Window.Saturated == "" {
			t.Errorf("%s cps: %+v", tn.Proxy, c)
		}
		if k := tn.Bulk; k.Bytes == 0 || k.Total < k.Bytes || k.Gbps <= 0 || k.Window.ProxySeconds <= 0 || k.ProxySPerGB <= 0 {
			t.Errorf("%s bulk: %+v", tn.Proxy, k)
		}
		if tn.Abnormal > 2*uint64(o.Connections) {
			t.Errorf("%s: %d abnormal session ends (%s), more than wrk's stops account for", tn.Proxy, tn.Abnormal, tn.AbnormalBy)
		}
		if tn.Proxy == pxPollstack {
			if tn.XDPDetached == nil || !*tn.XDPDetached {
				t.Errorf("pollstack proxy left its XDP program attached")
			}
			if tn.Counters["pollstack_proxy_listener_accepted_total"] < float64(tn.CPS.Wrk.Requests) {
				t.Errorf("pollstack accepted %v connections, wrk made %d requests", tn.Counters["pollstack_proxy_listener_accepted_total"], tn.CPS.Wrk.Requests)
			}
		}
	}
	for _, s := range rep.Summary {
		if s.CPS.N != 1 || s.Gbps.N != 1 {
			t.Errorf("summary %+v", s)
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), rep.Bed) {
		t.Errorf("bed %s left behind: %s", rep.Bed, out)
	}
}

// One short round of --mode http on a real bed: each proxy serves the
// keep-alive, Connection: close and open-loop workloads without an error
// (no wrk socket error or non-2xx answer, every open-loop request answered
// 200 with the backends' body, no pollstack failure counter), and pollstack
// reused its backend connections.
func TestCompareHTTPOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "wrk", "curl", "nginx", "haproxy", "taskset", "sysctl", "go")
	o, err := parseFlags([]string{"--mode", "http", "--rounds", "1", "--duration", "2s", "--warmup", "0s", "--connections", "8", "--rate", "500"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := compare(ctx, o, &log)
	if rep != nil {
		var b bytes.Buffer
		printReport(&b, rep)
		t.Logf("%v\n%s", time.Since(start).Round(time.Second), b.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Turns) != 3 || len(rep.HTTP) != 3 || len(rep.HTTPRatios) != 3 || len(rep.Targets) != 5 {
		t.Fatalf("%d turns, %d summaries, %d ratios, %d targets\n%s", len(rep.Turns), len(rep.HTTP), len(rep.HTTPRatios), len(rep.Targets), log.String())
	}
	for _, tn := range rep.Turns {
		if errs := tn.errors(); len(errs) > 0 || !tn.kaOK() || !tn.closeOK() || !tn.openOK() {
			t.Errorf("%s: %v", tn.Proxy, errs)
			continue
		}
		for name, c := range map[string]*reqRun{"keepalive": tn.KeepAlive, "close": tn.Close} {
			if c.Wrk.Requests == 0 || c.Wrk.SockErrs != 0 || c.Wrk.Non2xx != 0 || c.Rate <= 0 || c.P99 <= 0 ||
				c.Window.Seconds < 1.9 || c.Window.ProxySeconds <= 0 || c.ProxyUsPerReq <= 0 || c.Window.Saturated == "" {
				t.Errorf("%s %s: %+v", tn.Proxy, name, c)
			}
		}
		if op := tn.Open; op.Requests < 990 || op.Requests > 1010 || op.P99 <= 0 || op.P50 > op.P99 || op.Window.Seconds < 1.5 {
			t.Errorf("%s open: %+v", tn.Proxy, op)
		}
		if tn.Abnormal > 2*uint64(o.Connections) {
			t.Errorf("%s: %d abnormal session ends (%s), more than wrk's stops account for", tn.Proxy, tn.Abnormal, tn.AbnormalBy)
		}
		if tn.Proxy == pxPollstack {
			if tn.XDPDetached == nil || !*tn.XDPDetached {
				t.Errorf("pollstack proxy left its XDP program attached")
			}
			req := tn.KeepAlive.Wrk.Requests + tn.Close.Wrk.Requests + tn.Open.Requests
			if got := tn.Counters["pollstack_proxy_server_http_requests_total"]; got < float64(req) {
				t.Errorf("pollstack sent %v requests to the backends, the generators had %d answered", got, req)
			}
			if reused, sent := tn.Counters["pollstack_proxy_server_pool_reused_total"], tn.Counters["pollstack_proxy_server_http_requests_total"]; reused < 0.9*sent {
				t.Errorf("pollstack reused backend connections for %v of %v requests", reused, sent)
			}
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), rep.Bed) {
		t.Errorf("bed %s left behind: %s", rep.Bed, out)
	}
}
