package engine

import (
	"os"
	"testing"
)

// applyTHP(THPOff) turns huge pages off for the process, as the kernel
// reports back (PR_GET_THP_DISABLE), where the kernel has them.
func TestTHPOffIsTheKernelsToo(t *testing.T) {
	mode := thpMode()
	if mode == "" || mode == "never" {
		if os.Getenv("POLLSTACK_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("transparent huge pages: mode %q; this machine's kind has madvise", mode)
		}
		t.Skipf("transparent huge pages: mode %q", mode)
	}
	off, err := applyTHP(THPOff)
	if err != nil || !off {
		t.Fatalf("applyTHP(off): %v, %v", off, err)
	}
	if !thpDisabled() {
		t.Fatal("PR_GET_THP_DISABLE says huge pages are still on")
	}
}
