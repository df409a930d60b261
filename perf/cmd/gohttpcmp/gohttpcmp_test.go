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
	if len(os.Args) == 3 && os.Args[1] == "--kernel-server" {
		os.Exit(kernelServer(os.Args[2]))
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

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o != (options{Rounds: 3, Duration: 5 * time.Second, ServerCPU: 0, WrkCPU: 1}) {
		t.Errorf("defaults %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"--rounds", "2", "--duration", "2s", "--server-cpu", "1", "--wrk-cpu", "0", "--json", "--pollstack", "/x"}, io.Discard)
	if err != nil || o != (options{Rounds: 2, Duration: 2 * time.Second, ServerCPU: 1, WrkCPU: 0, JSON: true, Pollstack: "/x"}) {
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
	bedtest.NeedTools(t, "wrk", "curl", "taskset", "go")
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
	if len(rep.Runs) != 2*len(workloads) || len(rep.Rows) != len(workloads) {
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
