package engine

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Route sends the destinations in Prefix through the router NextHop, an
// address on a connected prefix (for IPv6 also a link-local one) that is
// resolved through ARP or neighbour discovery like any on-link host. A
// default gateway is the route of 0.0.0.0/0 or ::/0.
type Route struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

// String writes r as the --route flag takes it, PREFIX=NEXTHOP.
func (r Route) String() string { return r.Prefix.String() + "=" + r.NextHop.String() }

// RouteError says why a table refuses Route.
type RouteError struct {
	Route  Route
	Reason string
}

func (e *RouteError) Error() string { return "route " + e.Route.String() + ": " + e.Reason }

func routeErr(r Route, format string, args ...any) error {
	return &RouteError{Route: r, Reason: fmt.Sprintf(format, args...)}
}

// MaxRoutes bounds the static routes (gateways included) of each family.
const MaxRoutes = 256

// RouteInfo is one entry of a routing table as stat shows it: a connected
// prefix (from the interface's addresses) has no Via.
type RouteInfo struct {
	Prefix string `json:"prefix"`
	Via    string `json:"via,omitempty"`
	Kind   string `json:"kind"` // "connected", "static", "gateway" or "router advertisement"
	// Expires is the lifetime left to a router learned from an
	// advertisement, in seconds.
	Expires float64 `json:"expires_in_seconds,omitempty"`
}

// RouteTable is an engine's routing table: its connected prefixes, static
// routes and default gateways, both families, looked up by longest prefix.
// It is immutable once built, so every core reads it without a lock; a
// lookup allocates nothing.
//
// Each family keeps one group per prefix length in use, longest first, each
// a sorted array of masked prefixes: a lookup masks the destination once per
// group and searches that group's array, so it costs a binary search per
// distinct length (two or three in the usual table: the connected prefix,
// perhaps a static route, the default), never a walk of every route.
type RouteTable struct {
	v4, v6 lpm
	list   []RouteInfo
}

// routeKey is an address as two big-endian halves; IPv4 sits in the top 32
// bits of hi.
type routeKey struct{ hi, lo uint64 }

func (k routeKey) and(m routeKey) routeKey { return routeKey{k.hi & m.hi, k.lo & m.lo} }

func (k routeKey) cmp(o routeKey) int {
	if c := cmp.Compare(k.hi, o.hi); c != 0 {
		return c
	}
	return cmp.Compare(k.lo, o.lo)
}

// maskKey returns the mask of the first bits bits.
func maskKey(bits int) routeKey {
	var m routeKey
	switch {
	case bits >= 128:
		m = routeKey{^uint64(0), ^uint64(0)}
	case bits > 64:
		m = routeKey{^uint64(0), ^uint64(0) << (128 - bits)}
	case bits > 0:
		m = routeKey{^uint64(0) << (64 - bits), 0}
	}
	return m
}

func key4(a [4]byte) routeKey { return routeKey{hi: uint64(be32(a[:])) << 32} }

func key6(a *[16]byte) routeKey {
	return routeKey{hi: be64(a[:8]), lo: be64(a[8:])}
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

// keyOf is p's address as a key; an IPv4 prefix of n bits masks the
// key's first n bits, as an IPv6 one does.
func keyOf(p netip.Prefix) routeKey {
	if p.Addr().Is4() {
		return key4(p.Addr().As4())
	}
	a := p.Addr().As16()
	return key6(&a)
}

type routeEntry struct {
	key routeKey
	via [16]byte // the next hop (IPv4 as IPv4-mapped); unused when connected
	gw  bool     // through a router; false: on a connected prefix
}

type lpmGroup struct {
	mask    routeKey
	entries []routeEntry // sorted by key
}

// lpm is one family's table: groups by prefix length, longest first.
type lpm struct{ groups []lpmGroup }

// lookup returns the entry of the longest prefix that holds k, or nil.
func (t *lpm) lookup(k routeKey) *routeEntry {
	for gi := range t.groups {
		g := &t.groups[gi]
		m := k.and(g.mask)
		lo, hi := 0, len(g.entries)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			switch c := g.entries[mid].key.cmp(m); {
			case c == 0:
				return &g.entries[mid]
			case c < 0:
				lo = mid + 1
			default:
				hi = mid
			}
		}
	}
	return nil
}

type lpmInput struct {
	bits int
	e    routeEntry
}

func buildLPM(in []lpmInput) lpm {
	slices.SortFunc(in, func(a, b lpmInput) int {
		if a.bits != b.bits {
			return b.bits - a.bits
		}
		return a.e.key.cmp(b.e.key)
	})
	var t lpm
	for i, x := range in {
		if i == 0 || x.bits != in[i-1].bits {
			t.groups = append(t.groups, lpmGroup{mask: maskKey(x.bits)})
		}
		g := &t.groups[len(t.groups)-1]
		g.entries = append(g.entries, x.e)
	}
	return t
}

// linkLocal6 is the connected prefix of IPv6 link-local addresses.
var linkLocal6 = netip.MustParsePrefix("fe80::/64")

// NewRouteTable builds the table of an interface with addresses addrs
// (their prefixes are its connected routes; fe80::/64 too when it has an
// IPv6 address) and the static routes routes. It refuses a route whose
// prefix has host bits set, whose next hop is of the other family, not
// unicast, one of addrs, or not on a connected prefix (nor IPv6
// link-local), a prefix given twice or already connected, and more than
// MaxRoutes routes of a family.
func NewRouteTable(addrs []netip.Prefix, routes []Route) (*RouteTable, error) {
	t := &RouteTable{}
	var in4, in6 []lpmInput
	seen := map[netip.Prefix]bool{}
	own := map[netip.Addr]bool{}
	var connected []netip.Prefix
	has6 := false
	for _, p := range addrs {
		if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("engine: address %v: not an IPv4 or IPv6 address with a prefix length", p)
		}
		own[p.Addr()] = true
		has6 = has6 || p.Addr().Is6()
		connected = append(connected, p.Masked())
	}
	if has6 {
		connected = append(connected, linkLocal6)
	}
	for _, p := range connected {
		if seen[p] {
			continue // two addresses on one prefix
		}
		seen[p] = true
		x := lpmInput{bits: p.Bits(), e: routeEntry{key: keyOf(p)}}
		if p.Addr().Is4() {
			in4 = append(in4, x)
		} else {
			in6 = append(in6, x)
		}
		t.list = append(t.list, RouteInfo{Prefix: p.String(), Kind: "connected"})
	}
	onLink := func(a netip.Addr) bool {
		if a.Is6() && a.IsLinkLocalUnicast() {
			return true
		}
		for _, p := range connected {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	var n4, n6 int
	for _, r := range routes {
		p, nh := r.Prefix, r.NextHop
		switch {
		case !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "":
			return nil, routeErr(r, "not an IPv4 or IPv6 prefix")
		case p != p.Masked():
			return nil, routeErr(r, "host bits set in %v (the prefix is %v)", p, p.Masked())
		case !nh.IsValid() || nh.Is4In6():
			return nil, routeErr(r, "next hop is not an IPv4 or IPv6 address")
		case nh.Is4() != p.Addr().Is4():
			return nil, routeErr(r, "the next hop is not of the prefix's family")
		case nh.Zone() != "":
			return nil, routeErr(r, "no zone in a next hop (pollstack has one interface)")
		case nh.IsUnspecified() || nh.IsMulticast() || nh.IsLoopback() || nh == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return nil, routeErr(r, "the next hop must be a unicast address")
		case own[nh]:
			return nil, routeErr(r, "the next hop is one of pollstack's own addresses")
		case !onLink(nh):
			return nil, routeErr(r, "next hop %v is not on a connected prefix", nh)
		case seen[p]:
			return nil, routeErr(r, "%v already has a route (a connected prefix or another route)", p)
		}
		seen[p] = true
		kind := "static"
		if p.Bits() == 0 {
			kind = "gateway"
		}
		t.list = append(t.list, RouteInfo{Prefix: p.String(), Via: nh.String(), Kind: kind})
		x := lpmInput{bits: p.Bits(), e: routeEntry{key: keyOf(p), via: nh.As16(), gw: true}}
		if p.Addr().Is4() {
			n4++
			in4 = append(in4, x)
		} else {
			n6++
			in6 = append(in6, x)
		}
	}
	if n4 > MaxRoutes || n6 > MaxRoutes {
		return nil, fmt.Errorf("engine: %d IPv4 and %d IPv6 routes: at most %d of each family", n4, n6, MaxRoutes)
	}
	t.v4 = buildLPM(in4)
	t.v6 = buildLPM(in6)
	return t, nil
}

// Entries lists the table: connected prefixes first, then the routes in
// the order given.
func (t *RouteTable) Entries() []RouteInfo { return slices.Clone(t.list) }

// Lookup returns the next hop of dst: dst itself when it is on a connected
// prefix (IPv6 link-local ones always are), the router's address when a
// route holds it; false when nothing does.
func (t *RouteTable) Lookup(dst netip.Addr) (netip.Addr, bool) {
	dst = dst.Unmap()
	if dst.Is4() {
		nh, ok := t.nexthop4(dst.As4())
		return netip.AddrFrom16(nh).Unmap(), ok
	}
	a := dst.As16()
	nh, ok := t.nexthop6(&a)
	return netip.AddrFrom16(nh), ok
}

// nexthop4 returns the next hop of dst as IPv4-mapped.
func (t *RouteTable) nexthop4(dst [4]byte) ([16]byte, bool) {
	e := t.v4.lookup(key4(dst))
	switch {
	case e == nil:
		return [16]byte{}, false
	case e.gw:
		return e.via, true
	}
	return v4Mapped(dst), true
}

// nexthop6 is nexthop4 for IPv6.
func (t *RouteTable) nexthop6(dst *[16]byte) ([16]byte, bool) {
	if dst[0] == 0xfe && dst[1]&0xc0 == 0x80 {
		return *dst, true // link-local: on the link, never routed
	}
	e := t.v6.lookup(key6(dst))
	switch {
	case e == nil:
		return [16]byte{}, false
	case e.gw:
		return e.via, true
	}
	return *dst, true
}
