package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// The bed test runs the kernel's server as this test binary started again
// (compare starts os.Executable with --kernel-server).
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "--kernel-server" {
		o, err := parseFlags(os.Args[1:], os.Stderr)
		if err != nil {
			os.Exit(2)
		}
		os.Exit(kernelServer(o))
	}
	os.Exit(m.Run())
}

func TestProcTicks(t *testing.T) {
	a, err := procTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); { // burn some CPU
	}
	b, err := procTicks(os.Getpid())
	if err != nil || b <= a {
		t.Fatalf("ticks %d then %d, %v", a, b, err)
	}
	if _, err := procTicks(-1); err == nil {
		t.Fatal("no error for a process that is not there")
	}
}

// h2load's report, as nghttp2-client 1.52 prints it.
func TestParseH2load(t *testing.T) {
	out := `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.00s, 21344.50 req/s, 580.20KB/s
requests: 42689 total, 42789 started, 42689 done, 42680 succeeded, 9 failed, 4 errored, 5 timeout
status codes: 42680 2xx, 0 3xx, 3 4xx, 2 5xx
traffic: 1.13MB (1188284) total, 125.32KB (128331) headers (space savings 95.34%), 250.12KB (256134) data
`
	w, err := parseH2load(out)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests != 42680 || w.Seconds != 2 || w.Rate != 21344.5 || w.SockErrs != 9 || w.Non2xx != 5 || w.ErrLine == "" {
		t.Errorf("%+v", w)
	}
	if _, err := parseH2load("connect: Connection refused\n"); err == nil {
		t.Error("no error for a report without figures")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o != (options{Rounds: 3, Duration: 5 * time.Second, ServerCPU: 0, WrkCPU: 1}) {
		t.Errorf("defaults %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"--rounds", "2", "--duration", "2s", "--server-cpu", "1", "--wrk-cpu", "0", "--json", "--pollstack", "/x", "--no-h2"}, io.Discard)
	if err != nil || o != (options{Rounds: 2, Duration: 2 * time.Second, ServerCPU: 1, WrkCPU: 0, JSON: true, Pollstack: "/x", NoH2: true}) {
		t.Errorf("got %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, bad := range [][]string{{"--nope"}, {"--rounds", "0"}, {"--duration", "0s"}, {"--server-cpu", "-1"}, {"x"}} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: no usage printed", bad)
		}
	}
}

// One short round on a real bed: both servers answer every workload with
// a rate and without an error, and the bed is gone afterwards.
func TestGoHTTPCmpOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "wrk", "curl", "taskset", "go", "h2load")
	o, err := parseFlags([]string{"--rounds", "1", "--duration", "1s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := compare(ctx, o, &log)
	if rep != nil {
		var b bytes.Buffer
		printReport(&b, rep)
		t.Logf("\n%s", b.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Runs) != 2*(len(plainWorkloads)+1) || len(rep.Rows) != len(plainWorkloads)+1 {
		t.Fatalf("%d runs, %d rows\n%s", len(rep.Runs), len(rep.Rows), log.String())
	}
	for _, r := range rep.Rows {
		if r.Pollstack <= 0 || r.Kernel <= 0 || r.Ratio <= 0 || r.PollstackCPU <= 0 || r.KernelCPU <= 0 || r.Failed != 0 || r.PollstackErrors != 0 || r.KernelErrors != 0 {
			t.Errorf("%+v\n%s", r, log.String())
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), rep.Bed) {
		t.Errorf("namespaces of %s left behind: %s", rep.Bed, out)
	}
}
