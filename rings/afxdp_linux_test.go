package rings

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// xdpBed is a test bed with the XDP program on NAME-a and a link on queue 0.
type xdpBed struct {
	bed  *testbed.Bed
	prog *XDPProgram
	link *XDPLink
	pool *Pool
}

func newXDPBed(t *testing.T) *xdpBed {
	t.Helper()
	return newXDPBedWith(t, false)
}

// newXDPBedWith is newXDPBed with the link's wait in Go's netpoller when
// netpoller is set (XDPConfig.Netpoller).
func newXDPBedWith(t *testing.T, netpoller bool) *xdpBed {
	t.Helper()
	bed := bedtest.ForTest(t, 1)
	prog, err := AttachXDP(bed.IfaceA, bed.NsA, bed.Queues)
	if err != nil {
		t.Fatalf("AttachXDP: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	pool, err := NewPool(1024, DefaultFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenXDP(XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Queue: 0, Program: prog, Pool: pool, RingSize: 256, Netpoller: netpoller})
	if err != nil {
		t.Fatalf("OpenXDP: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	t.Logf("XDP program %s mode, socket zero-copy=%v", prog.Mode, l.ZeroCopy())
	return &xdpBed{bed: bed, prog: prog, link: l, pool: pool}
}

// inNs runs fn in namespace ns and fails t on error.
func inNs(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := netns.Do(ns, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// udp4 is what a test needs to know of a received IPv4/UDP frame.
type udp4 struct {
	src, dst     netip.AddrPort
	payload      []byte
	ipOK, udpOK  bool // checksums verify
	etherTypeIP4 bool
}

func parseUDP4(f []byte) (udp4, bool) {
	var u udp4
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return u, false
	}
	u.etherTypeIP4 = true
	iph := f[14:]
	ihl := int(iph[0]&0xf) * 4
	if iph[0]>>4 != 4 || iph[9] != 17 || len(iph) < ihl+8 {
		return u, false
	}
	total := int(binary.BigEndian.Uint16(iph[2:]))
	if total > len(iph) {
		return u, false
	}
	u.ipOK = checksum(iph[:ihl], 0) == 0
	src, dst := netip.AddrFrom4([4]byte(iph[12:16])), netip.AddrFrom4([4]byte(iph[16:20]))
	udp := iph[ihl:total]
	u.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:]))
	u.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:]))
	u.payload = udp[8:]
	u.udpOK = binary.BigEndian.Uint16(udp[6:]) == 0 || checksum(udp, pseudoSum4(iph[12:16], iph[16:20], len(udp))) == 0
	return u, true
}

// checksum folds the Internet checksum of b onto the partial sum initial.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func pseudoSum4(src, dst []byte, udpLen int) uint32 {
	word := func(b []byte) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }
	return word(src[0:]) + word(src[2:]) + word(dst[0:]) + word(dst[2:]) + 17 + uint32(udpLen)
}

// putUDP4 writes an Ethernet/IPv4/UDP frame with correct checksums into b
// and returns its length. It does not allocate.
func putUDP4(b []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.AddrPort, id uint16, payload []byte) int {
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	iph := b[14:34]
	udpLen := 8 + len(payload)
	iph[0], iph[1] = 0x45, 0
	binary.BigEndian.PutUint16(iph[2:], uint16(20+udpLen))
	binary.BigEndian.PutUint16(iph[4:], id)
	binary.BigEndian.PutUint16(iph[6:], 0x4000) // DF
	iph[8], iph[9] = 64, 17
	iph[10], iph[11] = 0, 0
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(iph[12:16], s4[:])
	copy(iph[16:20], d4[:])
	binary.BigEndian.PutUint16(iph[10:], checksum(iph, 0))
	udp := b[34 : 34+udpLen]
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	udp[6], udp[7] = 0, 0
	copy(udp[8:], payload)
	c := checksum(udp, pseudoSum4(s4[:], d4[:], udpLen))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return 14 + 20 + udpLen
}

func TestXDPReceiveFromKernelPeer(t *testing.T) {
	x := newXDPBed(t)
	b, l := x.bed, x.link
	const port = 9999
	local := netip.AddrPortFrom(testbed.LocalIPv4, port)
	// No ARP answers come from NAME-a (nothing there speaks ARP yet), so
	// give the kernel peer a static neighbour entry.
	ip(t, "-n", b.NsB, "neigh", "replace", testbed.LocalIPv4.String(), "lladdr", b.LocalMAC.String(), "dev", b.IfaceB, "nud", "permanent")
	var conn *net.UDPConn
	inNs(t, b.NsB, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(local))
		return err
	})
	defer conn.Close()

	const count = 5
	want := map[string]bool{}
	for i := 0; i < count; i++ {
		msg := fmt.Sprintf("pollstack rx %d", i)
		want[msg] = true
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatalf("send from %s: %v", b.NsB, err)
		}
	}

	descs := make([]Desc, IdealBatch)
	deadline := time.Now().Add(3 * time.Second)
	var others int
	for len(want) > 0 && time.Now().Before(deadline) {
		l.Wait(50 * time.Millisecond)
		n := l.Receive(descs)
		for _, d := range descs[:n] {
			f := x.pool.Bytes(d)
			u, ok := parseUDP4(f)
			switch {
			case !ok || u.dst != local:
				others++ // IPv6 multicast listener reports and the like
			case !bytes.Equal(f[0:6], b.LocalMAC) || !bytes.Equal(f[6:12], b.PeerMAC):
				t.Errorf("frame to %x from %x, want to %v from %v", f[0:6], f[6:12], b.LocalMAC, b.PeerMAC)
			case u.src.Addr() != testbed.PeerIPv4 || !u.ipOK || !u.udpOK:
				t.Errorf("datagram from %v, ip checksum ok=%v, udp checksum ok=%v", u.src, u.ipOK, u.udpOK)
			default:
				delete(want, string(u.payload))
			}
			x.pool.Put(d.Addr)
		}
	}
	if len(want) > 0 {
		t.Fatalf("never received %v (stats %+v, %d other frames)", want, l.Stats(), others)
	}
	s := l.Stats()
	if s.RxFrames < count || s.KernelRxDropped != 0 || s.KernelRxInvalid != 0 {
		t.Errorf("stats %+v: want RxFrames ≥ %d and no kernel drops", s, count)
	}
	t.Logf("received %d datagrams and %d other frames; stats %+v", count, others, s)
}

func TestXDPTransmitToKernelPeer(t *testing.T) {
	x := newXDPBed(t)
	b, l, pool := x.bed, x.link, x.pool
	const port = 9998
	peer := netip.AddrPortFrom(testbed.PeerIPv4, port)
	local := netip.AddrPortFrom(testbed.LocalIPv4, 40000)
	var conn *net.UDPConn
	inNs(t, b.NsB, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(peer))
		return err
	})
	defer conn.Close()

	free := pool.Free()
	addr, ok := pool.Get()
	if !ok {
		t.Fatal("empty pool")
	}
	payload := []byte("hello from pollstack over AF_XDP")
	n := putUDP4(pool.Frame(addr), b.LocalMAC, b.PeerMAC, local, peer, 1, payload)
	if u, ok := parseUDP4(pool.Frame(addr)[:n]); !ok || !u.ipOK || !u.udpOK {
		t.Fatalf("built a bad frame: %+v", u)
	}
	if got := l.Transmit([]Desc{{Addr: addr, Len: uint32(n)}}); got != 1 {
		t.Fatalf("Transmit accepted %d of 1 (stats %+v)", got, l.Stats())
	}

	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	m, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("kernel socket in %s: %v (link stats %+v)", b.NsB, err, l.Stats())
	}
	if !bytes.Equal(buf[:m], payload) || from != local {
		t.Errorf("kernel received %q from %v, want %q from %v", buf[:m], from, payload, local)
	}

	// The frame comes back to the pool through the completion ring.
	deadline := time.Now().Add(2 * time.Second)
	for pool.Free() != free && time.Now().Before(deadline) {
		l.Transmit(nil)
		time.Sleep(time.Millisecond)
	}
	if pool.Free() != free {
		t.Errorf("pool has %d free frames after the completion, want %d", pool.Free(), free)
	}
	if s := l.Stats(); s.TxFrames != 1 || s.TxRingFull != 0 || s.KernelTxInvalid != 0 || l.kickErrors != 0 {
		t.Errorf("stats %+v, kick errors %d", s, l.kickErrors)
	}
}

// TestXDPBatchTransmit sends more frames than one sendto sends in copy mode.
func TestXDPBatchTransmit(t *testing.T) {
	x := newXDPBed(t)
	b, l, pool := x.bed, x.link, x.pool
	const port = 9997
	peer := netip.AddrPortFrom(testbed.PeerIPv4, port)
	local := netip.AddrPortFrom(testbed.LocalIPv4, 40001)
	var conn *net.UDPConn
	inNs(t, b.NsB, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(peer))
		return err
	})
	defer conn.Close()
	conn.SetReadBuffer(1 << 20)

	const count = 200
	descs := make([]Desc, 0, count)
	for i := 0; i < count; i++ {
		addr, _ := pool.Get()
		n := putUDP4(pool.Frame(addr), b.LocalMAC, b.PeerMAC, local, peer, uint16(i), []byte(fmt.Sprintf("batch %03d", i)))
		descs = append(descs, Desc{Addr: addr, Len: uint32(n)})
	}
	sent := 0
	for sent < count {
		k := l.Transmit(descs[sent:min(sent+IdealBatch, count)])
		if k == 0 {
			t.Fatalf("Transmit stalled after %d frames: %+v", sent, l.Stats())
		}
		sent += k
	}
	got := map[string]bool{}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	for len(got) < count {
		m, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("received %d of %d: %v (stats %+v)", len(got), count, err, l.Stats())
		}
		got[string(buf[:m])] = true
	}
}

func TestXDPNoAllocs(t *testing.T) {
	x := newXDPBed(t)
	b, l, pool := x.bed, x.link, x.pool
	peer := netip.AddrPortFrom(testbed.PeerIPv4, 9)
	local := netip.AddrPortFrom(testbed.LocalIPv4, 9)
	payload := []byte("allocs")
	descs := make([]Desc, IdealBatch)
	tx := make([]Desc, 1)

	// Traffic for Receive to take while it is measured.
	ip(t, "-n", b.NsB, "neigh", "replace", testbed.LocalIPv4.String(), "lladdr", b.LocalMAC.String(), "dev", b.IfaceB, "nud", "permanent")
	inNs(t, b.NsB, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(local))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 100; i++ {
			c.Write(payload)
		}
		return nil
	})
	l.Wait(100 * time.Millisecond)
	if a := testing.AllocsPerRun(200, func() {
		n := l.Receive(descs)
		for _, d := range descs[:n] {
			pool.Put(d.Addr)
		}
	}); a != 0 {
		t.Errorf("Receive: %v allocations per call", a)
	}
	if s := l.Stats(); s.RxFrames < 100 {
		t.Errorf("Receive took %d frames while measured, want 100", s.RxFrames)
	}
	if a := testing.AllocsPerRun(200, func() {
		addr, ok := pool.Get()
		if !ok {
			l.Transmit(nil)
			return
		}
		n := putUDP4(pool.Frame(addr), b.LocalMAC, b.PeerMAC, local, peer, 0, payload)
		tx[0] = Desc{Addr: addr, Len: uint32(n)}
		if l.Transmit(tx) == 0 {
			pool.Put(addr)
		}
	}); a != 0 {
		t.Errorf("Transmit: %v allocations per call", a)
	}
	if a := testing.AllocsPerRun(50, func() { l.Wait(0) }); a != 0 {
		t.Errorf("Wait: %v allocations per call", a)
	}
	if s := l.Stats(); s.TxFrames < 200 || l.kickErrors != 0 {
		t.Errorf("Transmit sent %d frames while measured (want 200), %d kick errors", s.TxFrames, l.kickErrors)
	}
}

var xdpInLinkShow = regexp.MustCompile(`\bxdp(generic|drv|offload)?\b|prog/xdp`)

func TestXDPCloseDetachesAndDownCleansUp(t *testing.T) {
	x := newXDPBed(t)
	b := x.bed
	show := func() string { return ip(t, "-n", b.NsA, "-d", "link", "show", "dev", b.IfaceA) }
	if out := show(); !xdpInLinkShow.MatchString(out) {
		t.Fatalf("no XDP program on %s after AttachXDP:\n%s", b.IfaceA, out)
	} else {
		t.Logf("after AttachXDP:\n%s", out)
	}
	if x.prog.Mode != XDPModeNative {
		t.Errorf("veth attach mode %v, want native", x.prog.Mode)
	}

	if err := x.link.Close(); err != nil {
		t.Errorf("link Close: %v", err)
	}
	if x.pool.Free() != x.pool.Frames() {
		t.Errorf("after link Close the pool has %d of %d frames", x.pool.Free(), x.pool.Frames())
	}
	if err := x.link.Close(); err == nil {
		t.Error("second link Close succeeded")
	}
	if err := x.prog.Close(); err != nil {
		t.Fatalf("program Close: %v", err)
	}
	if out := show(); xdpInLinkShow.MatchString(out) {
		t.Errorf("XDP program still on %s after Close:\n%s", b.IfaceA, out)
	}
	if err := x.prog.Close(); err != nil {
		t.Errorf("second program Close: %v", err)
	}

	if err := testbed.Down(b.Name); err != nil {
		t.Fatalf("Down: %v", err)
	}
	nsList := ip(t, "netns", "list")
	for _, n := range []string{b.NsA, b.NsB} {
		if slices.Contains(strings.Fields(nsList), n) {
			t.Errorf("namespace %s left after Down:\n%s", n, nsList)
		}
	}
	for _, ifc := range []string{b.IfaceA, b.IfaceB} {
		if out, err := exec.Command("ip", "link", "show", "dev", ifc).CombinedOutput(); err == nil {
			t.Errorf("link %s left after Down:\n%s", ifc, out)
		}
	}
}

// TestXDPCloseReturnsFrames checks that frames on the fill ring, and frames
// received but never taken, come back to the pool on Close.
func TestXDPCloseReturnsFrames(t *testing.T) {
	x := newXDPBed(t)
	b, l, pool := x.bed, x.link, x.pool
	l.Receive(nil) // fills the fill ring
	if pool.Free() == pool.Frames() {
		t.Fatal("Receive gave the kernel no frames")
	}
	ip(t, "-n", b.NsB, "neigh", "replace", testbed.LocalIPv4.String(), "lladdr", b.LocalMAC.String(), "dev", b.IfaceB, "nud", "permanent")
	inNs(t, b.NsB, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(testbed.LocalIPv4, 7)))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 10; i++ {
			c.Write([]byte("left on the rx ring"))
		}
		return nil
	})
	// Take one, leave the rest on the rx ring.
	descs := make([]Desc, 1)
	var held []Desc
	for deadline := time.Now().Add(2 * time.Second); len(held) == 0 && time.Now().Before(deadline); {
		l.Wait(10 * time.Millisecond)
		if l.Receive(descs) == 1 {
			held = append(held, descs[0])
		}
	}
	if len(held) == 0 {
		t.Fatal("nothing received")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := pool.Free(), pool.Frames()-len(held); got != want {
		t.Errorf("after Close: %d free frames, want %d (all but the %d the caller holds)", got, want, len(held))
	}
}

func TestXDPTxOnly(t *testing.T) {
	bed := bedtest.ForTest(t, 2)
	l, err := OpenXDP(XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Queue: 1})
	if err != nil {
		t.Fatalf("OpenXDP without a program: %v", err)
	}
	defer l.Close()
	if l.Pool().Frames() != PoolFrames(DefaultXDPRingSize) || l.Pool().FrameSize() != DefaultFrameSize {
		t.Errorf("default pool: %d frames of %d bytes", l.Pool().Frames(), l.Pool().FrameSize())
	}
	if n := l.Receive(make([]Desc, 4)); n != 0 || l.Pool().Free() != PoolFrames(DefaultXDPRingSize) {
		t.Errorf("TX-only Receive: %d frames, pool %d free", n, l.Pool().Free())
	}
	peer := netip.AddrPortFrom(testbed.PeerIPv4, 9996)
	var conn *net.UDPConn
	inNs(t, bed.NsB, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(peer))
		return err
	})
	defer conn.Close()
	pool := l.Pool()
	addr, _ := pool.Get()
	n := putUDP4(pool.Frame(addr), bed.LocalMAC, bed.PeerMAC, netip.AddrPortFrom(testbed.LocalIPv4, 1), peer, 7, []byte("tx only"))
	if l.Transmit([]Desc{{Addr: addr, Len: uint32(n)}}) != 1 {
		t.Fatal("Transmit refused the frame")
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	m, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:m]) != "tx only" {
		t.Fatalf("kernel received %q, %v", buf[:m], err)
	}
}

// TestAttachXDPFallsBackToSKB attaches to lo, which has no native XDP.
func TestAttachXDPFallsBackToSKB(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	p, err := AttachXDP("lo", bed.NsA, 1)
	if err != nil {
		t.Fatalf("AttachXDP on lo: %v", err)
	}
	defer p.Close()
	if p.Mode != XDPModeSKB {
		t.Errorf("mode on lo = %v, want skb", p.Mode)
	}
	if out := ip(t, "-n", bed.NsA, "-d", "link", "show", "dev", "lo"); !strings.Contains(out, "xdpgeneric") {
		t.Errorf("lo shows no generic XDP program:\n%s", out)
	}
}

func TestOpenXDPRejects(t *testing.T) {
	prog := &XDPProgram{Iface: "x-a", Netns: "x-a", Queues: 2}
	for _, cfg := range []XDPConfig{
		{Iface: "x-a", Netns: "x-a", RingSize: 1000},
		{Iface: "x-a", Netns: "x-a", RingSize: 1},
		{Iface: "x-a", Netns: "x-a", RingSize: 2 * MaxXDPRingSize},
		{Iface: "x-a", Netns: "x-a", Queue: -1},
		{Iface: "x-a", Netns: "x-a", Queue: 2, Program: prog},
		{Iface: "x-b", Netns: "x-a", Program: prog},
		{Iface: "x-a", Netns: "", Program: prog},
	} {
		if l, err := OpenXDP(cfg); err == nil {
			l.Close()
			t.Errorf("OpenXDP(%+v) succeeded", cfg)
		}
	}
	if _, err := AttachXDP("lo", "", 0); err == nil {
		t.Error("AttachXDP with 0 queues succeeded")
	}
}

// TestXDPTwoQueues opens a link on each queue of a two-queue bed and sends
// many flows from the kernel peer: the program steers each queue's packets
// to its own socket, and together they see every datagram.
func TestXDPTwoQueues(t *testing.T) {
	bed := bedtest.ForTest(t, 2)
	prog, err := AttachXDP(bed.IfaceA, bed.NsA, bed.Queues)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	var links [2]*XDPLink
	for q := range links {
		pool, err := NewPool(512, DefaultFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		links[q], err = OpenXDP(XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Queue: q, Program: prog, Pool: pool, RingSize: 128})
		if err != nil {
			t.Fatalf("OpenXDP queue %d: %v", q, err)
		}
		defer links[q].Close()
	}
	if _, err := OpenXDP(XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Queue: 0, Program: prog}); err == nil {
		t.Error("a second socket bound to queue 0")
	}

	ip(t, "-n", bed.NsB, "neigh", "replace", testbed.LocalIPv4.String(), "lladdr", bed.LocalMAC.String(), "dev", bed.IfaceB, "nud", "permanent")
	const flows = 32
	inNs(t, bed.NsB, func() error {
		for i := 0; i < flows; i++ {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(testbed.LocalIPv4, uint16(5000+i))))
			if err != nil {
				return err
			}
			c.Write([]byte("flow"))
			c.Close()
		}
		return nil
	})
	want := map[uint16]bool{}
	for i := 0; i < flows; i++ {
		want[uint16(5000+i)] = true
	}
	var perQueue [2]int
	descs := make([]Desc, IdealBatch)
	for deadline := time.Now().Add(3 * time.Second); len(want) > 0 && time.Now().Before(deadline); {
		for q, l := range links {
			l.Wait(time.Millisecond)
			n := l.Receive(descs)
			for _, d := range descs[:n] {
				if u, ok := parseUDP4(l.Pool().Bytes(d)); ok && want[u.dst.Port()] {
					delete(want, u.dst.Port())
					perQueue[q]++
				}
				l.Pool().Put(d.Addr)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("%d flows never arrived (per queue %v)", len(want), perQueue)
	}
	t.Logf("datagrams per queue: %v", perQueue)
}

// A link that waits in Go's netpoller: a frame from the kernel peer and a
// Wake from another goroutine each end a wait long before its timeout, a
// wait with nothing to wake it lasts its timeout, and waiting allocates
// nothing.
func TestXDPNetpollerWait(t *testing.T) {
	x := newXDPBedWith(t, true)
	bed, l, pool := x.bed, x.link, x.pool
	if l.np == nil {
		t.Fatal("Netpoller asked for, and the link waits in poll(2)")
	}
	descs := make([]Desc, IdealBatch)
	drain := func() int {
		n := l.Receive(descs)
		for _, d := range descs[:n] {
			pool.Put(d.Addr)
		}
		return n
	}
	for drain() > 0 { // router solicitations and the like from the bed's set-up
	}

	// Nothing comes: the wait lasts its timeout. A frame from the bed's
	// set-up that comes meanwhile (an IPv6 router solicitation or listener
	// report, which the kernel repeats) ends it, as it should: then the
	// wait is tried again.
	for try := 0; ; try++ {
		start := time.Now()
		l.Wait(50 * time.Millisecond)
		d := time.Since(start)
		if d >= 45*time.Millisecond {
			break
		}
		if n := drain(); n > 0 && try < 5 {
			t.Logf("a wait ended after %v by %d frame(s) from the bed: again", d, n)
			continue
		}
		t.Errorf("a wait with nothing to wake it returned after %v, want its 50ms", d)
		break
	}

	// A Wake from another goroutine ends the wait.
	woke := make(chan struct{})
	go func() {
		defer close(woke)
		time.Sleep(20 * time.Millisecond)
		l.Wake()
	}()
	start := time.Now()
	l.Wait(5 * time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wake did not end the wait: it lasted %v", d)
	}
	<-woke

	// A frame from the kernel peer ends the wait.
	ip(t, "-n", bed.NsB, "neigh", "replace", testbed.LocalIPv4.String(), "lladdr", bed.LocalMAC.String(), "dev", bed.IfaceB, "nud", "permanent")
	var conn *net.UDPConn
	inNs(t, bed.NsB, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(testbed.LocalIPv4, 9999)))
		return err
	})
	defer conn.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		conn.Write([]byte("wake the wait"))
	}()
	start = time.Now()
	l.Wait(5 * time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a frame did not end the wait: it lasted %v", d)
	}
	if n := drain(); n == 0 {
		t.Error("the wait ended and no frame was on the rx ring")
	}

	// Waiting allocates nothing (a wait cut short by a Wake, and one that
	// times out); the race detector's instrumentation of the runtime's
	// poller allocates, so the counts are taken without it.
	if underRace {
		return
	}
	if a := testing.AllocsPerRun(20, func() { l.Wake(); l.Wait(time.Second) }); a != 0 {
		t.Errorf("Wait after Wake: %v allocations per call", a)
	}
	if a := testing.AllocsPerRun(5, func() { l.Wait(time.Millisecond) }); a != 0 {
		t.Errorf("Wait to its timeout: %v allocations per call", a)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if l.np != nil {
		t.Error("Close left the epoll instance open")
	}
}

// Wake may come from any goroutine while the link closes (a post that got
// past the loop's stop check as the engine stopped): under the race
// detector this found Wake reading the eventfd and the netpoller state
// that Close was tearing down.
func TestXDPWakeWhileClosing(t *testing.T) {
	for _, np := range []bool{false, true} {
		l := newXDPBedWith(t, np).link
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					l.Wake()
				}
			}
		}()
		time.Sleep(10 * time.Millisecond)
		if err := l.Close(); err != nil {
			t.Errorf("netpoller %v: Close: %v", np, err)
		}
		if l.np != nil || l.wake >= 0 {
			t.Errorf("netpoller %v: Close left the wake-up descriptors open", np)
		}
		time.Sleep(5 * time.Millisecond) // Wake after Close: a no-op
		close(stop)
		<-done
	}
}
