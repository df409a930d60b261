package nsproc

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// AllowedCC is the host's list of congestion controls a namespace other
// than the first may choose.
const AllowedCC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"

// KernelCC makes cc the kernel's congestion control in the namespaces.
// Outside the host's own namespace the kernel lets only the algorithms in
// tcp_allowed_congestion_control be chosen (and a namespace inherits the
// host's default, which may be bbr); cc is added to that list, and restore
// puts the list back (a no-op when cc was on it already). With no
// namespaces it only allows cc.
func KernelCC(ctx context.Context, cc string, nss ...string) (restore func() error, err error) {
	restore = func() error { return nil }
	old, err := os.ReadFile(AllowedCC)
	if err != nil {
		return restore, err
	}
	list := strings.Fields(string(old))
	if !slices.Contains(list, cc) {
		if err := os.WriteFile(AllowedCC, []byte(strings.Join(append(list, cc), " ")), 0); err != nil {
			return restore, fmt.Errorf("allowing %s in %s: %w (is the module loaded? see tcp_available_congestion_control)", cc, AllowedCC, err)
		}
		restore = func() error {
			if err := os.WriteFile(AllowedCC, old, 0); err != nil {
				return fmt.Errorf("restoring %s: %w", AllowedCC, err)
			}
			return nil
		}
	}
	for _, ns := range nss {
		if _, err := Run(ctx, NetnsArgs(ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control="+cc)...); err != nil {
			_ = restore() // the error that stopped it is the one to report
			return func() error { return nil }, fmt.Errorf("congestion control %s in %s: %w", cc, ns, err)
		}
	}
	return restore, nil
}
