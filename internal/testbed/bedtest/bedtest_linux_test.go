package bedtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed"
)

// fakeTB records what ForTest registers and turns Fatal into a panic, so a
// test can watch ForTest fail without failing itself.
type fakeTB struct {
	testing.TB
	cleanups []func()
	fatal    string
}

type fatalPanic struct{}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Logf(string, ...any)               {}
func (f *fakeTB) Errorf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(fatalPanic{})
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestForTestCleansUp(t *testing.T) {
	RequirePrivileged(t)

	f := &fakeTB{TB: t}
	b := ForTest(f, 1)
	if f.fatal != "" || len(f.cleanups) != 1 {
		t.Fatalf("ForTest: fatal %q, %d cleanups", f.fatal, len(f.cleanups))
	}
	f.runCleanups()
	if f.fatal != "" {
		t.Errorf("cleanup: %s", f.fatal)
	}
	checkGone(t, b.Name)

	// A routed bed's third namespace goes too.
	f = &fakeTB{TB: t}
	b = ForTestRouted(f, 1)
	if f.fatal != "" || len(f.cleanups) != 1 || !b.Routed() {
		t.Fatalf("ForTestRouted: fatal %q, %d cleanups, routed %v", f.fatal, len(f.cleanups), b.Routed())
	}
	f.runCleanups()
	if f.fatal != "" {
		t.Errorf("cleanup: %s", f.fatal)
	}
	checkGone(t, b.Name)

	// A relayed bed's middle namespace, its relay process and its state
	// go too.
	f = &fakeTB{TB: t}
	b = ForTestWith(f, 1, testbed.Options{Relay: true})
	if f.fatal != "" || len(f.cleanups) != 1 || !b.Relayed() {
		t.Fatalf("ForTestWith relay: fatal %q, %d cleanups, relayed %v", f.fatal, len(f.cleanups), b.Relayed())
	}
	if pids := relayPids(t, b.Name); len(pids) != 1 {
		t.Errorf("relayed bed %s: relay processes %v, want one", b.Name, pids)
	}
	f.runCleanups()
	if f.fatal != "" {
		t.Errorf("cleanup: %s", f.fatal)
	}
	checkGone(t, b.Name)

	// A failing Up still has its cleanup registered.
	f = &fakeTB{TB: t}
	func() {
		defer func() {
			if v := recover(); v != (fatalPanic{}) {
				t.Errorf("recovered %v, want ForTest to call Fatalf", v)
			}
		}()
		ForTest(f, 0)
	}()
	if f.fatal == "" || len(f.cleanups) != 1 {
		t.Fatalf("ForTest with 0 queues: fatal %q, %d cleanups", f.fatal, len(f.cleanups))
	}
	f.runCleanups()
}

// checkGone reports a namespace or link of bed name still present.
func checkGone(t *testing.T, name string) {
	t.Helper()
	if pids := relayPids(t, name); len(pids) != 0 {
		t.Errorf("relay processes of %s left behind: %v", name, pids)
	}
	if _, err := os.Stat(filepath.Join(testbed.StateDir, name)); err == nil {
		t.Errorf("state directory of %s left behind", name)
	}
	for _, n := range []string{name + "-a", name + "-b", name + "-c", name + "-d", name + "-da", name + "-db"} {
		if out, err := exec.Command("ip", "netns", "exec", n, "true").CombinedOutput(); err == nil {
			t.Errorf("namespace %s left behind: %s", n, out)
		}
		if out, err := exec.Command("ip", "link", "show", "dev", n).CombinedOutput(); err == nil {
			t.Errorf("link %s left behind in this namespace: %s", n, out)
		}
	}
}

// relayPids lists the processes whose command line is the relay of bed
// name (argv "pollstack-testbed-relay NAME ...").
func relayPids(t *testing.T, name string) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.HasPrefix(cmdline, []byte("pollstack-testbed-relay\x00"+name+"\x00")) {
			pids = append(pids, d.Name())
		}
	}
	return pids
}
