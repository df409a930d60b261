package engine

import (
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// TCP returns the core's TCP shard (nil when the core has none).
func (c *Core) TCP() *tcp.Shard { return c.tcp }

// inputTCP4 verifies a TCP segment's checksum and hands it to the shard.
// p is the IPv4 packet cut to its total length.
func (c *Core) inputTCP4(d rings.Desc, p []byte, ihl int, now mono.Time) {
	seg := p[ihl:]
	if !c.acceptTCP(d, seg, pseudoSum4(p[12:16], p[16:20], protoTCP, len(seg))) {
		return
	}
	c.tuple.LocalAddr = v4Mapped([4]byte(p[16:20]))
	c.tuple.RemoteAddr = v4Mapped([4]byte(p[12:16]))
	c.rxECN = p[1] & 3 // the TOS byte's ECN field
	if now < c.senders.refusing && len(seg) > tcpFlagsOff && seg[tcpFlagsOff]&tcpFlagSYN == 0 {
		c.senders.learn(&c.rxFrom, c.rxMAC, now)
	}
	c.receiveTCP(d, seg, now)
}

// The TCP header's flags byte and its SYN bit.
const (
	tcpFlagsOff = 13
	tcpFlagSYN  = 0x02
)

// inputTCP6 is inputTCP4 for IPv6; off is the segment's offset in p.
func (c *Core) inputTCP6(d rings.Desc, p []byte, off int, now mono.Time) {
	seg := p[off:]
	if !c.acceptTCP(d, seg, pseudoSum6(p[8:24], p[24:40], protoTCP, len(seg))) {
		return
	}
	if p[24] == 0xff {
		c.drop(d, DropNotForUs) // TCP to a multicast group
		return
	}
	c.tuple.LocalAddr = [16]byte(p[24:40])
	c.tuple.RemoteAddr = [16]byte(p[8:24])
	c.rxECN = p[1] >> 4 & 3 // the traffic class's ECN field
	if now < c.senders.refusing && len(seg) > tcpFlagsOff && seg[tcpFlagsOff]&tcpFlagSYN == 0 {
		c.senders.learn(&c.rxFrom, c.rxMAC, now)
	}
	c.receiveTCP(d, seg, now)
}

// acceptTCP is what both families check first: a shard to take the
// segment and its checksum (pseudo: the pseudo-header's running sum). It
// drops the frame and returns false when one fails.
func (c *Core) acceptTCP(d rings.Desc, seg []byte, pseudo uint64) bool {
	if c.tcp == nil {
		c.drop(d, DropUnknownProtocol)
		return false
	}
	if Checksum(seg, pseudo) != 0 {
		c.tcp.CountBadSum()
		c.drop(d, DropChecksum)
		return false
	}
	return true
}

// receiveTCP hands seg, whose addresses are in c.tuple, to the core that
// owns its connection (this one's shard or another core's through steering)
// and frees the frame.
func (c *Core) receiveTCP(d rings.Desc, seg []byte, now mono.Time) {
	t := &c.tuple
	t.LocalPort = be16(seg[2:])
	t.RemotePort = be16(seg[0:])
	if c.steer != nil {
		// Connections the engine dialled (a proxy's backend legs) are
		// counted apart: their replies should hash home, as the port
		// pick chose.
		first, last := c.tcp.PortRange()
		dialled := t.LocalPort >= first && t.LocalPort <= last
		if dialled {
			c.stats[DialledIn]++
		}
		if c.steerSegment(t, seg) {
			if dialled {
				c.stats[DialledSteered]++
			}
			c.pool.Put(d.Addr)
			return
		}
	}
	c.tcp.ReceiveECN(t, seg, c.rxECN, now)
	c.stats[TCPSegmentsIn]++
	c.pool.Put(d.Addr)
}

// tcpSender is how the shard sends: it is the Core itself.
type tcpSender Core

// Buffer implements tcp.Sender: it takes a frame and returns the room after
// the Ethernet and IP headers.
func (s *tcpSender) Buffer(t *flow.Tuple) []byte {
	c := (*Core)(s)
	d, f, ok := c.newFrame()
	return s.room(t, d, f, ok)
}

// ControlBuffer implements tcp.Sender: Buffer for a segment without data,
// which may take a frame from the pool's reserve.
func (s *tcpSender) ControlBuffer(t *flow.Tuple) []byte {
	c := (*Core)(s)
	d, f, ok := c.newControlFrame()
	return s.room(t, d, f, ok)
}

// room keeps frame d for Send and returns the room after its headers.
func (s *tcpSender) room(t *flow.Tuple, d rings.Desc, f []byte, ok bool) []byte {
	c := (*Core)(s)
	if !ok {
		return nil
	}
	c.tcpFrame = d
	if t.IsIPv4() {
		return f[ethHeaderLen+ipv4MinHeader:]
	}
	return f[ethHeaderLen+ipv6HeaderLen:]
}

// Send implements tcp.Sender: it adds the checksum and the IP and Ethernet
// headers to the segment in the frame Buffer returned, and sends it.
func (s *tcpSender) Send(t *flow.Tuple, n int) { s.SendTOS(t, n, 0) }

// SendTOS implements tcp.TOSSender: Send with tos in the IPv4 header's TOS
// byte or the IPv6 header's traffic class (ECN's ECT(0)).
func (s *tcpSender) SendTOS(t *flow.Tuple, n int, tos uint8) {
	c := (*Core)(s)
	d := c.tcpFrame
	f := c.pool.Frame(d.Addr)
	copy(f[6:12], c.mac[:])
	c.stats[TCPSegmentsOut]++
	if t.IsIPv4() {
		h := f[ethHeaderLen:]
		seg := h[ipv4MinHeader : ipv4MinHeader+n]
		src, dst := [4]byte(t.LocalAddr[12:]), [4]byte(t.RemoteAddr[12:])
		if c.txCsum {
			// The link completes it: the field holds the pseudo-header's
			// sum, as CHECKSUM_PARTIAL wants.
			put16(seg[16:], csumFold(pseudoSum4(src[:], dst[:], protoTCP, n)))
			c.pool.SetTxChecksum(&d, ethHeaderLen+ipv4MinHeader, 16)
			c.stats[TCPChecksumOffload]++
		} else {
			put16(seg[16:], 0)
			put16(seg[16:], Checksum(seg, pseudoSum4(src[:], dst[:], protoTCP, n)))
		}
		c.ipID++
		c.writeIPv4Header(h, src, dst, protoTCP, ipv4MinHeader+n)
		if tos != 0 {
			h[1] = tos
			put16(h[10:], 0)
			put16(h[10:], Checksum(h[:ipv4MinHeader], 0))
		}
		put16(f[12:], etherTypeIPv4)
		d.Len = uint32(ethHeaderLen + ipv4MinHeader + n)
		nexthop, ok := c.route4(dst)
		if !ok {
			c.drop(d, DropNoRoute)
			return
		}
		c.output(d, &nexthop, c.now)
		return
	}
	h := f[ethHeaderLen:]
	seg := h[ipv6HeaderLen : ipv6HeaderLen+n]
	if c.txCsum {
		put16(seg[16:], csumFold(pseudoSum6(t.LocalAddr[:], t.RemoteAddr[:], protoTCP, n)))
		c.pool.SetTxChecksum(&d, ethHeaderLen+ipv6HeaderLen, 16)
		c.stats[TCPChecksumOffload]++
	} else {
		put16(seg[16:], 0)
		put16(seg[16:], Checksum(seg, pseudoSum6(t.LocalAddr[:], t.RemoteAddr[:], protoTCP, n)))
	}
	writeIPv6Header(h, &t.LocalAddr, &t.RemoteAddr, protoTCP, n, DefaultTTL)
	if tos != 0 {
		h[0], h[1] = 0x60|tos>>4, tos<<4 // version 6, the traffic class, a zero flow label
	}
	put16(f[12:], etherTypeIPv6)
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	nexthop, ok := c.route6(&t.RemoteAddr)
	if !ok {
		c.drop(d, DropNoRoute)
		return
	}
	c.output(d, &nexthop, c.now)
}
