package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := options{Rounds: 5, Duration: 5 * time.Second, Warmup: time.Second, Conns: 32, CPU: 0, NginxCPU: 1}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults %+v, want %+v", o, want)
	}
	o, err = parseFlags([]string{"--rounds", "2", "--duration", "10s", "--warmup", "0s", "--json", "--cpu", "1", "--nginx-cpu", "-1", "--pollstack", "/x/p"}, io.Discard)
	if err != nil || o.Rounds != 2 || o.Duration != 10*time.Second || o.Warmup != 0 || !o.JSON || o.CPU != 1 || o.NginxCPU != -1 || o.Pollstack != "/x/p" {
		t.Errorf("got %+v, %v", o, err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, f := range []string{"-rounds", "-duration", "-warmup", "-conns", "-cpu", "-nginx-cpu", "-pollstack", "-json", "-v", "must run as root"} {
		if !strings.Contains(strings.ToLower(help.String()), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	for _, bad := range [][]string{
		{"--nope"}, {"--rounds", "0"}, {"--duration", "2500ms"}, {"--warmup", "500ms"}, {"--warmup", "-1s"},
		{"--conns", "0"}, {"--cpu", "-1"}, {"--nginx-cpu", "-2"}, {"x"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: no usage printed", bad)
		}
	}
}

func TestOrderAlternates(t *testing.T) {
	if !reflect.DeepEqual(order(1), []string{genPollstack, genWrk}) || !reflect.DeepEqual(order(2), []string{genWrk, genPollstack}) {
		t.Errorf("order: %v %v", order(1), order(2))
	}
}

func TestParseBench(t *testing.T) {
	out := []byte("stray line\n{\n  \"mode\": \"rps\",\n  \"cores\": 2,\n  \"rate\": 300000.5,\n  \"rate_per_core\": [150000, 150000.5],\n" +
		"  \"requests\": 1500002,\n  \"errors_total\": 3,\n  \"errors\": {\"reset\": 3},\n  \"latency\": {\"p99_ns\": 159700}\n}\n")
	r, err := parseBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 300000.5 || r.Cores != 2 || r.Requests != 1500002 || r.ErrorsTotal != 3 || r.Errors["reset"] != 3 || r.Latency.P99 != 159700 {
		t.Errorf("%+v", r)
	}
	if _, err := parseBench([]byte("bench rps: no address\n")); err == nil {
		t.Error("parseBench accepted no JSON")
	}
}

func testReport() *report {
	o, _ := parseFlags(nil, io.Discard)
	return &report{Bed: "gencmp0000", Options: o, LoadAvg: 0.7, Nginx: "ip netns exec b nginx", Pollstack: "pollstack bench rps", Wrk: "wrk -t1",
		Runs: []measurement{
			{Round: 1, Generator: genPollstack, Cores: 1, Rate: 300000, PerCore: 300000},
			{Round: 1, Generator: genWrk, Cores: 1, Rate: 200000, PerCore: 200000},
			{Round: 2, Generator: genWrk, Cores: 1, Rate: 220000, PerCore: 220000},
			{Round: 2, Generator: genPollstack, Cores: 1, Rate: 330000, PerCore: 330000},
			{Round: 3, Generator: genPollstack, Cores: 1, Error: "bench rps: 3 errors: map[reset:3]"},
			{Round: 3, Generator: genWrk, Cores: 1, Rate: 210000, PerCore: 210000},
		}}
}

func TestSummarizeAndPrint(t *testing.T) {
	r := testReport()
	summarize(r)
	want := []summary{{Generator: genPollstack, Runs: 2, Rate: 315000, PerCore: 315000}, {Generator: genWrk, Runs: 3, Rate: 210000, PerCore: 210000}}
	if !reflect.DeepEqual(r.Summary, want) || r.Ratio != 1.5 {
		t.Errorf("summary %+v, ratio %v", r.Summary, r.Ratio)
	}
	var b bytes.Buffer
	printReport(&b, r)
	out := b.String()
	for _, s := range []string{
		"generators on CPU 0, nginx on CPU 1, load average 0.70",
		"1      pollstack       1       300000         300000",
		"3      pollstack       1            0              0     0.00  FAILED: bench rps: 3 errors",
		"       pollstack       2       315000         315000\n",
		"       wrk             3       210000         210000\n",
		"ratio pollstack / wrk per generator core = 1.50\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	var j bytes.Buffer
	if err := harness.WriteJSON(&j, r); err != nil || !strings.Contains(j.String(), `"ratio_pollstack_over_wrk": 1.5`) {
		t.Errorf("json: %v\n%s", err, j.String())
	}
}

func TestNames(t *testing.T) {
	ns, c, d := wrkNames("gencmp1234")
	if ns != "gencmp1234-c" || c != "gencmp1234-c" || d != "gencmp1234-d" || len(d) > 15 {
		t.Errorf("%s %s %s", ns, c, d)
	}
	if !strings.HasPrefix(wrkIPv4.String(), "198.18.1.") || !strings.HasPrefix(nginxIPv4.String(), "198.18.1.") {
		t.Error("wrk's link must use 198.18.1.0/24")
	}
}
