package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func nsInode(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatalf("stat own namespace: %v", err)
	}
	return st.Ino
}

func fileInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// tempNamespace makes a namespace with `ip netns add` and deletes it when the
// test ends.
func tempNamespace(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("netns: test needs root")
		}
		t.Skip("netns: test needs root")
	}
	var b [2]byte
	rand.Read(b[:])
	name := "nstest-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

func TestDoEntersAndRestores(t *testing.T) {
	name := tempNamespace(t)
	want := fileInode(t, Dir+"/"+name)
	before := fileInode(t, "/proc/self/ns/net")

	var inside uint64
	var ran bool
	err := Do(name, func() error {
		inside = nsInode(t)
		// The namespace is fresh: it has lo and nothing else.
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" {
			t.Errorf("interfaces inside %s = %v, want only lo", name, ifs)
		}
		ran = true
		return nil
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if inside != want {
		t.Errorf("fn ran in namespace inode %d, want %d (%s)", inside, want, name)
	}
	if !ran {
		t.Error("fn did not run")
	}
	// Many calls: threads that went in must come back, or the runtime
	// would hand a goroutine a thread in the wrong namespace.
	for i := 0; i < 50; i++ {
		if err := Do(name, func() error { return nil }); err != nil {
			t.Fatalf("Do #%d: %v", i, err)
		}
		if got := nsInode(t); got != before {
			t.Fatalf("after Do #%d: this thread is in namespace %d, want %d", i, got, before)
		}
	}
}

func TestDoEmptyNameRunsHere(t *testing.T) {
	here := fileInode(t, "/proc/self/ns/net")
	var got uint64
	if err := Do("", func() error { got = nsInode(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != here {
		t.Errorf("fn ran in namespace %d, want the current one %d", got, here)
	}
}

func TestDoReturnsFnError(t *testing.T) {
	name := tempNamespace(t)
	sentinel := errors.New("sentinel")
	if err := Do(name, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do = %v, want %v", err, sentinel)
	}
}

func TestDoMissingNamespace(t *testing.T) {
	called := false
	err := Do("pollstack-no-such-namespace", func() error { called = true; return nil })
	if err == nil || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Do on a missing namespace = %v, want ENOENT", err)
	}
	if called {
		t.Error("fn ran although the namespace does not exist")
	}
	if err := Do("../etc", func() error { return nil }); err == nil {
		t.Error("Do accepted a name with a slash")
	}
}

func TestDoPanicPropagates(t *testing.T) {
	name := tempNamespace(t)
	defer func() {
		if v := recover(); v != "boom" {
			t.Errorf("recovered %v, want boom", v)
		}
	}()
	Do(name, func() error { panic("boom") })
	t.Error("Do returned after fn panicked")
}
