package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Addresses of the bed. The kernel in NAME-b owns the Peer addresses; the
// Local ones are for pollstack on NAME-a (the bed does not configure them).
var (
	LocalIPv4 = netip.MustParseAddr("198.18.0.1")
	PeerIPv4  = netip.MustParseAddr("198.18.0.2")
	LocalIPv6 = netip.MustParseAddr("2001:2::1")
	PeerIPv6  = netip.MustParseAddr("2001:2::2")
)

// Addresses of a routed bed (UpRouted): a third namespace NAME-c holds the
// Far addresses on the Far prefixes, and the kernel in NAME-b routes
// between its two links (forwarding on), with PeerIPv4 and PeerIPv6 toward
// pollstack and the FarRouter addresses toward NAME-c, its default
// gateways. pollstack reaches NAME-c only through that router.
var (
	FarPrefixIPv4 = netip.MustParsePrefix("198.19.0.0/24")
	FarPrefixIPv6 = netip.MustParsePrefix("2001:2:0:1::/64")
	FarRouterIPv4 = netip.MustParseAddr("198.19.0.1")
	FarRouterIPv6 = netip.MustParseAddr("2001:2:0:1::1")
	FarIPv4       = netip.MustParseAddr("198.19.0.2")
	FarIPv6       = netip.MustParseAddr("2001:2:0:1::2")
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

	// A routed bed's (UpRouted) third namespace and its link to NAME-b:
	// NsC holds IfaceC (NAME-c), whose peer IfaceR (NAME-r) is in NsB.
	// Empty in a bed of two namespaces.
	NsC, IfaceC, IfaceR string
	// RouterMTU is IfaceR's MTU when UpRoutedWith set one (0: 1500).
	RouterMTU int

	// A relayed bed's (Options.Relay) middle namespace NsD holds IfaceDA,
	// the peer of IfaceA, and IfaceDB, the peer of IfaceB; a relay process
	// there passes every frame from one to the other, held for the
	// impairment's delay. Empty in a bed whose ends are one veth pair.
	NsD, IfaceDA, IfaceDB string
}

// Options shape a bed beyond its queues (UpWith); the zero value is Up's
// bed.
type Options struct {
	// Routed, when not nil, adds the third namespace NAME-c behind NAME-b's
	// router, its link shaped as the RoutedConfig says (UpRoutedWith).
	Routed *RoutedConfig
	// Relay puts a middle namespace NAME-d between the two ends: NAME-a and
	// NAME-b are each one end of a veth pair whose other end (NAME-da,
	// NAME-db) is in NAME-d, where a relay process copies every frame
	// between NAME-da and NAME-db unchanged (MACs, ARP and ND, VLAN tags),
	// so that the two ends still share one link. Only a relayed bed can
	// have Impairment.Delay, Reorder, Duplicate and RelayRate: the relay
	// holds the frames (this kernel has neither netem nor fq). TSO, GSO and UDP segmentation are off on NAME-a
	// and NAME-b, so that every frame the relay reads fits the MTU, and TX
	// checksum offload on NAME-a too (as on NAME-b), so that a kernel there
	// sends whole checksums: the relay copies bytes.
	Relay bool
}

// RoutedConfig shapes a routed bed's link between the router and NAME-c
// (UpRoutedWith); the zero value is UpRouted's bed.
type RoutedConfig struct {
	// RouterMTU, MinRouterMTU..1500, is the MTU of NAME-r, the router's
	// end of the link toward NAME-c; NAME-c's end keeps 1500. The router
	// then answers what pollstack sends NAME-c in bigger packets with
	// ICMP fragmentation needed or ICMPv6 packet too big (path MTU
	// discovery). veth drops a frame bigger than its receiving end's MTU
	// without an error, so NAME-c's own packets toward the router are held
	// to RouterMTU too (a client's requests and ACKs are small). 0 leaves
	// 1500.
	RouterMTU int
}

// VLANPeer is what AddVLAN made on a bed's kernel end.
type VLANPeer struct {
	// Iface is the interface in NAME-b that holds the VLAN's addresses:
	// the kernel's VLAN subinterface NAME-b.ID, or NAME-b itself when the
	// kernel has no 802.1Q support and tc programs emulate it.
	Iface string
	// Emulated says the kernel lacks 802.1Q (CONFIG_VLAN_8021Q): NAME-b's
	// own addresses plus a tc program on each of its hooks stand in for
	// the subinterface. On egress it tags every frame the kernel sends
	// from NAME-b's MAC that is not tagged yet; on ingress it takes the
	// tag off frames of the VLAN and drops other VLANs' frames, as the
	// kernel does for a VLAN it has no subinterface for.
	Emulated bool
}

// MinRouterMTU is the smallest RouterMTU: IPv6's minimum link MTU.
const MinRouterMTU = 1280

// Routed reports whether b has the third namespace behind NAME-b's router.
func (b *Bed) Routed() bool { return b.NsC != "" }

// Relayed reports whether b has the middle namespace and its relay.
func (b *Bed) Relayed() bool { return b.NsD != "" }

// String summarises what Up made.
func (b *Bed) String() string {
	link := "<-veth->"
	if b.Relayed() {
		link = fmt.Sprintf("<-veth-> netns %s {%s <-relay-> %s} <-veth->", b.NsD, b.IfaceDA, b.IfaceDB)
	}
	s := fmt.Sprintf("testbed %s: netns %s {%s %s, %d queues, no address} %s netns %s {%s %s, %d queues, %s/%d %s/%d, tx checksum offload off}",
		b.Name, b.NsA, b.IfaceA, b.LocalMAC, b.Queues, link,
		b.NsB, b.IfaceB, b.PeerMAC, b.Queues, PeerIPv4, PrefixLenIPv4, PeerIPv6, PrefixLenIPv6)
	if b.Relayed() {
		s += fmt.Sprintf("; TSO, GSO and UDP segmentation off on %s and %s, tx checksum offload off on %s", b.IfaceA, b.IfaceB, b.IfaceA)
	}
	if b.Routed() {
		s += fmt.Sprintf("; netns %s forwards {%s %s/%d %s/%d} <-veth-> netns %s {%s %s/%d %s/%d, default via %s and %s}",
			b.NsB, b.IfaceR, FarRouterIPv4, FarPrefixIPv4.Bits(), FarRouterIPv6, FarPrefixIPv6.Bits(),
			b.NsC, b.IfaceC, FarIPv4, FarPrefixIPv4.Bits(), FarIPv6, FarPrefixIPv6.Bits(), FarRouterIPv4, FarRouterIPv6)
		if b.RouterMTU != 0 {
			s += fmt.Sprintf("; %s's MTU %d (%s's 1500)", b.IfaceR, b.RouterMTU, b.IfaceC)
		}
	}
	return s
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

// Impairment is what Impair puts on a bed's path: loss, rate and ECN
// marks with the kernel's own parts (tc BPF and qdiscs) on the kernel's
// veth end NAME-b; delay, reordering, duplication and a marking bottleneck
// in a relayed bed's relay (Options.Relay). The zero Impairment is a clean
// path.
type Impairment struct {
	// Loss is the probability, 0..1, that a frame is dropped, each frame
	// drawn on its own, in both directions: a tc BPF program on NAME-b's
	// clsact ingress (pollstack -> kernel) and another on its egress
	// (kernel -> pollstack) drop with bpf_get_prandom_u32.
	Loss float64
	// Delay is added to the round trip, as netem's delay on one end
	// would: the relay in NAME-d holds every frame Delay/2 in each
	// direction, so that a ping's round trip grows by Delay and data and
	// ACKs wait alike. It needs a relayed bed (Options.Relay); on a bed
	// without the relay Impair refuses it.
	Delay time.Duration
	// Jitter, at most Delay, spreads each frame's hold in each direction
	// over Delay/2 ± Jitter/2 (uniform), without ever sending a frame
	// before the one that came ahead of it: jitter does not reorder
	// (Reorder does).
	Jitter time.Duration
	// Reorder is the probability, 0..1, that the relay holds a frame back
	// behind the next frame of its direction, in both directions: the
	// frame leaves right after its follower (displaced by one), or alone
	// ReorderWait after its due time when no frame follows by then. A
	// frame that overtook a held one is not drawn itself. Like Delay it
	// needs a relayed bed.
	Reorder float64
	// Duplicate is the probability, 0..1, that the relay sends a frame
	// twice, the copy right behind it, in both directions. It needs a
	// relayed bed.
	Duplicate float64
	// RelayRate, bytes/s, puts a bottleneck link in the relay, in each
	// direction, in front of the delay: a frame waits in the relay until
	// the frames ahead of it have been sent at RelayRate (its length over
	// the rate each), and one that finds the queue at its limit (100 ms
	// at the rate, at least 64 KiB) is dropped. Unlike Rate it holds
	// whatever either end sends, so a pollstack on each end meets it too.
	// 0 is none; it needs a relayed bed.
	RelayRate uint64
	// RelayECNMarkAbove, bytes, marks an ECN-capable IPv4 or IPv6 frame CE
	// when it finds more than this queued at the relay's bottleneck (a
	// switch's ECN threshold, DCTCP's K); 0 is off, and it needs
	// RelayRate.
	RelayECNMarkAbove uint64
	// Seed seeds the relay's draws (jitter, reordering, duplication; one
	// stream per direction), so that a run sees the same choices for the
	// same sequence of frames; 0 takes one from the clock, which the
	// relay writes to its log. Loss is drawn by tc BPF programs from the
	// kernel's own generator and cannot be seeded.
	Seed uint64
	// Rate caps the kernel's sending (kernel -> pollstack) at Rate bytes/s
	// with a token bucket (tbf) as NAME-b's root qdisc; 0 is no cap.
	Rate uint64
	// ECNMarkAbove, in bytes, marks frames CE instead of letting a queue
	// build, as a switch's ECN threshold (DCTCP's K) does; 0 is off, and it
	// needs Rate. This kernel has no qdisc that marks, and a tc program
	// cannot see a qdisc's backlog, so a tc BPF program on each of NAME-b's
	// hooks keeps a phantom queue: every frame adds its length, it drains
	// at Rate, and while it holds more than ECNMarkAbove bytes each
	// ECN-capable (ECT) IPv4 or IPv6 frame is marked CE; nothing is
	// dropped. Kernel -> pollstack the phantom queue follows the tbf that
	// Rate puts there (it fills when the kernel sends faster than Rate);
	// pollstack -> kernel, where nothing is shaped, it marks what pollstack
	// sends faster than Rate.
	ECNMarkAbove uint64
}

// MaxDelay is the longest Delay.
const MaxDelay = 5 * time.Second

// ReorderWait is the longest a frame drawn for reordering (Reorder) waits
// past its due time for a frame to follow it; with none by then it leaves
// alone, late but in order.
const ReorderWait = time.Millisecond

// Zero reports whether im leaves the path clean.
func (im Impairment) Zero() bool { return im.withoutSeed() == Impairment{} }

func (im Impairment) withoutSeed() Impairment {
	im.Seed = 0
	return im
}

// NeedsRelay reports whether im has a part only a relayed bed's relay can
// do: delay, reordering or duplication.
func (im Impairment) NeedsRelay() bool {
	return im.Delay > 0 || im.Reorder > 0 || im.Duplicate > 0 || im.RelayRate > 0
}

// relayLimit is the byte limit of the relay's bottleneck queue at rate.
func relayLimit(rate uint64) uint64 { return max(rate/10, 64<<10) }

// Validate says what is wrong with im, if anything.
func (im Impairment) Validate() error {
	if math.IsNaN(im.Loss) || im.Loss < 0 || im.Loss > 1 {
		return fmt.Errorf("testbed: loss %v: want a probability in 0..1", im.Loss)
	}
	if math.IsNaN(im.Reorder) || im.Reorder < 0 || im.Reorder > 1 {
		return fmt.Errorf("testbed: reorder %v: want a probability in 0..1", im.Reorder)
	}
	if math.IsNaN(im.Duplicate) || im.Duplicate < 0 || im.Duplicate > 1 {
		return fmt.Errorf("testbed: duplicate %v: want a probability in 0..1", im.Duplicate)
	}
	if im.Delay < 0 || im.Delay > MaxDelay {
		return fmt.Errorf("testbed: delay %v: want 0..%v", im.Delay, MaxDelay)
	}
	if im.Jitter < 0 || im.Jitter > im.Delay {
		return fmt.Errorf("testbed: jitter %v: want 0..the delay (%v)", im.Jitter, im.Delay)
	}
	if im.Rate != 0 && im.Rate < minRate {
		return fmt.Errorf("testbed: rate %d bytes/s: want 0 (no cap) or at least %d bytes/s (8kbit)", im.Rate, minRate)
	}
	if im.RelayRate != 0 && im.RelayRate < minRate {
		return fmt.Errorf("testbed: relay rate %d bytes/s: want 0 (none) or at least %d bytes/s (8kbit)", im.RelayRate, minRate)
	}
	if im.RelayECNMarkAbove != 0 && im.RelayRate == 0 {
		return fmt.Errorf("testbed: relay ECN marking above %d bytes needs a relay rate (it marks the relay's bottleneck queue)", im.RelayECNMarkAbove)
	}
	if im.RelayECNMarkAbove > MaxECNMarkAbove {
		return fmt.Errorf("testbed: relay ECN marking above %d bytes: want at most %d", im.RelayECNMarkAbove, uint64(MaxECNMarkAbove))
	}
	if im.ECNMarkAbove != 0 && im.Rate == 0 {
		return fmt.Errorf("testbed: ECN marking above %d bytes needs a rate (the phantom queue drains at it)", im.ECNMarkAbove)
	}
	if im.ECNMarkAbove > MaxECNMarkAbove {
		return fmt.Errorf("testbed: ECN marking above %d bytes: want at most %d", im.ECNMarkAbove, uint64(MaxECNMarkAbove))
	}
	return nil
}

// String describes im as the flags that make it.
func (im Impairment) String() string {
	if im.Zero() {
		return "clean path"
	}
	s := fmt.Sprintf("loss %g both ways, delay %v (the relay holds frames %v", im.Loss, im.Delay, im.Delay/2)
	if im.Jitter > 0 {
		s += fmt.Sprintf(" ± %v", im.Jitter/2)
	}
	s += " each way)"
	if im.Reorder > 0 {
		s += fmt.Sprintf(", reorder %g both ways (the relay holds a frame back behind the next one of its direction, at most %v past its time)", im.Reorder, ReorderWait)
	}
	if im.Duplicate > 0 {
		s += fmt.Sprintf(", duplicate %g both ways (the relay sends the frame twice)", im.Duplicate)
	}
	if im.RelayRate > 0 {
		s += fmt.Sprintf(", a bottleneck of %s both ways in the relay (queue limit %d bytes", FormatRate(im.RelayRate), relayLimit(im.RelayRate))
		if im.RelayECNMarkAbove > 0 {
			s += fmt.Sprintf(", CE on ECT frames that find more than %d bytes queued", im.RelayECNMarkAbove)
		}
		s += ")"
	}
	if im.Seed != 0 {
		s += fmt.Sprintf(", relay seed %d", im.Seed)
	}
	s += fmt.Sprintf(", rate %s kernel -> pollstack", FormatRate(im.Rate))
	if im.ECNMarkAbove > 0 {
		s += fmt.Sprintf(", CE on ECT frames while a phantom queue draining at %s holds more than %d bytes, both ways", FormatRate(im.Rate), im.ECNMarkAbove)
	}
	return s
}

// MaxECNMarkAbove bounds Impairment.ECNMarkAbove (1 GiB).
const MaxECNMarkAbove = 1 << 30

const minRate = 1000 // bytes/s

// ParseRate reads a rate: a number with a unit, bit, kbit, mbit, gbit (bits
// per second, powers of 1000) or bps, kbps, mbps, gbps (bytes per second, as
// tc(8) spells them), or a bare number of bytes per second. It returns bytes
// per second; "0" is no cap.
func ParseRate(s string) (uint64, error) {
	num := strings.TrimRight(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz")
	unit := strings.ToLower(s[len(num):])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("testbed: rate %q: want a number and a unit (100mbit, 1gbit, 500kbps) or bytes/s", s)
	}
	mult := map[string]float64{"": 1, "bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9,
		"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("testbed: rate %q: unknown unit %q (bit, kbit, mbit, gbit; bps, kbps, mbps, gbps: bytes/s)", s, unit)
	}
	b := v * m
	if b > 1e12 {
		return 0, fmt.Errorf("testbed: rate %q: more than 8000gbit", s)
	}
	return uint64(math.Round(b)), nil
}

// FormatRate writes bytes per second in bits, as tc(8) reads them.
func FormatRate(r uint64) string {
	if r == 0 {
		return "uncapped"
	}
	return fmt.Sprintf("%dbit", r*8)
}
