//go:build !linux

package testbed

import (
	"errors"
	"net/netip"
)

var errNotLinux = errors.New("testbed: network namespaces and AF_XDP need Linux")

// Up builds a test bed; it needs Linux.
func Up(name string, queues int) (*Bed, error) { return nil, errNotLinux }

// UpWith builds a shaped test bed; it needs Linux.
func UpWith(name string, queues int, o Options) (*Bed, error) { return nil, errNotLinux }

// RelayStats reports a relayed bed's counters; it needs Linux.
func RelayStats(name string) (string, error) { return "", errNotLinux }

// UpRouted builds a routed test bed; it needs Linux.
func UpRouted(name string, queues int) (*Bed, error) { return nil, errNotLinux }

// UpRoutedWith builds a routed test bed; it needs Linux.
func UpRoutedWith(name string, queues int, cfg RoutedConfig) (*Bed, error) { return nil, errNotLinux }

// BlockPMTUICMP drops a bed router's path MTU errors; it needs Linux.
func BlockPMTUICMP(name string) error { return errNotLinux }

// AddVLAN puts a bed's kernel end on a VLAN; it needs Linux.
func AddVLAN(name string, vid uint16, addrs ...netip.Prefix) (VLANPeer, error) {
	return VLANPeer{}, errNotLinux
}

// Down removes a test bed; it needs Linux.
func Down(name string) error { return errNotLinux }

// Unavailable says why this machine cannot build a bed: it is not Linux.
func Unavailable() string { return errNotLinux.Error() }

// Impair changes a bed's impairment; it needs Linux.
func Impair(name string, im Impairment) error { return errNotLinux }

// SetRSS gives a bed receive-side scaling; it needs Linux.
func SetRSS(name string, key []byte, table []int, queues int) error { return errNotLinux }

// ClearRSS removes a bed's receive-side scaling; it needs Linux.
func ClearRSS(name string) error { return errNotLinux }
