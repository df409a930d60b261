package testbed_test

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// flowKey names a flow from the kernel's end by what varies in the tests:
// its source port, its family and its protocol.
func flowKey(port uint16, v6, udp bool) uint32 {
	k := uint32(port)
	if v6 {
		k |= 1 << 16
	}
	if udp {
		k |= 1 << 17
	}
	return k
}

// queueRecorder attaches to the bed's pollstack end, NAME-a, an XDP program
// that records for each TCP or UDP frame (IPv4 without options, or IPv6)
// the receive queue it arrived on (ctx->rx_queue_index) under
// flowKey(source port, IPv6, UDP), then drops it. The map holds queue+1 (0:
// never seen). It goes when the test ends.
func queueRecorder(t *testing.T, b *testbed.Bed) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "rss_seen", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1 << 18})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	const (
		xdpDrop = 1
		xdpPass = 2
	)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Byte),
		asm.LSh.Imm(asm.R5, 8),
		asm.LoadMem(asm.R4, asm.R2, 13, asm.Byte),
		asm.Or.Reg(asm.R5, asm.R4),
		asm.JEq.Imm(asm.R5, unix.ETH_P_IPV6, "v6"),
		asm.JNE.Imm(asm.R5, unix.ETH_P_IP, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte),
		asm.Mov.Imm(asm.R8, 0),
		asm.Mov.Imm(asm.R9, 14+20),
		asm.Ja.Label("l4"),
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("v6"),
		asm.Add.Imm(asm.R4, 14+40+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+6, asm.Byte),
		asm.Mov.Imm(asm.R8, 1<<16),
		asm.Mov.Imm(asm.R9, 14+40),
		asm.JEq.Imm(asm.R5, unix.IPPROTO_TCP, "port").WithSymbol("l4"),
		asm.JNE.Imm(asm.R5, unix.IPPROTO_UDP, "pass"),
		asm.Or.Imm(asm.R8, 1<<17),
		asm.JEq.Imm(asm.R9, 14+20, "port4").WithSymbol("port"),
		asm.LoadMem(asm.R5, asm.R2, 14+40, asm.Byte),
		asm.LoadMem(asm.R4, asm.R2, 14+40+1, asm.Byte),
		asm.Ja.Label("key"),
		asm.LoadMem(asm.R5, asm.R2, 14+20, asm.Byte).WithSymbol("port4"),
		asm.LoadMem(asm.R4, asm.R2, 14+20+1, asm.Byte),
		asm.LSh.Imm(asm.R5, 8).WithSymbol("key"),
		asm.Or.Reg(asm.R5, asm.R4),
		asm.Or.Reg(asm.R5, asm.R8),
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Word),
		asm.LoadMem(asm.R7, asm.R6, 16, asm.Word), // rx_queue_index
		asm.Add.Imm(asm.R7, 1),
		asm.StoreMem(asm.RFP, -8, asm.R7, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, xdpDrop),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "rss_seen", Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatalf("load the recorder: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := netns.Do(b.NsA, func() error {
		ifc, err := net.InterfaceByName(b.IfaceA)
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	}); err != nil {
		t.Fatalf("attach the recorder to %s: %v", b.IfaceA, err)
	}
	// The recorder answers no ARP or ND: the kernel's end gets pollstack's
	// addresses as it would from the engine.
	for _, a := range []netip.Addr{testbed.LocalIPv4, testbed.LocalIPv6} {
		if out, err := exec.Command("ip", "-n", b.NsB, "neigh", "replace", a.String(), "lladdr", b.LocalMAC.String(),
			"dev", b.IfaceB, "nud", "permanent").CombinedOutput(); err != nil {
			t.Fatalf("static neighbour %v: %v: %s", a, err, out)
		}
	}
	return m
}

// flow is one flow from the kernel's end to pollstack's.
type flow struct {
	src, dst netip.AddrPort
	udp      bool
}

func (f flow) key() uint32 { return flowKey(f.src.Port(), f.src.Addr().Is6(), f.udp) }

// flows returns n flows of each kind (TCP and UDP, IPv4 and IPv6) from the
// kernel's source ports base, base+1, ... to pollstack's port 80.
func flows(base uint16, n int) []flow {
	var fs []flow
	for _, udp := range []bool{false, true} {
		for _, pair := range [][2]netip.Addr{{testbed.PeerIPv4, testbed.LocalIPv4}, {testbed.PeerIPv6, testbed.LocalIPv6}} {
			for i := 0; i < n; i++ {
				fs = append(fs, flow{netip.AddrPortFrom(pair[0], base+uint16(i)), netip.AddrPortFrom(pair[1], 80), udp})
			}
		}
	}
	return fs
}

// send starts every flow from the kernel's sockets in NAME-b: a TCP connect
// (its SYN) or a UDP datagram. The sockets close when the test ends.
func send(t *testing.T, b *testbed.Bed, fs []flow) {
	t.Helper()
	sa := func(ap netip.AddrPort) unix.Sockaddr {
		if ap.Addr().Is4() {
			return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		}
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := netns.Do(b.NsB, func() error {
		for _, f := range fs {
			family, typ := unix.AF_INET, unix.SOCK_STREAM
			if f.src.Addr().Is6() {
				family = unix.AF_INET6
			}
			if f.udp {
				typ = unix.SOCK_DGRAM
			}
			fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Bind(fd, sa(f.src)); err != nil {
				return err
			}
			if f.udp {
				err = unix.Sendto(fd, []byte("rss"), 0, sa(f.dst))
			} else if err = unix.Connect(fd, sa(f.dst)); err == unix.EINPROGRESS {
				err = nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("send from %s: %v", b.NsB, err)
	}
}

// arrivals waits until every flow has been seen on NAME-a, or until the
// deadline, and returns the queue each arrived on (-1: not seen).
func arrivals(t *testing.T, m *ebpf.Map, fs []flow, wait time.Duration) []int {
	t.Helper()
	got := make([]int, len(fs))
	deadline := time.Now().Add(wait)
	for {
		missing := 0
		for i, f := range fs {
			var v uint32
			if err := m.Lookup(f.key(), &v); err != nil {
				t.Fatal(err)
			}
			got[i] = int(v) - 1
			if v == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With RSS on a bed, every TCP and UDP flow the kernel starts towards
// pollstack, IPv4 and IPv6, arrives on the receive queue the engine's
// steering names as its owner: on 2 queues with the engine's key and
// default table (what `testbed up --queues 2 --rss` sets), and on 4 queues
// with Microsoft's key and a random table, and on a relayed bed with a
// delay, where the program sits on the relay's end NAME-da. Without RSS the
// kernel's own pick is logged, not asserted (it is random per socket).
func TestRSSBedSteersToOwnerQueue(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	random := make([]int, 64)
	for i := range random {
		random[i] = r.IntN(4)
	}
	for _, tc := range []struct {
		name   string
		queues int
		key    []byte
		table  []int
		relay  bool
	}{
		{"engine default", 2, cores.SymmetricRSSKey[:], engine.DefaultRSSTable(2), false},
		{"microsoft key random table", 4, cores.MicrosoftRSSKey[:], random, false},
		{"relayed with delay", 2, cores.SymmetricRSSKey[:], engine.DefaultRSSTable(2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bedtest.ForTestWith(t, tc.queues, testbed.Options{Relay: tc.relay})
			if tc.relay {
				if err := testbed.Impair(b.Name, testbed.Impairment{Delay: 2 * time.Millisecond}); err != nil {
					t.Fatalf("Impair delay: %v", err)
				}
			}
			m := queueRecorder(t, b)
			rss, err := testbed.NewRSS(tc.key, tc.table, tc.queues)
			if err != nil {
				t.Fatal(err)
			}

			before := flows(20000, 32)
			send(t, b, before)
			match, seen := 0, 0
			for i, q := range arrivals(t, m, before, 2*time.Second) {
				if q >= 0 {
					seen++
					if q == rss.Queue(before[i].src, before[i].dst) {
						match++
					}
				}
			}
			t.Logf("without RSS: %d of %d flows seen, %d on the owner's queue", seen, len(before), match)

			if err := testbed.SetRSS(b.Name, tc.key, tc.table, tc.queues); err != nil {
				t.Fatalf("SetRSS: %v", err)
			}
			fs := flows(30000, 64)
			send(t, b, fs)
			per := make([]int, tc.queues)
			for i, q := range arrivals(t, m, fs, 3*time.Second) {
				want := rss.Queue(fs[i].src, fs[i].dst)
				if q != want {
					t.Errorf("%v -> %v udp=%v: on queue %d, the engine's owner is %d", fs[i].src, fs[i].dst, fs[i].udp, q, want)
				} else {
					per[q]++
				}
			}
			for q, n := range per {
				if n == 0 {
					t.Errorf("no flow on queue %d: %v", q, per)
				}
			}
			t.Logf("with RSS (%v): %d flows, each on its owner's queue; per queue %v", rss, len(fs), per)
		})
	}
}

// tcOut runs tc show in the bed's kernel namespace.
func tcOut(t *testing.T, b *testbed.Bed, what ...string) string {
	t.Helper()
	args := append([]string{"-n", b.NsB}, what...)
	out, err := exec.Command("tc", append(args, "dev", b.IfaceB)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RSS and the impairment share NAME-b's clsact egress, one after the
// other: with both, frames still land on their owner's queue (those the
// loss spares); clearing the impairment keeps RSS and clearing RSS keeps
// the impairment; with both cleared the veth is as Up made it.
func TestRSSBedWithImpairment(t *testing.T) {
	bedtest.NeedTools(t, "tc")
	b := bedtest.ForTest(t, 2)
	clean := tcOut(t, b, "qdisc", "show")
	m := queueRecorder(t, b)
	key, table := cores.SymmetricRSSKey[:], engine.DefaultRSSTable(2)
	rss, err := testbed.NewRSS(key, table, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.Impair(b.Name, testbed.Impairment{Loss: 0.05, Rate: 10_000_000 / 8}); err != nil {
		t.Fatalf("Impair: %v", err)
	}
	if err := testbed.SetRSS(b.Name, key, table, 2); err != nil {
		t.Fatalf("SetRSS after Impair: %v", err)
	}
	eg := tcOut(t, b, "filter", "show", "egress")
	if !strings.Contains(eg, "pref 10 bpf") || !strings.Contains(eg, "bed_rss") ||
		!strings.Contains(eg, "pref 20 bpf") || !strings.Contains(eg, "bed_egress") {
		t.Fatalf("egress filters with RSS and loss:\n%s", eg)
	}

	check := func(base uint16, lossy bool) {
		t.Helper()
		fs := flows(base, 32)
		send(t, b, fs)
		wait := 2 * time.Second
		if lossy {
			wait = 500 * time.Millisecond // a lost SYN is sent again after 1 s: not waited for
		}
		seen := 0
		for i, q := range arrivals(t, m, fs, wait) {
			if q < 0 {
				continue
			}
			seen++
			if want := rss.Queue(fs[i].src, fs[i].dst); q != want {
				t.Errorf("%v -> %v udp=%v: on queue %d, the engine's owner is %d", fs[i].src, fs[i].dst, fs[i].udp, q, want)
			}
		}
		if seen < len(fs)/2 || (!lossy && seen != len(fs)) {
			t.Errorf("%d of %d flows seen (lossy=%v)", seen, len(fs), lossy)
		}
		t.Logf("lossy=%v: %d of %d flows seen, all on the owner's queue", lossy, seen, len(fs))
	}
	check(20000, true)

	// The impairment replaced: RSS stays.
	if err := testbed.Impair(b.Name, testbed.Impairment{}); err != nil {
		t.Fatalf("clear the impairment: %v", err)
	}
	if eg := tcOut(t, b, "filter", "show", "egress"); !strings.Contains(eg, "bed_rss") || strings.Contains(eg, "bed_egress") {
		t.Fatalf("egress filters after clearing the impairment:\n%s", eg)
	}
	check(21000, false)

	// RSS cleared: the impairment stays.
	if err := testbed.Impair(b.Name, testbed.Impairment{Loss: 0.01}); err != nil {
		t.Fatal(err)
	}
	if err := testbed.ClearRSS(b.Name); err != nil {
		t.Fatalf("ClearRSS: %v", err)
	}
	if eg := tcOut(t, b, "filter", "show", "egress"); strings.Contains(eg, "bed_rss") || !strings.Contains(eg, "bed_egress") {
		t.Fatalf("egress filters after ClearRSS:\n%s", eg)
	}
	if err := testbed.Impair(b.Name, testbed.Impairment{}); err != nil {
		t.Fatal(err)
	}
	if q := tcOut(t, b, "qdisc", "show"); q != clean {
		t.Errorf("after clearing both:\n%s\nwant as Up made it:\n%s", q, clean)
	}
	if err := testbed.SetRSS(b.Name, key, table, 4); err == nil || !strings.Contains(err.Error(), "transmit queues") {
		t.Errorf("SetRSS over 4 queues on a 2-queue bed: %v", err)
	}
	if q := tcOut(t, b, "qdisc", "show"); q != clean {
		t.Errorf("after a refused SetRSS:\n%s\nwant as Up made it:\n%s", q, clean)
	}
}
