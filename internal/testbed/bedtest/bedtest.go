package bedtest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed"
)

// ForTest builds a bed with a unique name and queues queues for t and removes
// it when t ends, whether t passed or not. Where no bed can be built (not
// root, no ip or ethtool, no AF_XDP) it skips t, or fails it when
// POLLSTACK_REQUIRE_PRIVILEGED=1.
func ForTest(t testing.TB, queues int) *testbed.Bed {
	t.Helper()
	return forTest(t, queues, testbed.Up)
}

// ForTestRouted is ForTest for a routed bed (testbed.UpRouted): a third
// namespace, reached from pollstack only through the kernel router in
// NAME-b. It needs ip_forward in a namespace, which every Linux that can
// build a bed has.
func ForTestRouted(t testing.TB, queues int) *testbed.Bed {
	t.Helper()
	return forTest(t, queues, testbed.UpRouted)
}

// ForTestRoutedWith is ForTestRouted with the router's link toward the
// third namespace shaped by cfg (testbed.UpRoutedWith).
func ForTestRoutedWith(t testing.TB, queues int, cfg testbed.RoutedConfig) *testbed.Bed {
	t.Helper()
	return forTest(t, queues, func(name string, queues int) (*testbed.Bed, error) {
		return testbed.UpRoutedWith(name, queues, cfg)
	})
}

// ForTestWith is ForTest for a bed shaped by o (testbed.UpWith): routed,
// relayed (its relay process stopped when t ends, as the bed goes), or
// both.
func ForTestWith(t testing.TB, queues int, o testbed.Options) *testbed.Bed {
	t.Helper()
	return forTest(t, queues, func(name string, queues int) (*testbed.Bed, error) {
		return testbed.UpWith(name, queues, o)
	})
}

func forTest(t testing.TB, queues int, up func(string, int) (*testbed.Bed, error)) *testbed.Bed {
	t.Helper()
	RequirePrivileged(t)
	name := testbed.Unique("pt")
	// Registered before Up so that a bed built in part is removed too.
	t.Cleanup(func() {
		if err := testbed.Down(name); err != nil {
			t.Errorf("testbed: down %s: %v", name, err)
		}
	})
	b, err := up(name, queues)
	if err != nil {
		t.Fatalf("testbed: up %s: %v", name, err)
	}
	t.Logf("%v", b)
	return b
}

// RequirePrivileged skips t (or fails it when POLLSTACK_REQUIRE_PRIVILEGED=1)
// unless this machine can build a bed and open AF_XDP sockets.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	reason := testbed.Unavailable()
	if reason == "" {
		return
	}
	if os.Getenv(testbed.RequirePrivilegedEnv) == "1" {
		t.Fatalf("%s (and %s=1)", reason, testbed.RequirePrivilegedEnv)
	}
	t.Skip(reason)
}

// NeedTools skips t (or fails it when POLLSTACK_REQUIRE_PRIVILEGED=1) unless
// every tool is in PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(testbed.RequirePrivilegedEnv) == "1" {
				t.Fatalf("%s not installed (and %s=1)", tool, testbed.RequirePrivilegedEnv)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}
