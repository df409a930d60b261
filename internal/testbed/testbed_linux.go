package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pollstack/pollstack/internal/netns"
	"golang.org/x/sys/unix"
)

func names(name string) (ifA, ifB, nsA, nsB string) {
	return name + "-a", name + "-b", name + "-a", name + "-b"
}

// routedNames are the names of a routed bed's third namespace, its veth end
// there, and the router's end in NAME-b.
func routedNames(name string) (nsC, ifC, ifR string) {
	return name + "-c", name + "-c", name + "-r"
}

// Up builds the bed name with queues rx and tx queues on each veth end. A bed
// of that name that already exists (whole or in part) is torn down first, so
// Up always leaves a fresh bed.
func Up(name string, queues int) (*Bed, error) { return UpWith(name, queues, Options{}) }

// UpWith is Up with the bed shaped by o: a routed bed, a relayed one, or
// both.
func UpWith(name string, queues int, o Options) (*Bed, error) {
	if o.Routed != nil && o.Routed.RouterMTU != 0 && (o.Routed.RouterMTU < MinRouterMTU || o.Routed.RouterMTU > 1500) {
		return nil, fmt.Errorf("testbed: router MTU %d: want %d..1500 (0: 1500)", o.Routed.RouterMTU, MinRouterMTU)
	}
	return upBed(name, queues, o)
}

// UpRouted is Up with a third namespace NAME-c behind a router: the kernel
// in NAME-b forwards (net.ipv4.ip_forward and net.ipv6.conf.all.forwarding
// on) between pollstack's link and a second veth pair, NAME-r in NAME-b
// (FarRouterIPv4/6) and NAME-c in NAME-c (FarIPv4/6, default routes through
// NAME-b). pollstack reaches NAME-c only through a gateway: PeerIPv4 and
// PeerIPv6. TX checksum offload is off on both new ends, as on NAME-b.
func UpRouted(name string, queues int) (*Bed, error) {
	return UpWith(name, queues, Options{Routed: &RoutedConfig{}})
}

// UpRoutedWith is UpRouted with the link to NAME-c shaped by cfg.
func UpRoutedWith(name string, queues int, cfg RoutedConfig) (*Bed, error) {
	return UpWith(name, queues, Options{Routed: &cfg})
}

func upBed(name string, queues int, o Options) (*Bed, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if queues < 1 || queues > 64 {
		return nil, fmt.Errorf("testbed: %d queues: want 1..64", queues)
	}
	if err := Down(name); err != nil {
		return nil, fmt.Errorf("testbed: clear old bed %s: %w", name, err)
	}
	b, err := up(name, queues, o.Relay)
	if err == nil && o.Routed != nil {
		err = upRouted(b, o.Routed)
	}
	if err != nil {
		if derr := Down(name); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return b, nil
}

func up(name string, queues int, relay bool) (*Bed, error) {
	ifA, ifB, nsA, nsB := names(name)
	nsD, ifDA, ifDB := relayNames(name)
	q := fmt.Sprint(queues)
	nss := []string{nsA, nsB}
	if relay {
		nss = append(nss, nsD)
	}
	for _, ns := range nss {
		if err := addQuietNetns(ns); err != nil {
			return nil, err
		}
	}
	veth := func(ifX, nsX, ifY, nsY string) error {
		return run("ip", "link", "add", ifX, "netns", nsX, "numtxqueues", q, "numrxqueues", q,
			"type", "veth", "peer", "name", ifY, "netns", nsY, "numtxqueues", q, "numrxqueues", q)
	}
	if !relay {
		if err := veth(ifA, nsA, ifB, nsB); err != nil {
			return nil, err
		}
	} else {
		if err := veth(ifA, nsA, ifDA, nsD); err != nil {
			return nil, err
		}
		if err := veth(ifB, nsB, ifDB, nsD); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		// NAME-a: pollstack's. No kernel address at all, not even a
		// link-local one, so the kernel there stays silent.
		{"ip", "-n", nsA, "link", "set", ifA, "addrgenmode", "none"},
		{"ip", "-n", nsA, "link", "set", "lo", "up"},
		{"ip", "-n", nsA, "link", "set", ifA, "up"},
		// NAME-b: the kernel peer.
		{"ip", "-n", nsB, "addr", "add", fmt.Sprintf("%s/%d", PeerIPv4, PrefixLenIPv4), "dev", ifB},
		{"ip", "-n", nsB, "addr", "add", fmt.Sprintf("%s/%d", PeerIPv6, PrefixLenIPv6), "dev", ifB, "nodad"},
		{"ip", "-n", nsB, "link", "set", "lo", "up"},
		{"ip", "-n", nsB, "link", "set", ifB, "up"},
		// Otherwise the kernel hands veth segments with partial checksums.
		{"ip", "netns", "exec", nsB, "ethtool", "-K", ifB, "tx", "off"},
	}
	if relay {
		// The kernel in NAME-d stays silent: no IPv6 (no link-local
		// address, no MLD), no IPv4 address (no ARP).
		if err := netns.Do(nsD, func() error { return sysctl("net/ipv6/conf/all/disable_ipv6", "1") }); err != nil {
			return nil, err
		}
		steps = append(steps,
			[]string{"ip", "-n", nsD, "link", "set", ifDA, "up"},
			[]string{"ip", "-n", nsD, "link", "set", ifDB, "up"},
			// Whole frames of at most the MTU onto the relay's ends: a
			// kernel on either end segments before the veth.
			// A kernel on NAME-a (a comparison) must checksum its frames
			// itself, as on NAME-b: the relay copies bytes, and a
			// partial checksum is completed by no one on its way.
			[]string{"ip", "netns", "exec", nsA, "ethtool", "-K", ifA, "tx", "off", "tso", "off", "gso", "off", "tx-udp-segmentation", "off"},
			[]string{"ip", "netns", "exec", nsB, "ethtool", "-K", ifB, "tso", "off", "gso", "off", "tx-udp-segmentation", "off"},
			[]string{"ip", "netns", "exec", nsD, "ethtool", "-K", ifDA, "gro", "off"},
			[]string{"ip", "netns", "exec", nsD, "ethtool", "-K", ifDB, "gro", "off"},
		)
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return nil, err
		}
	}
	b := &Bed{Name: name, Queues: queues, IfaceA: ifA, IfaceB: ifB, NsA: nsA, NsB: nsB}
	if relay {
		b.NsD, b.IfaceDA, b.IfaceDB = nsD, ifDA, ifDB
		if err := startRelay(name, relaySettings{}); err != nil {
			return nil, err
		}
	}
	var err error
	if b.LocalMAC, err = mac(nsA, ifA); err != nil {
		return nil, err
	}
	if b.PeerMAC, err = mac(nsB, ifB); err != nil {
		return nil, err
	}
	return b, nil
}

// addQuietNetns makes the namespace ns with a quiet IPv6: no duplicate
// address detection, no router solicitations or advertisements.
// Interfaces made after this inherit "default".
func addQuietNetns(ns string) error {
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		for _, conf := range []string{"all", "default"} {
			for key, val := range map[string]string{
				"accept_dad":           "0",
				"dad_transmits":        "0",
				"router_solicitations": "0",
				"accept_ra":            "0",
			} {
				if err := sysctl("net/ipv6/conf/"+conf+"/"+key, val); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// upRouted adds a routed bed's third namespace and router to b.
func upRouted(b *Bed, cfg *RoutedConfig) error {
	nsC, ifC, ifR := routedNames(b.Name)
	if err := addQuietNetns(nsC); err != nil {
		return err
	}
	if err := run("ip", "link", "add", ifR, "netns", b.NsB, "type", "veth", "peer", "name", ifC, "netns", nsC); err != nil {
		return err
	}
	b.NsC, b.IfaceC, b.IfaceR = nsC, ifC, ifR
	if err := netns.Do(b.NsB, func() error {
		if err := sysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		return sysctl("net/ipv6/conf/all/forwarding", "1")
	}); err != nil {
		return err
	}
	cidr := func(a netip.Addr, p netip.Prefix) string { return fmt.Sprintf("%s/%d", a, p.Bits()) }
	for _, s := range [][]string{
		{"ip", "-n", b.NsB, "addr", "add", cidr(FarRouterIPv4, FarPrefixIPv4), "dev", ifR},
		{"ip", "-n", b.NsB, "addr", "add", cidr(FarRouterIPv6, FarPrefixIPv6), "dev", ifR, "nodad"},
		{"ip", "-n", b.NsB, "link", "set", ifR, "up"},
		{"ip", "-n", nsC, "addr", "add", cidr(FarIPv4, FarPrefixIPv4), "dev", ifC},
		{"ip", "-n", nsC, "addr", "add", cidr(FarIPv6, FarPrefixIPv6), "dev", ifC, "nodad"},
		{"ip", "-n", nsC, "link", "set", "lo", "up"},
		{"ip", "-n", nsC, "link", "set", ifC, "up"},
		{"ip", "-n", nsC, "route", "add", "default", "via", FarRouterIPv4.String()},
		{"ip", "-n", nsC, "-6", "route", "add", "default", "via", FarRouterIPv6.String()},
		// Partial checksums stay off the wire in both directions: what
		// NAME-c sends is forwarded toward pollstack as it came.
		{"ip", "netns", "exec", nsC, "ethtool", "-K", ifC, "tx", "off"},
		{"ip", "netns", "exec", b.NsB, "ethtool", "-K", ifR, "tx", "off"},
	} {
		if err := run(s...); err != nil {
			return err
		}
	}
	if cfg.RouterMTU != 0 {
		// Only the router's end: NAME-c keeps 1500 and offers MSS 1460,
		// so what pollstack sends it must find the path MTU.
		if err := run("ip", "-n", b.NsB, "link", "set", ifR, "mtu", fmt.Sprint(cfg.RouterMTU)); err != nil {
			return err
		}
		b.RouterMTU = cfg.RouterMTU
	}
	return nil
}

// Down removes the bed name: a relayed bed's relay process, the veth pairs
// and namespaces (a routed bed's third one and a relayed bed's middle one
// too), and its state directory. Removing a bed that does not exist, or
// exists in part, succeeds.
func Down(name string) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if err := ValidName(name); err != nil {
		return err
	}
	ifA, ifB, nsA, nsB := names(name)
	nsC, ifC, _ := routedNames(name)
	nsD, ifDA, _ := relayNames(name)
	var errs []error
	if err := stopRelay(name); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Join(StateDir, name)); err != nil {
		errs = append(errs, err)
	}
	// NAME-c first: deleting its link deletes NAME-r in NAME-b at once,
	// where deleting NAME-b's namespace would leave it to the kernel's
	// namespace cleanup, racing the delete of NAME-c.
	for _, x := range []struct{ ns, iface string }{{nsC, ifC}, {nsA, ifA}, {nsB, ifB}, {nsD, ifDA}} {
		if _, err := os.Stat(filepath.Join(netns.Dir, x.ns)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		// Delete the link explicitly: it goes at once, while a deleted
		// namespace's devices go when the kernel gets round to it.
		exists := true // when the namespace cannot be entered, try the delete anyway
		if err := netns.Do(x.ns, func() error {
			_, err := net.InterfaceByName(x.iface)
			exists = err == nil // gone already: deleting one end deletes both
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
		if exists {
			if err := run("ip", "-n", x.ns, "link", "del", "dev", x.iface); err != nil {
				errs = append(errs, err)
			}
		}
		if err := run("ip", "netns", "del", x.ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func mac(ns, iface string) (net.HardwareAddr, error) {
	var hw net.HardwareAddr
	err := netns.Do(ns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("testbed: %s in netns %s: %w", iface, ns, err)
		}
		hw = ifc.HardwareAddr
		return nil
	})
	return hw, err
}

// sysctl writes a /proc/sys value in the calling thread's namespace.
func sysctl(key, val string) error {
	if err := os.WriteFile("/proc/sys/"+key, []byte(val), 0); err != nil {
		return fmt.Errorf("testbed: sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), val, err)
	}
	return nil
}

func run(args ...string) error {
	_, err := runOutput(args...)
	return err
}

// runOutput runs a command and returns its standard output; on failure the
// error has its standard error too.
func runOutput(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("testbed: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(append(out.Bytes(), errOut.Bytes()...)))
	}
	return out.String(), nil
}

// Unavailable says why this machine cannot build a bed and run AF_XDP on it,
// or returns "" when it can.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return ErrNotRoot.Error()
	}
	for _, tool := range []string{"ip", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("testbed: %s not found: %v", tool, err)
		}
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Sprintf("testbed: AF_XDP unavailable: socket: %v", err)
	}
	unix.Close(fd)
	return ""
}
