// UDP on a core (RFC 768, RFC 8200 8.1): input with its checksum rules,
// delivery to the owning core's socket, ICMP port unreachables out and
// ICMP errors in, and output with fragmentation.

package engine

import (
	"math/bits"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

const (
	udpHeaderLen = 8

	// DefaultICMPLim is net.inet.icmp.icmplim: the ICMP port unreachables
	// a core sends each second (FreeBSD's default, 200, per core here).
	DefaultICMPLim = 200
	// DefaultICMP6ErrPPSLimit is net.inet6.icmp6.errppslimit: the same
	// for ICMPv6 (FreeBSD's default, 100).
	DefaultICMP6ErrPPSLimit = 100

	// icmpQuote4 is how much of the offending IPv4 packet a port
	// unreachable carries: as much as keeps the error within 576 bytes
	// (RFC 1812 4.3.2.3; Linux does the same).
	icmpQuote4 = 576 - ipv4MinHeader - 8
	// icmpQuote6: within the minimum MTU (RFC 4443 2.4 (c)).
	icmpQuote6 = minMTU6 - ipv6HeaderLen - 8
)

// rateLimit counts events in the current second of the engine's clock.
type rateLimit struct {
	sec int64
	n   int
}

// allow reports whether one more event fits in limit per second.
func (r *rateLimit) allow(now mono.Time, limit int) bool {
	if sec := now.Div(time.Second); sec != r.sec {
		r.sec, r.n = sec, 0
	}
	if r.n >= limit {
		return false
	}
	r.n++
	return true
}

// inputUDP handles a UDP datagram in ip, the IP packet (IPv4 cut to its
// total length, IPv6 to its payload length), its header at off. It never
// keeps ip: the caller frees the frame (or reuses the reassembly buffer).
// mcast says the destination was a multicast group.
func (c *Core) inputUDP(ip []byte, off int, v6, mcast bool, now mono.Time) {
	c.stats[UDPIPackets]++
	u := ip[off:]
	if len(u) < udpHeaderLen {
		c.stats[UDPHdrOps]++
		return
	}
	ulen := int(be16(u[4:]))
	if ulen < udpHeaderLen || ulen > len(u) {
		c.stats[UDPBadLen]++
		return
	}
	u = u[:ulen]
	t := &c.tuple
	if v6 {
		if be16(u[6:]) == 0 {
			c.stats[UDPNoSum]++ // RFC 8200 8.1: a zero checksum is not one
			return
		}
		if Checksum(u, pseudoSum6(ip[8:24], ip[24:40], protoUDP, ulen)) != 0 {
			c.stats[UDPBadSum]++
			return
		}
		t.LocalAddr, t.RemoteAddr = [16]byte(ip[24:40]), [16]byte(ip[8:24])
	} else {
		// RFC 768: a zero checksum says the sender computed none.
		if be16(u[6:]) != 0 && Checksum(u, pseudoSum4(ip[12:16], ip[16:20], protoUDP, ulen)) != 0 {
			c.stats[UDPBadSum]++
			return
		}
		t.LocalAddr, t.RemoteAddr = v4Mapped([4]byte(ip[16:20])), v4Mapped([4]byte(ip[12:16]))
	}
	t.LocalPort, t.RemotePort = be16(u[2:]), be16(u[0:])
	s := c.udpLookup(t)
	if s == nil {
		if mcast {
			c.stats[UDPNoPortMcast]++
			return
		}
		c.stats[UDPNoPort]++
		if t.RemotePort != 0 {
			c.portUnreachable(ip, v6, now)
		}
		return
	}
	if s.core != c.id && c.steer != nil {
		c.steerOut(s.core, steerKindUDP, t, u[udpHeaderLen:], 0, false, 0)
		return
	}
	c.deliverUDP(s, t, u[udpHeaderLen:])
}

// udpLookup returns the socket a datagram for t goes to, nil for none.
func (c *Core) udpLookup(t *flow.Tuple) *Socket {
	if c.udp == nil {
		return nil
	}
	return c.udp.lookup(t)
}

// deliverUDP queues a datagram on its socket, on the socket's core.
func (c *Core) deliverUDP(s *Socket, t *flow.Tuple, payload []byte) {
	if !s.dgDeliver(&t.RemoteAddr, t.RemotePort, payload) {
		c.stats[UDPFullSock]++
	}
}

// steerInUDP takes a datagram another core handed to this one, its
// socket's core.
func (c *Core) steerInUDP(t *flow.Tuple, payload []byte) {
	s := c.udpLookup(t)
	if s == nil || s.core != c.id {
		c.stats[UDPNoPort]++ // closed or rebound since
		return
	}
	c.deliverUDP(s, t, payload)
}

// portUnreachable answers a datagram to a closed port with an ICMP or
// ICMPv6 port unreachable (RFC 1122 4.1.3.1, RFC 4443 3.1), at most
// icmplim (errppslimit) a second per core.
func (c *Core) portUnreachable(ip []byte, v6 bool, now mono.Time) {
	if v6 {
		peer, local := [16]byte(ip[8:24]), [16]byte(ip[24:40])
		if peer == [16]byte{} {
			return
		}
		nexthop, ok := c.route6(&peer)
		if !ok {
			return
		}
		if !c.unreachLim.allow(now, c.icmp6Lim) {
			c.stats[ICMPLimited]++
			return
		}
		d, f, ok := c.newFrame()
		if !ok {
			return
		}
		n := min(len(ip), icmpQuote6)
		h := f[ethHeaderLen:]
		writeIPv6Header(h, &local, &peer, protoICMPv6, 8+n, DefaultTTL)
		m := h[ipv6HeaderLen : ipv6HeaderLen+8+n]
		m[0], m[1] = 1, 4 // destination unreachable, port unreachable
		clear(m[2:8])
		copy(m[8:], ip[:n])
		put16(m[2:], Checksum(m, pseudoSum6(local[:], peer[:], protoICMPv6, len(m))))
		copy(f[6:12], c.mac[:])
		put16(f[12:], etherTypeIPv6)
		d.Len = uint32(ethHeaderLen + ipv6HeaderLen + len(m))
		c.stats[ICMPUnreachOut]++
		c.output(d, &nexthop, now)
		return
	}
	peer, local := [4]byte(ip[12:16]), [4]byte(ip[16:20])
	nexthop, ok := c.route4(peer)
	if !ok {
		return
	}
	if !c.unreachLim.allow(now, c.icmpLim) {
		c.stats[ICMPLimited]++
		return
	}
	d, f, ok := c.newFrame()
	if !ok {
		return
	}
	n := min(len(ip), icmpQuote4)
	h := f[ethHeaderLen:]
	c.ipID++
	c.writeIPv4Header(h, local, peer, protoICMP, ipv4MinHeader+8+n)
	m := h[ipv4MinHeader : ipv4MinHeader+8+n]
	m[0], m[1] = 3, 3 // destination unreachable, port unreachable
	clear(m[2:8])
	copy(m[8:], ip[:n])
	put16(m[2:], Checksum(m, 0))
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv4)
	d.Len = uint32(ethHeaderLen + ipv4MinHeader + len(m))
	c.stats[ICMPUnreachOut]++
	c.output(d, &nexthop, now)
}

// unreachableUDP reports an ICMP destination unreachable about one of our
// datagrams to the connected socket that sent it (as BSD and Linux do;
// an unconnected socket hears nothing). seg is the offending datagram's
// first 8 bytes, its addresses in c.tuple (ours local); errno is what the
// socket's next call returns.
func (c *Core) unreachableUDP(d rings.Desc, seg []byte, errno uintptr) {
	t := &c.tuple
	t.LocalPort, t.RemotePort = be16(seg[0:]), be16(seg[2:])
	if s := c.udpLookup(t); s != nil && s.dg.connected.Load() {
		s.dgError(errno)
		c.stats[ICMPUnreachIn]++
	} else {
		c.stats[ICMPIgnored]++
	}
	c.pool.Put(d.Addr)
}

// sendUDP sends the datagram (a then b, the payload in up to two pieces)
// from src:sport to dst:dport (IPv4 as IPv4-mapped), in fragments when it
// does not fit the MTU. It reports whether every frame went out (a frame
// the pool could not give drops the rest).
func (c *Core) sendUDP(src, dst *[16]byte, sport, dport uint16, a, b []byte, now mono.Time) bool {
	ulen := udpHeaderLen + len(a) + len(b)
	var uh [udpHeaderLen]byte
	put16(uh[0:], sport)
	put16(uh[2:], dport)
	put16(uh[4:], uint16(ulen))
	v4 := isV4Mapped(dst)
	var s uint64
	if v4 {
		s = pseudoSum4(src[12:], dst[12:], protoUDP, ulen)
	} else {
		s = pseudoSum6(src[:], dst[:], protoUDP, ulen)
	}
	s = csumAdd(s, uh[:])
	s = csumAdd(s, a)
	s = csumAddAt(s, b, len(a)%2 == 1)
	ck := ^csumFold(s)
	if ck == 0 {
		ck = 0xffff // a computed zero is sent as all ones (RFC 768)
	}
	put16(uh[6:], ck)
	var nexthop [16]byte
	var ok bool
	if v4 {
		nexthop, ok = c.route4([4]byte(dst[12:]))
	} else {
		nexthop, ok = c.route6(dst)
	}
	if !ok {
		c.stats[DropNoRoute]++
		return false
	}
	c.stats[UDPOPackets]++
	mtu := c.mtu
	if v4 {
		s4, d4 := [4]byte(src[12:]), [4]byte(dst[12:])
		c.ipID++
		if ipv4MinHeader+ulen <= mtu {
			return c.sendIPv4Piece(s4, d4, 0, false, 0, ulen, uh[:], a, b, &nexthop, now)
		}
		per := (mtu - ipv4MinHeader) &^ 7
		c.stats[IPFragmented]++
		for off := 0; off < ulen; off += per {
			k := min(per, ulen-off)
			if !c.sendIPv4Piece(s4, d4, off, off+k < ulen, off, k, uh[:], a, b, &nexthop, now) {
				return false
			}
			c.stats[IPOFragments]++
		}
		return true
	}
	if ipv6HeaderLen+ulen <= mtu {
		return c.sendIPv6Piece(src, dst, false, 0, false, 0, ulen, uh[:], a, b, &nexthop, now)
	}
	per := (mtu - ipv6HeaderLen - 8) &^ 7
	c.fragID6++
	c.stats[IP6Fragmented]++
	for off := 0; off < ulen; off += per {
		k := min(per, ulen-off)
		if !c.sendIPv6Piece(src, dst, true, off, off+k < ulen, off, k, uh[:], a, b, &nexthop, now) {
			return false
		}
		c.stats[IP6OFragments]++
	}
	return true
}

// sendIPv4Piece sends bytes [at, at+n) of the datagram uh+a+b in one
// IPv4 packet: the whole datagram, or a fragment at byte offset off with
// more saying whether others follow. c.ipID is the packet's
// identification.
func (c *Core) sendIPv4Piece(src, dst [4]byte, off int, more bool, at, n int, uh, a, b []byte, nexthop *[16]byte, now mono.Time) bool {
	d, f, ok := c.newFrame()
	if !ok {
		return false
	}
	h := f[ethHeaderLen:]
	c.writeIPv4Header(h, src, dst, protoUDP, ipv4MinHeader+n)
	if off != 0 || more {
		fl := uint16(off / 8)
		if more {
			fl |= 0x2000
		}
		put16(h[6:], fl)
		put16(h[10:], 0)
		put16(h[10:], Checksum(h[:ipv4MinHeader], 0))
	}
	copyStream(h[ipv4MinHeader:ipv4MinHeader+n], at, uh, a, b)
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv4)
	d.Len = uint32(ethHeaderLen + ipv4MinHeader + n)
	c.output(d, nexthop, now)
	return true
}

// sendIPv6Piece is sendIPv4Piece for IPv6: with frag, a fragment header
// (identification c.fragID6) goes before the piece.
func (c *Core) sendIPv6Piece(src, dst *[16]byte, frag bool, off int, more bool, at, n int, uh, a, b []byte, nexthop *[16]byte, now mono.Time) bool {
	d, f, ok := c.newFrame()
	if !ok {
		return false
	}
	h := f[ethHeaderLen:]
	p := h[ipv6HeaderLen:]
	if frag {
		writeIPv6Header(h, src, dst, 44, 8+n, DefaultTTL)
		p[0], p[1] = protoUDP, 0
		fl := uint16(off)
		if more {
			fl |= 1
		}
		put16(p[2:], fl)
		p[4], p[5], p[6], p[7] = byte(c.fragID6>>24), byte(c.fragID6>>16), byte(c.fragID6>>8), byte(c.fragID6)
		p = p[8:]
	} else {
		writeIPv6Header(h, src, dst, protoUDP, n, DefaultTTL)
	}
	copyStream(p[:n], at, uh, a, b)
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	if frag {
		d.Len += 8
	}
	c.output(d, nexthop, now)
	return true
}

// copyStream fills dst with the bytes from offset at of the stream
// p0+p1+p2.
func copyStream(dst []byte, at int, p0, p1, p2 []byte) {
	for _, p := range [3][]byte{p0, p1, p2} {
		if len(dst) == 0 {
			return
		}
		if at >= len(p) {
			at -= len(p)
			continue
		}
		n := copy(dst, p[at:])
		dst = dst[n:]
		at = 0
	}
}

// csumAddAt adds b to the running sum s where b starts at an odd offset
// of the summed bytes when odd is set.
func csumAddAt(s uint64, b []byte, odd bool) uint64 {
	if !odd {
		return csumAdd(s, b)
	}
	return s + uint64(bits.ReverseBytes16(csumFold(csumAdd(0, b))))
}

// unreachErrno4 is the error an ICMP destination unreachable of code
// code gives a connected UDP socket (as Linux's icmp_err_convert).
func unreachErrno4(code byte) uintptr {
	switch code {
	case 0:
		return uintptr(syscall.ENETUNREACH)
	case 2:
		return uintptr(syscall.ENOPROTOOPT)
	case 3:
		return uintptr(syscall.ECONNREFUSED)
	case 4:
		return uintptr(syscall.EMSGSIZE)
	}
	return uintptr(syscall.EHOSTUNREACH)
}

// unreachErrno6 is unreachErrno4 for ICMPv6 (Linux's icmpv6_err_convert).
func unreachErrno6(code byte) uintptr {
	switch code {
	case 0:
		return uintptr(syscall.ENETUNREACH)
	case 1:
		return uintptr(syscall.EACCES)
	case 4:
		return uintptr(syscall.ECONNREFUSED)
	}
	return uintptr(syscall.EHOSTUNREACH)
}
