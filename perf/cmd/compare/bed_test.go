package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// One short round against pollstack and nginx (gVisor is perf/gvisor's,
// a module of its own, and left out here), and a short sink row: every row
// gets a figure, and every namespace is gone afterwards.
func TestCompareOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "curl", "nginx", "taskset", "go", "/usr/bin/dpdk-testpmd")
	o, err := parseFlags([]string{"--rounds", "1", "--duration", "1s", "--warmup", "1s", "--sink-duration", "1s", "--gvisor=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := compare(ctx, o, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var b bytes.Buffer
	printReport(&b, rep)
	t.Logf("\n%s", b.String())
	if len(rep.Failed) != 0 || len(rep.Runs) != 4 || len(rep.Rows) != 5 {
		t.Errorf("failed %v, %d runs, %d rows\n%s", rep.Failed, len(rep.Runs), len(rep.Rows), log.String())
	}
	if g := rep.Rows[0].Gvisor; g == nil || g.ok() || !strings.Contains(g.Error, "skipped") {
		t.Errorf("gVisor cell %+v", g)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), rep.Bed) {
		t.Errorf("namespaces of %s left behind: %s", rep.Bed, out)
	}
}
