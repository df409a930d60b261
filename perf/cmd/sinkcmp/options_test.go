package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/perf/internal/sinkcmp"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o != sinkcmp.DefaultOptions() {
		t.Errorf("defaults %+v, want %+v", o, sinkcmp.DefaultOptions())
	}
	o, err = parseFlags([]string{"--duration", "3s", "--rounds", "1", "--receivers", "pollstack,pollstack:spin=0", "--json", "/x/r.json"}, io.Discard)
	if err != nil || o.Duration != 3*time.Second || o.Rounds != 1 || o.Receivers != "pollstack,pollstack:spin=0" || o.JSON != "/x/r.json" {
		t.Errorf("got %+v, %v", o, err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, f := range []string{"usage:", "-duration", "-receivers", "-testpmd", "-json", "must run as root"} {
		if !strings.Contains(strings.ToLower(help.String()), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	for _, bad := range [][]string{
		{"--nope"}, {"--rounds", "0"}, {"--duration", "0s"}, {"--warmup", "-1s"}, {"--receivers", "nginx"}, {"x"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.HasPrefix(out.String(), "sinkcmp: ") && bad[0] != "--nope" || !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: %q", bad, out.String())
		}
	}
}
