package harness

import (
	"os"
	"os/exec"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed"
)

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
