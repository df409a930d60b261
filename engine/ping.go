package engine

import (
	"net/netip"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// EchoReplyFunc is called on the core's loop for every echo reply received:
// from src, with the request's identifier and sequence number and the
// reply's payload (valid only during the call).
type EchoReplyFunc func(src netip.Addr, id, seq uint16, payload []byte, now mono.Time)

// OnEchoReply sets the function echo replies go to (nil: they are ignored).
// Owner only.
func (c *Core) OnEchoReply(fn EchoReplyFunc) { c.onEcho = fn }

// SendEcho sends an ICMP or ICMPv6 echo request to dst, resolving the next
// hop as any packet does. It reports false when no route holds dst (no
// connected prefix, static route or gateway), the payload does not fit a frame, or the pool is empty. Owner only.
func (c *Core) SendEcho(dst netip.Addr, id, seq uint16, payload []byte, now mono.Time) bool {
	if dst.Is4() {
		if len(c.v4) == 0 {
			return false
		}
		nexthop, ok := c.route4(dst.As4())
		if !ok {
			c.stats[DropNoRoute]++
			return false
		}
		n := ipv4MinHeader + 8 + len(payload)
		if ethHeaderLen+n > c.pool.FrameSize() {
			return false
		}
		d, f, ok := c.newFrame()
		if !ok {
			return false
		}
		copy(f[6:12], c.mac[:])
		put16(f[12:], etherTypeIPv4)
		c.ipID++
		c.writeIPv4Header(f[ethHeaderLen:], c.source4(dst.As4()), dst.As4(), protoICMP, n)
		m := f[ethHeaderLen+ipv4MinHeader : ethHeaderLen+n]
		m[0], m[1] = 8, 0
		put16(m[2:], 0)
		put16(m[4:], id)
		put16(m[6:], seq)
		copy(m[8:], payload)
		put16(m[2:], Checksum(m, 0))
		d.Len = uint32(ethHeaderLen + n)
		c.output(d, &nexthop, now)
		return true
	}
	if len(c.v6) == 0 {
		return false
	}
	peer := dst.As16()
	nexthop, ok := c.route6(&peer)
	if !ok {
		c.stats[DropNoRoute]++
		return false
	}
	n := 8 + len(payload)
	if ethHeaderLen+ipv6HeaderLen+n > c.pool.FrameSize() {
		return false
	}
	d, f, ok := c.newFrame()
	if !ok {
		return false
	}
	src := c.source6(&peer)
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	writeIPv6Header(f[ethHeaderLen:], &src, &peer, protoICMPv6, n, DefaultTTL)
	m := f[ethHeaderLen+ipv6HeaderLen : ethHeaderLen+ipv6HeaderLen+n]
	m[0], m[1] = icmp6EchoRequest, 0
	put16(m[2:], 0)
	put16(m[4:], id)
	put16(m[6:], seq)
	copy(m[8:], payload)
	put16(m[2:], Checksum(m, pseudoSum6(src[:], peer[:], protoICMPv6, n)))
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	c.output(d, &nexthop, now)
	return true
}

// echoReply hands a received echo reply (m is the ICMP message) to the
// OnEchoReply function and frees the frame.
func (c *Core) echoReply(d rings.Desc, src netip.Addr, m []byte, now mono.Time) {
	if len(m) < 8 {
		c.drop(d, DropMalformed)
		return
	}
	c.stats[EchoRepliesIn]++
	if c.onEcho != nil {
		c.onEcho(src, be16(m[4:]), be16(m[6:]), m[8:], now)
	}
	c.pool.Put(d.Addr)
}
