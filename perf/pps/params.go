package pps

import (
	"net/netip"
	"time"
)

// Frame sizes, in bytes of Ethernet frame without FCS.
const (
	MinSize     = 64
	MaxSize     = 1514
	DefaultSize = 64
)

// Defaults for a zero GenConfig field.
const (
	DefaultSrcPort  = 9 // discard
	DefaultDstPort  = 9
	DefaultFlows    = 1
	DefaultInterval = time.Second // between samples
	// DefaultTTL is the IPv4 TTL / IPv6 hop limit of generated frames.
	DefaultTTL = 64
)

// Default addresses, from the benchmarking range 198.18.0.0/15 (RFC 2544).
var (
	DefaultSrcIP = netip.AddrFrom4([4]byte{198, 18, 0, 1})
	DefaultDstIP = netip.AddrFrom4([4]byte{198, 18, 0, 2})
)

// Ethernet, IP and UDP header lengths.
const (
	ethLen  = 14
	ipv4Len = 20
	ipv6Len = 40
	udpLen  = 8
)
