package engine

import "golang.org/x/sys/unix"

// applyTHP applies p to the process; it reports whether huge pages are
// off for it now.
func applyTHP(p THPPolicy) (bool, error) {
	if !thpDisable(p, thpMode()) {
		return false, nil
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return false, err
	}
	return true, nil
}

// thpDisabled reports whether transparent huge pages are off for the
// process (PR_GET_THP_DISABLE).
func thpDisabled() bool {
	r, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	return err == nil && r&1 != 0
}
