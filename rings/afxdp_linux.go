package rings

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/internal/netns"
)

// XDPProgram is the XDP program that steers an interface's queues to AF_XDP
// sockets: for a packet on queue q it redirects to XSKMAP[q] when a socket is
// registered for q and passes the packet to the kernel otherwise. It is
// asavie/xdp's translation of libbpf's default program, attached through a
// BPF link, so it is detached when Close is called or the process exits.
type XDPProgram struct {
	Iface   string  // interface it is attached to
	Netns   string  // namespace holding Iface ("" for the current one)
	Ifindex int     // Iface's index inside Netns
	Queues  int     // number of XSKMAP entries: queues 0..Queues-1
	Mode    XDPMode // how it is attached

	prog *xdp.Program
	link link.Link
}

// AttachXDP loads the program with room for queues queues and attaches it to
// iface in the network namespace netns (empty for the current one), in
// native mode if the driver allows it and in SKB mode otherwise. It fails if
// iface already has an XDP program.
func AttachXDP(iface, netns string, queues int) (*XDPProgram, error) {
	if queues < 1 || queues > 1024 {
		return nil, fmt.Errorf("rings: XDP program for %d queues: want 1..1024", queues)
	}
	raiseMemlock()
	prog, err := xdp.NewProgram(queues)
	if err != nil {
		return nil, fmt.Errorf("rings: load XDP program: %w", err)
	}
	p := &XDPProgram{Iface: iface, Netns: netns, Queues: queues, prog: prog}
	err = doIn(netns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		p.Ifindex = ifc.Index
		l, nerr := link.AttachXDP(link.XDPOptions{Program: prog.Program, Interface: ifc.Index, Flags: link.XDPDriverMode})
		if nerr == nil {
			p.link, p.Mode = l, XDPModeNative
			return nil
		}
		l, serr := link.AttachXDP(link.XDPOptions{Program: prog.Program, Interface: ifc.Index, Flags: link.XDPGenericMode})
		if serr != nil {
			if xdpInUse(nerr, serr) {
				return fmt.Errorf("attach XDP program to %s: %w (native mode: %v; SKB mode: %v)", iface, ErrXDPInUse, nerr, serr)
			}
			return fmt.Errorf("attach XDP program to %s: native mode: %v; SKB mode: %w", iface, nerr, serr)
		}
		p.link, p.Mode = l, XDPModeSKB
		return nil
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("rings: %w", err)
	}
	return p, nil
}

// xdpInUse reports whether the two refused attaches (native mode, then SKB
// mode) say the interface already has an XDP program: the kernel answers
// EBUSY for a mode that holds a link or a program, and EEXIST for the
// other mode while one is active ("native and generic XDP can't be active
// at the same time").
func xdpInUse(native, skb error) bool {
	busy := func(err error) bool { return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) }
	return busy(native) && busy(skb)
}

// Register makes the program redirect queue's packets to the AF_XDP socket fd.
func (p *XDPProgram) Register(queue, fd int) error {
	if p.prog == nil {
		return fmt.Errorf("rings: register queue %d: %w", queue, net.ErrClosed)
	}
	if queue < 0 || queue >= p.Queues {
		return fmt.Errorf("rings: register queue %d: program has queues 0..%d", queue, p.Queues-1)
	}
	if err := p.prog.Register(queue, fd); err != nil {
		return fmt.Errorf("rings: register queue %d: %w", queue, err)
	}
	return nil
}

// Unregister makes the program pass queue's packets to the kernel again.
func (p *XDPProgram) Unregister(queue int) error {
	if p.prog == nil {
		return fmt.Errorf("rings: unregister queue %d: %w", queue, net.ErrClosed)
	}
	if queue < 0 || queue >= p.Queues {
		return fmt.Errorf("rings: unregister queue %d: program has queues 0..%d", queue, p.Queues-1)
	}
	if err := p.prog.Unregister(queue); err != nil {
		return fmt.Errorf("rings: unregister queue %d: %w", queue, err)
	}
	return nil
}

// Close detaches the program from its interface and frees it and its maps.
// Closing a closed program does nothing.
func (p *XDPProgram) Close() error {
	var errs []error
	if p.link != nil {
		errs = append(errs, doIn(p.Netns, func() error {
			var errs []error
			if err := p.link.Detach(); err != nil && !errors.Is(err, link.ErrNotSupported) {
				errs = append(errs, err)
			}
			errs = append(errs, p.link.Close())
			return errors.Join(errs...)
		}))
		p.link = nil
	}
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
		p.prog = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rings: close XDP program on %s: %w", p.Iface, err)
	}
	return nil
}

// XDPLink is a Link over one AF_XDP socket bound to one interface queue. It
// drives the four rings it shares with the kernel itself: indices are read
// and written with sync/atomic and cached, so a call touches the shared
// cache lines only when its cached view runs out.
//
// Frames handed to the kernel on the fill ring are owned by the link until
// they come back on the rx ring; frames accepted by Transmit are owned by it
// until they come back on the completion ring, when they return to the pool.
// Owned by one core's loop; not safe for concurrent use.
type XDPLink struct {
	fd    int
	pool  *Pool
	prog  *XDPProgram
	queue int
	zc    bool
	// txRoom is the transmit metadata's room before each frame (0 when
	// none was registered); txCsum says the kernel completes checksums
	// (TxOffloads).
	txRoom int
	txCsum bool

	fill xskProdRing[uint64]
	comp xskConsRing[uint64]
	rx   xskConsRing[Desc]
	tx   xskProdRing[Desc]

	// owned has a bit per pool frame the kernel may hold: set when the
	// frame goes on the fill or tx ring, cleared when it comes back on
	// the rx or completion ring. Close returns the set ones to the pool.
	owned      []uint64
	frameShift uint

	pfd  [2]unix.PollFd // the socket, and the eventfd Wake writes
	pts  unix.Timespec  // ppoll's timeout, here so that it does not escape
	wake int            // eventfd; -1 when none
	// wakeMu guards wake and np between Wake, which any goroutine may
	// call, and release.
	wakeMu sync.RWMutex
	np     *netpollWait // Wait through Go's netpoller (XDPConfig.Netpoller); nil: poll(2)
	stats  LinkStats
	// kickErrors counts sendto/recvfrom wake-ups that failed with an
	// errno other than the transient EAGAIN, EBUSY and ENOBUFS.
	kickErrors uint64
}

var _ Link = (*XDPLink)(nil)

// The kernel's struct xdp_desc is a Desc.
var _ [16]byte = [unsafe.Sizeof(Desc{})]byte{}

// OpenXDP opens an AF_XDP socket on cfg.Iface's queue cfg.Queue and
// registers the pool's memory as its UMEM. When cfg.Program is set it gives
// the kernel frames on the fill ring and registers the socket in the program
// for that queue; without one the link only transmits. The socket is created
// and bound inside cfg.Netns. The kernel picks zero-copy where the driver
// supports it and copy mode otherwise (veth); need-wakeup flags are on.
func OpenXDP(cfg XDPConfig) (*XDPLink, error) {
	if cfg.RingSize == 0 {
		cfg.RingSize = DefaultXDPRingSize
	}
	if cfg.RingSize < 2 || cfg.RingSize > MaxXDPRingSize || cfg.RingSize&(cfg.RingSize-1) != 0 {
		return nil, fmt.Errorf("rings: AF_XDP ring size %d: want a power of two in 2..%d", cfg.RingSize, MaxXDPRingSize)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("rings: AF_XDP queue %d", cfg.Queue)
	}
	if p := cfg.Program; p != nil {
		if p.Iface != cfg.Iface || p.Netns != cfg.Netns {
			return nil, fmt.Errorf("rings: AF_XDP on %s (netns %q) with a program attached to %s (netns %q)", cfg.Iface, cfg.Netns, p.Iface, p.Netns)
		}
		if cfg.Queue >= p.Queues {
			return nil, fmt.Errorf("rings: AF_XDP queue %d: program has queues 0..%d", cfg.Queue, p.Queues-1)
		}
	}
	if cfg.Pool == nil {
		pool, err := NewPool(PoolFrames(cfg.RingSize), DefaultFrameSize)
		if err != nil {
			return nil, err
		}
		cfg.Pool = pool
	}
	raiseMemlock()

	l := &XDPLink{wake: -1,
		fd: -1, pool: cfg.Pool, prog: cfg.Program, queue: cfg.Queue,
		owned:      make([]uint64, (cfg.Pool.Frames()+63)/64),
		frameShift: uint(bits.TrailingZeros64(cfg.Pool.frameSize)),
	}
	if err := doIn(cfg.Netns, func() error { return l.open(cfg) }); err != nil {
		_ = l.release() // the open's error is the one to report
		return nil, fmt.Errorf("rings: AF_XDP on %s queue %d: %w", cfg.Iface, cfg.Queue, err)
	}
	if cfg.Program != nil {
		// Give the kernel frames before packets are steered here, or
		// the first ones are dropped for want of a fill frame.
		l.refill()
		if err := cfg.Program.Register(cfg.Queue, l.fd); err != nil {
			_ = l.shutdown() // the registration's error is the one to report
			return nil, err
		}
	}
	return l, nil
}

// open makes and binds the socket; it runs inside the link's namespace.
func (l *XDPLink) open(cfg XDPConfig) error {
	ifc, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return err
	}
	l.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	mem := cfg.Pool.Mem()
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Len:  uint64(len(mem)),
		Size: uint32(cfg.Pool.FrameSize()),
	}
	if cfg.TxChecksum != TxChecksumEngine {
		reg.Flags, reg.Tx_metadata_len = unix.XDP_UMEM_TX_METADATA_LEN, TxMetaLen
		if cfg.TxChecksum == TxChecksumKernelSoftware {
			reg.Flags |= unix.XDP_UMEM_TX_SW_CSUM
		}
	}
	err = setsockopt(l.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
	if errors.Is(err, unix.EINVAL) && reg.Flags != 0 {
		// A kernel before 6.11 knows no transmit metadata (or not its
		// flag): the engine computes the checksums.
		if cfg.TxChecksum == TxChecksumKernelSoftware {
			return fmt.Errorf("register UMEM with transmit metadata (tx checksum %s, Linux 6.11 or later): %w", cfg.TxChecksum, err)
		}
		reg.Flags, reg.Tx_metadata_len = 0, 0
		err = setsockopt(l.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
	}
	if err != nil {
		return fmt.Errorf("register UMEM of %d bytes: %w", len(mem), err)
	}
	l.txRoom = int(reg.Tx_metadata_len)
	size := uint32(cfg.RingSize)
	opts := []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_TX_RING}
	if cfg.Program != nil {
		opts = append(opts, unix.XDP_RX_RING)
	}
	for _, opt := range opts {
		if err := unix.SetsockoptInt(l.fd, unix.SOL_XDP, opt, cfg.RingSize); err != nil {
			return fmt.Errorf("ring size (option %d): %w", opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&offLen)), 0); e != 0 {
		return fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	if l.fill, err = mapProdRing[uint64](l.fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, size); err != nil {
		return fmt.Errorf("map fill ring: %w", err)
	}
	if l.comp, err = mapConsRing[uint64](l.fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, size); err != nil {
		return fmt.Errorf("map completion ring: %w", err)
	}
	if l.tx, err = mapProdRing[Desc](l.fd, unix.XDP_PGOFF_TX_RING, off.Tx, size); err != nil {
		return fmt.Errorf("map tx ring: %w", err)
	}
	if cfg.Program != nil {
		if l.rx, err = mapConsRing[Desc](l.fd, unix.XDP_PGOFF_RX_RING, off.Rx, size); err != nil {
			return fmt.Errorf("map rx ring: %w", err)
		}
	}
	sa := &unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(ifc.Index), QueueID: uint32(cfg.Queue)}
	if err := unix.Bind(l.fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	var xo uint32
	xoLen := uint32(unsafe.Sizeof(xo))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_OPTIONS,
		uintptr(unsafe.Pointer(&xo)), uintptr(unsafe.Pointer(&xoLen)), 0); e == 0 {
		l.zc = xo&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	// In zero-copy mode the driver reads the metadata, and whether it
	// completes checksums is not known here: the engine computes them.
	l.txCsum = l.txRoom > 0 && (!l.zc || cfg.TxChecksum == TxChecksumKernelSoftware)
	l.pfd[0] = unix.PollFd{Fd: int32(l.fd), Events: unix.POLLIN}
	l.wake = -1
	if fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err == nil {
		l.wake = fd
		l.pfd[1] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	} else {
		l.pfd[1] = unix.PollFd{Fd: -1} // poll(2) ignores it
	}
	if cfg.Netpoller {
		if l.wake < 0 {
			return errors.New("netpoller wait: no eventfd for wake-ups")
		}
		np, err := newNetpollWait(l.rxPending, l.fd, l.wake)
		if err != nil {
			return fmt.Errorf("netpoller wait: %w", err)
		}
		l.np = np
	}
	return nil
}

// netpollWait lets a loop goroutine wait for its socket and its eventfd in
// Go's netpoller. The two are in an epoll instance of their own, and that
// instance, readable while either is, sits in the runtime's poller: the
// goroutine parks in RawConn.Read until the runtime reports it readable or
// the deadline passes, and its P runs other goroutines meanwhile (those the
// loop woke, typically). Whether to park is decided without a system call,
// from the rx ring's indices and the kicked flag that Wake sets before it
// writes the eventfd; the runtime's poller is edge triggered, and every
// wake-up of the socket or the eventfd reaches the instance's own waiters
// again, so what arrives between that look and the park wakes the park.
// The eventfd is never read in this mode: its count only has to change.
type netpollWait struct {
	f      *os.File // the epoll instance, registered in the runtime's poller
	rc     syscall.RawConn
	kicked atomic.Bool           // set by Wake, taken by ready
	ready  func(fd uintptr) bool // made once: RawConn.Read takes it without allocating
}

func newNetpollWait(rxPending func() bool, fds ...int) (*netpollWait, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			unix.Close(epfd)
			return nil, err
		}
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller
	// (and deadlines work on it).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	w := &netpollWait{f: os.NewFile(uintptr(epfd), "xsk-epoll")}
	if err := w.f.SetReadDeadline(time.Time{}); err != nil {
		w.f.Close()
		return nil, fmt.Errorf("epoll instance not pollable by the runtime: %w", err)
	}
	if w.rc, err = w.f.SyscallConn(); err != nil {
		w.f.Close()
		return nil, err
	}
	w.ready = func(uintptr) bool { return w.kicked.Swap(false) || rxPending() }
	return w, nil
}

// wait parks the goroutine until the rx ring has frames or Wake was called,
// or for timeout; like poll(2) with no time, it does not park when timeout
// is not positive.
func (w *netpollWait) wait(timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	_ = w.f.SetReadDeadline(time.Now().Add(timeout))
	_ = w.rc.Read(w.ready) // a passed deadline or a closed file both mean: go look
}

// rxPending reports whether frames wait on the rx ring.
func (l *XDPLink) rxPending() bool {
	return l.rx.producer != nil && atomic.LoadUint32(l.rx.producer) != l.rx.cons
}

// Occupancy implements Occupier: what waits on the rx ring, what the
// kernel has not taken from the tx ring, and the frames on the fill ring.
func (l *XDPLink) Occupancy() Occupancy {
	if l.rx.ring == nil {
		return Occupancy{}
	}
	return Occupancy{
		Rx:   int(atomic.LoadUint32(l.rx.producer) - l.rx.cons),
		Tx:   int(l.tx.prod - atomic.LoadUint32(l.tx.consumer)),
		Fill: int(l.fill.prod - atomic.LoadUint32(l.fill.consumer)),
	}
}

// Wake implements Waker: it makes the loop's poll(2) in Wait return.
//
// Another goroutine may call it while the link closes (a post that passed
// the loop's stop check as the engine stopped): wakeMu keeps the eventfd
// open, and its number not yet reused, until the write is done.
func (l *XDPLink) Wake() {
	l.wakeMu.RLock()
	defer l.wakeMu.RUnlock()
	if l.np != nil && l.np.kicked.Swap(true) {
		return // an earlier kick is still to be taken: its write wakes the wait
	}
	if l.wake >= 0 {
		one := [8]byte{1}
		// Raw, as kickTx's sendto: an eventfd write does not block.
		// EAGAIN: the counter is already non-zero, the loop will wake.
		_, _, _ = unix.RawSyscall(unix.SYS_WRITE, uintptr(l.wake), uintptr(unsafe.Pointer(&one[0])), uintptr(len(one)))
	}
}

// Pool returns the frame pool the link's descriptors point into.
func (l *XDPLink) Pool() *Pool { return l.pool }

// FD returns the socket's file descriptor (-1 once closed).
func (l *XDPLink) FD() int { return l.fd }

// ZeroCopy reports whether the kernel bound the socket in zero-copy mode.
func (l *XDPLink) ZeroCopy() bool { return l.zc }

// TxOffloads implements TxOffloader: the room XDPConfig.TxChecksum
// registered, and whether the kernel completes checksums.
func (l *XDPLink) TxOffloads() TxOffloads { return TxOffloads{Room: l.txRoom, Checksum: l.txCsum} }

// Receive first gives the kernel as many free frames from the pool as the
// fill ring has room for, then takes up to len(descs) received frames off
// the rx ring. It never blocks and never allocates.
func (l *XDPLink) Receive(descs []Desc) int {
	if l.rx.ring == nil { // TX only, or closed
		l.stats.RxRingEmpty++
		return 0
	}
	l.refill()
	r := &l.rx
	n := r.peek(uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		d := r.ring[(r.cons+i)&r.mask]
		l.disown(d.Addr)
		descs[i] = d
	}
	r.release(n)
	if n == 0 {
		l.stats.RxRingEmpty++
	}
	l.stats.RxFrames += uint64(n)
	return int(n)
}

// refill moves free frames from the pool to the fill ring: every frame but
// the pool's reserve, as far as the ring has room, and frames of the reserve
// only to keep a batch lent to the kernel, so that receiving never stops and
// the rest of the reserve stays for control segments.
func (l *XDPLink) refill() {
	f := &l.fill
	size := uint32(len(f.ring))
	room := f.room(size)
	if room == 0 {
		return
	}
	free := uint32(l.pool.Free())
	n := min(room, free-min(free, uint32(l.pool.Reserve())))
	if lent := size - room; lent+n < IdealBatch {
		n = min(room, free, IdealBatch-lent)
	}
	if n < room {
		l.stats.FillRingEmpty++ // the pool ran dry before the ring was full
	}
	for i := uint32(0); i < n; i++ {
		addr, _ := l.pool.GetReserved()
		l.own(addr)
		f.ring[(f.prod+i)&f.mask] = addr
	}
	f.submit(n)
}

// reap returns the frames the kernel has finished sending to the pool.
func (l *XDPLink) reap() {
	c := &l.comp
	n := c.peek(uint32(len(c.ring)))
	for i := uint32(0); i < n; i++ {
		addr := c.ring[(c.cons+i)&c.mask]
		l.disown(addr)
		l.pool.Put(addr)
	}
	c.release(n)
}

// Transmit reaps the completion ring, queues as many of descs as the tx ring
// has room for, and wakes the kernel if it asked to be. It never blocks and
// never allocates.
func (l *XDPLink) Transmit(descs []Desc) int {
	if l.tx.ring == nil { // closed
		l.stats.TxRingFull += uint64(len(descs))
		return 0
	}
	l.reap()
	t := &l.tx
	n := min(t.room(uint32(len(descs))), uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		l.own(descs[i].Addr)
		t.ring[(t.prod+i)&t.mask] = descs[i]
	}
	t.submit(n)
	l.stats.TxFrames += uint64(n)
	l.stats.TxRingFull += uint64(len(descs)) - uint64(n)
	l.kickTx()
	return int(n)
}

// kickTx makes the kernel send what is on the tx ring when it has asked to
// be woken (always, in copy mode). Each sendto sends at most the kernel's tx
// budget, so it repeats while the kernel makes progress.
//
// The kick is a raw system call: it never blocks (MSG_DONTWAIT), but in
// copy mode it runs the frames through the kernel's transmit path and the
// receiving side's softirq, often longer than the 20 µs after which the
// runtime's sysmon takes the P from a goroutine in an ordinary system
// call. Taken, the P went to another thread (a futex wake), and the loop
// came back from sendto to a P it had to wait for: on one CPU shared with
// the loop's goroutines, a thread switch or two per kick. A raw call keeps
// the P; what waits for it waits only as long as the kick takes.
// (serve --app gohttp, one keep-alive connection: 16,500 requests/s with
// the ordinary call, 20,500 with the raw one, docs/benchmarks.md.)
func (l *XDPLink) kickTx() {
	t := &l.tx
	if !t.needWakeup() {
		return
	}
	cons := atomic.LoadUint32(t.consumer)
	for i := 0; i < xdpMaxKicks && cons != t.prod; i++ {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(l.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if !transientKickErr(e) {
			l.kickErrors++
			return
		}
		next := atomic.LoadUint32(t.consumer)
		if next == cons {
			return // no progress: the completion ring may be full
		}
		cons = next
	}
}

// maxRawWait is the longest Wait made as a raw system call (a loop's
// sleep is at most cores.DefaultSleepFor unless told otherwise).
const maxRawWait = 2 * time.Millisecond

func transientKickErr(e unix.Errno) bool {
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		return true
	}
	return false
}

// Wait blocks in poll(2) until the rx ring has frames, Wake is called or
// timeout passes; with XDPConfig.Netpoller it parks the goroutine in Go's
// netpoller instead (netpollWait). It first wakes the kernel if the fill
// ring asks for it.
func (l *XDPLink) Wait(timeout time.Duration) {
	if l.fd < 0 {
		return
	}
	if l.fill.ring != nil && l.fill.needWakeup() {
		// Raw, as kickTx's sendto: it does not block.
		_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(l.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if !transientKickErr(e) {
			l.kickErrors++
		}
	}
	if l.np != nil {
		l.np.wait(timeout)
		return
	}
	l.pfd[0].Revents, l.pfd[1].Revents = 0, 0
	if timeout <= maxRawWait {
		// A loop's short sleep, as a raw system call: the goroutine keeps
		// its P. Through the runtime's syscall path, a sleep longer than
		// sysmon's 20 µs may cost the P, to a goroutine the loop woke:
		// then the loop, woken by a frame, waits for a P until that
		// goroutine stops or is preempted, up to 10 ms (measured at a
		// million held connections: docs/architecture.md, "Idle policy").
		// A signal (the collector's preemption among them) ends ppoll(2)
		// at once, so the world is not held up.
		l.pts = unix.NsecToTimespec(max(timeout, 0).Nanoseconds())
		_, _, _ = unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&l.pfd[0])), uintptr(len(l.pfd)),
			uintptr(unsafe.Pointer(&l.pts)), 0, 0, 0) // EINTR or a timeout both mean: go look
	} else {
		ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
		_, _ = unix.Poll(l.pfd[:], ms)
	}
	if l.pfd[1].Revents&unix.POLLIN != 0 {
		var b [8]byte
		_, _ = unix.Read(l.wake, b[:]) // consume the wake-up
	}
}

// Stats returns the link's counters with the kernel's XDP_STATISTICS.
func (l *XDPLink) Stats() LinkStats {
	s := l.stats
	if l.fd < 0 {
		return s
	}
	var ks unix.XDPStatistics
	ksLen := uint32(unsafe.Sizeof(ks))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&ksLen)), 0); e == 0 {
		s.KernelRxDropped = ks.Rx_dropped + ks.Rx_ring_full
		s.KernelRxInvalid = ks.Rx_invalid_descs
		s.KernelTxInvalid = ks.Tx_invalid_descs
	}
	return s
}

// Close unregisters the socket from the program, closes it and unmaps its
// rings. Every frame the link gave the kernel (fill and tx rings) and did not
// get back goes back to the pool; the caller's frames stay the caller's.
// The pool itself stays open.
func (l *XDPLink) Close() error {
	if l.fd < 0 {
		return net.ErrClosed
	}
	if l.prog != nil {
		_ = l.prog.Unregister(l.queue) // the socket leaves the XSKMAP on close anyway
	}
	return l.shutdown()
}

// shutdown releases the socket and returns the frames the kernel held.
func (l *XDPLink) shutdown() error {
	err := l.release()
	// The socket is gone, so the kernel holds no frame any more: those
	// it was given and never returned are the pool's again.
	for w, word := range l.owned {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			l.pool.Put(uint64(w*64+b) << l.frameShift)
		}
		l.owned[w] = 0
	}
	return err
}

// own marks the frame holding addr as held by the kernel.
func (l *XDPLink) own(addr uint64) {
	i := addr >> l.frameShift
	if w := i / 64; w < uint64(len(l.owned)) {
		l.owned[w] |= 1 << (i % 64)
	}
}

// disown marks the frame holding addr as back from the kernel.
func (l *XDPLink) disown(addr uint64) {
	i := addr >> l.frameShift
	if w := i / 64; w < uint64(len(l.owned)) {
		l.owned[w] &^= 1 << (i % 64)
	}
}

// release unmaps the rings and closes the socket: the kernel lets go of the
// socket only when both its descriptor and its mappings are gone.
func (l *XDPLink) release() error {
	var errs []error
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	if l.np != nil {
		errs = append(errs, l.np.f.Close()) // out of the runtime's poller before its members close
		l.np = nil
	}
	for _, m := range []*[]byte{&l.fill.mem, &l.comp.mem, &l.rx.mem, &l.tx.mem} {
		if *m != nil {
			errs = append(errs, unix.Munmap(*m))
		}
	}
	l.fill, l.comp, l.rx, l.tx = xskProdRing[uint64]{}, xskConsRing[uint64]{}, xskConsRing[Desc]{}, xskProdRing[Desc]{}
	if l.fd >= 0 {
		errs = append(errs, unix.Close(l.fd))
		l.fd = -1
	}
	if l.wake >= 0 {
		unix.Close(l.wake)
		l.wake = -1
	}
	return errors.Join(errs...)
}

// xskRing is the part of an AF_XDP ring mapped from the kernel.
type xskRing[T any] struct {
	mem                       []byte
	producer, consumer, flags *uint32
	ring                      []T
	mask                      uint32
}

func (r *xskRing[T]) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

func mapRing[T any](fd int, pgoff int64, off unix.XDPRingOffset, size uint32) (xskRing[T], error) {
	var zero T
	length := int(off.Desc) + int(size)*int(unsafe.Sizeof(zero))
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return xskRing[T]{}, err
	}
	return xskRing[T]{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		ring:     unsafe.Slice((*T)(unsafe.Pointer(&mem[off.Desc])), size),
		mask:     size - 1,
	}, nil
}

// xskProdRing is a ring this side produces into (fill, tx). prod is the
// local producer index; cachedCons the last consumer index read.
type xskProdRing[T any] struct {
	xskRing[T]
	prod, cachedCons uint32
}

func mapProdRing[T any](fd int, pgoff int64, off unix.XDPRingOffset, size uint32) (xskProdRing[T], error) {
	r, err := mapRing[T](fd, pgoff, off, size)
	if err != nil {
		return xskProdRing[T]{}, err
	}
	return xskProdRing[T]{xskRing: r, prod: atomic.LoadUint32(r.producer), cachedCons: atomic.LoadUint32(r.consumer)}, nil
}

// room returns the number of free slots, reading the kernel's consumer
// index only when the cached view has fewer than want.
func (r *xskProdRing[T]) room(want uint32) uint32 {
	size := uint32(len(r.ring))
	free := size - (r.prod - r.cachedCons)
	if free < want {
		r.cachedCons = atomic.LoadUint32(r.consumer)
		free = size - (r.prod - r.cachedCons)
	}
	return free
}

// submit publishes n slots written after prod.
func (r *xskProdRing[T]) submit(n uint32) {
	if n > 0 {
		r.prod += n
		atomic.StoreUint32(r.producer, r.prod)
	}
}

// xskConsRing is a ring this side consumes from (rx, completion). cons is
// the local consumer index; cachedProd the last producer index read.
type xskConsRing[T any] struct {
	xskRing[T]
	cons, cachedProd uint32
}

func mapConsRing[T any](fd int, pgoff int64, off unix.XDPRingOffset, size uint32) (xskConsRing[T], error) {
	r, err := mapRing[T](fd, pgoff, off, size)
	if err != nil {
		return xskConsRing[T]{}, err
	}
	return xskConsRing[T]{xskRing: r, cons: atomic.LoadUint32(r.consumer), cachedProd: atomic.LoadUint32(r.producer)}, nil
}

// peek returns how many entries, at most max, are ready after cons, reading
// the kernel's producer index only when the cached view has fewer than max.
func (r *xskConsRing[T]) peek(max uint32) uint32 {
	avail := r.cachedProd - r.cons
	if avail < max {
		r.cachedProd = atomic.LoadUint32(r.producer)
		avail = r.cachedProd - r.cons
	}
	return min(avail, max)
}

// release hands n consumed entries back to the kernel.
func (r *xskConsRing[T]) release(n uint32) {
	if n > 0 {
		r.cons += n
		atomic.StoreUint32(r.consumer, r.cons)
	}
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

// raiseMemlock lifts RLIMIT_MEMLOCK where it could stop BPF maps or a UMEM
// (kernels before 5.11 charge them to it; without CAP_IPC_LOCK a UMEM still
// is). Failure is left for the syscall that needs the memory to report.
func raiseMemlock() {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return
	}
	// Best effort: where it is refused, the UMEM registration that needs it
	// fails with its own error.
	_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}

// doIn runs fn in the named namespace.
func doIn(name string, fn func() error) error { return netns.Do(name, fn) }
