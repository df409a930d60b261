package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/engine"
)

// useControlDir points stat and sysctl's default search at a fresh
// directory for the test.
func useControlDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pstctl") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	old := controlDir
	controlDir = dir
	t.Cleanup(func() { controlDir = old })
	return dir
}

// staleSocket leaves a Unix socket at path with nobody listening on it, as
// a serve killed with SIGKILL does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket at %s: %v", path, err)
	}
}

// fakeEngine answers the control endpoint's stat and sysctl requests on a
// Unix socket at path, as a running serve does.
func fakeEngine(t *testing.T, path, iface string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stat", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(statReply{Iface: iface})
	})
	mux.HandleFunc("GET /v1/sysctl", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]engine.SysctlValue{{Name: "net.inet.tcp.msl", Value: "30000"}})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func runIn(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// With no engine running, stat and sysctl say so in one line and exit 3,
// whether they look in the control directory or at a given socket.
func TestStatSysctlNoEngine(t *testing.T) {
	dir := useControlDir(t)
	for _, args := range [][]string{
		{"stat"}, {"sysctl"}, {"sysctl", "msl"}, {"stat", "--json"},
	} {
		out, errOut, code := runIn(args...)
		if code != exitNoEngine || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, args[0]+": no running engine found (no control socket in "+dir+")") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and one line", args, code, out, errOut, exitNoEngine)
		}
	}
	missing := filepath.Join(dir, "none.sock")
	for _, args := range [][]string{
		{"stat", "--control", missing}, {"sysctl", "--control", missing, "msl"}, {"stat", "--iface", "pst-z"},
	} {
		_, errOut, code := runIn(args...)
		if code != exitNoEngine || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no engine running: no control socket") {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line", args, code, errOut, exitNoEngine)
		}
	}
}

// A control socket left by a killed serve (a socket file nobody listens
// on) is removed, and stat and sysctl use the one engine that answers; with
// only stale sockets they remove them and exit 3. Files that are not
// sockets are left alone.
func TestStatSysctlStaleSocket(t *testing.T) {
	dir := useControlDir(t)
	stale := filepath.Join(dir, "pst-dead.sock")
	live := filepath.Join(dir, "pst-live.sock")
	other := filepath.Join(dir, "notes.txt.sock")
	if err := os.WriteFile(other, []byte("not a socket"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Only a stale socket: removed, one line, exit 3.
	staleSocket(t, stale)
	os.Remove(other)
	_, errOut, code := runIn("stat")
	if code != exitNoEngine || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "removed 1 stale control socket(s)") {
		t.Errorf("stat, stale only: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Error("stat left the stale socket")
	}

	// A stale socket, a live engine and a file that is no socket.
	os.WriteFile(other, []byte("not a socket"), 0o644)
	fakeEngine(t, live, "pst-live")
	staleSocket(t, stale)
	out, errOut, code := runIn("stat", "--json")
	var r statReply
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Iface != "pst-live" {
		t.Fatalf("stat with a stale and a live socket: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "removed stale control socket "+stale) {
		t.Errorf("stat: no note of the removal on stderr: %q", errOut)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Error("stat left the stale socket")
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("stat removed the live engine's socket: %v", err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("stat removed a file that is no socket: %v", err)
	}

	staleSocket(t, stale)
	out, errOut, code = runIn("sysctl", "msl")
	if code != 0 || out != "net.inet.tcp.msl: 30000\n" {
		t.Fatalf("sysctl with a stale and a live socket: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Error("sysctl left the stale socket")
	}

	// Named explicitly: a stale socket is removed, exit 3; the live one works.
	staleSocket(t, stale)
	for _, args := range [][]string{{"stat", "--control", stale}, {"sysctl", "--control", stale}} {
		_, errOut, code := runIn(args...)
		if code != exitNoEngine || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "removed the stale control socket "+stale) {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
		if _, err := os.Lstat(stale); err == nil {
			t.Errorf("%q left the stale socket", args)
		}
		staleSocket(t, stale)
	}
	if out, errOut, code := runIn("sysctl", "--control", live, "msl"); code != 0 || out != "net.inet.tcp.msl: 30000\n" {
		t.Errorf("sysctl --control live: exit %d, %q %q", code, out, errOut)
	}

	// A file that is no socket, named: one line, exit 1, left alone.
	if _, errOut, code := runIn("stat", "--control", other); code != 1 || !strings.Contains(errOut, "not a socket") {
		t.Errorf("stat --control on a plain file: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("stat removed a file that is no socket: %v", err)
	}

	// Two live engines: the user picks (exit 2), nothing removed.
	fakeEngine(t, filepath.Join(dir, "pst-two.sock"), "pst-two")
	if _, errOut, code := runIn("stat"); code != exitUsage || !strings.Contains(errOut, "2 engines running") {
		t.Errorf("stat with two engines: exit %d, stderr %q", code, errOut)
	}
}

// stat prints the routing table one route a line, IPv4 first, each family
// longest prefix first, with the router of each route.
func TestStatPrintsRoutes(t *testing.T) {
	var b strings.Builder
	printRoutes(&b, []engine.RouteInfo{
		{Prefix: "198.18.0.0/24", Kind: "connected"}, {Prefix: "2001:2::/64", Kind: "connected"},
		{Prefix: "fe80::/64", Kind: "connected"}, {Prefix: "0.0.0.0/0", Via: "198.18.0.2", Kind: "gateway"},
		{Prefix: "2001:2:0:1::/64", Via: "fe80::1", Kind: "static"}, {Prefix: "198.19.0.0/25", Via: "198.18.0.3", Kind: "static"},
		{Prefix: "::/0", Via: "fe80::2", Kind: "router advertisement", Expires: 1799.6},
	})
	want := `routes (longest prefix first):
  198.19.0.0/25          via 198.18.0.3 (static)
  198.18.0.0/24          connected
  0.0.0.0/0              via 198.18.0.2 (gateway)
  2001:2::/64            connected
  fe80::/64              connected
  2001:2:0:1::/64        via fe80::1 (static)
  ::/0                   via fe80::2 (router advertisement, 1800 s left)
`
	if b.String() != want {
		t.Errorf("routes:\n%s\nwant:\n%s", b.String(), want)
	}
}
