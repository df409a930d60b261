//go:build !linux

package engine

// applyTHP does nothing: transparent huge pages are Linux's.
func applyTHP(THPPolicy) (bool, error) { return false, nil }

func thpDisabled() bool { return false }
