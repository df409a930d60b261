package engine

import "testing"

func TestTHPPolicyByMode(t *testing.T) {
	for _, tc := range []struct {
		p    THPPolicy
		mode string
		off  bool
	}{
		{THPAuto, "madvise", true}, {THPAuto, "always", false}, {THPAuto, "never", false}, {THPAuto, "", false},
		{THPSystem, "madvise", false}, {THPSystem, "always", false},
		{THPOff, "madvise", true}, {THPOff, "always", true}, {THPOff, "never", false}, {THPOff, "", false},
	} {
		if got := thpDisable(tc.p, tc.mode); got != tc.off {
			t.Errorf("%v on %q: off %v, want %v", tc.p, tc.mode, got, tc.off)
		}
	}
	for _, p := range []THPPolicy{THPAuto, THPSystem, THPOff} {
		if q, err := ParseTHPPolicy(p.String()); err != nil || q != p {
			t.Errorf("ParseTHPPolicy(%q) = %v, %v", p, q, err)
		}
	}
	if _, err := ParseTHPPolicy("never"); err == nil {
		t.Error("ParseTHPPolicy(never) took it")
	}
}
