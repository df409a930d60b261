package testbed

import (
	"os"
	"testing"
)

// RequirePrivilegedEnv names the environment variable that, set to "1", turns
// ForTest's skips into failures: on a machine meant to run the privileged
// tests, a missing capability is a broken machine, not a reason to skip.
const RequirePrivilegedEnv = "POLLSTACK_REQUIRE_PRIVILEGED"

// ForTest builds a bed with a unique name and queues queues for t and removes
// it when t ends, whether t passed or not. Where no bed can be built (not
// root, no ip or ethtool, no AF_XDP) it skips t, or fails it when
// POLLSTACK_REQUIRE_PRIVILEGED=1.
func ForTest(t testing.TB, queues int) *Bed {
	t.Helper()
	RequirePrivileged(t)
	name := Unique("pt")
	// Registered before Up so that a bed built in part is removed too.
	t.Cleanup(func() {
		if err := Down(name); err != nil {
			t.Errorf("testbed: down %s: %v", name, err)
		}
	})
	b, err := Up(name, queues)
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
	reason := unavailable()
	if reason == "" {
		return
	}
	if os.Getenv(RequirePrivilegedEnv) == "1" {
		t.Fatalf("%s (and %s=1)", reason, RequirePrivilegedEnv)
	}
	t.Skip(reason)
}
