// A socket's life: bind, listen, accept, connect, shutdown and close, and
// its names.

package engine

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// Bind binds the socket to a local address (bind(2)). A zero port picks an
// ephemeral one; an unspecified address binds every address of the family.
func (s *Socket) Bind(a netip.AddrPort) error {
	if s.dg != nil {
		return s.dgBind(a)
	}
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
	if s.dg != nil {
		return s.dgUnbind()
	}
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
	if s.dg != nil {
		return syscall.EOPNOTSUPP
	}
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
	if s.dg != nil {
		return nil, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	if s.closed.Load() {
		return nil, netip.AddrPort{}, syscall.EBADF
	}
	if s.st() != sockListening {
		return nil, netip.AddrPort{}, syscall.EINVAL
	}
	// Accept is the listener's reader: concurrent calls take turns, as
	// they share the deadline's timer (two waiting on one timer's channel:
	// only one would see it fire).
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	ls := s.lset
	for {
		if s.closed.Load() {
			return nil, netip.AddrPort{}, syscall.EBADF // close drains the queues now
		}
		if c := ls.take(); c != nil {
			return c, c.remote, nil
		}
		if s.nonblock.Load() {
			return nil, netip.AddrPort{}, syscall.EAGAIN
		}
		// The queues are empty: sleep until a core queues a connection.
		// The flag first, then a last look, so that one queued in
		// between is seen.
		ls.waiting.Store(true)
		if c := ls.take(); c != nil {
			ls.waiting.Store(false)
			return c, c.remote, nil
		}
		if err := s.wait(ls.wake, &s.rdDeadline, &s.rdTimer); err != nil {
			ls.waiting.Store(false)
			return nil, netip.AddrPort{}, err
		}
	}
}

// Connect opens a connection to a (connect(2)). A blocking socket waits
// for the handshake; a non-blocking one returns EINPROGRESS.
func (s *Socket) Connect(a netip.AddrPort) error {
	if s.dg != nil {
		return s.dgConnect(a)
	}
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
	if !s.e.Routable(ra) {
		return syscall.ENETUNREACH // as connect(2) without a route
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

// Shutdown shuts one or both directions (shutdown(2)): SHUT_WR sends a FIN
// after the data already queued, SHUT_RD makes further receives return
// io.EOF. ENOTCONN before a connection is under way.
func (s *Socket) Shutdown(how int) error {
	if s.dg != nil {
		return s.dgShutdown(how)
	}
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
		// The FIN follows what the send ring still holds.
		if err := s.onCore(func(c *Core) {
			if s.conn != nil {
				s.finPending = true
				s.serviceTx()
			}
		}); err != nil {
			return err
		}
		s.wrWaiting.Store(false)
		poke(s.wrWake)
	}
	if how != SHUT_WR {
		s.shutRd.Store(true) // a reader asleep on rx wakes to io.EOF
		s.rdWaiting.Store(false)
		poke(s.rdWake)
	}
	return nil
}

// Close closes the socket (close(2)). A connection is closed with a FIN
// after the queued data, or reset with SO_LINGER set to 0; with SO_LINGER
// set to N seconds, Close waits up to N seconds for the close to finish.
// A listener stops on every core and resets the connections not accepted.
func (s *Socket) Close() error {
	if s.dg != nil {
		return s.dgClose()
	}
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
	case sockConnecting, sockConnected, sockDisconnected:
	default:
		return nil
	}
	// A Send or Recv asleep sees closedCh and returns; one that sees
	// closed enters no ring again. Close does not wait for the calls
	// (a ReadFrom may be waiting in its reader for ever): the core gives
	// a ring back only when no call is inside it (rdIn, wrIn).
	rings := s.rx.Load() != nil || s.tx.Load() != nil
	if st == sockDisconnected && !rings {
		return nil
	}
	// Asynchronous entry: the close is posted, not waited for.
	err := s.post(func(now mono.Time) {
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		s.closeOnCore(linger)
		c.flush()
	})
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
