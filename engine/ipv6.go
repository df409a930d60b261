package engine

import (
	"net/netip"
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

const (
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
	icmp6NS          = 135
	icmp6NA          = 136

	icmp6ParamProblem = 4
	icmp6PacketTooBig = 2
	minMTU6           = 1280 // the IPv6 minimum link MTU (RFC 8200 5)

	ndOptSourceLL = 1
	ndOptTargetLL = 2

	// maxExtHeaders bounds the IPv6 extension headers walked per packet.
	maxExtHeaders = 8
	ndLen         = 24 // NS/NA without options
	ndOptLLLen    = 8  // a link-layer address option for Ethernet
)

var allNodes = [16]byte{0: 0xff, 1: 0x02, 15: 1}

// ours6 reports whether ip is one of our unicast IPv6 addresses.
func (c *Core) ours6(ip []byte) bool {
	for i := range c.v6 {
		if [16]byte(ip) == c.v6[i].ip {
			return true
		}
	}
	return false
}

// ourGroup6 reports whether ip is a multicast group we listen to: all-nodes
// or the solicited-node group of one of our addresses.
func (c *Core) ourGroup6(ip []byte) bool {
	if [16]byte(ip) == allNodes {
		return true
	}
	if [13]byte(ip[:13]) != [13]byte{0xff, 0x02, 11: 0x01, 12: 0xff} {
		return false
	}
	for i := range c.v6 {
		if [3]byte(ip[13:16]) == [3]byte(c.v6[i].ip[13:16]) {
			return true
		}
	}
	return false
}

// source6 returns the address we send to dst from: ours on the prefix that
// holds dst, else (a routed destination) ours on the prefix of its next
// hop, else the first. A destination beyond the link never gets a
// link-local source (RFC 6724 rule 2), even through a link-local router.
func (c *Core) source6(dst *[16]byte) [16]byte {
	a := netip.AddrFrom16(*dst)
	for i := range c.v6 {
		if c.v6[i].prefix.Contains(a) {
			return c.v6[i].ip
		}
	}
	if nh, ok := c.route6(dst); ok && !a.IsLinkLocalUnicast() {
		via := netip.AddrFrom16(nh)
		for i := range c.v6 {
			if p := c.v6[i].prefix; p.Contains(via) && !p.Addr().IsLinkLocalUnicast() {
				return c.v6[i].ip
			}
		}
	}
	return c.v6[0].ip
}

// inputIPv6 validates an IPv6 header (RFC 8200), walks the extension headers
// and dispatches the upper-layer payload.
func (c *Core) inputIPv6(d rings.Desc, b []byte, now mono.Time) {
	p := b[ethHeaderLen:]
	if len(p) < ipv6HeaderLen || p[0]>>4 != 6 {
		c.drop(d, DropMalformed)
		return
	}
	total := ipv6HeaderLen + int(be16(p[4:]))
	if total > len(p) {
		c.drop(d, DropMalformed)
		return
	}
	p = p[:total]
	src, dst := p[8:24], p[24:40]
	if src[0] == 0xff {
		c.drop(d, DropMalformed) // multicast source
		return
	}
	if !c.ours6(dst) && !c.ourGroup6(dst) {
		c.drop(d, DropNotForUs)
		return
	}
	c.rxFrom = [16]byte(src)
	next, off, nhOff := p[6], ipv6HeaderLen, 6
	for i := 0; ; i++ {
		switch next {
		case 0: // hop-by-hop options: only right after the IPv6 header (RFC 8200 4.1)
			if off != ipv6HeaderLen {
				// As Linux: an unrecognized next header.
				c.paramProblem6(d, b, 1, nhOff, next, off, DropUnknownProtocol, now)
				return
			}
		case 60: // destination options: nothing we act on
		case 43: // routing: skipped when no segments are left (RFC 8200 4.4)
			if off+8 > total || dst[0] == 0xff {
				c.drop(d, DropMalformed)
				return
			}
			if p[off+3] != 0 {
				// We route nothing: a routing header with segments left
				// (RH0 among them, RFC 5095) is refused as one of an
				// unknown type, pointing at its type (Linux does the same).
				c.paramProblem6(d, b, 0, off+2, next, off, DropMalformed, now)
				return
			}
		case 44: // fragment: an atomic fragment (offset 0, M 0) is a whole packet (RFC 6946)
			if off+8 > total {
				c.drop(d, DropFragment)
				return
			}
			if be16(p[off+2:])&0xfff9 != 0 {
				c.inputFragment6(d, p, off, now)
				return
			}
		case 59: // no next header
			c.drop(d, ICMPIgnored)
			return
		case protoICMPv6:
			c.inputICMP6(d, b, off, now)
			return
		case protoTCP:
			c.inputTCP6(d, p, off, now)
			return
		case protoUDP:
			c.inputUDP(p, off, true, dst[0] == 0xff, now)
			c.pool.Put(d.Addr)
			return
		default:
			c.drop(d, DropUnknownProtocol)
			return
		}
		if i == maxExtHeaders || off+8 > total {
			c.drop(d, DropMalformed)
			return
		}
		hlen := (int(p[off+1]) + 1) * 8
		if next == 44 {
			hlen = 8 // a fragment header's second byte is reserved, not a length
		}
		next, nhOff = p[off], off
		off += hlen
		if off > total {
			c.drop(d, DropMalformed)
			return
		}
	}
}

// inputICMP6 handles ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861).
// off is the message's offset from the IPv6 header.
func (c *Core) inputICMP6(d rings.Desc, b []byte, off int, now mono.Time) {
	ip := b[ethHeaderLen:]
	total := ipv6HeaderLen + int(be16(ip[4:]))
	m := ip[off:total]
	if len(m) < 4 {
		c.drop(d, DropMalformed)
		return
	}
	if Checksum(m, pseudoSum6(ip[8:24], ip[24:40], protoICMPv6, len(m))) != 0 {
		c.drop(d, DropChecksum)
		return
	}
	switch m[0] {
	case icmp6EchoRequest:
		c.echo6(d, b, off, now)
	case icmp6EchoReply:
		c.echoReply(d, netip.AddrFrom16([16]byte(ip[8:24])), m, now)
	case 1: // destination unreachable (RFC 4443 3.1)
		c.unreachable6(d, m, now)
	case icmp6PacketTooBig:
		c.tooBig6(d, m, now)
	case icmp6NS:
		c.stats[NDSolicitsIn]++
		c.inputNS(d, b, m, now)
	case icmp6NA:
		c.stats[NDAdvertsIn]++
		c.inputNA(d, b, m, now)
	case icmp6RA:
		c.stats[RouterAdvIn]++
		c.inputRA(d, b, m, now)
	default:
		c.drop(d, ICMPIgnored)
	}
}

// echo6 answers an echo request in place.
func (c *Core) echo6(d rings.Desc, b []byte, off int, now mono.Time) {
	ip := b[ethHeaderLen:]
	total := ipv6HeaderLen + int(be16(ip[4:]))
	m := ip[off:total]
	if len(m) < 8 || m[1] != 0 {
		c.drop(d, DropMalformed)
		return
	}
	c.stats[EchoRequestsIn]++
	peer := [16]byte(ip[8:24])
	local := [16]byte(ip[24:40])
	nexthop, ok := c.route6(&peer)
	if !ok {
		c.drop(d, DropNoRoute)
		return
	}
	if local[0] == 0xff {
		local = c.source6(&peer)
	}
	// The reply header goes just before the message, dropping any
	// extension headers of the request.
	shift := off - ipv6HeaderLen
	d.Addr += uint64(shift)
	f := c.pool.Bytes(rings.Desc{Addr: d.Addr, Len: uint32(ethHeaderLen + ipv6HeaderLen + len(m))})
	h := f[ethHeaderLen:]
	writeIPv6Header(h, &local, &peer, protoICMPv6, len(m), DefaultTTL)
	m = h[ipv6HeaderLen:]
	m[0] = icmp6EchoReply
	put16(m[2:], 0)
	put16(m[2:], Checksum(m, pseudoSum6(local[:], peer[:], protoICMPv6, len(m))))
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	d.Len = uint32(len(f))
	c.stats[EchoRepliesOut]++
	c.output(d, &nexthop, now)
}

// ndOptions walks the options of an NS or NA and returns the link-layer
// address option of the given type (nil when absent); ok is false when an
// option is malformed.
func ndOptions(opts []byte, want byte) (ll []byte, ok bool) {
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return nil, false
		}
		n := int(opts[1]) * 8
		if opts[0] == want && n >= ndOptLLLen {
			ll = opts[2:8]
		}
		opts = opts[n:]
	}
	return ll, true
}

// validND checks the rules every NS and NA must pass (RFC 4861 7.1.1, 7.1.2).
func validND(ip, m []byte) bool {
	return ip[7] == 255 && m[1] == 0 && len(m) >= ndLen && m[8] != 0xff
}

// inputNS answers solicitations for our addresses and learns the sender.
func (c *Core) inputNS(d rings.Desc, b, m []byte, now mono.Time) {
	ip := b[ethHeaderLen:]
	if !validND(ip, m) {
		c.drop(d, DropMalformed)
		return
	}
	sll, ok := ndOptions(m[ndLen:], ndOptSourceLL)
	if !ok {
		c.drop(d, DropMalformed)
		return
	}
	src := [16]byte(ip[8:24])
	unspecified := src == [16]byte{}
	if unspecified && (sll != nil || !c.ourGroup6(ip[24:40])) {
		c.drop(d, DropMalformed)
		return
	}
	target := [16]byte(m[8:24])
	if !c.ours6(target[:]) {
		c.drop(d, DropNotForUs)
		return
	}
	if sll != nil {
		c.confirm(&src, sll, true, now)
	}
	dst := src
	flags := byte(0x20) // override
	var dstMAC [6]byte
	if unspecified {
		// Answer duplicate address detection to all nodes (RFC 4861 7.2.4).
		dst = allNodes
		dstMAC = [6]byte{0x33, 0x33, 0, 0, 0, 1}
	} else {
		flags |= 0x40 // solicited
		if sll == nil {
			// Without a source link-layer option we can only answer the
			// sender's MAC as the frame shows it.
			copy(dstMAC[:], b[6:12])
		} else {
			copy(dstMAC[:], sll)
		}
	}
	// Rewrite the solicitation into the advertisement in place.
	f := c.pool.Frame(d.Addr)
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	h := f[ethHeaderLen:]
	n := ndLen + ndOptLLLen
	writeIPv6Header(h, &target, &dst, protoICMPv6, n, 255)
	a := h[ipv6HeaderLen : ipv6HeaderLen+n]
	a[0], a[1] = icmp6NA, 0
	put16(a[2:], 0)
	a[4], a[5], a[6], a[7] = flags, 0, 0, 0
	copy(a[8:24], target[:])
	a[24], a[25] = ndOptTargetLL, 1
	copy(a[26:32], c.mac[:])
	put16(a[2:], Checksum(a, pseudoSum6(target[:], dst[:], protoICMPv6, n)))
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	c.stats[NDAdvertsOut]++
	c.send(d)
}

// inputNA updates the neighbour the advertisement names.
func (c *Core) inputNA(d rings.Desc, b, m []byte, now mono.Time) {
	ip := b[ethHeaderLen:]
	if !validND(ip, m) || (ip[24] == 0xff && m[4]&0x40 != 0) {
		c.drop(d, DropMalformed)
		return
	}
	tll, ok := ndOptions(m[ndLen:], ndOptTargetLL)
	if !ok {
		c.drop(d, DropMalformed)
		return
	}
	target := [16]byte(m[8:24])
	if tll != nil && !c.ours6(target[:]) {
		c.confirm(&target, tll, false, now)
	}
	c.pool.Put(d.Addr)
}

// sendNS multicasts a solicitation for target to its solicited-node group.
func (c *Core) sendNS(target *[16]byte) {
	if len(c.v6) == 0 {
		return
	}
	d, f, ok := c.newFrame()
	if !ok {
		return
	}
	src := c.source6(target)
	group := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: target[13], 14: target[14], 15: target[15]}
	copy(f[0:6], []byte{0x33, 0x33, 0xff, target[13], target[14], target[15]})
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	h := f[ethHeaderLen:]
	n := ndLen + ndOptLLLen
	writeIPv6Header(h, &src, &group, protoICMPv6, n, 255)
	s := h[ipv6HeaderLen : ipv6HeaderLen+n]
	s[0], s[1] = icmp6NS, 0
	put16(s[2:], 0)
	clear(s[4:8])
	copy(s[8:24], target[:])
	s[24], s[25] = ndOptSourceLL, 1
	copy(s[26:32], c.mac[:])
	put16(s[2:], Checksum(s, pseudoSum6(src[:], group[:], protoICMPv6, n)))
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	c.stats[NDSolicitsOut]++
	c.send(d)
}

// writeIPv6Header writes a 40-byte header.
func writeIPv6Header(h []byte, src, dst *[16]byte, next uint8, payload int, hops uint8) {
	h[0], h[1], h[2], h[3] = 0x60, 0, 0, 0
	put16(h[4:], uint16(payload))
	h[6] = next
	h[7] = hops
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
}

// unreachable6 is unreachable4 for ICMPv6: the offending IPv6 header follows
// the 8-byte ICMPv6 header; codes 1 (administratively prohibited) and 4
// (port unreachable) are hard errors.
func (c *Core) unreachable6(d rings.Desc, m []byte, now mono.Time) {
	inner := m[8:]
	if len(inner) < ipv6HeaderLen+8 || inner[0]>>4 != 6 {
		c.drop(d, DropMalformed)
		return
	}
	if inner[6] == protoUDP && c.ours6(inner[8:24]) {
		c.tuple.LocalAddr = [16]byte(inner[8:24])
		c.tuple.RemoteAddr = [16]byte(inner[24:40])
		c.unreachableUDP(d, inner[ipv6HeaderLen:], unreachErrno6(m[1]))
		return
	}
	if inner[6] != protoTCP || c.tcp == nil || !c.ours6(inner[8:24]) {
		c.drop(d, ICMPIgnored)
		return
	}
	c.tuple.LocalAddr = [16]byte(inner[8:24])
	c.tuple.RemoteAddr = [16]byte(inner[24:40])
	c.unreachableTCP(d, inner[ipv6HeaderLen:], m[1] == 1 || m[1] == 4, now)
}

// tooBig6 hands a Packet Too Big (RFC 4443 3.2) about one of our TCP
// segments to the shard (RFC 8201); an MTU below the IPv6 minimum is
// ignored.
func (c *Core) tooBig6(d rings.Desc, m []byte, now mono.Time) {
	if len(m) < 8 {
		c.drop(d, DropMalformed)
		return
	}
	inner := m[8:]
	if len(inner) < ipv6HeaderLen+8 || inner[0]>>4 != 6 {
		c.drop(d, DropMalformed)
		return
	}
	if inner[6] != protoTCP || c.tcp == nil || !c.ours6(inner[8:24]) {
		c.drop(d, ICMPIgnored)
		return
	}
	mtu := be32(m[4:])
	if mtu < tcp.MinPMTU6 {
		c.drop(d, ICMPTooBigBelowMin)
		return
	}
	c.tuple.LocalAddr = [16]byte(inner[8:24])
	c.tuple.RemoteAddr = [16]byte(inner[24:40])
	c.tooBigTCP(d, inner[ipv6HeaderLen:], int(min(mtu, 65535)), now)
}

// icmp6ErrorsPerSec bounds the ICMPv6 errors a core sends each second (RFC
// 4443 2.4 (f)), as Linux's icmp_msgs_per_sec (1000) does for a host.
const icmp6ErrorsPerSec = 1000

// paramProblem6 drops the IPv6 packet in d, counted as why, and answers it
// with an ICMPv6 Parameter Problem (RFC 4443 3.4) of code code pointing at
// byte ptr of the packet, carrying as much of it as fits in the minimum MTU.
// next and off are the header the walk stopped at. As RFC 4443 2.4 (e)
// asks, nothing is sent about a packet to a multicast group, from the
// unspecified address, or that carries an ICMPv6 error; nor past
// icmp6ErrorsPerSec, nor when no route leads back to the source.
func (c *Core) paramProblem6(d rings.Desc, b []byte, code byte, ptr int, next byte, off int, why Counter, now mono.Time) {
	ip := b[ethHeaderLen:]
	ip = ip[:ipv6HeaderLen+int(be16(ip[4:]))]
	peer, local := [16]byte(ip[8:24]), [16]byte(ip[24:40])
	nexthop, routed := c.route6(&peer)
	if local[0] == 0xff || peer == [16]byte{} || carriesICMP6Error(ip, next, off) || !routed {
		c.drop(d, why)
		return
	}
	if sec := now.Div(time.Second); sec != c.errSec {
		c.errSec, c.errCount = sec, 0
	}
	if c.errCount >= icmp6ErrorsPerSec {
		c.drop(d, why)
		return
	}
	f, buf, ok := c.newFrame()
	if !ok {
		c.drop(d, why)
		return
	}
	c.errCount++
	n := min(len(ip), minMTU6-ipv6HeaderLen-8)
	h := buf[ethHeaderLen:]
	writeIPv6Header(h, &local, &peer, protoICMPv6, 8+n, DefaultTTL)
	m := h[ipv6HeaderLen : ipv6HeaderLen+8+n]
	m[0], m[1] = icmp6ParamProblem, code
	put16(m[2:], 0)
	put16(m[4:], uint16(ptr>>16))
	put16(m[6:], uint16(ptr))
	copy(m[8:], ip[:n])
	put16(m[2:], Checksum(m, pseudoSum6(local[:], peer[:], protoICMPv6, len(m))))
	copy(buf[6:12], c.mac[:])
	put16(buf[12:], etherTypeIPv6)
	f.Len = uint32(ethHeaderLen + ipv6HeaderLen + len(m))
	c.drop(d, why)
	c.stats[ParamProblemsOut]++
	c.output(f, &nexthop, now)
}

// carriesICMP6Error reports whether the IPv6 packet p carries an ICMPv6
// error message (types below 128), walking its extension headers from next
// at off; a chain it cannot walk counts as one.
func carriesICMP6Error(p []byte, next byte, off int) bool {
	for i := 0; i <= maxExtHeaders; i++ {
		switch next {
		case protoICMPv6:
			return off >= len(p) || p[off] < 128
		case 0, 43, 44, 60:
			if off+8 > len(p) {
				return true
			}
			hlen := (int(p[off+1]) + 1) * 8
			if next == 44 {
				hlen = 8
			}
			next, off = p[off], off+hlen
		default:
			return false
		}
	}
	return true
}
