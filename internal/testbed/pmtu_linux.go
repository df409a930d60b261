package testbed

import (
	"github.com/cilium/ebpf/asm"
)

// blockPref is the preference of the filter BlockPMTUICMP adds on NAME-b's
// egress: ahead of RSS and the impairment, so that it sees every frame.
const blockPref = 5

// BlockPMTUICMP makes the bed name's kernel peer a path MTU black hole
// toward pollstack: a tc program on NAME-b's egress drops every ICMP
// "fragmentation needed" (type 3 code 4) and ICMPv6 Packet Too Big it
// sends, as a firewall that filters ICMP would, while the router still
// drops the packets too big for its link to NAME-c. pollstack then has
// only its retransmission timeouts to go by (black-hole detection). The
// bed's Down removes it with the veth.
func BlockPMTUICMP(name string) error {
	if err := bedExists(name); err != nil {
		return err
	}
	_, ifB, _, nsB := names(name)
	if err := ensureClsact(nsB, ifB); err != nil {
		return err
	}
	return attach(nsB, ifB, "egress", blockPref, "bed_pmtu_block", blockPMTUProg())
}

// blockPMTUProg is the tc program of BlockPMTUICMP. It reads the frame
// with the classic packet loads, relative to the Ethernet header on tc's
// hooks (a load past the end ends the program with 0, TC_ACT_OK): IPv4
// without options (the router's own ICMP has none) and IPv6 without
// extension headers.
func blockPMTUProg() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // the packet loads take the context from R6
		asm.LoadAbs(12, asm.Half),   // EtherType
		asm.JEq.Imm(asm.R0, 0x0800, "v4"),
		asm.JEq.Imm(asm.R0, 0x86dd, "v6"),
		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("pass"),
		asm.Return(),
		asm.LoadAbs(14+9, asm.Byte).WithSymbol("v4"), // protocol
		asm.JNE.Imm(asm.R0, 1, "pass"),
		asm.LoadAbs(14+20, asm.Half), // ICMP type and code
		asm.JEq.Imm(asm.R0, 3<<8|4, "drop"),
		asm.Ja.Label("pass"),
		asm.LoadAbs(14+6, asm.Byte).WithSymbol("v6"), // next header
		asm.JNE.Imm(asm.R0, 58, "pass"),
		asm.LoadAbs(14+40, asm.Byte), // ICMPv6 type
		asm.JNE.Imm(asm.R0, 2, "pass"),
		asm.Mov.Imm(asm.R0, tcActStolen).WithSymbol("drop"),
		asm.Return(),
	}
}
