package engine

import "github.com/pollstack/pollstack/rings"

// 802.1Q VLANs. A core configured with a VLAN ID is a host on that VLAN
// alone: every frame it sends carries the tag (priority 0), and it takes
// only frames tagged with its ID; untagged frames (vlan_untagged) and
// frames of other VLANs (vlan_mismatch) are counted and dropped. A core
// without one drops every tagged frame as vlan_mismatch. ARP, neighbour
// discovery and everything above see untagged frames: the tag is taken
// off as a frame arrives and put on as it leaves, so the rest of the
// stack keeps its 14-byte Ethernet header.
//
// The tag costs no copy of the packet: on arrival the two MAC addresses
// move 4 bytes up over it and the frame then starts 4 bytes later; a frame
// we originate starts 4 bytes into its buffer (newFrame), so on departure
// the addresses move 4 bytes down and the tag goes between them and the
// EtherType. A frame without that room (there is none in practice) has
// its packet moved instead. The IP MTU stays the link's: the tagged frame
// is 4 bytes longer, as on any 802.1Q link (1518 bytes for 1500).

// untag checks the 802.1Q tag of frame b (in d) and, when it is ours,
// takes it off in place; ok is false when the frame was dropped.
func (c *Core) untag(d rings.Desc, b []byte) (rings.Desc, []byte, bool) {
	if be16(b[12:]) != etherTypeVLAN {
		c.drop(d, DropVLANUntagged)
		return d, b, false
	}
	if len(b) < ethHeaderLen+vlanTagLen {
		c.drop(d, DropMalformed)
		return d, b, false
	}
	if be16(b[14:])&0x0fff != c.vlan || c.vlan == 0 {
		c.drop(d, DropVLANMismatch)
		return d, b, false
	}
	copy(b[vlanTagLen:12+vlanTagLen], b[0:12])
	d.Addr += vlanTagLen
	d.Len -= vlanTagLen
	return d, b[vlanTagLen:], true
}

// tag puts the core's 802.1Q tag on the complete untagged frame in d; ok
// is false when the frame had to be dropped (no room for the tag).
func (c *Core) tag(d rings.Desc) (rings.Desc, bool) {
	if d.Len < ethHeaderLen {
		c.drop(d, DropMalformed)
		return d, false
	}
	if d.Addr&uint64(c.pool.FrameSize()-1) >= vlanTagLen+c.txRoom {
		d.Addr -= vlanTagLen
		d.Len += vlanTagLen
		f := c.pool.Bytes(d)
		copy(f[0:12], f[vlanTagLen:12+vlanTagLen])
		put16(f[12:], etherTypeVLAN)
		put16(f[14:], c.vlan)
		return d, true
	}
	f := c.pool.Frame(d.Addr)
	n := int(d.Len)
	if n+vlanTagLen > len(f) {
		c.drop(d, DropMalformed)
		return d, false
	}
	copy(f[12+vlanTagLen:n+vlanTagLen], f[12:n])
	put16(f[12:], etherTypeVLAN)
	put16(f[14:], c.vlan)
	d.Len += vlanTagLen
	return d, true
}
