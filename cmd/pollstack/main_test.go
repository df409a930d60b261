package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flags and impossible requests give one line on stderr and exit code 2;
// --help prints the usage and exits 0.
func TestUsageErrorsAreOneLineExitTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "Usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve"}, "--iface is required"},
		{[]string{"serve", "--iface", "x", "--addr", "198.18.0.1"}, "not an address in CIDR form"},
		{[]string{"serve", "--iface", "x", "--addr", "ff02::1/64"}, "not a unicast address"},
		{[]string{"serve", "--iface", "x", "--cores", "4096"}, "CPU 4096 is not present"},
		{[]string{"serve", "--iface", "x", "--cores", "a"}, "not a CPU number"},
		{[]string{"serve", "--iface", "x", "--app", "nope"}, "unknown app"},
		{[]string{"serve", "--iface", "x", "--port", "0"}, "--port 0"},
		{[]string{"serve", "--iface", "x", "--ring-size", "100"}, "--ring-size 100"},
		{[]string{"serve", "--iface", "x", "--metrics", "nocolon"}, "want HOST:PORT"},
		{[]string{"serve", "--bogus"}, "flag provided but not defined"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench"}, "want a mode"},
		{[]string{"bench", "qps"}, `unknown mode "qps"`},
		{[]string{"bench", "pps"}, "--iface is required"},
		{[]string{"bench", "pps", "--iface", "x", "--dst-mac", "zz"}, "not an Ethernet address"},
		{[]string{"bench", "pps", "--iface", "x", "--size", "20"}, "--size 20"},
		{[]string{"bench", "pps", "--iface", "x", "--src-ip", "198.18.0.2", "--dst-ip", "2001:2::1"}, "one family"},
		{[]string{"testbed"}, "want 'testbed up', 'testbed down' or 'testbed impair'"},
		{[]string{"testbed", "impair", "--loss", "1.5"}, "--loss 1.5: want a probability in 0..1"},
		{[]string{"testbed", "impair", "--loss", "NaN"}, "--loss NaN"},
		{[]string{"testbed", "up", "--loss", "-0.1"}, "--loss -0.1"},
		{[]string{"testbed", "impair", "--delay", "-1ms"}, "--delay -1ms: want 0..5s"},
		{[]string{"testbed", "up", "--delay", "6s"}, "--delay 6s: want 0..5s"},
		{[]string{"testbed", "impair", "--delay", "10ms", "--jitter", "20ms"}, "--jitter 20ms: want 0..the delay (10ms)"},
		{[]string{"testbed", "up", "--jitter", "1ms"}, "--jitter 1ms: want 0..the delay (0s)"},
		{[]string{"testbed", "impair", "--rate", "10furlongs"}, `--rate "10furlongs"`},
		{[]string{"testbed", "impair", "--rate", "-1mbit"}, `--rate "-1mbit"`},
		{[]string{"testbed", "impair", "--rate", "10bit"}, "at least 1000 bytes/s"},
		{[]string{"testbed", "down", "--loss", "0.1"}, "flag provided but not defined"},
		{[]string{"testbed", "impair", "--reorder", "NaN"}, "--reorder NaN: want a probability in 0..1"},
		{[]string{"testbed", "up", "--reorder", "1.5"}, "--reorder 1.5: want a probability in 0..1"},
		{[]string{"testbed", "impair", "--reorder", "-0.01"}, "--reorder -0.01"},
		{[]string{"testbed", "impair", "--duplicate", "NaN"}, "--duplicate NaN: want a probability in 0..1"},
		{[]string{"testbed", "up", "--duplicate", "-1"}, "--duplicate -1: want a probability in 0..1"},
		{[]string{"testbed", "impair", "--duplicate", "+Inf"}, "--duplicate +Inf"},
		{[]string{"testbed", "impair", "--seed", "-1"}, "invalid value \"-1\" for flag -seed"},
		{[]string{"testbed", "down", "--reorder", "0.1"}, "flag provided but not defined: -reorder"},
		{[]string{"testbed", "impair", "--relay-rate", "10furlongs"}, `--relay-rate "10furlongs"`},
		{[]string{"testbed", "up", "--relay-rate", "NaN"}, `--relay-rate "NaN"`},
		{[]string{"testbed", "impair", "--relay-rate", "10bit"}, "relay rate 1 bytes/s: want 0 (none) or at least 1000 bytes/s"},
		{[]string{"testbed", "impair", "--relay-ecn-mark-above", "30000"}, "relay ECN marking above 30000 bytes needs a relay rate"},
		{[]string{"testbed", "up", "--relay-rate", "1mbit", "--relay-ecn-mark-above", "2000000000"}, "want at most 1073741824"},
		{[]string{"stat", "--watch", "-1s"}, "--watch -1s: want 0"},
		{[]string{"stat", "--control", "/nonexistent/x.sock", "--bogus"}, "flag provided but not defined"},
		{[]string{"testbed", "up", "--name", "has space"}, "only letters, digits"},
		{[]string{"testbed", "up", "--name", "muchtoolongname"}, "want 1 to 12 characters"},
		{[]string{"testbed", "up", "--queues", "0"}, "--queues 0"},
		{[]string{"testbed", "up", "--rss"}, "--rss needs --queues 2 or more"},
		{[]string{"testbed", "up", "--rss", "--queues", "1", "--loss", "0.1"}, "--rss needs --queues 2 or more"},
		{[]string{"testbed", "impair", "--rss"}, "flag provided but not defined: -rss"},
		{[]string{"demo", "--window", "0"}, "--window 0"},
		{[]string{"demo", "--duration", "-1s"}, "--duration must be positive"},
		{[]string{"demo", "--mode", "udp"}, `--mode "udp"`},
		{[]string{"demo", "--conns", "0"}, "--conns 0"},
		{[]string{"demo", "--mix", "2"}, `--mix "2"`},
		{[]string{"demo", "--requests", "0"}, "--requests 0"},
		{[]string{"demo", "--path", "x"}, `path "x"`},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, exitUsage, stderr.String())
			continue
		}
		out := stderr.String()
		if !strings.Contains(out, tc.want) {
			t.Errorf("%q: stderr %q lacks %q", tc.args, out, tc.want)
		}
		if tc.args != nil && strings.Count(out, "\n") != 1 {
			t.Errorf("%q: want one line, got %q", tc.args, out)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"bench", "--help"}, {"bench", "pps", "--help"},
		{"testbed", "--help"}, {"testbed", "up", "--help"}, {"testbed", "down", "--help"}, {"testbed", "impair", "--help"}, {"demo", "--help"},
		{"stat", "--help"}, {"bench", "bulk", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Errorf("%q: exit %d: %s", args, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "Usage") {
			t.Errorf("%q: no usage on stdout: %q", args, stdout.String())
		}
	}
}
