package engine

import (
	"net/netip"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

const (
	arpOpRequest = 1
	arpOpReply   = 2
)

// ours4 reports whether ip is one of our IPv4 addresses.
func (c *Core) ours4(ip []byte) bool {
	for i := range c.v4 {
		if [4]byte(ip) == c.v4[i].ip {
			return true
		}
	}
	return false
}

// source4 returns the address we send to dst from: ours on the prefix that
// holds its next hop (dst itself, or the router a route sends it to), the
// first one when none does.
func (c *Core) source4(dst [4]byte) [4]byte {
	a := netip.AddrFrom4(dst)
	if nh, ok := c.route4(dst); ok {
		a = netip.AddrFrom4([4]byte(nh[12:]))
	}
	for i := range c.v4 {
		if c.v4[i].prefix.Contains(a) {
			return c.v4[i].ip
		}
	}
	return c.v4[0].ip
}

// inputARP handles an ARP packet (RFC 826): answer requests for our
// addresses, learn the sender when the packet concerns us, update what we
// already know from any packet (the merge flag).
func (c *Core) inputARP(d rings.Desc, b []byte, now mono.Time) {
	a := b[ethHeaderLen:]
	if len(a) < arpLen {
		c.drop(d, DropMalformed)
		return
	}
	if be16(a[0:]) != 1 || be16(a[2:]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		c.drop(d, DropUnknownProtocol)
		return
	}
	op := be16(a[6:])
	sha, spa, tpa := a[8:14], a[14:18], a[24:28]
	if sha[0]&1 != 0 || [6]byte(sha) == [6]byte{} {
		c.drop(d, DropMalformed) // a group or zero sender hardware address
		return
	}
	switch op {
	case arpOpRequest:
		c.stats[ARPRequestsIn]++
	case arpOpReply:
		c.stats[ARPRepliesIn]++
	default:
		c.drop(d, DropUnknownProtocol)
		return
	}
	forUs := c.ours4(tpa)
	sender := v4Mapped([4]byte(spa))
	if [4]byte(spa) != [4]byte{} && !c.ours4(spa) {
		c.confirm(&sender, sha, forUs && c.onLink4([4]byte(spa)), now)
	}
	if !forUs {
		c.drop(d, DropNotForUs)
		return
	}
	if op != arpOpRequest {
		c.pool.Put(d.Addr)
		return
	}
	// Turn the request into the reply in place.
	var target [4]byte
	copy(target[:], tpa)
	copy(b[0:6], sha)
	copy(b[6:12], c.mac[:])
	put16(a[6:], arpOpReply)
	copy(a[18:24], sha)
	copy(a[24:28], spa)
	copy(a[8:14], c.mac[:])
	copy(a[14:18], target[:])
	d.Len = ethHeaderLen + arpLen
	c.stats[ARPRepliesOut]++
	c.send(d)
}

// sendARPRequest broadcasts a request for ip.
func (c *Core) sendARPRequest(ip [4]byte) {
	if len(c.v4) == 0 {
		return
	}
	d, f, ok := c.newFrame()
	if !ok {
		return
	}
	src := c.source4(ip)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeARP)
	a := f[ethHeaderLen:]
	put16(a[0:], 1)
	put16(a[2:], etherTypeIPv4)
	a[4], a[5] = 6, 4
	put16(a[6:], arpOpRequest)
	copy(a[8:14], c.mac[:])
	copy(a[14:18], src[:])
	clear(a[18:24])
	copy(a[24:28], ip[:])
	// Pad to the Ethernet minimum of 60 bytes without FCS.
	clear(f[ethHeaderLen+arpLen : 60])
	d.Len = 60
	c.stats[ARPRequestsOut]++
	c.send(d)
}

// inputIPv4 validates an IPv4 header (RFC 791, RFC 1122 3.2.1) and
// dispatches the payload.
func (c *Core) inputIPv4(d rings.Desc, b []byte, now mono.Time) {
	p := b[ethHeaderLen:]
	if len(p) < ipv4MinHeader || p[0]>>4 != 4 {
		c.drop(d, DropMalformed)
		return
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(be16(p[2:]))
	if ihl < ipv4MinHeader || total < ihl || total > len(p) {
		c.drop(d, DropMalformed)
		return
	}
	if Checksum(p[:ihl], 0) != 0 {
		c.drop(d, DropChecksum)
		return
	}
	src, dst := p[12:16], p[16:20]
	if src[0] >= 224 || [4]byte(src) == [4]byte{} || src[0] == 127 {
		c.drop(d, DropMalformed) // martian source
		return
	}
	if !c.ours4(dst) {
		c.drop(d, DropNotForUs)
		return
	}
	c.rxFrom = v4Mapped([4]byte(src))
	p = p[:total]                // strip Ethernet padding
	if be16(p[6:])&0x3fff != 0 { // MF set or a fragment offset
		c.inputFragment4(d, p, ihl, now)
		return
	}
	switch p[9] {
	case protoICMP:
		c.inputICMP4(d, b, ihl, total, now)
	case protoTCP:
		c.inputTCP4(d, p, ihl, now)
	case protoUDP:
		c.inputUDP(p, ihl, false, false, now)
		c.pool.Put(d.Addr)
	default:
		c.drop(d, DropUnknownProtocol)
	}
}

// inputICMP4 answers echo requests (RFC 792, RFC 1122 3.2.2.6) in place.
func (c *Core) inputICMP4(d rings.Desc, b []byte, ihl, total int, now mono.Time) {
	ip := b[ethHeaderLen:]
	m := ip[ihl:total]
	if len(m) < 8 {
		c.drop(d, DropMalformed)
		return
	}
	if Checksum(m, 0) != 0 {
		c.drop(d, DropChecksum)
		return
	}
	if m[0] == 0 && m[1] == 0 {
		c.echoReply(d, netip.AddrFrom4([4]byte(ip[12:16])), m, now)
		return
	}
	if m[0] == 3 { // destination unreachable (RFC 792)
		c.unreachable4(d, m, now)
		return
	}
	if m[0] != 8 || m[1] != 0 {
		c.drop(d, ICMPIgnored)
		return
	}
	c.stats[EchoRequestsIn]++
	peer := [4]byte(ip[12:16])
	local := [4]byte(ip[16:20])
	nexthop, ok := c.route4(peer)
	if !ok {
		c.drop(d, DropNoRoute)
		return
	}
	m[0] = 0
	put16(m[2:], csumUpdate16(be16(m[2:]), 0x0800, 0x0000))
	// The reply gets a plain 20-byte header placed just before the ICMP
	// message, so IP options in the request cost a shift of the frame's
	// start, not a copy of its payload.
	shift := ihl - ipv4MinHeader
	d.Addr += uint64(shift)
	f := c.pool.Bytes(rings.Desc{Addr: d.Addr, Len: uint32(ethHeaderLen + ipv4MinHeader + len(m))})
	c.ipID++
	c.writeIPv4Header(f[ethHeaderLen:], local, peer, protoICMP, ipv4MinHeader+len(m))
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv4)
	d.Len = uint32(len(f))
	c.stats[EchoRepliesOut]++
	c.output(d, &nexthop, now)
}

// writeIPv4Header writes a 20-byte header with its checksum. TCP segments
// carry DF while path MTU discovery is on (RFC 1191 3).
func (c *Core) writeIPv4Header(h []byte, src, dst [4]byte, proto uint8, total int) {
	h[0] = 0x45
	h[1] = 0
	put16(h[2:], uint16(total))
	put16(h[4:], c.ipID)
	put16(h[6:], 0)
	if proto == protoTCP && c.tcp != nil && c.tcp.PMTUD() {
		put16(h[6:], ipv4DF)
	}
	h[8] = DefaultTTL
	h[9] = proto
	put16(h[10:], 0)
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	put16(h[10:], Checksum(h[:ipv4MinHeader], 0))
}

// unreachable4 hands a destination unreachable about one of our TCP
// segments to the shard (RFC 1122 4.2.3.9). m is the ICMP message: type,
// code, checksum, 4 unused bytes, then the offending IP header and at least
// 8 bytes of its payload.
func (c *Core) unreachable4(d rings.Desc, m []byte, now mono.Time) {
	inner := m[8:]
	if len(inner) < ipv4MinHeader || inner[0]>>4 != 4 {
		c.drop(d, DropMalformed)
		return
	}
	ihl := int(inner[0]&0x0f) * 4
	if inner[9] == protoUDP && ihl >= ipv4MinHeader && len(inner) >= ihl+8 && c.ours4(inner[12:16]) {
		c.tuple.LocalAddr = v4Mapped([4]byte(inner[12:16]))
		c.tuple.RemoteAddr = v4Mapped([4]byte(inner[16:20]))
		c.unreachableUDP(d, inner[ihl:], unreachErrno4(m[1]))
		return
	}
	if ihl < ipv4MinHeader || len(inner) < ihl+8 || inner[9] != protoTCP || c.tcp == nil || !c.ours4(inner[12:16]) {
		c.drop(d, ICMPIgnored)
		return
	}
	c.tuple.LocalAddr = v4Mapped([4]byte(inner[12:16]))
	c.tuple.RemoteAddr = v4Mapped([4]byte(inner[16:20]))
	if m[1] == 4 {
		// Fragmentation needed and DF set: the path MTU is smaller
		// (RFC 1191), never an error for the connection. A router from
		// before RFC 1191 leaves the MTU field 0: take the plateau below
		// the packet's length (RFC 1191 7).
		mtu := int(be16(m[6:]))
		if mtu == 0 {
			mtu = plateauBelow(int(be16(inner[2:])))
		}
		if mtu < tcp.MinPMTU4 {
			c.drop(d, ICMPTooBigBelowMin)
			return
		}
		c.tooBigTCP(d, inner[ihl:], mtu, now)
		return
	}
	// Codes 2 and 3 (protocol, port unreachable) are hard errors; the
	// others are soft.
	c.unreachableTCP(d, inner[ihl:], m[1] == 2 || m[1] == 3, now)
}

// plateaus are RFC 1191 7's table of common MTUs, highest first.
var plateaus = [...]int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// plateauBelow returns the highest plateau below n.
func plateauBelow(n int) int {
	for _, p := range plateaus {
		if p < n {
			return p
		}
	}
	return 0
}

// tooBigTCP hands a "fragmentation needed" or Packet Too Big offering mtu,
// about the TCP segment whose first 8 bytes are seg, sent from c.tuple's
// addresses, to the shard that owns the connection.
func (c *Core) tooBigTCP(d rings.Desc, seg []byte, mtu int, now mono.Time) {
	t := &c.tuple
	t.LocalPort, t.RemotePort = be16(seg[0:]), be16(seg[2:])
	c.stats[ICMPTooBigIn]++
	if c.steer != nil {
		if o := c.steer.owner(t); o != c.id {
			c.steerOut(o, steerKindTooBig, t, nil, flow.Seq(be32(seg[4:])), false, uint32(mtu))
			c.pool.Put(d.Addr)
			return
		}
	}
	c.now = now
	c.tcp.PacketTooBig(t, flow.Seq(be32(seg[4:])), mtu, now)
	c.pool.Put(d.Addr)
}

// unreachableTCP hands an unreachable about the TCP segment whose first 8
// bytes are seg, sent from c.tuple's addresses, to the shard.
func (c *Core) unreachableTCP(d rings.Desc, seg []byte, hard bool, now mono.Time) {
	t := &c.tuple
	t.LocalPort, t.RemotePort = be16(seg[0:]), be16(seg[2:])
	if c.steer != nil {
		if o := c.steer.owner(t); o != c.id {
			c.steerOut(o, steerKindUnreach, t, nil, flow.Seq(be32(seg[4:])), hard, 0)
			c.pool.Put(d.Addr)
			return
		}
	}
	c.now = now
	c.tcp.Unreachable(t, flow.Seq(be32(seg[4:])), hard)
	c.stats[ICMPUnreachIn]++
	c.pool.Put(d.Addr)
}
