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
	want := options{Rounds: 5, Duration: 5 * time.Second, Conns: 64, Threads: 2, Port: 8080, CPUs: []int{0, 1}, SleepAt: 64}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults %+v, want %+v", o, want)
	}
	o, err = parseFlags([]string{"--rounds", "3", "--duration", "10s", "--json", "--cpus", "2,5", "--pollstack", "/x/pollstack"}, io.Discard)
	if err != nil || o.Rounds != 3 || o.Duration != 10*time.Second || !o.JSON || !reflect.DeepEqual(o.CPUs, []int{2, 5}) || o.Pollstack != "/x/pollstack" {
		t.Errorf("got %+v, %v", o, err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, f := range []string{"-rounds", "-duration", "-json", "-pollstack", "-conns", "-threads", "-port", "-cpus", "-idle-sleep-after", "-v", "must", "root"} {
		if !strings.Contains(strings.ToLower(help.String()), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	for _, bad := range [][]string{
		{"--bogus"}, {"--rounds", "0"}, {"--duration", "1500ms"}, {"--duration", "0s"}, {"--conns", "1"},
		{"--threads", "0"}, {"--port", "70000"}, {"--cpus", "0"}, {"--cpus", "1,1"}, {"--cpus", "0,x"},
		{"--idle-sleep-after", "-1"}, {"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: no usage printed: %s", bad, out.String())
		}
	}
}

func TestOrderAlternates(t *testing.T) {
	if !reflect.DeepEqual(order(1), []int{1, 2}) || !reflect.DeepEqual(order(2), []int{2, 1}) || !reflect.DeepEqual(order(3), []int{1, 2}) {
		t.Errorf("order: %v %v %v", order(1), order(2), order(3))
	}
}

func TestXPSMasks(t *testing.T) {
	for _, tc := range []struct {
		ncpu  int
		cpus  []int
		cores int
		want  []string
	}{
		{2, []int{0, 1}, 1, []string{"3", "0"}},
		{2, []int{0, 1}, 2, []string{"1", "2"}},
		{4, []int{2, 3}, 2, []string{"5", "a"}}, // 2 → q0, 3 → q1, 0 → q0, 1 → q1
		{4, []int{1, 0}, 2, []string{"6", "9"}}, // 1 → q0, 0 → q1, 2 → q0, 3 → q1
		{40, []int{0, 1}, 1, []string{"ff,ffffffff", "0"}},
	} {
		if got := xpsMasks(tc.ncpu, tc.cpus, tc.cores); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("xpsMasks(%d, %v, %d) = %v, want %v", tc.ncpu, tc.cpus, tc.cores, got, tc.want)
		}
	}
	if got := cpuMask([]int{33}); got != "2,00000000" {
		t.Errorf("cpuMask(33) = %s", got)
	}
}

func testReport() *report {
	o, _ := parseFlags(nil, io.Discard)
	return &report{Bed: "scalecmp0000", Options: o, LoadAvg: 0.5, Serve: "pollstack serve ...",
		WrkClose: "ip netns exec b wrk -H 'Connection: close'", WrkKeep: "ip netns exec b wrk",
		Runs: []measurement{
			{Round: 1, Cores: 1, CPUs: "0", XPS: []string{"3", "0"}, CPS: 50000, RPS: 300000},
			{Round: 1, Cores: 2, CPUs: "0,1", XPS: []string{"1", "2"}, CPS: 60000, RPS: 330000},
			{Round: 2, Cores: 2, CPUs: "0,1", XPS: []string{"1", "2"}, CPS: 70000, RPS: 350000},
			{Round: 2, Cores: 1, CPUs: "0", XPS: []string{"3", "0"}, CPS: 60000, RPS: 320000},
			{Round: 3, Cores: 1, CPUs: "0", XPS: []string{"3", "0"}, CPS: 1, RPS: 1, Error: "cps: wrk: Socket errors: connect 0, read 3, write 0, timeout 0\nmore"},
			{Round: 3, Cores: 2, CPUs: "0,1", XPS: []string{"1", "2"}, CPS: 80000, RPS: 340000},
		}}
}

func TestSummarize(t *testing.T) {
	r := testReport()
	summarize(r)
	want := []summary{{Cores: 1, Turns: 2, CPS: 55000, RPS: 310000}, {Cores: 2, Turns: 3, CPS: 70000, RPS: 340000}}
	if !reflect.DeepEqual(r.Summary, want) {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}
	if r.RatioCPS != harness.Ratio(70000, 55000) || r.RatioRPS != harness.Ratio(340000, 310000) {
		t.Errorf("ratios %v %v", r.RatioCPS, r.RatioRPS)
	}
}

func TestPrintReport(t *testing.T) {
	r := testReport()
	summarize(r)
	var b bytes.Buffer
	printReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"load average 0.50 at the start",
		"cps:    ip netns exec b wrk -H 'Connection: close'",
		"1      1      0        3/0               50000       300000",
		"2      2      0,1      1/2               70000       350000",
		"FAILED: cps: wrk: Socket errors: connect 0, read 3, write 0, timeout 0\n",
		"       1      2                          55000       310000\n",
		"       2      3                          70000       340000\n",
		"ratio 2 cores / 1 core                    1.27         1.10\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var j bytes.Buffer
	if err := harness.WriteJSON(&j, r); err != nil || !strings.Contains(j.String(), `"ratio_cps": 1.2727`) {
		t.Errorf("json: %v\n%s", err, j.String())
	}
}
