package testbed

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"pt1a2b", true},
		{"A-b-9", true},
		{"abcdefghijkl", true}, // 12: "-a" makes 14 < IFNAMSIZ
		{"abcdefghijklm", false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"a.b", false},
		{"ä", false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		for _, prefix := range []string{"pt", "averyveryverylongprefix", ""} {
			n := Unique(prefix)
			if err := ValidName(n); err != nil {
				t.Fatalf("Unique(%q) = %q: %v", prefix, n, err)
			}
			if !strings.HasPrefix(n, prefix[:min(len(prefix), MaxNameLen-4)]) {
				t.Errorf("Unique(%q) = %q lost its prefix", prefix, n)
			}
			seen[n] = true
		}
	}
	if len(seen) < 50 {
		t.Errorf("60 Unique names, only %d distinct", len(seen))
	}
}

// ipJSON runs ip with -j and decodes its output.
func ipJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-j"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ip -j %s: %v", strings.Join(args, " "), err)
	}
	var v []map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ip -j %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return v
}

func namespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var ns []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			ns = append(ns, f[0])
		}
	}
	return ns
}

func checkBed(t *testing.T, b *Bed, queues int) {
	t.Helper()
	if b.Queues != queues || b.IfaceA != b.Name+"-a" || b.IfaceB != b.Name+"-b" || b.NsA != b.Name+"-a" || b.NsB != b.Name+"-b" {
		t.Errorf("bed = %+v", b)
	}
	ns := namespaces(t)
	for _, want := range []string{b.NsA, b.NsB} {
		if !slices.Contains(ns, want) {
			t.Errorf("namespace %s missing from %v", want, ns)
		}
	}
	for _, end := range []struct {
		ns, iface string
		mac       fmt.Stringer
	}{{b.NsA, b.IfaceA, b.LocalMAC}, {b.NsB, b.IfaceB, b.PeerMAC}} {
		links := ipJSON(t, "-n", end.ns, "-d", "link", "show", "dev", end.iface)
		if len(links) != 1 {
			t.Fatalf("%s in %s: %v", end.iface, end.ns, links)
		}
		l := links[0]
		if l["address"] != end.mac.String() {
			t.Errorf("%s: MAC %v, bed says %v", end.iface, l["address"], end.mac)
		}
		if l["num_tx_queues"] != float64(queues) || l["num_rx_queues"] != float64(queues) {
			t.Errorf("%s: %v tx / %v rx queues, want %d", end.iface, l["num_tx_queues"], l["num_rx_queues"], queues)
		}
		if flags, _ := l["flags"].([]any); !slices.Contains(flags, any("UP")) || !slices.Contains(flags, any("LOWER_UP")) {
			t.Errorf("%s: flags %v, want UP and LOWER_UP", end.iface, flags)
		}
		lo := ipJSON(t, "-n", end.ns, "link", "show", "dev", "lo")
		if flags, _ := lo[0]["flags"].([]any); !slices.Contains(flags, any("UP")) {
			t.Errorf("lo in %s: flags %v, want UP", end.ns, flags)
		}
	}

	addrs := func(ns, iface string) []string {
		var got []string
		for _, a := range ipJSON(t, "-n", ns, "addr", "show", "dev", iface) {
			infos, _ := a["addr_info"].([]any)
			for _, i := range infos {
				m := i.(map[string]any)
				s := fmt.Sprintf("%v/%v", m["local"], m["prefixlen"])
				if m["tentative"] == true {
					s += " tentative"
				}
				got = append(got, s)
			}
		}
		return got
	}
	if got := addrs(b.NsA, b.IfaceA); len(got) != 0 {
		t.Errorf("%s has kernel addresses %v, want none", b.IfaceA, got)
	}
	gotB := addrs(b.NsB, b.IfaceB)
	for _, want := range []string{"198.18.0.2/24", "2001:2::2/64"} {
		if !slices.Contains(gotB, want) {
			t.Errorf("%s addresses %v, want %s (not tentative)", b.IfaceB, gotB, want)
		}
	}

	for _, key := range []string{"accept_dad", "router_solicitations", "accept_ra"} {
		path := "/proc/sys/net/ipv6/conf/" + b.IfaceB + "/" + key
		out, err := exec.Command("ip", "netns", "exec", b.NsB, "cat", path).Output()
		if err != nil || strings.TrimSpace(string(out)) != "0" {
			t.Errorf("%s in %s = %q (%v), want 0", path, b.NsB, out, err)
		}
	}

	out, err := exec.Command("ip", "netns", "exec", b.NsB, "ethtool", "-k", b.IfaceB).Output()
	if err != nil {
		t.Fatalf("ethtool -k: %v", err)
	}
	if !strings.Contains(string(out), "\ntx-checksumming: off") {
		t.Errorf("%s: tx checksum offload not off:\n%s", b.IfaceB, out)
	}
}

func checkGone(t *testing.T, name string) {
	t.Helper()
	ns := namespaces(t)
	for _, n := range []string{name + "-a", name + "-b", name + "-c", name + "-r"} {
		if slices.Contains(ns, n) {
			t.Errorf("namespace %s left behind: %v", n, ns)
		}
		if out, err := exec.Command("ip", "link", "show", "dev", n).CombinedOutput(); err == nil {
			t.Errorf("link %s left behind in this namespace: %s", n, out)
		}
	}
}

func TestUpDown(t *testing.T) {
	requirePrivileged(t)
	name := Unique("tb")
	t.Cleanup(func() { Down(name) })

	b, err := Up(name, 2)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Log(b)
	checkBed(t, b, 2)

	// Up on an existing bed rebuilds it.
	b, err = Up(name, 3)
	if err != nil {
		t.Fatalf("Up again: %v", err)
	}
	checkBed(t, b, 3)

	// The kernel peer answers: ping NAME-b's own address from inside NAME-b
	// proves the address is usable at once (nodad).
	if out, err := exec.Command("ip", "netns", "exec", b.NsB, "ping", "-6", "-c", "1", "-W", "1", PeerIPv6.String()).CombinedOutput(); err != nil {
		t.Errorf("ping %s in %s: %v\n%s", PeerIPv6, b.NsB, err, out)
	}

	if err := Down(name); err != nil {
		t.Fatalf("Down: %v", err)
	}
	checkGone(t, name)
	if err := Down(name); err != nil {
		t.Errorf("Down on a bed that is gone: %v", err)
	}
}

// A routed bed: NAME-b forwards, NAME-c's kernel reaches pollstack's side
// only through it (its default routes), TX checksum offload is off on the
// new ends, and Down removes the third namespace too. Up on a routed bed's
// name rebuilds it without the third namespace.
func TestUpRoutedDown(t *testing.T) {
	requirePrivileged(t)
	name := Unique("tr")
	t.Cleanup(func() { Down(name) })

	b, err := UpRouted(name, 1)
	if err != nil {
		t.Fatalf("UpRouted: %v", err)
	}
	t.Log(b)
	checkBed(t, b, 1)
	if !b.Routed() || b.NsC != name+"-c" || b.IfaceC != name+"-c" || b.IfaceR != name+"-r" {
		t.Fatalf("bed = %+v", b)
	}
	inNs := func(ns string, args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
		}
		return string(out)
	}
	for _, key := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
		if v := strings.TrimSpace(inNs(b.NsB, "cat", "/proc/sys/"+key)); v != "1" {
			t.Errorf("%s in %s = %s, want 1", key, b.NsB, v)
		}
	}
	for _, tc := range []struct{ family, via string }{{"-4", FarRouterIPv4.String()}, {"-6", FarRouterIPv6.String()}} {
		if r := inNs(b.NsC, "ip", tc.family, "route", "show", "default"); !strings.Contains(r, "via "+tc.via) {
			t.Errorf("%s default route in %s: %q, want via %s", tc.family, b.NsC, r, tc.via)
		}
	}
	for _, end := range []struct{ ns, iface string }{{b.NsC, b.IfaceC}, {b.NsB, b.IfaceR}} {
		if k := inNs(end.ns, "ethtool", "-k", end.iface); !strings.Contains(k, "\ntx-checksumming: off") {
			t.Errorf("%s: tx checksum offload not off", end.iface)
		}
	}
	// NAME-c reaches the router's address on pollstack's link, in both families.
	inNs(b.NsC, "ping", "-c", "1", "-W", "2", PeerIPv4.String())
	inNs(b.NsC, "ping", "-6", "-c", "1", "-W", "2", PeerIPv6.String())

	if b, err = Up(name, 1); err != nil || b.Routed() {
		t.Fatalf("Up on a routed bed: %v, %+v", err, b)
	}
	if slices.Contains(namespaces(t), name+"-c") {
		t.Errorf("Up on a routed bed's name left %s-c", name)
	}
	if _, err := UpRouted(name, 1); err != nil {
		t.Fatalf("UpRouted again: %v", err)
	}
	if err := Down(name); err != nil {
		t.Fatalf("Down: %v", err)
	}
	checkGone(t, name)
}

func TestUpRejects(t *testing.T) {
	requirePrivileged(t)
	for _, tc := range []struct {
		name   string
		queues int
	}{{"bad name", 1}, {"waytoolongname", 1}, {Unique("tb"), 0}} {
		if b, err := Up(tc.name, tc.queues); err == nil {
			Down(tc.name)
			t.Errorf("Up(%q, %d) = %v, want an error", tc.name, tc.queues, b)
		}
	}
	if err := Down("bad/name"); err == nil {
		t.Error("Down accepted a bad name")
	}
}

// requirePrivileged is bedtest.RequirePrivileged, which this package's tests
// cannot import (bedtest imports testbed).
func requirePrivileged(t *testing.T) {
	t.Helper()
	reason := Unavailable()
	if reason == "" {
		return
	}
	if os.Getenv(RequirePrivilegedEnv) == "1" {
		t.Fatalf("%s (and %s=1)", reason, RequirePrivilegedEnv)
	}
	t.Skip(reason)
}

// UpRoutedWith's router MTU is NAME-r's alone (NAME-c keeps 1500): a ping
// with DF from the router to NAME-c gets through at 1280 bytes, not at
// 1300. BlockPMTUICMP puts its filter on NAME-b's egress. Out-of-range MTUs
// are refused.
func TestUpRoutedWithRouterMTU(t *testing.T) {
	requirePrivileged(t)
	for _, bad := range []int{1279, 1501, -1} {
		if _, err := UpRoutedWith("trx", 1, RoutedConfig{RouterMTU: bad}); err == nil {
			t.Errorf("router MTU %d accepted", bad)
		}
	}
	name := Unique("tm")
	t.Cleanup(func() { Down(name) })
	b, err := UpRoutedWith(name, 1, RoutedConfig{RouterMTU: 1280})
	if err != nil {
		t.Fatalf("UpRoutedWith: %v", err)
	}
	t.Log(b)
	if b.RouterMTU != 1280 || !strings.Contains(b.String(), "MTU 1280") {
		t.Fatalf("bed = %+v", b)
	}
	show := func(ns, iface string) string {
		out, err := exec.Command("ip", "-n", ns, "link", "show", iface).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show %s: %v\n%s", iface, err, out)
		}
		return string(out)
	}
	if !strings.Contains(show(b.NsB, b.IfaceR), "mtu 1280 ") || !strings.Contains(show(b.NsC, b.IfaceC), "mtu 1500 ") {
		t.Fatalf("MTUs: %s / %s", show(b.NsB, b.IfaceR), show(b.NsC, b.IfaceC))
	}
	ping := func(size int) error {
		return exec.Command("ip", "netns", "exec", b.NsB, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", fmt.Sprint(size-28), FarIPv4.String()).Run()
	}
	if err := ping(1280); err != nil {
		t.Errorf("a 1280-byte ping with DF from the router to %s: %v", b.NsC, err)
	}
	if err := ping(1300); err == nil {
		t.Errorf("a 1300-byte ping with DF from the router over its 1280-byte link got through")
	}
	if err := BlockPMTUICMP(name); err != nil {
		t.Fatalf("BlockPMTUICMP: %v", err)
	}
	out, err := exec.Command("tc", "-n", b.NsB, "filter", "show", "dev", b.IfaceB, "egress").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bed_pmtu_block") {
		t.Fatalf("tc filter show: %v\n%s", err, out)
	}
}
