package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 3 || o.Duration != 5*time.Second || o.Warmup != time.Second || o.Conns != 32 ||
		o.ServerCPU != 0 || o.GenCPU != 1 || !o.Sink || !o.Gvisor || o.JSON != "" {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"--rounds", "5", "--duration", "10s", "--conns", "64", "--json", "x.json", "--gvisor=false", "--sink=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 5 || o.Duration != 10*time.Second || o.Conns != 64 || o.JSON != "x.json" || o.Gvisor || o.Sink {
		t.Errorf("parsed: %+v", o)
	}
	for _, bad := range [][]string{
		{"--rounds", "0"}, {"--duration", "1500ms"}, {"--duration", "0s"}, {"--warmup", "-1s"},
		{"--conns", "0"}, {"--gen-cpu", "0"}, {"--server-cpu", "-1"}, {"--sink-duration", "100ms"}, {"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil {
			t.Errorf("parseFlags(%q) accepted it", bad)
		} else if !strings.Contains(out.String(), "usage: sudo compare") {
			t.Errorf("parseFlags(%q): no usage in %q", bad, out.String())
		}
	}
}

func TestOrderRotates(t *testing.T) {
	want := [][]string{
		{srvPollstack, srvNginx, srvGvisor},
		{srvNginx, srvGvisor, srvPollstack},
		{srvGvisor, srvPollstack, srvNginx},
		{srvPollstack, srvNginx, srvGvisor},
	}
	for r, w := range want {
		if got := order(r+1, servers); strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("round %d: %v, want %v", r+1, got, w)
		}
	}
}

// runs makes good runs of server in test with the given rates and p99s.
func runs(server, test string, rateP99 ...float64) []benchRun {
	var out []benchRun
	for i := 0; i+1 < len(rateP99); i += 2 {
		out = append(out, benchRun{Round: i/2 + 1, Server: server, Test: test, Rate: rateP99[i], P99: rateP99[i+1]})
	}
	return out
}

func rowByName(t *testing.T, rows []row, name string) row {
	t.Helper()
	for _, r := range rows {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", name, rows)
	return row{}
}

func TestRowsRatiosAndTargets(t *testing.T) {
	var rs []benchRun
	rs = append(rs, runs(srvPollstack, testCPS, 100, 200, 160, 180, 150, 190)...) // median 150, p99 190
	rs = append(rs, runs(srvNginx, testCPS, 70, 900, 80, 1000, 75, 1100)...)      // 75, 1000: ratio 2.0 exactly
	rs = append(rs, runs(srvGvisor, testCPS, 10, 5000)...)
	rs = append(rs, runs(srvPollstack, testRPS, 300, 100, 310, 120)...) // 305, 110
	rs = append(rs, runs(srvNginx, testRPS, 250, 100, 250, 120)...)     // 250, 110: ratio 1.22 MISS; p99 equal: not lower, MISS
	rs = append(rs, benchRun{Round: 1, Server: srvGvisor, Test: testRPS, Error: "bench rps: 15 errors (timeout 15)"})
	// A failed nginx round does not count in its median.
	rs = append(rs, benchRun{Round: 4, Server: srvNginx, Test: testCPS, Rate: 1, P99: 1, Error: "bench cps: 3 errors"})

	sink := &sinkcmp.Report{Median: map[string]sinkcmp.Rates{
		sinkcmp.ReceiverSink: {RxPPS: 2.0e6}, sinkcmp.ReceiverTestpmd: {RxPPS: 1.6e6}},
		Windows: []sinkcmp.Window{{Receiver: sinkcmp.ReceiverSink}, {Receiver: sinkcmp.ReceiverTestpmd}}}
	rows := makeRows(rs, down{}, sink, "", true)
	if len(rows) != 5 {
		t.Fatalf("%d rows", len(rows))
	}

	cps := rowByName(t, rows, "cps")
	if cps.Pollstack.Value != 150 || cps.Pollstack.Runs != 3 || cps.Ref.Value != 75 || cps.Ref.Runs != 3 || cps.Gvisor.Value != 10 {
		t.Errorf("cps cells: %+v %+v %+v", cps.Pollstack, cps.Ref, *cps.Gvisor)
	}
	if cps.VsRef != 2 || cps.VsGvisor != 15 || cps.Targets[0].Status != pass || cps.Targets[1].Status != pass {
		t.Errorf("cps: %+v", cps)
	}
	cp := rowByName(t, rows, "cps p99")
	if cp.Pollstack.Value != 190 || cp.Ref.Value != 1000 || cp.Targets[0].Status != pass || cp.Targets[1].Status != pass || cp.VsRef != 0.19 {
		t.Errorf("cps p99: %+v", cp)
	}
	rps := rowByName(t, rows, "rps")
	if rps.Targets[0].Text != "≥ 1.5× nginx" || rps.Targets[0].Status != miss || rps.VsRef != 305.0/250 {
		t.Errorf("rps: %+v", rps)
	}
	if rps.Gvisor.ok() || !strings.Contains(rps.Gvisor.Error, "timeout 15") || rps.Targets[1].Status != na || rps.VsGvisor != 0 {
		t.Errorf("rps gVisor: %+v %+v", *rps.Gvisor, rps.Targets[1])
	}
	rp := rowByName(t, rows, "rps p99")
	if rp.Targets[0].Status != miss { // equal is not lower
		t.Errorf("rps p99: %+v", rp)
	}
	sk := rowByName(t, rows, "sink")
	if sk.Pollstack.Value != 2 || sk.Ref.Value != 1.6 || sk.VsRef != 1.25 || sk.Targets[0].Status != pass || sk.Gvisor != nil || sk.RefName != "testpmd" {
		t.Errorf("sink: %+v", sk)
	}
	if f := failed(rows); len(f) != 0 {
		t.Errorf("failed: %v", f)
	}

	var b bytes.Buffer
	printTable(&b, rows)
	out := b.String()
	for _, want := range []string{
		"cps conn/s", "≥ 2.0× nginx PASS, ≥ gVisor PASS", "≥ 1.5× nginx MISS, ≥ gVisor n/a",
		"FAILED gVisor: round 1: bench rps: 15 errors (timeout 15)", "1.600 (testpmd)", "≥ 1.0× testpmd PASS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := json.Marshal(rows); err != nil {
		t.Error(err)
	}
}

// A server that never ran shows why; pollstack's and nginx's missing
// figures fail the command, gVisor's do not.
func TestDownAndFailed(t *testing.T) {
	rs := runs(srvPollstack, testCPS, 100, 10)
	rs = append(rs, runs(srvPollstack, testRPS, 100, 10)...)
	rs = append(rs, runs(srvNginx, testCPS, 50, 20)...)
	rs = append(rs, benchRun{Round: 1, Server: srvNginx, Test: testRPS, Error: "start: nginx: exited\nmore"})
	rows := makeRows(rs, down{srvGvisor: "build: go build ./cmd/gvisor-http in perf/gvisor: exit status 1"}, nil, "interrupted", true)
	g := rowByName(t, rows, "cps").Gvisor
	if g.ok() || !strings.HasPrefix(g.Error, "build: ") {
		t.Errorf("gVisor cell: %+v", g)
	}
	f := failed(rows)
	want := []string{
		"rps: nginx: round 1: start: nginx: exited",
		"rps p99: nginx: round 1: start: nginx: exited",
		"sink: pollstack: interrupted",
		"sink: testpmd: interrupted",
	}
	if strings.Join(f, "|") != strings.Join(want, "|") {
		t.Errorf("failed:\n%s\nwant:\n%s", strings.Join(f, "\n"), strings.Join(want, "\n"))
	}
	var b bytes.Buffer
	printTable(&b, rows)
	if !strings.Contains(b.String(), "FAILED gVisor: build: go build") {
		t.Errorf("table:\n%s", b.String())
	}
	// Without the sink row, no sink line.
	if rows := makeRows(rs, down{}, nil, "", false); len(rows) != 4 {
		t.Errorf("%d rows without the sink", len(rows))
	}
}

func TestParseBenchJSON(t *testing.T) {
	out := `stray line
{"mode":"cps","cores":1,"duration_ns":5000000000,"requests":400000,"connections":400000,"rate":80000,
 "errors":{"timeout":0,"reset":0},"errors_total":0,"latency":{"p50_ns":120000,"p99_ns":350500}}`
	b, err := harness.ParseBench([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if b.Rate != 80000 || b.Latency.P99 != 350500*time.Nanosecond || b.Check() != nil {
		t.Errorf("%+v", b)
	}
	b.ErrorsTotal, b.Errors = 2, map[string]uint64{"timeout": 2}
	if err := b.Check(); err == nil || !strings.Contains(err.Error(), "timeout 2") {
		t.Errorf("check: %v", err)
	}
}
