package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/tcp"
)

// --sysctl and --config are checked before anything else happens: a bad
// one is one line and exit code 2.
func TestSysctlFlagsRefuseBadValues(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(good, []byte("# comment\nnet.inet.tcp.msl=5000  # trailing\n\nkeepcnt = 4\n"), 0o644)
	os.WriteFile(bad, []byte("msl=5000\nnet.inet.tcp.pcbcount=3\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--iface", "x", "--sysctl", "net.inet.tcp.maxtcptw=10"}, "serve: net.inet.tcp.maxtcptw: 10 is below the minimum 32"},
		{[]string{"serve", "--iface", "x", "--sysctl", "msl"}, `--sysctl: "msl": want NAME=VALUE`},
		{[]string{"serve", "--iface", "x", "--sysctl", "nosuch=1"}, "nosuch: no such tunable"},
		{[]string{"serve", "--iface", "x", "--sysctl", "ecn.enable=3"}, "serve: net.inet.tcp.ecn.enable: 3 is above the maximum 2"},
		{[]string{"serve", "--iface", "x", "--sysctl", "cc.algorithm=vegas"}, `"vegas" is not one of cubic, dctcp, newreno`},
		{[]string{"serve", "--iface", "x", "--config", bad}, "net.inet.tcp.pcbcount: read-only"},
		{[]string{"serve", "--iface", "x", "--config", filepath.Join(dir, "none")}, "--config: open"},
		{[]string{"serve", "--iface", "x", "--config", good, "--sysctl", "keepcnt=0"}, "keepcnt: 0 is below the minimum 1"},
		{[]string{"serve", "--iface", "x", "--sysctl", "net.inet.ip.maxfragpackets=0"}, "net.inet.ip.maxfragpackets: 0 is out of 1..4096"},
		{[]string{"serve", "--iface", "x", "--sysctl", "net.inet6.ip6.fragttl=x"}, `net.inet6.ip6.fragttl: "x" is not a whole number`},
		{[]string{"serve", "--iface", "x", "--sysctl", "net.inet.ip.nosuch=1"}, "net.inet.ip.nosuch: unknown IP tunable"},
		{[]string{"sysctl", "--bogus"}, "flag provided but not defined"},
		{[]string{"sysctl", "--control", "/nonexistent.sock", "msl", "keepcnt=3"}, "not both at once"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%q)", c.args, code, exitUsage, stderr.String())
		}
		if out := stderr.String(); !strings.Contains(out, c.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line with %q", c.args, out, c.want)
		}
	}
	var f sysctlFlags
	f.file, f.sets = good, listFlag{"msl=1000"}
	if err := f.check("serve"); err != nil {
		t.Fatal(err)
	}
	if len(f.settings) != 3 || f.settings[0].Value != "5000" || f.settings[1].Name != "keepcnt" || f.settings[2].Value != "1000" {
		t.Fatalf("settings %+v: want the file's lines, then --sysctl", f.settings)
	}
	// The IP layer's tunables reach the engine's Config.
	f.sets = listFlag{"net.inet.ip.maxfragpackets=9", "net.inet6.icmp6.errppslimit=0"}
	if err := f.check("serve"); err != nil {
		t.Fatal(err)
	}
	tc := tcp.DefaultConfig()
	cfg := engine.Config{TCP: &tc}
	if err := f.apply(&cfg, "serve"); err != nil {
		t.Fatal(err)
	}
	if cfg.Frag4.MaxFragPackets != 9 || cfg.ICMP6ErrPPSLimit != -1 {
		t.Fatalf("IP tunables not applied: %+v, errppslimit %d", cfg.Frag4, cfg.ICMP6ErrPPSLimit)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"sysctl", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage: pollstack sysctl") {
		t.Fatalf("sysctl --help: exit %d, %q", code, stdout.String())
	}
}

// runCmd runs a pollstack command and returns its stdout, stderr and exit code.
func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// timeWaitEntries reads the engine's TIME_WAIT entries from 'stat --json'.
func timeWaitEntries(t *testing.T, ctl string) int64 {
	t.Helper()
	out, errOut, code := runCmd(t, "stat", "--control", ctl, "--json")
	if code != 0 {
		t.Fatalf("stat --json: exit %d: %s", code, errOut)
	}
	var r statReply
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stat --json: %v\n%s", err, out)
	}
	var n int64
	for _, c := range r.Engine.Cores {
		n += c.States["TIME_WAIT"]
	}
	return n
}

// Acceptance: on a running serve, 'pollstack sysctl net.inet.tcp.msl=5000'
// changes msl (read back as 5000), 'net.inet.tcp.maxtcptw=10' exits
// non-zero with one line naming 32 and changes nothing, a TIME_WAIT entry
// made after the change is gone about 10 s later as 'stat --json' shows,
// while one made before it stays. --sysctl at start applies too.
func TestSysctlCommandOnRunningServe(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bedtest.NeedTools(t, "curl")
	bed := bedtest.ForTest(t, 1)
	ctl := filepath.Join(t.TempDir(), "ctl.sock")
	s := startServe(t, bed, "--app", "http", "--port", "8080", "--control", ctl, "--sysctl", "net.inet.tcp.keepidle=3600000")
	defer s.stop(t)
	waitForFile(t, ctl)

	if out, errOut, code := runCmd(t, "sysctl", "--control", ctl, "net.inet.tcp.keepidle"); code != 0 || out != "net.inet.tcp.keepidle: 3600000\n" {
		t.Fatalf("keepidle set by --sysctl: exit %d, %q %q", code, out, errOut)
	}
	curl := func() {
		t.Helper()
		if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "5", "-H", "Connection: close", "http://198.18.0.1:8080/"); out != "hello\n" {
			t.Fatalf("curl: %q", out)
		}
	}
	curl() // the server closes first: a TIME_WAIT entry with msl 30000
	waitEntries := func(want int64, within time.Duration) time.Time {
		t.Helper()
		end := time.Now().Add(within)
		for {
			n := timeWaitEntries(t, ctl)
			if n == want {
				return time.Now()
			}
			if time.Now().After(end) {
				t.Fatalf("%d TIME_WAIT entries, want %d", n, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitEntries(1, 2*time.Second)

	out, errOut, code := runCmd(t, "sysctl", "--control", ctl, "net.inet.tcp.msl=5000")
	if code != 0 || out != "net.inet.tcp.msl: 30000 -> 5000\n" {
		t.Fatalf("sysctl net.inet.tcp.msl=5000: exit %d, %q %q", code, out, errOut)
	}
	t.Logf("pollstack sysctl net.inet.tcp.msl=5000: %s", strings.TrimSpace(out))
	if out, _, code := runCmd(t, "sysctl", "--control", ctl, "net.inet.tcp.msl"); code != 0 || out != "net.inet.tcp.msl: 5000\n" {
		t.Fatalf("sysctl net.inet.tcp.msl: exit %d, %q", code, out)
	}
	out, errOut, code = runCmd(t, "sysctl", "--control", ctl, "net.inet.tcp.maxtcptw=10")
	if code == 0 || !strings.Contains(errOut, "32") || strings.Count(errOut, "\n") != 1 || out != "" {
		t.Fatalf("sysctl net.inet.tcp.maxtcptw=10: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("pollstack sysctl net.inet.tcp.maxtcptw=10: exit %d: %s", code, strings.TrimSpace(errOut))
	if out, _, _ := runCmd(t, "sysctl", "--control", ctl, "maxtcptw"); out != "net.inet.tcp.maxtcptw: 8191\n" {
		t.Fatalf("maxtcptw after the refused change: %q", out)
	}
	out, _, code = runCmd(t, "sysctl", "--control", ctl, "--json")
	var all []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &all) != nil || len(all) != len(tcp.Sysctls()) {
		t.Fatalf("sysctl --json: exit %d, %d tunables: %.200s", code, len(all), out)
	}

	curl() // a TIME_WAIT entry with msl 5000
	made := time.Now()
	waitEntries(2, 2*time.Second)
	time.Sleep(time.Until(made.Add(8 * time.Second)))
	if n := timeWaitEntries(t, ctl); n != 2 {
		t.Fatalf("8 s after the new entry: %d TIME_WAIT entries, want 2", n)
	}
	gone := waitEntries(1, 5*time.Second) // the old entry stays for its 60 s
	t.Logf("the entry made after msl=5000 went %.1f s after its connection closed; the older one stays", gone.Sub(made).Seconds())
}
