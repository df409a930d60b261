package main

import (
	"net"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/pollstack/pollstack/internal/netns"
)

// ifaceInfo returns the MAC address and number of rx queues of iface in the
// named network namespace ("" for the current one), as usage errors when the
// namespace or the interface does not exist.
func ifaceInfo(iface, ns string) (net.HardwareAddr, int, error) {
	if ns != "" {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			return nil, 0, usagef("network namespace %q does not exist (no /run/netns/%s)", ns, ns)
		}
	}
	var mac net.HardwareAddr
	queues := 0
	err := netns.Do(ns, func() error {
		l, err := netlink.LinkByName(iface)
		if err != nil {
			where := "this network namespace"
			if ns != "" {
				where = "network namespace " + ns
			}
			return usagef("interface %q not found in %s", iface, where)
		}
		mac = l.Attrs().HardwareAddr
		queues = l.Attrs().NumRxQueues
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(mac) != 6 {
		return nil, 0, usagef("interface %q is not an Ethernet interface (hardware address %q)", iface, mac)
	}
	if queues < 1 {
		queues = 1
	}
	return mac, queues, nil
}
