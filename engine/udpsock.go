// Datagram sockets: a Socket made with SOCK_DGRAM is a UDP endpoint. Its
// calls are the stream socket's (Bind, Connect, Send, Recv, Close, the
// options) with UDP's meaning, plus SendTo and RecvFrom; the engine's
// table of UDP ports; and the core's side of a datagram socket's rings.

package engine

import (
	"encoding/binary"
	"io"
	"math/bits"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// UDP socket buffer defaults and limits.
const (
	// DefaultUDPRecvSpace is a datagram socket's SO_RCVBUF unless set:
	// net.inet.udp.recvspace, FreeBSD's 40 * (1024 + sizeof(sockaddr_in6)).
	DefaultUDPRecvSpace = 42080
	// DefaultUDPSendSpace is a datagram socket's SO_SNDBUF unless set:
	// room for one datagram of the largest size (FreeBSD's
	// net.inet.udp.maxdgram is 9216; Linux lets 65507 bytes go, and so
	// do we).
	DefaultUDPSendSpace = 65536
	// MaxSockBuf bounds SO_RCVBUF and SO_SNDBUF (kern.ipc.maxsockbuf).
	MaxSockBuf = 2 << 20

	// maxDatagram4 and maxDatagram6 are the largest UDP payloads.
	maxDatagram4 = 65535 - ipv4MinHeader - udpHeaderLen
	maxDatagram6 = 65535 - udpHeaderLen

	// A received datagram's record in rx: length, source port, source
	// address (IPv4-mapped), then the payload.
	dgRxHdr = 20
	// A datagram's record in tx: length, destination port, source port,
	// 2 unused bytes, destination address, source address, then the
	// payload.
	dgTxHdr = 40
)

// dgram is a datagram socket's own state.
type dgram struct {
	rx, tx    *byteRing // made at bind: rx filled by the core, tx by the writer
	rcvbuf    atomic.Int32
	sndbuf    atomic.Int32
	connected atomic.Bool // read by the cores for ICMP errors
}

// dgRingSize is the size of a ring that holds buf bytes of queued
// datagrams and one more of any size: SO_RCVBUF bounds the bytes queued,
// and one datagram is always taken when the queue is empty (as Linux).
func dgRingSize(buf int) int {
	n := buf + dgTxHdr + 65535
	return 1 << bits.Len(uint(n-1))
}

// The engine's table of UDP ports.

// udpTable maps a local port to the datagram sockets bound to it. Bind,
// connect and close replace a port's list under mu (not on the packet
// path); the cores read the lists lock-free, each an immutable snapshot.
type udpTable struct {
	mu    sync.Mutex
	ports [1 << 16]atomic.Pointer[[]udpBind]
	next  uint16
}

// udpBind is one socket's place on a port.
type udpBind struct {
	s         *Socket
	local     [16]byte // IPv4-mapped for IPv4
	any       bool     // bound to the unspecified address
	v4        bool     // an AF_INET socket: IPv4 only
	remote    [16]byte
	rport     uint16
	connected bool
	reuseAddr bool
	reusePort bool
}

// lookup returns the socket a datagram for t goes to: a connected socket
// of t's 4-tuple before one bound to t's local address, before one bound
// to every address (BSD's in_pcblookup); nil when none.
func (u *udpTable) lookup(t *flow.Tuple) *Socket {
	p := u.ports[t.LocalPort].Load()
	if p == nil {
		return nil
	}
	v4 := isV4Mapped(&t.LocalAddr)
	var best *Socket
	score := -1
	for i := range *p {
		b := &(*p)[i]
		if b.v4 && !v4 {
			continue
		}
		sc := 0
		switch {
		case b.any:
		case b.local == t.LocalAddr:
			sc++
		default:
			continue
		}
		if b.connected {
			if b.remote != t.RemoteAddr || b.rport != t.RemotePort {
				continue
			}
			sc += 2
		}
		if sc > score {
			best, score = b.s, sc
		}
	}
	return best
}

// bind places b on port (an ephemeral one, from the range of
// net.inet.ip.portrange, when 0): an overlapping binding (equal
// addresses, or either unspecified) conflicts unless both set
// SO_REUSEPORT or both SO_REUSEADDR. core gives the socket's core once
// the port is known; the socket is visible to the cores from the store.
func (u *udpTable) bind(b udpBind, port uint16, first, last uint16, core func(port uint16) int) (uint16, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if port == 0 {
		for i := 0; i <= int(last-first); i++ {
			if u.next < first || u.next > last {
				u.next = first
			}
			cand := u.next
			if u.next++; u.next == 0 || u.next > last {
				u.next = first
			}
			if p := u.ports[cand].Load(); p == nil || len(*p) == 0 {
				port = cand
				break
			}
		}
		if port == 0 {
			return 0, syscall.EADDRNOTAVAIL
		}
	} else if p := u.ports[port].Load(); p != nil {
		for _, o := range *p {
			if (b.any || o.any || b.local == o.local) && !(b.reusePort && o.reusePort) && !(b.reuseAddr && o.reuseAddr) {
				return 0, syscall.EADDRINUSE
			}
		}
	}
	b.s.core = core(port)
	u.replace(port, nil, &b)
	return port, nil
}

// replace stores port's list without old's socket's binding and with nb.
// Called with mu held.
func (u *udpTable) replace(port uint16, old *Socket, nb *udpBind) {
	var list []udpBind
	if p := u.ports[port].Load(); p != nil {
		for _, o := range *p {
			if o.s != old {
				list = append(list, o)
			}
		}
	}
	if nb != nil {
		list = append(list, *nb)
	}
	u.ports[port].Store(&list)
}

// update changes s's binding on port.
func (u *udpTable) update(port uint16, s *Socket, fn func(b *udpBind)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.ports[port].Load()
	if p == nil {
		return
	}
	for _, o := range *p {
		if o.s == s {
			fn(&o)
			u.replace(port, s, &o)
			return
		}
	}
}

// unbind takes s off port.
func (u *udpTable) unbind(port uint16, s *Socket) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.replace(port, s, nil)
}

// The socket calls.

func (e *Engine) newDgramSocket(v6 bool) *Socket {
	s := e.newSocket(v6, -1)
	s.dg = &dgram{}
	s.dg.rcvbuf.Store(DefaultUDPRecvSpace)
	s.dg.sndbuf.Store(DefaultUDPSendSpace)
	s.kickFn = s.dgKickOnCore
	return s
}

func (s *Socket) dgBind(a netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	if s.st() != sockIdle {
		return syscall.EINVAL
	}
	if err := s.checkLocal(a.Addr()); err != nil {
		return err
	}
	return s.dgBindLocked(a.Addr(), a.Port(), netip.AddrPort{})
}

// dgBindLocked binds the socket to la:port, connected to remote when it
// is valid. The socket's core: a connected socket's is the owner of its
// 4-tuple (so that the peer's datagrams, which RSS puts on that core's
// queue, need no hand-off); an unconnected one's is picked round-robin.
// Called with mu held.
func (s *Socket) dgBindLocked(la netip.Addr, port uint16, remote netip.AddrPort) error {
	la = la.Unmap()
	b := udpBind{s: s, local: la.As16(), any: la.IsUnspecified(), v4: !s.v6,
		reuseAddr: s.opts.ReuseAddr, reusePort: s.opts.ReusePort}
	if la.Is4() {
		b.local = v4Mapped(la.As4())
	}
	if remote.IsValid() {
		b.remote, b.rport, b.connected = remote.Addr().As16(), remote.Port(), true
		if remote.Addr().Is4() {
			b.remote = v4Mapped(remote.Addr().As4())
		}
	}
	if s.dg.rx == nil {
		// Made once: a socket unbound and bound again keeps its rings,
		// which a core may still hold from its last list of the port.
		s.dg.rx = newByteRing(dgRingSize(int(s.dg.rcvbuf.Load())))
		s.dg.tx = newByteRing(dgRingSize(int(s.dg.sndbuf.Load())))
	}
	cfg := s.e.tcpConfig()
	first, last := cfg.PortRange()
	e := s.e
	port, err := e.udp.bind(b, port, first, last, func(port uint16) int {
		if !b.connected {
			return int(e.nextDial.Add(1) % uint32(len(e.cores)))
		}
		t := flow.Tuple{LocalAddr: b.local, RemoteAddr: b.remote, LocalPort: port, RemotePort: b.rport}
		return e.dialCore(&t)
	})
	if err != nil {
		return err
	}
	s.local = netip.AddrPortFrom(la, port)
	s.bound = true
	s.setSt(sockBound)
	if b.connected {
		s.remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		s.dg.connected.Store(true)
		s.setSt(sockConnected)
	}
	return nil
}

// dgCheckRemote vets a destination as connect(2) and sendto(2) do.
func (s *Socket) dgCheckRemote(a netip.AddrPort) (netip.Addr, error) {
	ra := a.Addr().Unmap()
	switch {
	case !ra.IsValid() || a.Port() == 0:
		return ra, syscall.EINVAL
	case !s.v6 && !ra.Is4():
		return ra, syscall.EAFNOSUPPORT
	case ra.IsMulticast():
		return ra, syscall.EAFNOSUPPORT // no multicast yet
	case ra.IsUnspecified():
		return ra, syscall.EADDRNOTAVAIL
	}
	if !s.e.Routable(ra) {
		return ra, syscall.ENETUNREACH
	}
	return ra, nil
}

// dgConnect fixes the socket's peer (connect(2) on a datagram socket):
// only its datagrams are received, Send goes to it, and ICMP errors about
// what it sent come back as the next call's error. Connecting again
// changes the peer.
func (s *Socket) dgConnect(a netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	ra, err := s.dgCheckRemote(a)
	if err != nil {
		return err
	}
	la := s.local.Addr()
	if la.IsValid() && !la.IsUnspecified() && la.Is4() != ra.Is4() {
		return syscall.EAFNOSUPPORT // bound to an address of the other family
	}
	if !la.IsValid() || la.IsUnspecified() {
		src, ok := s.e.Source(ra)
		if !ok {
			return syscall.ENETUNREACH
		}
		la = src
	}
	remote := netip.AddrPortFrom(ra, a.Port())
	if s.st() == sockIdle {
		return s.dgBindLocked(la, 0, remote)
	}
	r16 := ra.As16()
	if ra.Is4() {
		r16 = v4Mapped(ra.As4())
	}
	l16 := la.As16()
	if la.Is4() {
		l16 = v4Mapped(la.As4())
	}
	s.e.udp.update(s.local.Port(), s, func(b *udpBind) {
		b.local, b.any, b.remote, b.rport, b.connected = l16, false, r16, a.Port(), true
	})
	s.local = netip.AddrPortFrom(la, s.local.Port())
	s.remote = remote
	s.dg.connected.Store(true)
	s.setSt(sockConnected)
	return nil
}

// dgSend sends one datagram (send(2), sendto(2) with to valid): it is
// queued whole on the socket's send ring, which its core drains, or not
// at all. ENOTCONN without a destination on an unconnected socket,
// EISCONN with one on a connected socket (BSD's rules), EMSGSIZE beyond
// the largest datagram or SO_SNDBUF; a blocking socket waits for room,
// a non-blocking one returns EAGAIN.
func (s *Socket) dgSend(p []byte, to netip.AddrPort) (int, error) {
	s.wrMu.Lock()
	defer s.wrMu.Unlock()
	if s.closed.Load() {
		return 0, syscall.EBADF
	}
	if s.shutWr.Load() {
		return 0, syscall.EPIPE
	}
	if s.e.stopped.Load() {
		return 0, ErrEngineStopped
	}
	s.mu.Lock()
	connected := s.st() == sockConnected
	var dst netip.AddrPort
	switch {
	case !to.IsValid() && !connected:
		s.mu.Unlock()
		return 0, syscall.ENOTCONN
	case to.IsValid() && connected:
		s.mu.Unlock()
		return 0, syscall.EISCONN
	case connected:
		dst = s.remote
	default:
		ra, err := s.dgCheckRemote(to)
		if err != nil {
			s.mu.Unlock()
			return 0, err
		}
		dst = netip.AddrPortFrom(ra, to.Port())
		if s.st() == sockIdle {
			any := netip.IPv4Unspecified()
			if s.v6 {
				any = netip.IPv6Unspecified()
			}
			if err := s.dgBindLocked(any, 0, netip.AddrPort{}); err != nil {
				s.mu.Unlock()
				return 0, err
			}
		}
	}
	local := s.local
	s.mu.Unlock()
	if connected {
		if err := s.takeErr(); err != nil {
			return 0, err
		}
	}
	max := maxDatagram6
	if dst.Addr().Is4() {
		max = maxDatagram4
	}
	if len(p) > max || len(p) > int(s.dg.sndbuf.Load()) {
		return 0, syscall.EMSGSIZE
	}
	la := local.Addr()
	if !la.IsUnspecified() && la.Is4() != dst.Addr().Is4() {
		return 0, syscall.EAFNOSUPPORT // bound to an address of the other family
	}
	if la.IsUnspecified() {
		src, ok := s.e.Source(dst.Addr())
		if !ok {
			return 0, syscall.ENETUNREACH
		}
		la = src
	}
	var h [dgTxHdr]byte
	binary.BigEndian.PutUint16(h[0:], uint16(len(p)))
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	binary.BigEndian.PutUint16(h[4:], local.Port())
	putAddr16(h[8:24], dst.Addr())
	putAddr16(h[24:40], la)
	r := s.dg.tx
	for {
		if r.free() >= dgTxHdr+len(p) {
			a, b := r.space()
			_, a, b = copyInto(a, b, h[:])
			copyInto(a, b, p)
			r.produce(dgTxHdr + len(p))
			if err := s.kick(); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		if s.nonblock.Load() {
			return 0, syscall.EAGAIN
		}
		if err := s.wrDeadlinePassed(); err != nil {
			return 0, err
		}
		s.wrWaiting.Store(true)
		if r.free() >= dgTxHdr+len(p) {
			continue
		}
		if err := s.wait(s.wrWake, &s.wrDeadline, &s.wrTimer); err != nil {
			s.wrWaiting.Store(false)
			return 0, err
		}
		if s.closed.Load() {
			return 0, syscall.EBADF
		}
	}
}

// putAddr16 writes a as 16 bytes, IPv4 as IPv4-mapped.
func putAddr16(b []byte, a netip.Addr) {
	if a.Is4() {
		v := v4Mapped(a.As4())
		copy(b, v[:])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// dgRecv takes the next datagram (recvfrom(2)): what fits of it in p (the
// rest of a longer one is discarded, as MSG_TRUNC says) and its source. A
// pending error (an ICMP error on a connected socket) comes first.
func (s *Socket) dgRecv(p []byte) (int, netip.AddrPort, error) {
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	for {
		if s.closed.Load() {
			return 0, netip.AddrPort{}, syscall.EBADF
		}
		if s.shutRd.Load() {
			return 0, netip.AddrPort{}, io.EOF
		}
		if s.e.stopped.Load() {
			return 0, netip.AddrPort{}, ErrEngineStopped
		}
		if err := s.takeErr(); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		if r := s.dgRx(); r != nil && r.used() > 0 {
			return s.dgTake(r, p)
		}
		if s.nonblock.Load() {
			return 0, netip.AddrPort{}, syscall.EAGAIN
		}
		s.rdWaiting.Store(true)
		if r := s.dgRx(); r != nil && r.used() > 0 || s.soErr.Load() != 0 {
			continue
		}
		if err := s.wait(s.rdWake, &s.rdDeadline, &s.rdTimer); err != nil {
			s.rdWaiting.Store(false)
			return 0, netip.AddrPort{}, err
		}
	}
}

// dgRx returns the receive ring (nil before bind). The state's atomic
// store after the ring was made orders the two.
func (s *Socket) dgRx() *byteRing {
	if s.st() == sockIdle {
		return nil
	}
	return s.dg.rx
}

// dgTake reads the datagram at the head of r into p.
func (s *Socket) dgTake(r *byteRing, p []byte) (int, netip.AddrPort, error) {
	a, b := r.data()
	var h [dgRxHdr]byte
	copyStream(h[:], 0, a, b, nil)
	n := int(binary.BigEndian.Uint16(h[0:]))
	from := netip.AddrPortFrom(netip.AddrFrom16([16]byte(h[4:20])).Unmap(), binary.BigEndian.Uint16(h[2:]))
	m := min(n, len(p))
	copyStream(p[:m], dgRxHdr, a, b, nil)
	r.consume(dgRxHdr + n)
	return m, from, nil
}

// The core's side.

// dgDeliver queues a datagram from from:port on the socket's receive
// ring; false when SO_RCVBUF's bytes are queued already or the ring has
// no room (the datagram is dropped). Runs on the socket's core.
func (s *Socket) dgDeliver(from *[16]byte, port uint16, payload []byte) bool {
	if s.closed.Load() {
		return true // gone: as if it had been read
	}
	r := s.dg.rx
	rec := dgRxHdr + len(payload)
	used := r.used()
	if used > 0 && used+rec > int(s.dg.rcvbuf.Load()) || rec > r.free() {
		return false
	}
	var h [dgRxHdr]byte
	binary.BigEndian.PutUint16(h[0:], uint16(len(payload)))
	binary.BigEndian.PutUint16(h[2:], port)
	copy(h[4:20], from[:])
	a, b := r.space()
	_, a, b = copyInto(a, b, h[:])
	copyInto(a, b, payload)
	r.produce(rec)
	s.wakeReader()
	return true
}

// dgError makes errno the socket's pending error and wakes its reader.
func (s *Socket) dgError(errno uintptr) {
	s.soErr.Store(errno)
	s.rdWaiting.Store(false)
	poke(s.rdWake)
}

// dgKickOnCore is the squeue entry a datagram socket's kick posts: the
// core sends what tx holds, datagram by datagram, and frees the room.
func (s *Socket) dgKickOnCore(now mono.Time) {
	s.kickPending.Store(false) // before looking: a later kick is not lost
	c := s.e.cores[s.core]
	c.now = now
	r := s.dg.tx
	var h [dgTxHdr]byte
	sent := false
	for {
		a, b := r.data()
		if len(a)+len(b) < dgTxHdr {
			break
		}
		copyStream(h[:], 0, a, b, nil)
		n := int(binary.BigEndian.Uint16(h[0:]))
		x, y := ringSlice(a, b, dgTxHdr, n)
		dst, src := [16]byte(h[8:24]), [16]byte(h[24:40])
		c.sendUDP(&src, &dst, binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[2:]), x, y, now)
		r.consume(dgTxHdr + n)
		sent = true
	}
	if sent {
		s.wakeWriter()
	}
	// No flush: the loop's next turn sends what the kicks queued.
}

// ringSlice returns bytes [off, off+n) of a+b in at most two pieces.
func ringSlice(a, b []byte, off, n int) ([]byte, []byte) {
	if off >= len(a) {
		off -= len(a)
		return b[off : off+n], nil
	}
	if off+n <= len(a) {
		return a[off : off+n], nil
	}
	return a[off:], b[:n-(len(a)-off)]
}

// dgShutdown is shutdown(2) on a datagram socket: only a connected one.
func (s *Socket) dgShutdown(how int) error {
	if how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR {
		return syscall.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	if s.st() != sockConnected {
		return syscall.ENOTCONN
	}
	if how != SHUT_RD {
		s.shutWr.Store(true)
		s.wrWaiting.Store(false)
		poke(s.wrWake)
	}
	if how != SHUT_WR {
		s.shutRd.Store(true)
		s.rdWaiting.Store(false)
		poke(s.rdWake)
	}
	return nil
}

// dgClose is close(2): the port is free at once; datagrams already queued
// on tx still go.
func (s *Socket) dgClose() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return syscall.EBADF
	}
	close(s.closedCh)
	if s.bound {
		s.e.udp.unbind(s.local.Port(), s)
		s.bound = false
	}
	return nil
}

// dgUnbind undoes Bind on a socket that is not connected.
func (s *Socket) dgUnbind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	switch s.st() {
	case sockIdle:
		return nil
	case sockBound:
		s.e.udp.unbind(s.local.Port(), s)
		s.bound = false
		s.local = netip.AddrPort{}
		s.setSt(sockIdle)
		return nil
	}
	return syscall.EINVAL
}

// dgSetSockOpt: SO_REUSEADDR, SO_REUSEPORT (before bind), SO_RCVBUF and
// SO_SNDBUF (bytes, 1..MaxSockBuf, ENOBUFS beyond as FreeBSD; after bind
// within the rings made at bind).
func (s *Socket) dgSetSockOpt(level, name int, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	if level != SOL_SOCKET {
		return syscall.ENOPROTOOPT
	}
	switch name {
	case SO_REUSEADDR, SO_REUSEPORT, SO_RCVBUF, SO_SNDBUF:
	default:
		return syscall.ENOPROTOOPT
	}
	if len(val) != 4 {
		return syscall.EINVAL
	}
	v := int32(binary.NativeEndian.Uint32(val))
	switch name {
	case SO_REUSEADDR:
		s.opts.ReuseAddr = v != 0
	case SO_REUSEPORT:
		s.opts.ReusePort = v != 0
	default:
		if v <= 0 {
			return syscall.EINVAL
		}
		if v > MaxSockBuf {
			return syscall.ENOBUFS
		}
		if s.st() != sockIdle {
			// The rings were made at bind: the bound is what they hold.
			r := s.dg.rx
			if name == SO_SNDBUF {
				r = s.dg.tx
			}
			v = min(v, int32(r.size()-dgTxHdr-65535))
		}
		if name == SO_RCVBUF {
			s.dg.rcvbuf.Store(v)
		} else {
			s.dg.sndbuf.Store(v)
		}
	}
	return nil
}

// dgGetSockOpt: the options dgSetSockOpt sets, and SO_TYPE, SO_PROTOCOL,
// SO_DOMAIN and SO_ERROR.
func (s *Socket) dgGetSockOpt(level, name int, val []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, syscall.EBADF
	}
	if level != SOL_SOCKET {
		return 0, syscall.ENOPROTOOPT
	}
	var v int
	switch name {
	case SO_REUSEADDR:
		v = boolInt(s.opts.ReuseAddr)
	case SO_REUSEPORT:
		v = boolInt(s.opts.ReusePort)
	case SO_RCVBUF:
		v = int(s.dg.rcvbuf.Load())
	case SO_SNDBUF:
		v = int(s.dg.sndbuf.Load())
	case SO_TYPE:
		v = syscall.SOCK_DGRAM
	case SO_PROTOCOL:
		v = IPPROTO_UDP
	case SO_DOMAIN:
		v = syscall.AF_INET
		if s.v6 {
			v = syscall.AF_INET6
		}
	case SO_ERROR:
		if e := s.soErr.Swap(0); e != 0 {
			v = int(e)
		}
	default:
		return 0, syscall.ENOPROTOOPT
	}
	if len(val) < 4 {
		return 0, syscall.EINVAL
	}
	binary.NativeEndian.PutUint32(val, uint32(int32(v)))
	return 4, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SendTo sends p as one datagram to a (sendto(2)); a socket not bound yet
// is bound to an ephemeral port on every address first. Only datagram
// sockets: a stream socket returns EOPNOTSUPP.
func (s *Socket) SendTo(p []byte, a netip.AddrPort) (int, error) {
	if s.dg == nil {
		return 0, syscall.EOPNOTSUPP
	}
	if !a.IsValid() {
		return 0, syscall.EINVAL
	}
	return s.dgSend(p, a)
}

// RecvFrom takes one datagram into p (recvfrom(2)) and returns its
// length (cut to len(p)) and source. Only datagram sockets.
func (s *Socket) RecvFrom(p []byte) (int, netip.AddrPort, error) {
	if s.dg == nil {
		return 0, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	return s.dgRecv(p)
}
