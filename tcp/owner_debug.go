//go:build pollstackdebug

package tcp

import (
	"fmt"
	"net/netip"
)

// assertOwner panics when the shard running a connection's state change is
// not the owner of its 4-tuple, as the shard's Sender (an Owner) says: a
// segment, timer or call for the connection ran on the wrong core.
func (c *Conn) assertOwner() {
	o, ok := c.shard.send.(Owner)
	if !ok || o.Owns(&c.tuple) {
		return
	}
	t := &c.tuple
	panic(fmt.Sprintf("tcp: pollstackdebug: connection %v -> %v in %v changed state on a shard that does not own it",
		netip.AddrPortFrom(netip.AddrFrom16(t.LocalAddr).Unmap(), t.LocalPort),
		netip.AddrPortFrom(netip.AddrFrom16(t.RemoteAddr).Unmap(), t.RemotePort), c.state))
}
