package engine

import (
	"fmt"
	"os"
	"strings"
)

// Transparent huge pages. Where the system's mode is madvise (the default
// of most distributions), a 2 MiB page backs only memory a program asked
// huge pages for, and in pollstack the only one that asks is the Go
// runtime: once a collection sees the heap's goal past 1 GiB (about half
// a million idle connections) it marks its heap index and its page
// allocator's index MADV_HUGEPAGE for good, and every 2 MiB of them that
// a pointer touches stays resident whole. After a million connections
// closed that was 6 to 8 MiB of a 53 MiB process that could not be given
// back (docs/benchmarks.md, "What stays after a million"). With 4 KiB
// pages those indexes are resident only where used. So by default
// (THPAuto) the engine turns transparent huge pages off for the process
// (prctl PR_SET_THP_DISABLE) when the mode is madvise; where it is always,
// the heap itself is on huge pages and TLB reach may matter more than the
// few MiB, so it leaves them.

// THPPolicy is what the engine does about transparent huge pages for the
// process (Config.THP).
type THPPolicy uint8

const (
	// THPAuto turns them off for the process when the system's mode is
	// madvise, and leaves the system's policy otherwise.
	THPAuto THPPolicy = iota
	// THPSystem leaves the system's policy.
	THPSystem
	// THPOff turns them off for the process whatever the mode.
	THPOff
)

// String is the name --thp takes.
func (p THPPolicy) String() string {
	switch p {
	case THPAuto:
		return "auto"
	case THPSystem:
		return "system"
	case THPOff:
		return "off"
	}
	return fmt.Sprintf("THPPolicy(%d)", uint8(p))
}

// ParseTHPPolicy reads a THPPolicy's name.
func ParseTHPPolicy(s string) (THPPolicy, error) {
	for _, p := range []THPPolicy{THPAuto, THPSystem, THPOff} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%q: want auto, system or off", s)
}

// thpModePath holds the system's mode, the bracketed word.
const thpModePath = "/sys/kernel/mm/transparent_hugepage/enabled"

// thpMode returns the system's transparent huge page mode (always,
// madvise or never), or "" when the kernel has none.
func thpMode() string {
	b, err := os.ReadFile(thpModePath)
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// thpDisable reports whether policy p turns huge pages off for the
// process on a system in mode.
func thpDisable(p THPPolicy, mode string) bool {
	switch p {
	case THPOff:
		return mode != "" && mode != "never"
	case THPAuto:
		return mode == "madvise"
	}
	return false
}
