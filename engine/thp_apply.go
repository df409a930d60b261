package engine

import "github.com/pollstack/pollstack/cores"

// applyTHP applies p to the process; it reports whether huge pages are
// off for it now.
func applyTHP(p THPPolicy) (bool, error) {
	if !thpDisable(p, thpMode()) {
		return false, nil
	}
	if err := cores.DisableTHP(); err != nil {
		return false, err
	}
	return true, nil
}

// thpDisabled reports whether transparent huge pages are off for the
// process.
func thpDisabled() bool { return cores.THPDisabled() }
