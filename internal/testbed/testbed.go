package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Addresses of the bed. The kernel in NAME-b owns the Peer addresses; the
// Local ones are for pollstack on NAME-a (the bed does not configure them).
var (
	LocalIPv4 = netip.MustParseAddr("198.18.0.1")
	PeerIPv4  = netip.MustParseAddr("198.18.0.2")
	LocalIPv6 = netip.MustParseAddr("2001:2::1")
	PeerIPv6  = netip.MustParseAddr("2001:2::2")
)

// RequirePrivilegedEnv names the environment variable that, set to "1", turns
// the skips of tests that need a bed (bedtest) into failures: on a machine
// meant to run the privileged tests, a missing capability is a broken
// machine, not a reason to skip.
const RequirePrivilegedEnv = "POLLSTACK_REQUIRE_PRIVILEGED"

// Prefix lengths of the bed's subnets.
const (
	PrefixLenIPv4 = 24
	PrefixLenIPv6 = 64
)

// MaxNameLen is the longest bed name: NAME plus "-a" must fit in IFNAMSIZ-1
// (15) bytes with room to spare.
const MaxNameLen = 12

// Bed describes a test bed that Up made.
type Bed struct {
	Name   string // the bed's name, NAME
	Queues int    // rx and tx queues on each veth end

	IfaceA, IfaceB string // veth ends: NAME-a (pollstack's), NAME-b (the kernel's)
	NsA, NsB       string // network namespaces holding IfaceA and IfaceB

	LocalMAC net.HardwareAddr // IfaceA's MAC address
	PeerMAC  net.HardwareAddr // IfaceB's MAC address
}

// String summarises what Up made.
func (b *Bed) String() string {
	return fmt.Sprintf("testbed %s: netns %s {%s %s, %d queues, no address} <-veth-> netns %s {%s %s, %d queues, %s/%d %s/%d, tx checksum offload off}",
		b.Name, b.NsA, b.IfaceA, b.LocalMAC, b.Queues,
		b.NsB, b.IfaceB, b.PeerMAC, b.Queues, PeerIPv4, PrefixLenIPv4, PeerIPv6, PrefixLenIPv6)
}

// ErrNotRoot is returned by Up and Down when the process is not root.
var ErrNotRoot = errors.New("testbed: must run as root")

// ValidName reports whether name can name a bed: 1 to MaxNameLen letters,
// digits and '-'.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("testbed: name %q: want 1 to %d characters (interface names are limited to 15)", name, MaxNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("testbed: name %q: only letters, digits and '-' are allowed", name)
		}
	}
	return nil
}

// Unique returns a bed name made of prefix (cut to MaxNameLen-4 bytes) and
// four random hex digits.
func Unique(prefix string) string {
	if len(prefix) > MaxNameLen-4 {
		prefix = prefix[:MaxNameLen-4]
	}
	var b [2]byte
	rand.Read(b[:]) // never fails on Linux
	return prefix + hex.EncodeToString(b[:])
}
