package testbed

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// tc filter preferences on NAME-b's clsact hooks. A lower one runs first:
// the RSS program, which always lets the frame go on (TC_ACT_UNSPEC), runs
// before the impairment's, which ends the classification with its verdict.
const (
	rssPref    = 10
	impairPref = 20
)

// tcActUnspec is the direct-action verdict "no opinion": tc goes on to the
// next filter, and after the last the frame is sent.
const tcActUnspec = -1

// Stack layout of the RSS program (offsets from the frame pointer).
const (
	rssStkEth   = -16 // the EtherType, 2 bytes
	rssStkPorts = -8  // source and destination ports, 4 bytes
	rssStkHdr   = -64 // the IPv4 (20 bytes) or IPv6 (40 bytes) header
)

// rssProg builds the tc egress program of RSS (SchedCLS, direct-action).
// value is the array map holding the program's data (RSS.mapValue) and
// tableLen the indirection table's length. For a TCP or UDP frame over
// IPv4 (not a fragment) or IPv6 (the transport header right after the
// fixed header) it XORs the Toeplitz contributions of the source and
// destination addresses and ports, in that order, looks up the table entry
// of the hash and sets the frame's skb hash (bpf_set_hash) to the one that
// makes the kernel pick that entry's queue; any other frame it leaves
// alone. It always returns TC_ACT_UNSPEC. With testRun it returns the
// Toeplitz hash instead of setting anything, for BPF_PROG_TEST_RUN.
func rssProg(value *ebpf.Map, tableLen int, testRun bool) asm.Instructions {
	loadBytes := func(off int32, reg bool, stk int16, n int32) asm.Instructions {
		insns := asm.Instructions{asm.Mov.Reg(asm.R1, asm.R6)}
		if !reg { // else the offset is in R2 already
			insns = append(insns, asm.Mov.Imm(asm.R2, off))
		}
		return append(insns,
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, int32(stk)),
			asm.Mov.Imm(asm.R4, n),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		)
	}
	// hashByte XORs into R8 the contribution of the byte at stk as input
	// byte i: R7 points at the map value, so the contribution is the u32
	// at R7 + 1024*i + 4*byte. (The offset is added, not put in the load:
	// a load's offset is 16 bits.)
	hashByte := func(i int, stk int16) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.RFP, stk, asm.Byte),
			asm.LSh.Imm(asm.R2, 2),
			asm.Mov.Reg(asm.R3, asm.R7),
			asm.Add.Imm(asm.R3, int32(rssContribOff+1024*i)),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R2, asm.R3, 0, asm.Word),
			asm.Xor.Reg(asm.R8, asm.R2),
		}
	}
	// l4 goes on to the ports when the protocol byte at stk is TCP or UDP.
	l4 := func(stk int16, next string) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.RFP, stk, asm.Byte),
			asm.JEq.Imm(asm.R2, unix.IPPROTO_TCP, next),
			asm.JNE.Imm(asm.R2, unix.IPPROTO_UDP, "out"),
		}
	}

	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R8, 0),
		asm.LoadMapValue(asm.R7, value.FD(), 0),
	}
	insns = append(insns, loadBytes(12, false, rssStkEth, 2)...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.RFP, rssStkEth, asm.Byte),
		asm.LSh.Imm(asm.R2, 8),
		asm.LoadMem(asm.R3, asm.RFP, rssStkEth+1, asm.Byte),
		asm.Or.Reg(asm.R2, asm.R3),
		asm.JEq.Imm(asm.R2, unix.ETH_P_IP, "v4"),
		asm.JEq.Imm(asm.R2, unix.ETH_P_IPV6, "v6"),
		asm.Ja.Label("out"),
	)

	// IPv4: version 4, a header of 5 words or more, TCP or UDP, and not a
	// fragment (MF clear, offset 0: a later fragment has no ports).
	v4 := loadBytes(14, false, rssStkHdr, 20)
	v4[0] = v4[0].WithSymbol("v4")
	insns = append(insns, v4...)
	insns = append(insns, l4(rssStkHdr+9, "v4ok")...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.RFP, rssStkHdr+6, asm.Byte).WithSymbol("v4ok"),
		asm.And.Imm(asm.R2, 0x3f),
		asm.LoadMem(asm.R3, asm.RFP, rssStkHdr+7, asm.Byte),
		asm.Or.Reg(asm.R2, asm.R3),
		asm.JNE.Imm(asm.R2, 0, "out"),
		asm.LoadMem(asm.R2, asm.RFP, rssStkHdr, asm.Byte),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.RSh.Imm(asm.R3, 4),
		asm.JNE.Imm(asm.R3, 4, "out"),
		asm.And.Imm(asm.R2, 0x0f),
		asm.JLT.Imm(asm.R2, 5, "out"),
		asm.LSh.Imm(asm.R2, 2),
		asm.Add.Imm(asm.R2, 14),
	)
	insns = append(insns, loadBytes(0, true, rssStkPorts, 4)...)
	for i := 0; i < 8; i++ { // source and destination addresses
		insns = append(insns, hashByte(i, rssStkHdr+12+int16(i))...)
	}
	for i := 0; i < 4; i++ {
		insns = append(insns, hashByte(8+i, rssStkPorts+int16(i))...)
	}
	insns = append(insns, asm.Ja.Label("pick"))

	// IPv6: TCP or UDP right after the fixed header.
	v6 := loadBytes(14, false, rssStkHdr, 40)
	v6[0] = v6[0].WithSymbol("v6")
	insns = append(insns, v6...)
	insns = append(insns, l4(rssStkHdr+6, "v6ok")...)
	ports := loadBytes(14+40, false, rssStkPorts, 4)
	ports[0] = ports[0].WithSymbol("v6ok")
	insns = append(insns, ports...)
	for i := 0; i < 32; i++ {
		insns = append(insns, hashByte(i, rssStkHdr+8+int16(i))...)
	}
	for i := 0; i < 4; i++ {
		insns = append(insns, hashByte(32+i, rssStkPorts+int16(i))...)
	}

	if testRun {
		insns = append(insns,
			asm.Mov.Reg(asm.R0, asm.R8).WithSymbol("pick"),
			asm.Return(),
		)
	} else {
		// The table entry's hash, for the kernel's transmit queue pick.
		insns = append(insns,
			asm.Mov.Reg(asm.R2, asm.R8).WithSymbol("pick"),
			asm.And.Imm(asm.R2, int32(tableLen-1)),
			asm.LSh.Imm(asm.R2, 2),
			asm.Mov.Reg(asm.R3, asm.R7),
			asm.Add.Imm(asm.R3, rssPickOff),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R2, asm.R3, 0, asm.Word),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSetHash.Call(),
		)
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, tcActUnspec).WithSymbol("out"),
		asm.Return(),
	)
}

// newRSSMap makes the array map holding r's program data.
func newRSSMap(r *RSS) (*ebpf.Map, error) {
	v := r.mapValue()
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "bed_rss",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  uint32(len(v)),
		MaxEntries: 1,
		Flags:      unix.BPF_F_RDONLY_PROG,
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: RSS map: %w", err)
	}
	if err := m.Update(uint32(0), v, ebpf.UpdateAny); err != nil {
		m.Close()
		return nil, fmt.Errorf("testbed: fill the RSS map: %w", err)
	}
	return m, nil
}

// SetRSS makes the bed name steer what the kernel sends (kernel ->
// pollstack) as an RSS NIC with key and indirection table would, over the
// bed's queues (which queues must equal): each TCP or UDP frame arrives on
// pollstack's receive queue RSS.Queue of its 4-tuple, the engine's owner
// core when the engine has the same key and table and one core per queue.
// Other frames (ARP, ND, ICMP, IPv6 with extension headers, IPv4
// fragments) go where the kernel puts them.
//
// How: a tc BPF program on NAME-b's clsact egress, filter preference 10,
// computes the queue and sets the frame's skb hash (bpf_set_hash) to one
// the kernel's transmit queue pick, skb_tx_hash, turns into that queue;
// veth then delivers the frame on the peer's receive queue of the same
// number. The program cannot write the queue itself: the kernel picks the
// queue after tc egress and overwrites skb->queue_mapping (kernel 6.18,
// measured: docs/scaling.md). XPS would pick before the hash, so SetRSS
// clears NAME-b's xps_cpus and xps_rxqs; setting them again defeats RSS. A
// TCP socket caches its queue, so connections open before SetRSS move only
// when next idle; set RSS before traffic.
//
// In a relayed bed (Options.Relay) the program sits on the relay's end
// NAME-da instead, whose transmit queue is the receive queue pollstack
// finds the frame on; the relay's sends go through its egress as the
// kernel's go through NAME-b's.
//
// It replaces an RSS that was there and leaves the impairment (Impair)
// alone; the two run one after the other. On error the bed has no RSS.
func SetRSS(name string, key []byte, table []int, queues int) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if err := ValidName(name); err != nil {
		return err
	}
	r, err := NewRSS(key, table, queues)
	if err != nil {
		return err
	}
	if err := bedExists(name); err != nil {
		return err
	}
	nsB, ifB := rssTarget(name)
	clearRSS(nsB, ifB)
	if err := setRSS(nsB, ifB, r); err != nil {
		clearRSS(nsB, ifB)
		return err
	}
	return nil
}

// ClearRSS removes the bed's RSS program: the kernel picks its transmit
// queues again (XPS stays cleared). A bed without RSS is no error.
func ClearRSS(name string) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if err := bedExists(name); err != nil {
		return err
	}
	nsB, ifB := rssTarget(name)
	clearRSS(nsB, ifB)
	return nil
}

// rssTarget is the interface whose egress steers frames onto pollstack's
// receive queues: NAME-b, or in a relayed bed the relay's end NAME-da,
// where the relay sends what the kernel sent.
func rssTarget(name string) (ns, iface string) {
	if hasRelay(name) {
		nsD, ifDA, _ := relayNames(name)
		return nsD, ifDA
	}
	_, ifB, _, nsB := names(name)
	return nsB, ifB
}

// xpsOff clears XPS on every transmit queue of the interface $1 and prints
// how many transmit queues it has (the kernel's real number: sysfs lists
// those). sysfs shows a namespace's devices where it is mounted inside
// that namespace, as ip netns exec does.
const xpsOff = `set -e
n=0
for q in /sys/class/net/"$1"/queues/tx-*; do
	n=$((n+1))
	for f in "$q/xps_cpus" "$q/xps_rxqs"; do
		if [ -e "$f" ]; then echo 0 > "$f"; fi
	done
done
echo "$n"`

func setRSS(nsB, ifB string, r *RSS) error {
	out, err := runOutput("ip", "netns", "exec", nsB, "sh", "-c", xpsOff, "sh", ifB)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || n != r.queues {
		return fmt.Errorf("testbed: RSS over %d queues, but %s has %s transmit queues", r.queues, ifB, strings.TrimSpace(out))
	}
	m, err := newRSSMap(r)
	if err != nil {
		return err
	}
	defer m.Close() // the program holds it
	if err := ensureClsact(nsB, ifB); err != nil {
		return err
	}
	return attach(nsB, ifB, "egress", rssPref, "bed_rss", rssProg(m, len(r.table), false))
}

func clearRSS(nsB, ifB string) {
	_ = run("tc", "-n", nsB, "filter", "del", "dev", ifB, "egress", "pref", strconv.Itoa(rssPref))
	dropEmptyClsact(nsB, ifB)
}
