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

// One short round on a real bed: both servers answer both wrk runs without
// an error, and the bed is gone afterwards.
func TestCompareOnBed(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "wrk", "curl", "go")
	o, err := parseFlags([]string{"--rounds", "1", "--duration", "1s"}, &bytes.Buffer{})
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
	if len(rep.Runs) != 2 || rep.Summary[0].Turns != 1 || rep.Summary[1].Turns != 1 || rep.RatioCPS <= 0 || rep.RatioRPS <= 0 {
		t.Errorf("report %+v\n%s", rep, log.String())
	}
	var b bytes.Buffer
	printReport(&b, rep)
	t.Logf("\n%s", b.String())
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), rep.Bed) {
		t.Errorf("bed %s left behind: %s", rep.Bed, out)
	}
}
