package engine

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// ErrEngineStopped is returned by socket calls once the engine has stopped.
var ErrEngineStopped = errors.New("engine: stopped")

// sockState is a socket's state as its calls see it.
type sockState uint32

const (
	sockIdle         sockState = iota // created, not bound
	sockBound                         // bound to a local address
	sockListening                     // listening on every core
	sockConnecting                    // SYN sent, or accepted and not yet established
	sockConnected                     // ESTABLISHED or later, the connection alive
	sockDisconnected                  // the connection is gone
)

// Socket is a TCP endpoint with BSD socket semantics: its calls return
// syscall.Errno values as tcp(4) and illumos' tcp_socket.c do. A connected
// socket belongs to one core for life; every call on it enters that core's
// squeue (the loop's mailbox): synchronously, the caller waiting for the
// result (Recv, Send, Shutdown, options), or asynchronously (Close). Only
// the owning core touches the connection. Safe for concurrent use.
type Socket struct {
	e    *Engine
	v6   bool
	core int // the owning core once connected or accepted

	mu       sync.Mutex // control calls: bind, listen, connect, options, close
	state    atomic.Uint32
	closed   atomic.Bool
	closedCh chan struct{}
	local    netip.AddrPort // guarded by mu
	remote   netip.AddrPort // guarded by mu
	opts     tcp.SockOptions
	linger   int32 // SO_LINGER seconds; -1: off
	bound    bool  // holds a place in the engine's port table
	nonblock atomic.Bool
	noDelay  atomic.Bool
	everConn atomic.Bool
	shutRd   atomic.Bool
	shutWr   atomic.Bool
	soErr    atomic.Uintptr // pending error (a syscall.Errno), 0 when none

	// Owned by the core.
	conn     *tcp.Conn
	leftover []byte // unread bytes saved when the connection ended

	rdMu        sync.Mutex
	rd          sqCall
	rdBuf       []byte
	rdN         int
	rdEOF       bool
	rdErr       error
	rdPark      bool // the entry may park (a blocking read)
	rdParked    bool // owned by the core: a read waits for data
	rdCancelled bool
	rdCancelFn  func(now mono.Time)
	rdWake      chan struct{}
	rdDeadline  atomic.Int64
	rdTimer     *time.Timer

	wrMu       sync.Mutex
	wr         sqCall
	wrBuf      []byte
	wrN        int
	wrErr      error
	wrWake     chan struct{}
	wrDeadline atomic.Int64
	wrTimer    *time.Timer

	connWake chan struct{} // the connection was established or ended

	lset *listenSet
}

// sqCall is a reusable squeue entry: fn runs on the core and signals done.
// Posting it allocates nothing.
type sqCall struct {
	fn   func(now mono.Time)
	done chan struct{}
}

// Socket creates a socket (socket(2)): domain syscall.AF_INET or AF_INET6,
// typ syscall.SOCK_STREAM, proto 0 or IPPROTO_TCP; anything else is
// EPROTONOSUPPORT.
func (e *Engine) Socket(domain, typ, proto int) (*Socket, error) {
	if domain != syscall.AF_INET && domain != syscall.AF_INET6 || typ != syscall.SOCK_STREAM ||
		proto != 0 && proto != IPPROTO_TCP {
		return nil, syscall.EPROTONOSUPPORT
	}
	if !e.running || e.stopped.Load() {
		return nil, ErrEngineStopped
	}
	if e.cores[0].tcp == nil {
		return nil, syscall.EPROTONOSUPPORT
	}
	return e.newSocket(domain == syscall.AF_INET6, -1), nil
}

func (e *Engine) newSocket(v6 bool, core int) *Socket {
	s := &Socket{e: e, v6: v6, core: core, linger: -1, closedCh: make(chan struct{}),
		rdWake: make(chan struct{}, 1), wrWake: make(chan struct{}, 1), connWake: make(chan struct{}, 1)}
	s.rd = sqCall{fn: s.recvOnCore, done: make(chan struct{}, 1)}
	s.rdCancelFn = s.cancelRecvOnCore
	s.wr = sqCall{fn: s.sendOnCore, done: make(chan struct{}, 1)}
	return s
}

func (s *Socket) st() sockState      { return sockState(s.state.Load()) }
func (s *Socket) setSt(st sockState) { s.state.Store(uint32(st)) }

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// enter runs c on the socket's core and waits for it (squeue_synch_enter).
func (s *Socket) enter(c *sqCall) error {
	l := s.e.loops[s.core]
	for {
		err := l.Post(c.fn)
		if err == nil {
			break
		}
		if err != cores.ErrMailboxFull {
			return ErrEngineStopped
		}
		runtime.Gosched() // the core is behind: back off
	}
	select {
	case <-c.done:
		return nil
	case <-l.Done():
		select {
		case <-c.done:
			return nil
		default:
			return ErrEngineStopped
		}
	}
}

// onCore runs fn on the socket's core with the core's clock set, flushes
// what it sent, and waits. For control calls; it allocates.
func (s *Socket) onCore(fn func(c *Core)) error {
	c := s.e.cores[s.core]
	err := s.e.loops[s.core].Call(func(now mono.Time) {
		c.now = now
		c.tcp.SetNow(now)
		fn(c)
		c.flush()
	})
	if err != nil {
		return ErrEngineStopped
	}
	return nil
}

// The socket is the connection's tcp.Handler: these run on its core.

// Established implements tcp.Handler.
func (s *Socket) Established(c *tcp.Conn) {
	s.everConn.Store(true)
	s.setSt(sockConnected)
	poke(s.connWake)
	poke(s.wrWake)
}

// Readable implements tcp.Handler: a parked read is filled at once.
func (s *Socket) Readable(c *tcp.Conn) {
	if s.rdParked {
		s.fillParked()
		return
	}
	poke(s.rdWake)
}

// Writable implements tcp.Handler.
func (s *Socket) Writable(c *tcp.Conn) { poke(s.wrWake) }

// Closed implements tcp.Handler: the bytes the application has not read
// yet are kept, so that a half-closed socket still reads them.
func (s *Socket) Closed(c *tcp.Conn, err error) {
	if n := c.Readable(); n > 0 && !s.closed.Load() {
		s.leftover = make([]byte, n)
		c.Read(s.leftover)
	}
	s.conn = nil
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s.soErr.Store(uintptr(errno))
	}
	s.setSt(sockDisconnected)
	if s.rdParked {
		s.fillParked()
	}
	poke(s.connWake)
	poke(s.rdWake)
	poke(s.wrWake)
}

// takeErr returns and clears the pending error (SO_ERROR semantics).
func (s *Socket) takeErr() error {
	if e := s.soErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// Bind binds the socket to a local address (bind(2)). A zero port picks an
// ephemeral one; an unspecified address binds every address of the family.
func (s *Socket) Bind(a netip.AddrPort) error {
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
	port, err := s.e.ports.bind(s, a.Addr(), a.Port(), &s.opts)
	if err != nil {
		return err
	}
	s.local = netip.AddrPortFrom(a.Addr(), port)
	s.bound = true
	s.setSt(sockBound)
	return nil
}

// Unbind undoes Bind (bind(2) with no address, as illumos allows); only a
// socket that is not listening or connected may.
func (s *Socket) Unbind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	switch s.st() {
	case sockIdle:
		return nil
	case sockBound:
		s.e.ports.unbind(s)
		s.bound = false
		s.local = netip.AddrPort{}
		s.setSt(sockIdle)
		return nil
	}
	return syscall.EINVAL
}

// checkLocal vets a local address for bind: of the socket's family, not
// multicast (EAFNOSUPPORT), and one of the engine's (EADDRNOTAVAIL).
func (s *Socket) checkLocal(a netip.Addr) error {
	if !a.IsValid() {
		return syscall.EINVAL
	}
	if !s.v6 && !a.Unmap().Is4() || s.v6 && a.Is4() {
		return syscall.EAFNOSUPPORT
	}
	if a.IsMulticast() {
		return syscall.EAFNOSUPPORT
	}
	if !a.IsUnspecified() && !s.e.isLocal(a) {
		return syscall.EADDRNOTAVAIL
	}
	return nil
}

// Listen makes the socket passive on every core (listen(2)), binding an
// ephemeral port first when it is not bound. A second Listen changes only
// the backlog.
func (s *Socket) Listen(backlog int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	switch s.st() {
	case sockListening:
		s.lset.setBacklog(backlog)
		return nil
	case sockIdle:
		any := netip.IPv4Unspecified()
		if s.v6 {
			any = netip.IPv6Unspecified()
		}
		port, err := s.e.ports.bind(s, any, 0, &s.opts)
		if err != nil {
			return err
		}
		s.local, s.bound = netip.AddrPortFrom(any, port), true
	case sockBound:
	default:
		return syscall.EINVAL
	}
	ls, err := s.e.listen(s, backlog)
	if err != nil {
		return err
	}
	s.lset = ls
	s.e.ports.setListening(s, true)
	s.setSt(sockListening)
	return nil
}

// Accept takes a connection from the listener's per-core queues, fairly
// (accept(2)). It blocks unless the socket is non-blocking (EAGAIN).
func (s *Socket) Accept() (*Socket, netip.AddrPort, error) {
	if s.closed.Load() {
		return nil, netip.AddrPort{}, syscall.EBADF
	}
	if s.st() != sockListening {
		return nil, netip.AddrPort{}, syscall.EINVAL
	}
	for {
		if c := s.lset.take(); c != nil {
			return c, c.remote, nil
		}
		if s.nonblock.Load() {
			return nil, netip.AddrPort{}, syscall.EAGAIN
		}
		if err := s.wait(s.lset.wake, &s.rdDeadline, &s.rdTimer); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
}

// Connect opens a connection to a (connect(2)). A blocking socket waits
// for the handshake; a non-blocking one returns EINPROGRESS.
func (s *Socket) Connect(a netip.AddrPort) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return syscall.EBADF
	}
	switch s.st() {
	case sockConnecting:
		s.mu.Unlock()
		return syscall.EALREADY
	case sockConnected:
		s.mu.Unlock()
		return syscall.EISCONN
	case sockListening:
		s.mu.Unlock()
		return syscall.EOPNOTSUPP
	case sockDisconnected:
		s.mu.Unlock()
		return syscall.EINVAL
	}
	err := s.startConnect(a)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.nonblock.Load() {
		return syscall.EINPROGRESS
	}
	return s.waitConnected()
}

// startConnect sends the SYN from the owning core. Called with mu held.
func (s *Socket) startConnect(a netip.AddrPort) error {
	ra := a.Addr().Unmap()
	switch {
	case !ra.IsValid() || a.Port() == 0:
		return syscall.EINVAL
	case !s.v6 && !ra.Is4():
		return syscall.EAFNOSUPPORT
	case ra.IsMulticast():
		return syscall.EAFNOSUPPORT
	case ra.IsUnspecified():
		return syscall.EADDRNOTAVAIL
	}
	la := s.local.Addr()
	if !la.IsValid() || la.IsUnspecified() {
		src, ok := s.e.Source(ra)
		if !ok {
			return syscall.ENETUNREACH
		}
		la = src
	}
	t := flow.Tuple{LocalAddr: la.As16(), RemoteAddr: ra.As16(), LocalPort: s.local.Port(), RemotePort: a.Port()}
	if ra.Is4() {
		t.LocalAddr = v4Mapped(la.Unmap().As4())
		t.RemoteAddr = v4Mapped(ra.As4())
	}
	s.core = s.e.dialCore(&t)
	s.remote = netip.AddrPortFrom(ra, a.Port())
	s.setSt(sockConnecting)
	opts := s.opts
	opts.NoDelay = s.noDelay.Load()
	var err error
	if cerr := s.onCore(func(c *Core) {
		var conn *tcp.Conn
		conn, err = c.tcp.DialWith(t, s, &opts, c.now)
		if err == nil {
			s.conn = conn
			t = conn.Tuple()
		}
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		s.setSt(sockIdle)
		if s.bound {
			s.setSt(sockBound)
		}
		return err
	}
	s.local = netip.AddrPortFrom(tupleAddr(t.LocalAddr), t.LocalPort)
	return nil
}

// waitConnected waits until the handshake ends.
func (s *Socket) waitConnected() error {
	for {
		switch s.st() {
		case sockConnected:
			return nil
		case sockDisconnected:
			if err := s.takeErr(); err != nil {
				return err
			}
			return syscall.ECONNABORTED
		}
		select {
		case <-s.connWake:
		case <-s.closedCh:
			return syscall.EBADF
		case <-s.e.done:
			return ErrEngineStopped
		}
	}
}

func tupleAddr(a [16]byte) netip.Addr { return netip.AddrFrom16(a).Unmap() }

// Send queues p for sending (send(2)). A blocking socket waits for room in
// the send buffer until all of p is queued; a non-blocking one queues what
// fits and returns EAGAIN when nothing did.
func (s *Socket) Send(p []byte) (int, error) {
	s.wrMu.Lock()
	defer s.wrMu.Unlock()
	total := 0
	for {
		if s.closed.Load() {
			return total, syscall.EBADF
		}
		switch s.st() {
		case sockIdle, sockBound, sockListening, sockConnecting:
			return total, syscall.ENOTCONN
		}
		if s.shutWr.Load() {
			return total, syscall.EPIPE
		}
		if err := s.wrDeadlinePassed(); err != nil {
			return total, err
		}
		s.wrBuf = p
		if err := s.enter(&s.wr); err != nil {
			s.wrBuf = nil
			return total, err
		}
		s.wrBuf = nil
		n, err := s.wrN, s.wrErr
		total += n
		p = p[n:]
		if err != nil || len(p) == 0 {
			return total, err
		}
		if s.nonblock.Load() {
			if total == 0 {
				return 0, syscall.EAGAIN
			}
			return total, nil
		}
		if err := s.wait(s.wrWake, &s.wrDeadline, &s.wrTimer); err != nil {
			return total, err
		}
	}
}

func (s *Socket) wrDeadlinePassed() error {
	if d := s.wrDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// sendOnCore is the send half of the squeue entry.
func (s *Socket) sendOnCore(now mono.Time) {
	s.wrN, s.wrErr = 0, nil
	if s.conn == nil {
		s.wrErr = s.takeErr()
		if s.wrErr == nil {
			s.wrErr = syscall.EPIPE
		}
	} else {
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		s.conn.SetNoDelay(s.noDelay.Load())
		s.wrN, s.wrErr = s.conn.Write(s.wrBuf)
		c.flush()
	}
	s.wr.done <- struct{}{}
}

// Recv reads received bytes into p (recv(2)): 0 and io.EOF once the peer
// closed its side (or after SHUT_RD). A blocking socket waits for data; a
// non-blocking one returns EAGAIN.
func (s *Socket) Recv(p []byte) (int, error) {
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	for {
		if s.closed.Load() {
			return 0, syscall.EBADF
		}
		switch s.st() {
		case sockIdle, sockBound, sockListening:
			return 0, syscall.ENOTCONN
		}
		if s.shutRd.Load() {
			return 0, io.EOF
		}
		if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return 0, nil
		}
		if s.st() != sockConnecting {
			n, err, done := s.recvEntry(p)
			if done {
				return n, err
			}
		}
		if s.nonblock.Load() {
			return 0, syscall.EAGAIN
		}
		if err := s.wait(s.rdWake, &s.rdDeadline, &s.rdTimer); err != nil {
			return 0, err
		}
	}
}

// recvEntry enters the squeue to read into p. A blocking socket's entry
// parks on the core when there is nothing to read: the core fills p when
// data, the FIN or an error arrives (one entry and one wake-up per read).
// done is false when the caller should wait and try again.
func (s *Socket) recvEntry(p []byte) (n int, err error, done bool) {
	s.rdBuf, s.rdPark, s.rdCancelled = p, !s.nonblock.Load(), false
	defer func() { s.rdBuf = nil }()
	l := s.e.loops[s.core]
	if err := s.post(s.rd.fn); err != nil {
		return 0, err, true
	}
	for cancelled := false; ; {
		var tc <-chan time.Time
		if d := s.rdDeadline.Load(); d != 0 && !cancelled {
			left := time.Duration(d - time.Now().UnixNano())
			if left <= 0 {
				left = 0
			}
			if s.rdTimer == nil {
				s.rdTimer = time.NewTimer(left)
			} else {
				s.rdTimer.Reset(left)
			}
			tc = s.rdTimer.C
		}
		closed := s.closedCh
		if cancelled {
			closed = nil
		}
		select {
		case <-s.rd.done:
			switch {
			case s.rdN > 0 || s.rdErr != nil:
				return s.rdN, s.rdErr, true
			case s.rdEOF:
				return 0, io.EOF, true
			case s.rdCancelled:
				if s.closed.Load() {
					return 0, syscall.EBADF, true
				}
				return 0, os.ErrDeadlineExceeded, true
			}
			return 0, nil, false
		case <-s.rdWake:
			// A new deadline, or a wake-up left from before: look again.
		case <-tc:
			if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
				cancelled = true
				if err := s.post(s.rdCancelFn); err != nil {
					return 0, err, true
				}
			}
		case <-closed:
			cancelled = true
			if err := s.post(s.rdCancelFn); err != nil {
				return 0, err, true
			}
		case <-l.Done():
			return 0, ErrEngineStopped, true
		}
	}
}

// post puts fn in the socket's core's mailbox, waiting while it is full.
func (s *Socket) post(fn func(now mono.Time)) error {
	l := s.e.loops[s.core]
	for {
		err := l.Post(fn)
		if err == nil {
			return nil
		}
		if err != cores.ErrMailboxFull {
			return ErrEngineStopped
		}
		runtime.Gosched()
	}
}

// cancelRecvOnCore ends a parked read with nothing (deadline or Close).
func (s *Socket) cancelRecvOnCore(now mono.Time) {
	if s.rdParked {
		s.rdParked = false
		s.rdN, s.rdEOF, s.rdErr, s.rdCancelled = 0, false, nil, true
		s.rd.done <- struct{}{}
	}
}

// fillParked completes a parked read on the core.
func (s *Socket) fillParked() {
	s.rdParked = false
	s.readOnCore(s.e.cores[s.core].now)
	s.rd.done <- struct{}{}
}

// recvOnCore is the receive half of the squeue entry: it reads, or parks
// the read when a blocking socket has nothing to read yet.
func (s *Socket) recvOnCore(now mono.Time) {
	s.readOnCore(now)
	if s.rdN == 0 && !s.rdEOF && s.rdErr == nil && s.rdPark {
		s.rdParked = true // Readable or Closed completes it
		return
	}
	s.rd.done <- struct{}{}
}

// readOnCore reads into rdBuf what is there: leftover bytes, the
// connection's, or the end.
func (s *Socket) readOnCore(now mono.Time) {
	s.rdN, s.rdEOF, s.rdErr = 0, false, nil
	switch {
	case len(s.leftover) > 0:
		s.rdN = copy(s.rdBuf, s.leftover)
		s.leftover = s.leftover[s.rdN:]
	case s.conn == nil:
		s.rdErr = s.takeErr()
		s.rdEOF = true
	default:
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		s.rdN = s.conn.Read(s.rdBuf)
		s.rdEOF = s.rdN == 0 && s.conn.EOF()
		c.flush()
	}
}

// wait blocks until wake fires, the deadline passes, the socket closes or
// the engine stops. The timer is made once per socket and direction.
func (s *Socket) wait(wake chan struct{}, deadline *atomic.Int64, timer **time.Timer) error {
	for {
		var tc <-chan time.Time
		if d := deadline.Load(); d != 0 {
			left := time.Duration(d - time.Now().UnixNano())
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			if *timer == nil {
				*timer = time.NewTimer(left)
			} else {
				(*timer).Reset(left)
			}
			tc = (*timer).C
		}
		select {
		case <-wake:
			return nil
		case <-tc:
			continue // the deadline is checked again: it may have moved
		case <-s.closedCh:
			return syscall.EBADF
		case <-s.e.done:
			return ErrEngineStopped
		}
	}
}

// SetNonblock makes calls return EAGAIN (EINPROGRESS for Connect) instead
// of waiting.
func (s *Socket) SetNonblock(on bool) { s.nonblock.Store(on) }

// SetReadDeadline bounds Recv and Accept (zero: no deadline).
func (s *Socket) SetReadDeadline(t time.Time) {
	s.rdDeadline.Store(deadlineNanos(t))
	poke(s.rdWake) // a waiting reader looks at the new deadline
	if s.lset != nil {
		poke(s.lset.wake)
	}
}

// SetWriteDeadline bounds Send.
func (s *Socket) SetWriteDeadline(t time.Time) {
	s.wrDeadline.Store(deadlineNanos(t))
	poke(s.wrWake)
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n > 0 {
		return n
	}
	return 1 // in the past
}

// Shutdown shuts one or both directions (shutdown(2)): SHUT_WR sends a FIN
// after the data already queued, SHUT_RD makes further receives return
// io.EOF. ENOTCONN before a connection is under way.
func (s *Socket) Shutdown(how int) error {
	if how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR {
		return syscall.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	switch s.st() {
	case sockIdle, sockBound, sockListening, sockDisconnected:
		return syscall.ENOTCONN
	}
	if how != SHUT_RD {
		s.shutWr.Store(true)
		if err := s.onCore(func(c *Core) {
			if s.conn != nil {
				s.conn.CloseWrite()
			}
		}); err != nil {
			return err
		}
		poke(s.wrWake)
	}
	if how != SHUT_WR {
		s.shutRd.Store(true)
		// A read parked on the core ends with io.EOF.
		if err := s.onCore(func(*Core) {
			if s.rdParked {
				s.rdParked = false
				s.rdN, s.rdEOF, s.rdErr = 0, true, nil
				s.rd.done <- struct{}{}
			}
		}); err != nil {
			return err
		}
		poke(s.rdWake)
	}
	return nil
}

// Close closes the socket (close(2)). A connection is closed with a FIN
// after the queued data, or reset with SO_LINGER set to 0; with SO_LINGER
// set to N seconds, Close waits up to N seconds for the close to finish.
// A listener stops on every core and resets the connections not accepted.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return syscall.EBADF
	}
	close(s.closedCh)
	if s.bound {
		s.e.ports.unbind(s)
		s.bound = false
	}
	linger := s.linger
	st := s.st()
	s.mu.Unlock()
	switch st {
	case sockListening:
		return s.lset.close()
	case sockConnecting, sockConnected:
	default:
		return nil
	}
	err := s.e.loops[s.core].Post(func(now mono.Time) {
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		if s.conn != nil {
			if linger == 0 {
				s.conn.Abort()
			} else {
				s.conn.Close()
			}
		}
		c.flush()
	})
	for err == cores.ErrMailboxFull {
		runtime.Gosched()
		err = s.e.loops[s.core].Post(func(now mono.Time) {})
	}
	if err != nil {
		return nil // the engine stopped: its connections are gone
	}
	if linger > 0 {
		t := time.NewTimer(time.Duration(linger) * time.Second)
		defer t.Stop()
		for s.st() != sockDisconnected {
			select {
			case <-s.connWake:
			case <-t.C:
				return syscall.EWOULDBLOCK
			case <-s.e.done:
				return nil
			}
		}
	}
	return nil
}

// GetSockName returns the local address (getsockname(2)).
func (s *Socket) GetSockName() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return netip.AddrPort{}, syscall.EBADF
	}
	return s.local, nil
}

// GetPeerName returns the peer's address (getpeername(2)); ENOTCONN unless
// connected.
func (s *Socket) GetPeerName() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return netip.AddrPort{}, syscall.EBADF
	}
	if s.st() != sockConnected {
		return netip.AddrPort{}, syscall.ENOTCONN
	}
	return s.remote, nil
}

// SetSockOpt sets an option (setsockopt(2)). Integer options take 4 bytes
// in host order, SO_LINGER 8 ({onoff, seconds}), TCP_CONGESTION a name. A
// wrong level or an unknown option is ENOPROTOOPT, a wrong length or value
// EINVAL, an unknown congestion control ENOENT.
func (s *Socket) SetSockOpt(level, name int, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	if level == IPPROTO_TCP && name == TCP_CONGESTION {
		n := string(trimNUL(val))
		cc, err := tcp.LookupCongestionControl(n)
		if err != nil {
			return syscall.ENOENT
		}
		s.opts.CC = cc
		return s.onConn(func(c *tcp.Conn) { c.SetCongestionControl(cc) })
	}
	if level == SOL_SOCKET && name == SO_LINGER {
		if len(val) != 8 {
			return syscall.EINVAL
		}
		on, secs := int32(binary.NativeEndian.Uint32(val)), int32(binary.NativeEndian.Uint32(val[4:]))
		if secs < 0 {
			return syscall.EINVAL
		}
		s.linger = -1
		if on != 0 {
			s.linger = secs
		}
		return nil
	}
	if level != SOL_SOCKET && level != IPPROTO_TCP {
		return syscall.ENOPROTOOPT
	}
	if !knownOpt(level, name) || level == IPPROTO_TCP && name == TCP_INFO || level == SOL_SOCKET && name == SO_ERROR {
		return syscall.ENOPROTOOPT // unknown, or read-only
	}
	if len(val) != 4 {
		return syscall.EINVAL
	}
	v := int(int32(binary.NativeEndian.Uint32(val)))
	on := v != 0
	secs := func() (time.Duration, error) {
		if v <= 0 || v > 1<<20 {
			return 0, syscall.EINVAL
		}
		return time.Duration(v) * time.Second, nil
	}
	switch level<<16 | name {
	case SOL_SOCKET<<16 | SO_REUSEADDR:
		s.opts.ReuseAddr = on
		return s.onConn(func(c *tcp.Conn) { c.SetReuseAddr(on) })
	case SOL_SOCKET<<16 | SO_REUSEPORT:
		s.opts.ReusePort = on
		return s.onConn(func(c *tcp.Conn) { c.SetReusePort(on) })
	case SOL_SOCKET<<16 | SO_KEEPALIVE:
		s.opts.Keepalive = on
		return s.onConn(func(c *tcp.Conn) { c.SetKeepalive(on) })
	case SOL_SOCKET<<16 | SO_SNDBUF, SOL_SOCKET<<16 | SO_RCVBUF:
		if v < 1024 || v > tcp.MaxBufferSpace {
			return syscall.EINVAL
		}
		if s.st() >= sockConnecting {
			return syscall.EINVAL // the buffers are made with the connection
		}
		if name == SO_SNDBUF {
			s.opts.SendSpace = v
		} else {
			s.opts.RecvSpace = v
		}
		return nil
	case SOL_SOCKET<<16 | SO_ERROR:
		return syscall.ENOPROTOOPT // read-only
	case IPPROTO_TCP<<16 | TCP_NODELAY:
		// As illumos does, without entering the squeue: the core reads it
		// at the next send.
		s.noDelay.Store(on)
		s.opts.NoDelay = on
		return nil
	case IPPROTO_TCP<<16 | TCP_NOPUSH:
		s.opts.NoPush = on
		return s.onConn(func(c *tcp.Conn) { c.SetNoPush(on) })
	case IPPROTO_TCP<<16 | TCP_NOOPT:
		if s.st() >= sockConnecting {
			return syscall.EINVAL // the options went with the SYN
		}
		s.opts.NoOpt = on
		return nil
	case IPPROTO_TCP<<16 | TCP_MAXSEG:
		if v < tcp.MinMaxSeg || v > tcp.MaxMSS {
			return syscall.EINVAL
		}
		s.opts.MaxSeg = v
		var err error
		if e := s.onConn(func(c *tcp.Conn) { err = c.SetMaxSeg(v) }); e != nil {
			return e
		}
		return err
	case IPPROTO_TCP<<16 | TCP_KEEPINIT:
		d, err := secs()
		if err != nil {
			return err
		}
		s.opts.KeepInit = d
		return nil
	case IPPROTO_TCP<<16 | TCP_KEEPIDLE:
		d, err := secs()
		if err != nil {
			return err
		}
		s.opts.KeepIdle = d
		return s.onConn(func(c *tcp.Conn) { c.SetKeepTimes(d, 0, 0) })
	case IPPROTO_TCP<<16 | TCP_KEEPINTVL:
		d, err := secs()
		if err != nil {
			return err
		}
		s.opts.KeepIntvl = d
		return s.onConn(func(c *tcp.Conn) { c.SetKeepTimes(0, d, 0) })
	case IPPROTO_TCP<<16 | TCP_KEEPCNT:
		if v <= 0 || v > 1<<16 {
			return syscall.EINVAL
		}
		s.opts.KeepCnt = v
		return s.onConn(func(c *tcp.Conn) { c.SetKeepTimes(0, 0, v) })
	case IPPROTO_TCP<<16 | TCP_INFO:
		return syscall.ENOPROTOOPT // read-only
	}
	return syscall.ENOPROTOOPT
}

func knownOpt(level, name int) bool {
	switch level {
	case SOL_SOCKET:
		switch name {
		case SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, SO_REUSEPORT, SO_SNDBUF, SO_RCVBUF, SO_ERROR:
			return true
		}
	case IPPROTO_TCP:
		switch name {
		case TCP_NODELAY, TCP_MAXSEG, TCP_NOPUSH, TCP_NOOPT, TCP_INFO, TCP_CONGESTION,
			TCP_KEEPINIT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT:
			return true
		}
	}
	return false
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// onConn runs fn on the connection's core when there is a connection.
// Called with mu held.
func (s *Socket) onConn(fn func(c *tcp.Conn)) error {
	if s.core < 0 {
		return nil
	}
	switch s.st() {
	case sockConnecting, sockConnected:
	default:
		return nil
	}
	return s.onCore(func(*Core) {
		if s.conn != nil {
			fn(s.conn)
		}
	})
}

// GetSockOpt reads an option into val and returns its length
// (getsockopt(2)); val must have room for it (4 bytes for integers, 8 for
// SO_LINGER, TCPInfoLen for TCP_INFO, TCPCANameMax for TCP_CONGESTION),
// else EINVAL. SO_ERROR clears the pending error.
func (s *Socket) GetSockOpt(level, name int, val []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, syscall.EBADF
	}
	if level != SOL_SOCKET && level != IPPROTO_TCP || !knownOpt(level, name) {
		return 0, syscall.ENOPROTOOPT
	}
	put := func(v int) (int, error) {
		if len(val) < 4 {
			return 0, syscall.EINVAL
		}
		binary.NativeEndian.PutUint32(val, uint32(int32(v)))
		return 4, nil
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	cfg := s.e.tcpConfig()
	switch level<<16 | name {
	case SOL_SOCKET<<16 | SO_REUSEADDR:
		return put(b2i(s.opts.ReuseAddr))
	case SOL_SOCKET<<16 | SO_REUSEPORT:
		return put(b2i(s.opts.ReusePort))
	case SOL_SOCKET<<16 | SO_KEEPALIVE:
		return put(b2i(s.opts.Keepalive))
	case SOL_SOCKET<<16 | SO_SNDBUF:
		return put(orDefault(s.opts.SendSpace, cfg.SendSpace))
	case SOL_SOCKET<<16 | SO_RCVBUF:
		return put(orDefault(s.opts.RecvSpace, cfg.RecvSpace))
	case SOL_SOCKET<<16 | SO_ERROR:
		var e int
		if err := s.takeErr(); err != nil {
			e = int(err.(syscall.Errno))
		}
		return put(e)
	case SOL_SOCKET<<16 | SO_LINGER:
		if len(val) < 8 {
			return 0, syscall.EINVAL
		}
		on, secs := 0, 0
		if s.linger >= 0 {
			on, secs = 1, int(s.linger)
		}
		binary.NativeEndian.PutUint32(val, uint32(on))
		binary.NativeEndian.PutUint32(val[4:], uint32(secs))
		return 8, nil
	case IPPROTO_TCP<<16 | TCP_NODELAY:
		return put(b2i(s.noDelay.Load()))
	case IPPROTO_TCP<<16 | TCP_NOPUSH:
		return put(b2i(s.opts.NoPush))
	case IPPROTO_TCP<<16 | TCP_NOOPT:
		return put(b2i(s.opts.NoOpt))
	case IPPROTO_TCP<<16 | TCP_KEEPINIT:
		return put(int(orDefaultDuration(s.opts.KeepInit, cfg.KeepInit) / time.Second))
	case IPPROTO_TCP<<16 | TCP_KEEPIDLE:
		return put(int(orDefaultDuration(s.opts.KeepIdle, cfg.KeepIdle) / time.Second))
	case IPPROTO_TCP<<16 | TCP_KEEPINTVL:
		return put(int(orDefaultDuration(s.opts.KeepIntvl, cfg.KeepIntvl) / time.Second))
	case IPPROTO_TCP<<16 | TCP_KEEPCNT:
		return put(orDefault(s.opts.KeepCnt, cfg.KeepCnt))
	case IPPROTO_TCP<<16 | TCP_MAXSEG:
		mss := orDefault(s.opts.MaxSeg, cfg.MSSDflt)
		if err := s.onConn(func(c *tcp.Conn) { mss = c.MaxSeg() }); err != nil {
			return 0, err
		}
		return put(mss)
	case IPPROTO_TCP<<16 | TCP_CONGESTION:
		if len(val) < TCPCANameMax {
			return 0, syscall.EINVAL
		}
		name := cfg.CCAlgorithm
		if s.opts.CC != nil {
			name = s.opts.CC.Name()
		}
		clear(val[:TCPCANameMax])
		return copy(val, name), nil
	case IPPROTO_TCP<<16 | TCP_INFO:
		if len(val) < TCPInfoLen {
			return 0, syscall.EINVAL
		}
		info, err := s.info()
		if err != nil {
			return 0, err
		}
		encodeInfo(val, &info)
		return TCPInfoLen, nil
	}
	return 0, syscall.ENOPROTOOPT
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func orDefaultDuration(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// Info returns TCP_INFO as a struct. Called with mu held by GetSockOpt;
// TCPInfo takes it.
func (s *Socket) info() (tcp.Info, error) {
	var info tcp.Info
	switch s.st() {
	case sockConnecting, sockConnected:
		err := s.onCore(func(*Core) {
			if s.conn != nil {
				info = s.conn.Info()
			} else {
				info.State = tcp.Closed
			}
		})
		return info, err
	case sockListening:
		info.State = tcp.Listen
	}
	return info, nil
}

// TCPInfo returns the connection's TCP_INFO.
func (s *Socket) TCPInfo() (tcp.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return tcp.Info{}, syscall.EBADF
	}
	return s.info()
}

// encodeInfo lays TCP_INFO out as TCPInfoLen bytes in host order: state
// (u8), options (u8: 1 timestamps, 2 SACK, 4 window scale), snd_wscale
// (u8), rcv_wscale (u8), then u32 fields rto, rtt, rttvar (µs), snd_mss,
// rcv_mss, snd_cwnd, snd_ssthresh, snd_wnd, rcv_wnd, retransmits,
// in-flight bytes, unsent bytes, unread bytes, keepidle, keepintvl (ms),
// keepcnt, then the congestion control's name (16 bytes, NUL padded), then
// zeros.
func encodeInfo(b []byte, i *tcp.Info) {
	clear(b[:TCPInfoLen])
	b[0] = byte(i.State)
	if i.Timestamps {
		b[1] |= 1
	}
	if i.SACK {
		b[1] |= 2
	}
	if i.WScale {
		b[1] |= 4
	}
	b[2], b[3] = i.SndScale, i.RcvScale
	f := []uint32{uint32(i.RTO / time.Microsecond), uint32(i.RTT / time.Microsecond), uint32(i.RTTVar / time.Microsecond),
		uint32(i.SndMSS), uint32(i.RcvMSS), i.SndCwnd, i.SndSsthresh, i.SndWnd, i.RcvWnd,
		uint32(i.Retransmits), i.InFlight, uint32(i.Unsent), uint32(i.Unread),
		uint32(i.KeepIdle / time.Millisecond), uint32(i.KeepIntvl / time.Millisecond), uint32(i.KeepCnt)}
	for k, v := range f {
		binary.NativeEndian.PutUint32(b[4+4*k:], v)
	}
	copy(b[4+4*len(f):4+4*len(f)+TCPCANameMax], i.CC)
}
