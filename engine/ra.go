package engine

import (
	"net/netip"
	"slices"
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// Router discovery (RFC 4861 6.3.4), when Config.AcceptRA asks for it: the
// routers that advertise themselves with a non-zero router lifetime become
// default routers for IPv6 destinations that no connected prefix, static
// route or IPv6 gateway holds. Only the default router is learned: prefix
// information, MTU and address configuration options are not acted on (the
// addresses are --addr's). Each core keeps its own short list, learned from
// the advertisements it receives and from what the other cores received
// (the neighbour-update rings, steer.go), so the packet path reads nothing
// shared.
const (
	icmp6RS = 133
	icmp6RA = 134
	raLen   = 16 // a router advertisement without options
	rsLen   = 8

	// MaxRouters bounds the default routers a core keeps.
	MaxRouters = 4
	// RouterSolicitations is how many router solicitations the first core
	// sends at start while it knows no router, RouterSolicitationInterval
	// apart (RFC 4861 10: MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL).
	RouterSolicitations        = 3
	RouterSolicitationInterval = 4 * time.Second
)

var allRouters = [16]byte{0: 0xff, 1: 0x02, 15: 2}

// defRouter is a default router learned from an advertisement.
type defRouter struct {
	ip      [16]byte // link-local
	expires mono.Time
}

// LearnedRouter is a default router a core learned, for stat.
type LearnedRouter struct {
	Addr    netip.Addr
	Expires mono.Time
}

// learnedRouter returns the first default router whose lifetime has not
// run out. Owner only; it allocates nothing.
func (c *Core) learnedRouter() ([16]byte, bool) {
	for i := 0; i < c.nrouters; i++ {
		if c.routers[i].expires > c.now {
			return c.routers[i].ip, true
		}
	}
	return [16]byte{}, false
}

// setRouter records that ip is a default router for lifetime seconds from
// now (0: it no longer is one). A full list makes room by dropping a router
// whose lifetime ran out; else the newcomer waits for its next
// advertisement.
func (c *Core) setRouter(ip *[16]byte, lifetime uint16, now mono.Time) {
	i := slices.IndexFunc(c.routers[:c.nrouters], func(r defRouter) bool { return r.ip == *ip })
	if lifetime == 0 {
		if i >= 0 {
			copy(c.routers[i:], c.routers[i+1:c.nrouters])
			c.nrouters--
			c.routersChanged = true
		}
		return
	}
	if i < 0 {
		if c.nrouters == MaxRouters {
			i = slices.IndexFunc(c.routers[:], func(r defRouter) bool { return r.expires <= now })
			if i < 0 {
				return
			}
		} else {
			i = c.nrouters
			c.nrouters++
		}
		c.routers[i].ip = *ip
	}
	c.routers[i].expires = now.Add(time.Duration(lifetime) * time.Second)
	c.routersChanged = true
}

// inputRA learns a default router from an advertisement that passes RFC
// 4861 6.1.2's checks (a link-local source, hop limit 255, code 0, valid
// options), and its link-layer address when it gives one.
func (c *Core) inputRA(d rings.Desc, b, m []byte, now mono.Time) {
	ip := b[ethHeaderLen:]
	src := [16]byte(ip[8:24])
	if !c.acceptRA {
		c.drop(d, ICMPIgnored)
		return
	}
	if ip[7] != 255 || m[1] != 0 || len(m) < raLen || src[0] != 0xfe || src[1]&0xc0 != 0x80 {
		c.drop(d, DropMalformed)
		return
	}
	sll, ok := ndOptions(m[raLen:], ndOptSourceLL)
	if !ok {
		c.drop(d, DropMalformed)
		return
	}
	c.stats[RouterAdvTaken]++
	if sll != nil {
		c.confirm(&src, sll, true, now)
	}
	lifetime := be16(m[6:])
	c.setRouter(&src, lifetime, now)
	if c.steer != nil {
		c.shareRouter(&src, lifetime)
	}
	c.pool.Put(d.Addr)
}

// solicitRouters sends the first core's router solicitations at start,
// while no router is known.
func (c *Core) solicitRouters(now mono.Time) {
	if c.rsSent >= RouterSolicitations || now < c.nextRS || c.nrouters > 0 {
		return
	}
	c.rsSent++
	c.nextRS = now.Add(RouterSolicitationInterval)
	c.sendRS()
}

// sendRS multicasts a router solicitation to all routers from our
// link-local address, with our link-layer address.
func (c *Core) sendRS() {
	var src [16]byte
	for i := range c.v6 {
		if a := c.v6[i].ip; a[0] == 0xfe && a[1]&0xc0 == 0x80 {
			src = a
			break
		}
	}
	if src == ([16]byte{}) {
		return // no link-local address (MaxAddrs global ones): not solicited
	}
	d, f, ok := c.newFrame()
	if !ok {
		return
	}
	copy(f[0:6], []byte{0x33, 0x33, 0, 0, 0, 2})
	copy(f[6:12], c.mac[:])
	put16(f[12:], etherTypeIPv6)
	h := f[ethHeaderLen:]
	n := rsLen + ndOptLLLen
	writeIPv6Header(h, &src, &allRouters, protoICMPv6, n, 255)
	s := h[ipv6HeaderLen : ipv6HeaderLen+n]
	s[0], s[1] = icmp6RS, 0
	put16(s[2:], 0)
	clear(s[4:8])
	s[8], s[9] = ndOptSourceLL, 1
	copy(s[10:16], c.mac[:])
	put16(s[2:], Checksum(s, pseudoSum6(src[:], allRouters[:], protoICMPv6, n)))
	d.Len = uint32(ethHeaderLen + ipv6HeaderLen + n)
	c.stats[RouterSolOut]++
	c.send(d)
}

// publishRouters makes the core's router list readable by LearnedRouters
// when it changed. Publish calls it; it allocates only on a change.
func (c *Core) publishRouters() {
	if !c.routersChanged {
		return
	}
	c.routersChanged = false
	rs := make([]LearnedRouter, c.nrouters)
	for i := range rs {
		rs[i] = LearnedRouter{Addr: netip.AddrFrom16(c.routers[i].ip), Expires: c.routers[i].expires}
	}
	c.routersPub.Store(&rs)
}

// LearnedRouters returns the default routers the core had learned from
// router advertisements at its last publication (expired ones included
// until an advertisement or the next change removes them). Safe from any
// goroutine.
func (c *Core) LearnedRouters() []LearnedRouter {
	if p := c.routersPub.Load(); p != nil {
		return *p
	}
	return nil
}
