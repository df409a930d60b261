package engine

import (
	"context"
	"net"
	"net/netip"
	"strconv"
)

// Name resolution for Dial: package net's resolver (the pure Go one),
// whose queries go over the engine's own UDP (and TCP, for an answer too
// long for a datagram): to Config.DNS's servers when given, else to those
// /etc/resolv.conf names (read by package net, with its search list,
// ndots, timeout and attempts).

func (e *Engine) newResolver(servers []netip.AddrPort) {
	e.dns = append([]netip.AddrPort(nil), servers...)
	e.resolver = &net.Resolver{PreferGo: true, Dial: e.dialDNS}
}

// Resolver returns the resolver Dial uses for host names: its queries go
// over the engine, not the kernel.
func (e *Engine) Resolver() *net.Resolver { return e.resolver }

// dialDNS is the resolver's Dial: address is a server resolv.conf names;
// with Config.DNS the engine's servers replace those, a different one for
// each new query or retry.
func (e *Engine) dialDNS(ctx context.Context, network, address string) (net.Conn, error) {
	if len(e.dns) > 0 {
		i := e.nextDNS.Add(1) - 1
		address = e.dns[i%uint32(len(e.dns))].String()
	}
	return e.DialContext(ctx, network, address)
}

// dialName resolves host (not an IP literal) and dials its addresses in
// the order the resolver gives them (RFC 6724's), of the network's family,
// until one answers; the error is the first address's, or the lookup's.
func (e *Engine) dialName(ctx context.Context, network, host, port string) (net.Conn, error) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "invalid port", Addr: net.JoinHostPort(host, port)}}
	}
	family := "ip"
	switch network {
	case "tcp4", "udp4":
		family = "ip4"
	case "tcp6", "udp6":
		family = "ip6"
	}
	addrs, err := e.resolver.LookupNetIP(ctx, family, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, a := range addrs {
		c, err := e.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(p)).String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}
