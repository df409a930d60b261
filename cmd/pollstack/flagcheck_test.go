package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every bad command line found by trying to break the CLI: each is refused
// before anything is attached or opened, with one line on stderr naming the
// flag (or the problem) and the usage exit code; nothing runs as root here
// that could touch an interface (the interface "x" does not exist, and the
// checks come first).
func TestBadCommandLinesAreOneLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("d", 120)+".sock")
	busy := filepath.Join(dir, "busy.sock")
	fakeEngine(t, busy, "pst-busy")
	rps := []string{"bench", "rps", "--iface", "x", "--connect", "198.18.0.2:80"}
	cps := []string{"bench", "cps", "--iface", "x", "--connect", "198.18.0.2:80"}
	bulk := []string{"bench", "bulk", "--iface", "x", "--connect", "198.18.0.2:9000"}
	with := func(base []string, more ...string) []string { return append(append([]string(nil), base...), more...) }
	cases := []struct {
		args []string
		code int
		want string
	}{
		// Unknown flags: one line and a pointer to the command's help, on every command.
		{[]string{"serve", "--bogus"}, 2, "serve: flag provided but not defined: -bogus (see 'pollstack serve --help')"},
		{[]string{"bench", "pps", "--bogus"}, 2, "(see 'pollstack bench pps --help')"},
		{[]string{"bench", "rps", "--bogus"}, 2, "(see 'pollstack bench rps --help')"},
		{[]string{"bench", "cps", "--bogus"}, 2, "(see 'pollstack bench cps --help')"},
		{[]string{"bench", "bulk", "--bogus"}, 2, "(see 'pollstack bench bulk --help')"},
		{[]string{"demo", "--bogus"}, 2, "(see 'pollstack demo --help')"},
		{[]string{"stat", "--bogus"}, 2, "(see 'pollstack stat --help')"},
		{[]string{"sysctl", "--bogus", "msl"}, 2, "(see 'pollstack sysctl --help')"},
		{[]string{"testbed", "up", "--bogus"}, 2, "(see 'pollstack testbed up --help')"},
		{[]string{"testbed", "down", "--bogus"}, 2, "(see 'pollstack testbed down --help')"},
		{[]string{"serve", "--port"}, 2, "flag needs an argument: -port"},
		{[]string{"proxy", "--bogus"}, 2, "(see 'pollstack proxy --help')"},
		{[]string{"proxy"}, 2, "proxy: --iface, --listen and --backend are required, or --config FILE"},
		{[]string{"proxy", "--iface", "x", "--listen", "80"}, 2, "proxy: --backend IP:PORT[,weight=W] is required"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2"}, 2, `proxy: --backend "198.18.0.2": want IP:PORT`},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80,weight=300"}, 2, "weight"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--mode", "udp"}, 2, `--mode "udp": want tcp or http`},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--balance", "hash"}, 2, "hash"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--drain", "-1s"}, 2, "proxy: --drain -1s: want 0 or more"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--maxconn", "-1"}, 2, "proxy: --maxconn -1"},
		{[]string{"proxy", "--config", file, "--listen", "80"}, 2, "give one or the other"},
		{[]string{"serve", "--port", "http"}, 2, `invalid value "http" for flag -port`},

		// Float flags: NaN, infinities and values out of range.
		{[]string{"serve", "--iface", "x", "--fault-drop", "NaN"}, 2, "serve: --fault-drop NaN: want a fraction in 0..1"},
		{[]string{"serve", "--iface", "x", "--fault-drop", "Inf"}, 2, "--fault-drop +Inf: want a fraction in 0..1"},
		{[]string{"serve", "--iface", "x", "--fault-drop", "-Inf"}, 2, "--fault-drop -Inf: want a fraction in 0..1"},
		{[]string{"serve", "--iface", "x", "--fault-drop", "1.5"}, 2, "--fault-drop 1.5: want a fraction in 0..1"},
		{[]string{"serve", "--iface", "x", "--fault-dup", "nan"}, 2, "--fault-dup NaN"},
		{[]string{"serve", "--iface", "x", "--fault-reorder", "+Inf"}, 2, "--fault-reorder +Inf"},
		{[]string{"serve", "--iface", "x", "--fault-corrupt", "-0.1"}, 2, "--fault-corrupt -0.1"},
		{with(rps, "--fault-drop", "NaN"), 2, "bench rps: --fault-drop NaN"},
		{with(bulk, "--fault-dup", "Inf"), 2, "bench bulk: --fault-dup +Inf"},
		{[]string{"bench", "pps", "--iface", "x", "--rate", "NaN"}, 2, "bench pps: --rate NaN: want 0 (as fast as possible) or a rate up to 1e9"},
		{[]string{"bench", "pps", "--iface", "x", "--rate", "Inf"}, 2, "bench pps: --rate +Inf"},
		{[]string{"bench", "pps", "--iface", "x", "--rate", "-1"}, 2, "bench pps: --rate -1"},
		{with(rps, "--rate", "NaN"), 2, "bench rps: --rate NaN: want 0 (closed loop) or a rate up to 1e8"},
		{with(rps, "--rate", "Inf"), 2, "bench rps: --rate +Inf"},
		{with(cps, "--rate", "-5"), 2, "bench cps: --rate -5"},
		{with(cps, "--rate", "NaN"), 2, "bench cps: --rate NaN"},

		// Durations: negative everywhere; zero where it makes no sense.
		{[]string{"serve", "--iface", "x", "--stats-interval", "-1s"}, 2, "serve: --stats-interval -1s: want 0 (never) or at least 100ms"},
		{[]string{"serve", "--iface", "x", "--stats-interval", "1ns"}, 2, "--stats-interval 1ns"},
		{with(rps, "--stats-interval", "-1s"), 2, "bench rps: --stats-interval -1s"},
		{[]string{"serve", "--iface", "x", "--fault-delay", "-1ms"}, 2, "serve: --fault-delay -1ms: want 0..10s"},
		{[]string{"serve", "--iface", "x", "--fault-delay", "1h"}, 2, "--fault-delay 1h0m0s: want 0..10s"},
		{[]string{"serve", "--iface", "x", "--drain", "-1s"}, 2, "serve: --drain -1s"},
		{[]string{"bench", "pps", "--iface", "x", "--duration", "0s"}, 2, "bench pps: --duration 0s: want a positive duration"},
		{[]string{"bench", "pps", "--iface", "x", "--duration", "-1s"}, 2, "bench pps: --duration -1s"},
		{with(rps, "--duration", "-1s"), 2, "bench rps: --duration -1s"},
		{with(rps, "--warmup", "-1s"), 2, "bench rps: --warmup -1s"},
		{with(cps, "--timeout", "0s"), 2, "bench cps: --timeout 0s"},
		{with(bulk, "--timeout", "-1s"), 2, "bench bulk: --timeout -1s: want a positive duration"},
		{[]string{"demo", "--warmup", "-1s"}, 2, "demo: --warmup must not be negative (got -1s)"},
		{[]string{"demo", "--duration", "0s"}, 2, "demo: --duration must be positive (got 0s)"},
		{[]string{"demo", "--timeout", "-1s"}, 2, "demo: --timeout must be positive"},
		{[]string{"stat", "--watch", "-1s"}, 2, "stat: --watch -1s: want 0 (one report) or at least 100ms"},
		{[]string{"stat", "--watch", "1ms"}, 2, "stat: --watch 1ms"},

		// Counts.
		{[]string{"serve", "--iface", "x", "--idle-sleep-after", "-1"}, 2, "--idle-sleep-after -1"},
		{[]string{"serve", "--iface", "x", "--loop-nice", "20"}, 2, "--loop-nice 20: want -20..19"},
		{[]string{"serve", "--iface", "x", "--pin=false", "--loop-nice", "-5"}, 2, "--loop-nice needs loops on threads of their own: it does not go with --pin=false"},
		{[]string{"serve", "--iface", "x", "--app", "gohttp", "--loop-nice", "-5"}, 2, "it does not go with --pin=false"},
		{[]string{"serve", "--iface", "x", "--pin=false", "--runtime-cpus", "0"}, 2, "--runtime-cpus needs loops on threads of their own: it does not go with --pin=false"},
		{[]string{"serve", "--iface", "x", "--runtime-cpus", "0-x"}, 2, "serve: --runtime-cpus: "},
		{[]string{"serve", "--iface", "x", "--runtime-cpus", "4096"}, 2, "serve: --runtime-cpus: "},
		{[]string{"serve", "--iface", "x", "--runtime-rtprio", "5"}, 2, "--runtime-rtprio 5 needs loops at a higher real-time priority: give --loop-rtprio above it"},
		{[]string{"serve", "--iface", "x", "--loop-rtprio", "5", "--runtime-rtprio", "5"}, 2, "--runtime-rtprio 5 needs loops at a higher real-time priority"},
		{[]string{"serve", "--iface", "x", "--loop-rtprio", "5", "--runtime-rtprio", "-1"}, 2, "--runtime-rtprio -1: want 1..98, or 0 for the normal class"},
		{[]string{"serve", "--iface", "x", "--pin=maybe"}, 2, "invalid boolean value \"maybe\" for -pin"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--loop-nice", "-21"}, 2, "--loop-nice -21: want -20..19"},
		{[]string{"serve", "--iface", "x", "--loop-rtprio", "100"}, 2, "--loop-rtprio 100: want 1..99, or 0 for the normal class"},
		{[]string{"serve", "--iface", "x", "--thp", "never"}, 2, `--thp "never": want auto, system or off`},
		{[]string{"serve", "--iface", "x", "--tx-checksum", "nic"}, 2, `--tx-checksum "nic": want offload, engine or kernel-sw`},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--tx-checksum", "hw"}, 2, `--tx-checksum "hw": want offload, engine or kernel-sw`},
		{[]string{"serve", "--iface", "x", "--loop-rtprio", "-1"}, 2, "--loop-rtprio -1: want 1..99"},
		{[]string{"serve", "--iface", "x", "--pin=false", "--loop-rtprio", "10"}, 2, "--loop-rtprio needs loops on threads of their own"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--loop-rtprio", "10", "--loop-nice", "-20"}, 2, "--loop-rtprio and --loop-nice: a real-time thread has no nice value"},
		{[]string{"serve", "--iface", "x", "--frames", "-5"}, 2, "--frames -5"},
		{[]string{"serve", "--iface", "x", "--frames", "2000"}, 2, "serve: --frames 2000: want 2677..1048576 frames per core with rings of 2048"},
		{[]string{"serve", "--iface", "x", "--ring-size", "64", "--frames", "234"}, 2, "serve: --frames 234: want 235..1048576 frames per core with rings of 64"},
		{[]string{"serve", "--iface", "x", "--ring-size", "-64"}, 2, "--ring-size -64"},
		{[]string{"bench", "pps", "--iface", "x", "--flows", "0"}, 2, "bench pps: --flows 0: want 1..65535"},
		{[]string{"bench", "pps", "--iface", "x", "--flows", "70000"}, 2, "bench pps: --flows 70000"},
		{[]string{"bench", "pps", "--iface", "x", "--size", "-1"}, 2, "bench pps: --size -1"},
		{with(rps, "--conns", "0"), 2, "bench rps: --conns 0"},
		{with(rps, "--conns", "-3"), 2, "bench rps: --conns -3"},
		{with(rps, "--size", "-2"), 2, "bench rps: --size -2"},
		{with(bulk, "--bytes", "0"), 2, "bench bulk: --bytes 0: want a positive count"},
		{with(bulk, "--bytes", "-1"), 2, "bench bulk: --bytes -1"},
		{[]string{"stat", "--count", "-1"}, 2, "stat: --count -1: must not be negative"},
		{[]string{"stat", "--count", "3"}, 2, "stat: --count needs --watch"},
		{[]string{"testbed", "up", "--queues", "100"}, 2, "--queues 100"},
		{[]string{"demo", "--conns", "-1"}, 2, "demo: --conns -1"},

		// Ports, addresses, names, paths.
		{[]string{"serve", "--iface", "x", "--port", "70000"}, 2, "serve: --port 70000: want 1..65535"},
		{[]string{"serve", "--iface", "x", "--port", "-1"}, 2, "serve: --port -1"},
		{[]string{"serve", "--iface", "x", "--metrics", "127.0.0.1:99999"}, 2, `serve: --metrics "127.0.0.1:99999": want HOST:PORT with a port in 0..65535`},
		{[]string{"serve", "--iface", "x", "--metrics", "127.0.0.1:http"}, 2, `--metrics "127.0.0.1:http"`},
		{[]string{"serve", "--iface", "x", "--addr", "198.18.0.1/33"}, 2, `serve: --addr "198.18.0.1/33": not an address in CIDR form`},
		{[]string{"serve", "--iface", "x", "--addr", ""}, 2, `serve: --addr "": not an address in CIDR form`},
		{[]string{"serve", "--iface", "x", "--addr", "0.0.0.0/0"}, 2, `--addr "0.0.0.0/0": not a unicast address`},
		{[]string{"serve", "--iface", "x", "--cores", ""}, 2, "serve: --cores: empty CPU list"},

		// Routes and gateways.
		{[]string{"testbed", "up", "--router-mtu", "1400"}, 2, "testbed up: --router-mtu needs --routed"},
		{[]string{"testbed", "up", "--routed", "--router-mtu", "1000"}, 2, "testbed up: --router-mtu 1000: want 1280..1500 (0: 1500)"},
		{[]string{"serve", "--iface", "x", "--vlan", "4095"}, 2, "serve: --vlan 4095: want a VLAN ID in 1..4094 (0: untagged)"},
		{with(rps, "--vlan", "-1"), 2, "bench rps: --vlan -1: want a VLAN ID in 1..4094"},
		{[]string{"serve", "--iface", "x", "--route", "198.19.0.0/24"}, 2, `serve: --route "198.19.0.0/24": want PREFIX=NEXTHOP`},
		{[]string{"serve", "--iface", "x", "--route", "198.19.0.0/24=router"}, 2, `serve: --route "198.19.0.0/24=router": want PREFIX=NEXTHOP`},
		{[]string{"serve", "--iface", "x", "--route", "198.19.0.1/24=198.18.0.2"}, 2, "serve: --route 198.19.0.1/24=198.18.0.2: host bits set in 198.19.0.1/24 (the prefix is 198.19.0.0/24)"},
		{[]string{"serve", "--iface", "x", "--route", "198.19.0.0/24=198.20.0.1"}, 2, "serve: --route 198.19.0.0/24=198.20.0.1: next hop 198.20.0.1 is not on a connected prefix (the prefixes of --addr)"},
		{[]string{"serve", "--iface", "x", "--route", "198.19.0.0/24=2001:2::2"}, 2, "the next hop is not of the prefix's family"},
		{[]string{"serve", "--iface", "x", "--route", "198.18.0.0/24=198.18.0.2"}, 2, "198.18.0.0/24 already has a route"},
		{[]string{"serve", "--iface", "x", "--gateway", "router"}, 2, `serve: --gateway "router": not an IPv4 or IPv6 address`},
		{[]string{"serve", "--iface", "x", "--gateway", "198.18.0.2", "--gateway", "198.18.0.3"}, 2, "serve: --gateway 198.18.0.2 and --gateway 198.18.0.3: one default gateway per family"},
		{[]string{"serve", "--iface", "x", "--gateway", "198.19.0.1"}, 2, "serve: --gateway 198.19.0.1: next hop 198.19.0.1 is not on a connected prefix"},
		{[]string{"serve", "--iface", "x", "--gateway", "2001:2::1"}, 2, "serve: --gateway 2001:2::1: the next hop is one of pollstack's own addresses"},
		{[]string{"serve", "--iface", "x", "--gateway", "ff02::2"}, 2, "the next hop must be a unicast address"},
		{[]string{"serve", "--iface", "x", "--route", "0.0.0.0/0=198.18.0.3", "--gateway", "198.18.0.2"}, 2, "serve: --gateway 198.18.0.2: 0.0.0.0/0 already has a route"},
		{with(rps, "--gateway", "198.19.0.1"), 2, "bench rps: --gateway 198.19.0.1: next hop"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.19.0.2:80", "--route", "198.19.0.0/24"}, 2, "proxy: --route"},
		{[]string{"serve", "--iface", "x", "--cores", "1-0"}, 2, `is not a range`},
		{[]string{"serve", "--iface", "x", "--cores", "0,0"}, 2, "names CPU 0 twice"},
		{[]string{"serve", "--iface", "x", "--cores", "-1"}, 2, "not a CPU number"},
		{[]string{"serve", "--iface", ""}, 2, "serve: --iface is required"},
		{[]string{"serve", "--iface", "../../etc"}, 2, `serve: --iface "../../etc": not an interface name`},
		{[]string{"serve", "--iface", "sixteen-chars-xx"}, 2, "not an interface name"},
		{[]string{"serve", "--iface", "x", "--netns", "../x"}, 2, `serve: --netns "../x": not a network namespace name`},
		{[]string{"serve", "--iface", "x", "--control", "/nonexistent/dir/x.sock"}, 2, "serve: --control /nonexistent/dir/x.sock: directory /nonexistent/dir does not exist (serve creates only /run/pollstack)"},
		{[]string{"serve", "--iface", "x", "--control", file}, 2, "exists and is not a socket"},
		{[]string{"serve", "--iface", "x", "--control", long}, 2, "longer than a Unix socket path may be"},
		{[]string{"serve", "--iface", "x", "--control", busy}, 2, "serve: control socket " + busy + " is in use by a running engine"},
		{[]string{"serve", "--iface", "x", "--pcap", "/nonexistent/x.pcap"}, 2, "serve: --pcap /nonexistent/x.pcap: directory /nonexistent does not exist"},
		{[]string{"serve", "--iface", "x", "--pcap", dir}, 2, "is a directory"},
		{[]string{"bench", "pps", "--iface", "x", "--pcap", "/nonexistent/x.pcap"}, 2, "bench pps: --pcap /nonexistent/x.pcap: directory"},
		{[]string{"serve", "--iface", "x", "--trace", "/nonexistent/x.trace"}, 2, "serve: --trace /nonexistent/x.trace: directory /nonexistent does not exist"},
		{[]string{"proxy", "--iface", "x", "--listen", "80", "--backend", "198.18.0.2:80", "--trace", dir}, 2, "is a directory"},
		{[]string{"serve", "--iface", "x", "--trace-ring", "1000"}, 2, "serve: --trace-ring 1000: want a power of two in 64..4194304"},
		{[]string{"bench", "bulk", "--iface", "x", "--connect", "198.18.0.2:9000", "--trace-ring", "32"}, 2, "bench bulk: --trace-ring 32"},
		{[]string{"trace"}, 2, "trace: want 'trace dump FILE' or 'trace plot FILE'"},
		{[]string{"trace", "dump"}, 2, "trace dump: want one trace FILE"},
		{[]string{"trace", "dump", "/nonexistent/x.trace"}, 2, "trace dump: open /nonexistent/x.trace"},
		{[]string{"trace", "dump", file}, 2, "not a pollstack trace"},
		{[]string{"trace", "plot", file, "-o", "/nonexistent/x.svg"}, 2, "trace plot: --o /nonexistent/x.svg: directory /nonexistent does not exist"},
		{[]string{"trace", "plot", file, "--bogus"}, 2, "trace plot: flag provided but not defined: -bogus"},
		{[]string{"bench", "pps", "--iface", "x/y"}, 2, "bench pps: --iface \"x/y\": not an interface name"},
		{[]string{"bench", "pps", "--iface", "x", "--netns", ".."}, 2, "bench pps: --netns \"..\""},
		{[]string{"bench", "pps", "--iface", "x", "--src-ip", "fe80::1%eth0", "--dst-ip", "fe80::2"}, 2, "want two addresses of one family"},
		{[]string{"bench", "pps", "--iface", "x", "--dst-mac", ""}, 2, `--dst-mac "": not an Ethernet address`},
		{with(rps, "--plot", "/nonexistent/x.svg"), 2, "bench rps: --plot /nonexistent/x.svg: directory /nonexistent does not exist"},
		{[]string{"bench", "rps", "--iface", "x", "--connect", "0.0.0.0:80"}, 2, `bench rps: --connect "0.0.0.0:80": want IP:PORT`},
		{[]string{"bench", "cps", "--iface", "x", "--connect", "198.18.0.2:0"}, 2, `bench cps: --connect "198.18.0.2:0"`},
		{[]string{"bench", "rps", "--iface", "x", "--connect", "198.18.0.2:70000"}, 2, `--connect "198.18.0.2:70000"`},
		{[]string{"bench", "rps", "--iface", "x", "--connect", ""}, 2, "bench rps: --connect is required"},
		{[]string{"bench", "bulk", "--iface", "x", "--connect", "224.0.0.1:9000"}, 2, `bench bulk: --connect "224.0.0.1:9000": want IP:PORT`},
		{[]string{"bench", "bulk", "--iface", "x", "--connect", "[fe80::1%eth0]:9000"}, 2, `bench bulk: --connect "[fe80::1%eth0]:9000"`},
		{with(bulk, "--file", "/nonexistent/f"), 2, "bench bulk: --file: open /nonexistent/f"},
		{[]string{"stat", "--iface", "../x"}, 2, `stat: --iface "../x": not an interface name`},
		{[]string{"stat", "--iface", "x", "--netns", "a/b"}, 2, `stat: --netns "a/b": not a network namespace name`},
		{[]string{"sysctl", "--iface", "a/b"}, 2, `sysctl: --iface "a/b": not an interface name`},
		{[]string{"sysctl", "--control", "/nonexistent.sock", "=5"}, 2, `sysctl: "=5": want NAME=VALUE`},
		{[]string{"testbed", "up", "--name", ""}, 2, "want 1 to 12 characters"},
		{[]string{"testbed", "impair", "--ecn-mark-above", "30000"}, 2, "testbed impair: testbed: ECN marking above 30000 bytes needs a rate"},
		{[]string{"testbed", "up", "--rate", "1mbit", "--ecn-mark-above", "2000000000"}, 2, "want at most 1073741824"},
		{[]string{"testbed", "impair", "--reorder", "2"}, 2, "testbed impair: --reorder 2: want a probability in 0..1"},
		{[]string{"testbed", "up", "--duplicate", "NaN"}, 2, "testbed up: --duplicate NaN: want a probability in 0..1"},
		{[]string{"testbed", "up", "--seed", "x"}, 2, `invalid value "x" for flag -seed`},
		{with(rps, "--path", ""), 2, `bench rps: --path "": want /...`},
		{[]string{"demo", "--path", ""}, 2, `demo: --path "": want a request target`},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		out := stderr.String()
		if code != tc.code || !strings.Contains(out, tc.want) || strings.Count(out, "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %d bytes; want exit %d and one line with %q, nothing on stdout",
				tc.args, code, out, stdout.Len(), tc.code, tc.want)
		}
	}
}

// --help of every command prints its usage once on stdout, explains every
// flag, and says what zero and negative values mean where they are refused.
func TestHelpExplainsEveryFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Exit codes", "3 stat or sysctl found no running engine"}},
		{[]string{"serve", "--help"}, []string{"-stats-interval", "at least 100ms (0: never)", "-fault-drop", "(0..1)", "-fault-delay", "at most 10s",
			"-control", "PATH's directory must exist", "-port", "1..65535", "-drain", "-metrics", "-pcap", "-cores", "-addr", "-netns", "-iface",
			"-route", "PREFIX=NEXTHOP", "-gateway", "one IPv4 and one IPv6", "-accept-ra", "router advertisements", "-vlan", "1..4094"}},
		{[]string{"bench", "pps", "--help"}, []string{"-rate", "up to 1e9", "-flows", "1..65535", "-duration", "(more than 0)", "-pcap"}},
		{[]string{"bench", "rps", "--help"}, []string{"-route", "-gateway", "-rate", "-conns", "-duration", "-warmup", "-timeout", "-plot", "-size", "-fault-drop", "-stats-interval"}},
		{[]string{"bench", "cps", "--help"}, []string{"-rate", "-conns", "-connect"}},
		{[]string{"bench", "bulk", "--help"}, []string{"-bytes", "-file", "-timeout", "-connect"}},
		{[]string{"demo", "--help"}, []string{"-duration", "(more than 0)", "-warmup", "(0: none)", "-timeout"}},
		{[]string{"stat", "--help"}, []string{"-watch", "at least 100ms", "-count", "exits 3", "nobody listens on", "removed"}},
		{[]string{"sysctl", "--help"}, []string{"-control", "-iface", "exits 3"}},
		{[]string{"testbed", "up", "--help"}, []string{"-name", "-queues", "-rss", "owner core"}},
		{[]string{"trace", "plot", "--help"}, []string{"-o", "FILE.svg"}},
		{[]string{"trace", "dump", "--help"}, []string{"-csv"}},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, stderr.String())
		}
		out := stdout.String()
		if strings.Count(out, "Usage") != 1 {
			t.Errorf("%q: want the usage once, got %q", tc.args, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: help lacks %q", tc.args, w)
			}
		}
	}
}
