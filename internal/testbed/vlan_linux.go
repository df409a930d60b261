package testbed

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// Offsets in struct __sk_buff (linux/bpf.h).
const (
	skbVlanPresentOff = 20
	skbVlanTCIOff     = 24
)

// vlanPref is the preference of AddVLAN's emulation filters on NAME-b.
const vlanPref = 6

// AddVLAN puts the kernel end of the bed name on 802.1Q VLAN vid with the
// addresses addrs: a VLAN subinterface NAME-b.ID of NAME-b (ip link add
// ... type vlan), or, on a kernel without 802.1Q, its emulation (see
// VLANPeer). NAME-b's VLAN offloads are turned off first (txvlan,
// rxvlan): with tx VLAN offload the tag of a frame the kernel sends stays
// beside the frame, and pollstack's XDP program on the other veth end
// receives the frame untagged. The bed's Down removes it all.
func AddVLAN(name string, vid uint16, addrs ...netip.Prefix) (VLANPeer, error) {
	if vid < 1 || vid > 4094 {
		return VLANPeer{}, fmt.Errorf("testbed: VLAN %d: want 1..4094", vid)
	}
	if err := bedExists(name); err != nil {
		return VLANPeer{}, err
	}
	_, ifB, _, nsB := names(name)
	// veth offers both offloads; a kernel that cannot change one has it
	// fixed off.
	_ = run("ip", "netns", "exec", nsB, "ethtool", "-K", ifB, "txvlan", "off", "rxvlan", "off")
	peer := VLANPeer{Iface: fmt.Sprintf("%s.%d", ifB, vid)}
	err := run("ip", "-n", nsB, "link", "add", "link", ifB, "name", peer.Iface, "type", "vlan", "id", fmt.Sprint(vid))
	if err != nil && strings.Contains(err.Error(), "Unknown device type") {
		peer = VLANPeer{Iface: ifB, Emulated: true}
		mac, merr := mac(nsB, ifB)
		if merr != nil {
			return VLANPeer{}, merr
		}
		if err = ensureClsact(nsB, ifB); err == nil {
			err = attach(nsB, ifB, "egress", vlanPref, "bed_vlan_tag", vlanTagProg(vid, [6]byte(mac)))
		}
		if err == nil {
			err = attach(nsB, ifB, "ingress", vlanPref, "bed_vlan_untag", vlanUntagProg(vid))
		}
	}
	if err != nil {
		return VLANPeer{}, err
	}
	if !peer.Emulated {
		// The subinterface takes its offloads from NAME-b's, where TX
		// checksum offload is off already; say so for it too (partial
		// checksums must stay off the wire, as on NAME-b).
		_ = run("ip", "netns", "exec", nsB, "ethtool", "-K", peer.Iface, "tx", "off")
	}
	for _, a := range addrs {
		args := []string{"ip", "-n", nsB, "addr", "add", a.String(), "dev", peer.Iface}
		if a.Addr().Is6() {
			args = append(args, "nodad")
		}
		if err := run(args...); err != nil {
			return VLANPeer{}, err
		}
	}
	if err := run("ip", "-n", nsB, "link", "set", peer.Iface, "up"); err != nil {
		return VLANPeer{}, err
	}
	return peer, nil
}

// vlanTagProg tags with vid every frame from mac that carries no tag
// (bpf_skb_vlan_push puts it beside the frame; with tx VLAN offload off
// the kernel writes it into the frame before the veth takes it).
func vlanTagProg(vid uint16, mac [6]byte) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R0, asm.R6, skbVlanPresentOff, asm.Word),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.LoadAbs(12, asm.Half),
		asm.JEq.Imm(asm.R0, 0x8100, "pass"),
		asm.LoadAbs(6, asm.Word), // the source MAC, in host order
		asm.LoadImm(asm.R1, int64(binary.BigEndian.Uint32(mac[0:4])), asm.DWord),
		asm.JNE.Reg(asm.R0, asm.R1, "pass"),
		asm.LoadAbs(10, asm.Half),
		asm.JNE.Imm(asm.R0, int32(binary.BigEndian.Uint16(mac[4:6])), "pass"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0x0081), // htons(ETH_P_8021Q)
		asm.Mov.Imm(asm.R3, int32(vid)),
		asm.FnSkbVlanPush.Call(),
		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("pass"),
		asm.Return(),
	}
}

// vlanUntagProg takes VLAN vid's tag off a received frame (the kernel has
// moved it beside the frame before tc's ingress hook) and drops frames of
// other VLANs; untagged frames pass.
func vlanUntagProg(vid uint16) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R0, asm.R6, skbVlanPresentOff, asm.Word),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R0, asm.R6, skbVlanTCIOff, asm.Word),
		asm.And.Imm(asm.R0, 0x0fff),
		asm.JNE.Imm(asm.R0, int32(vid), "drop"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSkbVlanPop.Call(),
		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActShot).WithSymbol("drop"),
		asm.Return(),
	}
}
