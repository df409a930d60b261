package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// A second serve on an interface that has one is refused in one line that
// names the interface; a serve killed with SIGKILL leaves its control
// socket, which stat removes (exit 3) and a new serve replaces.
func TestSecondServeAndKilledServe(t *testing.T) {
	bedtest.RequirePrivileged(t)
	bed := bedtest.ForTest(t, 1)
	ctl := filepath.Join(t.TempDir(), "ctl.sock")
	s := startServe(t, bed, "--control", ctl)
	waitForFile(t, ctl)

	_, errOut, code := runCmd(t, "serve", "--iface", bed.IfaceA, "--netns", bed.NsA, "--control", "none", "--stats-interval", "0")
	want := "pollstack: serve: interface " + bed.IfaceA + " (netns " + bed.NsA + ") already has an XDP program attached (another pollstack serve?)\n"
	if code != 1 || errOut != want {
		t.Errorf("second serve: exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
	}
	if _, errOut, code := runCmd(t, "stat", "--control", ctl); code != 0 {
		t.Fatalf("stat on the first serve: exit %d: %s", code, errOut)
	}

	s.cmd.Process.Kill() // SIGKILL: no cleanup
	s.cmd.Wait()
	if st, err := os.Lstat(ctl); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the killed serve left no socket to test with: %v", err)
	}
	for _, cmd := range []string{"stat", "sysctl"} {
		_, errOut, code := runCmd(t, cmd, "--control", ctl)
		if code != exitNoEngine || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "removed the stale control socket") {
			t.Errorf("%s after kill -9: exit %d, stderr %q; want exit %d and one line", cmd, code, errOut, exitNoEngine)
		}
		if _, err := os.Lstat(ctl); err == nil {
			t.Errorf("%s left the stale socket", cmd)
		}
		if cmd == "stat" {
			// Leave it again for sysctl: a new serve killed the same way.
			s = startServe(t, bed, "--control", ctl)
			waitForFile(t, ctl)
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	}

	// A new serve takes over a stale socket at its --control path.
	s = startServe(t, bed, "--control", ctl)
	waitForFile(t, ctl)
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s = startServe(t, bed, "--control", ctl)
	waitForFile(t, ctl)
	if out, errOut, code := runCmd(t, "sysctl", "--control", ctl, "msl"); code != 0 || !strings.HasPrefix(out, "net.inet.tcp.msl: ") {
		t.Errorf("sysctl on a serve that replaced a stale socket: exit %d, %q %q", code, out, errOut)
	}
	s.stop(t)
}
