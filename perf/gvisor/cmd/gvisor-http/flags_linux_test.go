package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--iface", "gv-a", "--addr", "198.18.0.1/24", "--addr", "2001:2::1/64", "--cpus", "0-1,3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.link.iface != "gv-a" || len(cfg.addrs) != 2 || cfg.port != 80 || cfg.link.kind != "xdp" || cfg.http != "loop" || !slices.Equal(cfg.cpus, []int{0, 1, 3}) {
		t.Errorf("config %+v", cfg)
	}
	if _, err := parseFlags([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, bad := range [][]string{
		{"--addr", "198.18.0.1/24"},
		{"--iface", "x"},
		{"--iface", "x", "--addr", "198.18.0.1"},
		{"--iface", "x", "--addr", "198.18.0.1/24", "--link", "dpdk"},
		{"--iface", "x", "--addr", "198.18.0.1/24", "--port", "0"},
		{"--iface", "x", "--addr", "198.18.0.1/24", "--cpus", "2-1"},
		{"--iface", "x", "--addr", "198.18.0.1/24", "--netns", "../x"},
		{"--iface", "x", "--addr", "198.18.0.1/24", "extra"},
		{"--bogus"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("3,0-1,1")
	if err != nil || !slices.Equal(got, []int{0, 1, 3}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "a", "-1", "1-", "5-3", "0-4096"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
