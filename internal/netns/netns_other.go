//go:build !linux

package netns

import (
	"errors"
)

// Dir is where `ip netns add` keeps its namespace handles.
const Dir = "/run/netns"

// Do runs fn in the network namespace name. Network namespaces exist only on
// Linux: elsewhere Do calls fn for an empty name and fails for any other.
func Do(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	return errors.New("netns: network namespaces need Linux")
}
