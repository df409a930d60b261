package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || !slices.Equal(o.Loss, []float64{0.001, 0.01, 0.02, 0.05}) ||
		!slices.Equal(o.Delay, []time.Duration{0, 10 * time.Millisecond}) || !slices.Equal(o.Dirs, []string{"send", "recv"}) ||
		o.Bytes != 16<<20 || o.Rounds != 3 || len(o.Builds) != 0 || o.KernelCC != "cubic" {
		t.Errorf("defaults %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"--loss", "0.01,0.05", "--delay", "0", "--direction", "send", "--rounds", "5",
		"--pollstack", "before=/a", "--pollstack", "after=/b", "--sysctl", "sendspace=4194304"}, io.Discard)
	if err != nil || !slices.Equal(o.Loss, []float64{0.01, 0.05}) || !slices.Equal(o.Delay, []time.Duration{0}) ||
		!slices.Equal(o.Dirs, []string{"send"}) || o.Rounds != 5 ||
		!slices.Equal(o.Builds, []build{{"before", "/a"}, {"after", "/b"}}) || !slices.Equal(o.Sysctl, []string{"sendspace=4194304"}) {
		t.Errorf("got %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, bad := range [][]string{{"--nope"}, {"--loss", "1"}, {"--loss", "x"}, {"--delay", "6s"}, {"--direction", "up"},
		{"--pollstack", "kernel=/a"}, {"--pollstack", "/a"}, {"--sysctl", "x"}, {"--bytes", "10"}, {"--rounds", "0"}, {"x"},
		{"--kernel-cc", ""}, {"--kernel-cc", "../bbr"}} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: no usage printed", bad)
		}
	}
}
