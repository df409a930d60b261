package testbed

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ecnPref is the CE marker's filter preference: after RSS (which goes on
// to the next filter), before the impairment's loss and delay (whose
// verdict ends the classification). It goes on to the next filter too.
const ecnPref = 15

// Stack of the CE marker (offsets from the frame pointer).
const (
	ecnStkKey  = -4  // the map key, 0
	ecnStkWord = -16 // two bytes of the packet
)

// ecnScaleShift is the fixed point of the marker's drain rate: bytes per
// ns times 2^20.
const ecnScaleShift = 20

// ecnMarkProg builds the CE marker (tc SchedCLS, direct-action): a phantom
// queue, in the map m ({last departure, ns; backlog, bytes}), that every
// frame adds its length to and that drains at rate bytes/s; when the
// backlog is above threshold bytes, an ECN-capable IPv4 or IPv6 frame
// (ECT(0) or ECT(1)) is marked CE, the IPv4 header checksum updated.
// Frames that are not ECN-capable, and other frames, go on unmarked: the
// marker never drops. A frame that waited a second or more finds the
// queue empty. Frames on several CPUs at once may race on the map: the
// backlog is then off by a frame's length, no more.
func ecnMarkProg(m *ebpf.Map, rate, threshold uint64) asm.Instructions {
	scaled := int64(rate<<ecnScaleShift/1e9) + 1
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.Word), // skb->len
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R8, asm.R0), // now
		asm.StoreImm(asm.RFP, ecnStkKey, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, ecnStkKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R1, asm.R9, 0, asm.DWord), // last
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Sub.Reg(asm.R2, asm.R1),               // elapsed
		asm.LoadMem(asm.R3, asm.R9, 8, asm.DWord), // backlog
		asm.JGT.Imm(asm.R2, 1e9, "reset"),
		asm.LoadImm(asm.R4, scaled, asm.DWord),
		asm.Mul.Reg(asm.R2, asm.R4),
		asm.RSh.Imm(asm.R2, ecnScaleShift), // drained
		asm.JGT.Reg(asm.R3, asm.R2, "sub"),
		asm.Mov.Imm(asm.R3, 0),
		asm.Ja.Label("add"),
		asm.Sub.Reg(asm.R3, asm.R2).WithSymbol("sub"),
		asm.Add.Reg(asm.R3, asm.R7).WithSymbol("add"),
		asm.Ja.Label("store"),
		asm.Mov.Reg(asm.R3, asm.R7).WithSymbol("reset"),
		asm.StoreMem(asm.R9, 0, asm.R8, asm.DWord).WithSymbol("store"),
		asm.StoreMem(asm.R9, 8, asm.R3, asm.DWord),
		asm.LoadImm(asm.R4, int64(threshold), asm.DWord),
		asm.JLE.Reg(asm.R3, asm.R4, "out"),

		// Above the threshold: the EtherType.
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 12),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ecnStkWord),
		asm.Mov.Imm(asm.R4, 2),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.RFP, ecnStkWord, asm.Half),
		asm.JEq.Imm(asm.R1, 0x0008, "v4"), // 08 00, read little endian
		asm.JEq.Imm(asm.R1, 0xdd86, "v6"), // 86 dd
		asm.Ja.Label("out"),

		// IPv4: bytes 14 and 15 are version/IHL and TOS; as a little-endian
		// u16 the TOS is the high byte, its ECN field bits 8 and 9.
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("v4"),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ecnStkWord),
		asm.Mov.Imm(asm.R4, 2),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R7, asm.RFP, ecnStkWord, asm.Half), // from
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, 0x0300),
		asm.JEq.Imm(asm.R1, 0, "out"),      // Not-ECT
		asm.JEq.Imm(asm.R1, 0x0300, "out"), // CE already
		asm.Mov.Reg(asm.R8, asm.R7),
		asm.Or.Imm(asm.R8, 0x0300), // to
		asm.StoreMem(asm.RFP, ecnStkWord, asm.R8, asm.Half),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ecnStkWord),
		asm.Mov.Imm(asm.R4, 2),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 14+10), // the header checksum
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Mov.Reg(asm.R4, asm.R8),
		asm.Mov.Imm(asm.R5, 2),
		asm.FnL3CsumReplace.Call(),
		asm.Ja.Label("out"),

		// IPv6: bytes 14 and 15 hold the version and the traffic class;
		// its ECN field is byte 15's bits 4 and 5, bits 12 and 13 of the
		// little-endian u16. No checksum covers it.
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("v6"),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ecnStkWord),
		asm.Mov.Imm(asm.R4, 2),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R7, asm.RFP, ecnStkWord, asm.Half),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, 0x3000),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.JEq.Imm(asm.R1, 0x3000, "out"),
		asm.Or.Imm(asm.R7, 0x3000),
		asm.StoreMem(asm.RFP, ecnStkWord, asm.R7, asm.Half),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 14),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ecnStkWord),
		asm.Mov.Imm(asm.R4, 2),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),

		asm.Mov.Imm(asm.R0, tcActUnspec).WithSymbol("out"),
		asm.Return(),
	}
}

// attachECNMark attaches the CE marker, with a phantom queue of its own,
// to hook (ingress or egress) of ifB.
func attachECNMark(nsB, ifB, hook string, rate, threshold uint64) error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "bed_ecn_q", Type: ebpf.Array, KeySize: 4, ValueSize: 16, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("testbed: the CE marker's map: %w", err)
	}
	defer m.Close() // the program holds it
	return attach(nsB, ifB, hook, ecnPref, "bed_ecn_"+hook, ecnMarkProg(m, rate, threshold))
}
