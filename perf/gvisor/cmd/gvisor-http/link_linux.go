package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/link/xdp"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	gvxdp "gvisor.dev/gvisor/pkg/xdp"
)

// bindRetry is how long binding an AF_XDP socket is retried while the
// queue is still held by a socket closed earlier.
const bindRetry = 5 * time.Second

// linkConfig says which link endpoint to build on which interface.
type linkConfig struct {
	iface   string
	kind    string // "xdp" or "packet"
	xdpMode string // "native" or "generic"
}

// openedLink is a link endpoint and what keeps it alive.
type openedLink struct {
	ep      stack.LinkEndpoint
	mac     net.HardwareAddr
	ifindex int
	desc    string // for the ready line, e.g. "AF_XDP (gvisor link/xdp, native XDP, queue 0)"
	stats   func() string
	closers []func() error
}

// close releases the XDP program, the map and the socket, last first.
func (l *openedLink) close() error {
	var errs []error
	for i := len(l.closers) - 1; i >= 0; i-- {
		errs = append(errs, l.closers[i]())
	}
	l.closers = nil
	return errors.Join(errs...)
}

// openLink builds the link endpoint on cfg.iface. It must run in the
// interface's network namespace (see inNetns): interface names and indexes,
// the XDP attachment and the sockets' binds all resolve there.
func openLink(cfg linkConfig) (_ *openedLink, err error) {
	ifc, err := net.InterfaceByName(cfg.iface)
	if err != nil {
		return nil, err
	}
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%s: not an Ethernet interface (hardware address %q)", cfg.iface, ifc.HardwareAddr)
	}
	l := &openedLink{mac: ifc.HardwareAddr, ifindex: ifc.Index}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	switch cfg.kind {
	case "xdp":
		err = l.openXDP(cfg)
	case "packet":
		err = l.openPacket(cfg)
	default:
		err = fmt.Errorf("unknown link %q", cfg.kind)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// openXDP makes an AF_XDP socket on queue 0 of the interface, hands it to
// gVisor's link/xdp endpoint (which sets up the UMEM and rings and binds the
// socket), and attaches an XDP program that redirects every frame arriving
// on a queue with a socket in its XSKMAP entry to that socket. gVisor's
// endpoint loads no program of its own: in runsc that is done by a separate
// tool. The program is attached through a BPF link, so it goes away with the
// process even if the process is killed.
func (l *openedLink) openXDP(cfg linkConfig) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("AF_XDP socket: %w", err)
	}
	l.closers = append(l.closers, func() error { return unix.Close(fd) })
	ep, err := xdp.New(&xdp.Options{
		FD:             fd,
		Address:        tcpip.LinkAddress(l.mac),
		InterfaceIndex: l.ifindex,
		Bind:           false, // bound below, with retries
	})
	if err != nil {
		return fmt.Errorf("gvisor link/xdp on %s: %w", cfg.iface, err)
	}
	// The kernel releases an AF_XDP socket's hold on a queue some time
	// after the socket is closed: a server started right after another
	// one stopped gets EBUSY for a while.
	for deadline := time.Now().Add(bindRetry); ; {
		err := gvxdp.Bind(fd, uint32(l.ifindex), 0, false)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("bind AF_XDP socket to %s queue 0: %w", cfg.iface, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "gvisor_http_xsk",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: 64,
	})
	if err != nil {
		return fmt.Errorf("XSKMAP: %w", err)
	}
	l.closers = append(l.closers, xsks.Close)
	if err := xsks.Put(uint32(0), uint32(fd)); err != nil {
		return fmt.Errorf("XSKMAP[0] = AF_XDP socket: %w", err)
	}

	// return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)
	// XDP_PASS in the flags is the action when the queue has no socket.
	const rxQueueIndexOffset = 16 // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "gvisor_http",
		Type:    ebpf.XDP,
		License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, rxQueueIndexOffset, asm.Word),
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("load XDP program: %w", err)
	}
	l.closers = append(l.closers, prog.Close)

	flags := ebpflink.XDPDriverMode
	if cfg.xdpMode == "generic" {
		flags = ebpflink.XDPGenericMode
	}
	att, err := ebpflink.AttachXDP(ebpflink.XDPOptions{Program: prog, Interface: l.ifindex, Flags: flags})
	if err != nil {
		return fmt.Errorf("attach XDP program to %s in %s mode: %w (is another XDP program attached? `ip link show %s`)", cfg.iface, cfg.xdpMode, err, cfg.iface)
	}
	l.closers = append(l.closers, att.Close)

	l.ep = &txKicker{LinkEndpoint: ep, fd: fd}
	l.stats = func() string { return xdpStats(fd) }
	l.desc = fmt.Sprintf("AF_XDP (gvisor link/xdp, %s XDP, queue 0)", cfg.xdpMode)
	return nil
}

// openPacket makes an AF_PACKET socket bound to the interface and hands it
// to gVisor's fdbased endpoint with recvmmsg dispatch. The kernel keeps
// seeing every frame too (it has no address on the interface on the test
// bed, so it stays silent).
func (l *openedLink) openPacket(cfg linkConfig) error {
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return fmt.Errorf("AF_PACKET socket: %w", err)
	}
	l.closers = append(l.closers, func() error { return unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: l.ifindex}); err != nil {
		return fmt.Errorf("bind AF_PACKET socket to %s: %w", cfg.iface, err)
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                1500,
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress(l.mac),
		PacketDispatchMode: fdbased.RecvMMsg,
		InterfaceIndex:     l.ifindex,
	})
	if err != nil {
		return fmt.Errorf("gvisor link/fdbased on %s: %w", cfg.iface, err)
	}
	l.ep = ep
	l.desc = "AF_PACKET (gvisor link/fdbased, recvmmsg) -- FALLBACK, NOT AF_XDP"
	return nil
}

// xdpStats reads the AF_XDP socket's XDP_STATISTICS.
func xdpStats(fd int) string {
	var st unix.XDPStatistics
	size := uint32(unsafe.Sizeof(st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return fmt.Sprintf("XDP_STATISTICS: %v", errno)
	}
	return fmt.Sprintf("xsk rx_dropped %d rx_invalid_descs %d tx_invalid_descs %d rx_ring_full %d rx_fill_ring_empty_descs %d tx_ring_empty_descs %d",
		st.Rx_dropped, st.Rx_invalid_descs, st.Tx_invalid_descs, st.Rx_ring_full, st.Rx_fill_ring_empty_descs, st.Tx_ring_empty_descs)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// inNetns runs fn on a locked OS thread in the network namespace at
// /run/netns/name, then moves the thread back; with name "" it just calls
// fn. Sockets and BPF links made by fn keep their namespace afterwards.
func inNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open netns %s: %w", name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime ends it with the
			// goroutine instead of reusing it in the wrong namespace.
			done <- errors.Join(ferr, fmt.Errorf("return from netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// txKicker works around a stall of gVisor's link/xdp endpoint in copy mode
// (veth): after queueing frames on the TX ring, the endpoint wakes the
// kernel with one sendmsg, but the kernel's copy-mode transmit sends at most
// one budget of frames (32) per call and leaves the rest on the ring, and
// the fifo qdisc hands the endpoint batches of up to 47. Frames left over
// wait for the next write, which for the tail of a burst is a TCP
// retransmission timeout away, so bulk transfers crawl. txKicker calls
// sendmsg again after each write while the kernel says it stopped at its
// budget (EAGAIN).
type txKicker struct {
	stack.LinkEndpoint
	fd int
}

// maxKicks bounds the sendmsg calls after one write: the TX ring holds 512
// descriptors, 16 budgets of 32.
const maxKicks = 32

func (k *txKicker) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n, err := k.LinkEndpoint.WritePackets(pkts)
	for range maxKicks {
		if e := unix.Sendto(k.fd, nil, unix.MSG_DONTWAIT, nil); e != unix.EAGAIN {
			break
		}
	}
	return n, err
}
