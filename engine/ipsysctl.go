package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ipSysctl is one of the IP-layer tunables: the reassembly limits and the
// ICMP error rates. They are set when the engine is built (Config); the
// engine has no run-time path for them.
type ipSysctl struct {
	name, unit, desc string
	min, max         int
	get              func(*Config) int
	set              func(*Config, int)
}

var ipSysctls = []ipSysctl{
	{"net.inet.ip.maxfragpackets", "datagrams", "IPv4 datagrams a core reassembles at once (64 KiB of buffer each)", 1, MaxMaxFragPackets,
		func(c *Config) int { return c.Frag4.withDefaults(false).MaxFragPackets }, func(c *Config, v int) { c.Frag4.MaxFragPackets = v }},
	{"net.inet.ip.maxfragsperpacket", "fragments", "fragments an IPv4 datagram may come in", 1, MaxMaxFragsPerPacket,
		func(c *Config) int { return c.Frag4.withDefaults(false).MaxFragsPerPacket }, func(c *Config, v int) { c.Frag4.MaxFragsPerPacket = v }},
	{"net.inet.ip.fragttl", "s", "how long an incomplete IPv4 datagram waits for its fragments", 1, 3600,
		func(c *Config) int { return int(c.Frag4.withDefaults(false).TTL / time.Second) }, func(c *Config, v int) { c.Frag4.TTL = time.Duration(v) * time.Second }},
	{"net.inet6.ip6.maxfragpackets", "datagrams", "IPv6 datagrams a core reassembles at once (64 KiB of buffer each)", 1, MaxMaxFragPackets,
		func(c *Config) int { return c.Frag6.withDefaults(true).MaxFragPackets }, func(c *Config, v int) { c.Frag6.MaxFragPackets = v }},
	{"net.inet6.ip6.maxfragsperpacket", "fragments", "fragments an IPv6 datagram may come in", 1, MaxMaxFragsPerPacket,
		func(c *Config) int { return c.Frag6.withDefaults(true).MaxFragsPerPacket }, func(c *Config, v int) { c.Frag6.MaxFragsPerPacket = v }},
	{"net.inet6.ip6.fragttl", "s", "how long an incomplete IPv6 datagram waits for its fragments", 1, 3600,
		func(c *Config) int { return int(c.Frag6.withDefaults(true).TTL / time.Second) }, func(c *Config, v int) { c.Frag6.TTL = time.Duration(v) * time.Second }},
	{"net.inet.icmp.icmplim", "1/s", "ICMP port unreachables a core sends per second (0: none)", 0, 1 << 20,
		func(c *Config) int { return icmpLimOr(c.ICMPLim, DefaultICMPLim) }, func(c *Config, v int) { c.ICMPLim = limSetting(v) }},
	{"net.inet6.icmp6.errppslimit", "1/s", "ICMPv6 port unreachables a core sends per second (0: none)", 0, 1 << 20,
		func(c *Config) int { return icmpLimOr(c.ICMP6ErrPPSLimit, DefaultICMP6ErrPPSLimit) }, func(c *Config, v int) { c.ICMP6ErrPPSLimit = limSetting(v) }},
}

// icmpLimOr is a Config rate: 0 takes the default, a negative one is 0.
func icmpLimOr(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// limSetting stores a rate in Config: 0 (none) as -1.
func limSetting(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

// IsIPSysctl reports whether name is one of the IP-layer tunables
// (net.inet.ip, net.inet6.ip6, net.inet.icmp, net.inet6.icmp6), which
// SetIPSysctl sets in a Config.
func IsIPSysctl(name string) bool {
	return strings.HasPrefix(name, "net.inet.ip.") || strings.HasPrefix(name, "net.inet6.ip6.") ||
		strings.HasPrefix(name, "net.inet.icmp.") || strings.HasPrefix(name, "net.inet6.icmp6.")
}

// SetIPSysctl sets the IP-layer tunable name (its full name) in cfg to
// value, a whole number in the tunable's unit within its limits.
func SetIPSysctl(cfg *Config, name, value string) error {
	for _, s := range ipSysctls {
		if s.name != name {
			continue
		}
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%s: %q is not a whole number", name, value)
		}
		if v < s.min || v > s.max {
			return fmt.Errorf("%s: %d is out of %d..%d (%s)", name, v, s.min, s.max, s.unit)
		}
		s.set(cfg, v)
		return nil
	}
	return fmt.Errorf("%s: unknown IP tunable (known: %s)", name, ipSysctlNames())
}

// IPSysctls returns the IP-layer tunables' values in cfg.
func IPSysctls(cfg *Config) []SysctlValue {
	out := make([]SysctlValue, 0, len(ipSysctls))
	for _, s := range ipSysctls {
		out = append(out, SysctlValue{Name: s.name, Value: strconv.Itoa(s.get(cfg)), Unit: s.unit, ReadOnly: true, Description: s.desc})
	}
	return out
}

func ipSysctlNames() string {
	names := make([]string, len(ipSysctls))
	for i, s := range ipSysctls {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}
