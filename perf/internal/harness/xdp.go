package harness

import (
	"context"
	"strings"

	"github.com/pollstack/pollstack/internal/nsproc"
)

// XDPAttached reports whether an XDP program (any mode) is attached to
// iface in network namespace ns.
func XDPAttached(ctx context.Context, ns, iface string) (bool, error) {
	out, err := nsproc.Run(ctx, "ip", "-n", ns, "-d", "link", "show", "dev", iface)
	if err != nil {
		return false, err
	}
	return strings.Contains(out, "prog/xdp") || strings.Contains(out, " xdp"), nil
}

// DetachXDP removes whatever XDP program is attached to iface in ns, in
// any mode, if one is. It reports whether one was.
func DetachXDP(ctx context.Context, ns, iface string) (bool, error) {
	on, err := XDPAttached(ctx, ns, iface)
	if err != nil || !on {
		return false, err
	}
	for _, mode := range []string{"xdp", "xdpgeneric", "xdpdrv"} {
		// Each mode that holds no program refuses; the check below tells.
		_, _ = nsproc.Run(ctx, "ip", "-n", ns, "link", "set", "dev", iface, mode, "off")
	}
	on, err = XDPAttached(ctx, ns, iface)
	if err == nil && on {
		return true, &xdpError{ns, iface}
	}
	return true, err
}

type xdpError struct{ ns, iface string }

func (e *xdpError) Error() string {
	return "an XDP program stays on " + e.iface + " in " + e.ns + " after ip link set ... xdp off"
}
