package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o != (options{Size: 64, Trips: 20000, Rounds: 5}) {
		t.Errorf("defaults %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"--size", "1024", "--trips", "10", "--rounds", "3", "--json"}, io.Discard)
	if err != nil || o != (options{Size: 1024, Trips: 10, Rounds: 3, JSON: true}) {
		t.Errorf("got %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, bad := range [][]string{{"--nope"}, {"--size", "0"}, {"--size", "2000000"}, {"--trips", "0"}, {"--rounds", "0"}, {"x"}} {
		var out bytes.Buffer
		if _, err := parseFlags(bad, &out); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted: %v", bad, err)
		} else if !strings.Contains(out.String(), "usage:") {
			t.Errorf("%q: no usage printed", bad)
		}
	}
}
