package engine

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Listen announces on the engine's addresses (net.Listen's contract):
// network "tcp", "tcp4" or "tcp6"; address "HOST:PORT" with HOST an IP
// literal or empty (every address; "tcp" and "tcp6" then accept both
// families). A zero port picks an ephemeral one. The listener accepts on
// every core.
func (e *Engine) Listen(network, address string) (net.Listener, error) {
	if !isTCP(network) {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	la, v6, err := parseAddr("listen", network, address, true)
	if err != nil {
		return nil, err
	}
	s, err := e.socketFor(v6)
	if err != nil {
		return nil, opErr("listen", network, nil, la, err)
	}
	// As package net's connections do, the accepted ones start with
	// Nagle's algorithm off (TCP_NODELAY); SetNoDelay(false) turns it on.
	s.noDelay.Store(true)
	if err := s.Bind(la); err != nil {
		s.Close()
		return nil, opErr("listen", network, nil, la, err)
	}
	if err := s.Listen(0); err != nil {
		s.Close()
		return nil, opErr("listen", network, nil, la, err)
	}
	return &TCPListener{s: s, network: network, addr: tcpAddr(s.local)}, nil
}

// Dial connects to address over the engine (net.Dial's contract):
// network "tcp", "tcp4", "tcp6", or "udp", "udp4", "udp6" for a connected
// datagram socket (*UDPConn). A host name is resolved by the engine's
// Resolver, whose queries go over the engine itself (Config.DNS's servers,
// else /etc/resolv.conf's), and its addresses are tried in turn. DialOn
// opens a connection with an on-core handler instead.
func (e *Engine) Dial(network, address string) (net.Conn, error) {
	return e.DialContext(context.Background(), network, address)
}

// DialContext connects to address over the engine, giving up when ctx is
// done. Its signature fits net/http.Transport's DialContext.
func (e *Engine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(address); err == nil && host != "" && (isTCP(network) || isUDP(network)) {
		if _, err := netip.ParseAddr(host); err != nil {
			return e.dialName(ctx, network, host, port)
		}
	}
	if isUDP(network) {
		return e.dialUDP(ctx, network, address)
	}
	ra, v6, err := parseAddr("dial", network, address, false)
	if err != nil {
		return nil, err
	}
	s, err := e.socketFor(v6 || ra.Addr().Is6() && !ra.Addr().Is4In6())
	if err != nil {
		return nil, opErr("dial", network, nil, ra, err)
	}
	s.noDelay.Store(true) // as package net's connections: Nagle off
	s.SetNonblock(true)
	err = s.Connect(ra)
	s.SetNonblock(false)
	if err != nil && err != syscall.EINPROGRESS {
		s.Close()
		return nil, opErr("dial", network, nil, ra, err)
	}
	for {
		st := s.st()
		if st == sockConnected {
			break
		}
		if st == sockDisconnected {
			err := s.takeErr()
			if err == nil {
				err = syscall.ECONNABORTED
			}
			s.Close()
			return nil, opErr("dial", network, tcpAddr(s.local), ra, err)
		}
		select {
		case <-s.connWake:
		case <-ctx.Done():
			s.linger = 0
			s.Close()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = os.ErrDeadlineExceeded
			}
			return nil, opErr("dial", network, tcpAddr(s.local), ra, err)
		case <-e.done:
			return nil, opErr("dial", network, nil, ra, ErrEngineStopped)
		}
	}
	return &TCPConn{s: s, network: network, laddr: tcpAddr(s.local), raddr: tcpAddr(s.remote)}, nil
}

func (e *Engine) socketFor(v6 bool) (*Socket, error) {
	d := syscall.AF_INET
	if v6 {
		d = syscall.AF_INET6
	}
	return e.Socket(d, syscall.SOCK_STREAM, 0)
}

func isTCP(network string) bool { return network == "tcp" || network == "tcp4" || network == "tcp6" }
func isUDP(network string) bool { return network == "udp" || network == "udp4" || network == "udp6" }

// parseNetAddr is parseAddr for UDP's networks.
func parseNetAddr(op, network, address string, listen bool) (netip.AddrPort, bool, error) {
	if !isUDP(network) {
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
	}
	return parseAddr(op, network, address, listen)
}

// parseAddr parses a "HOST:PORT" for network (TCP's or UDP's). A
// listener's HOST may be empty.
func parseAddr(op, network, address string, listen bool) (netip.AddrPort, bool, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network, Err: err}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network,
			Err: &net.AddrError{Err: "invalid port", Addr: address}}
	}
	var a netip.Addr
	switch {
	case host == "" && listen:
		a = netip.IPv6Unspecified()
		if network == "tcp4" || network == "udp4" {
			a = netip.IPv4Unspecified()
		}
	default:
		a, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network,
				Err: &net.AddrError{Err: "an IP literal is needed here (only Dial resolves names)", Addr: host}}
		}
	}
	a = a.Unmap()
	four, six := network == "tcp4" || network == "udp4", network == "tcp6" || network == "udp6"
	if a.Is4() && six || a.Is6() && four {
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network,
			Err: &net.AddrError{Err: "address of the wrong family", Addr: address}}
	}
	if !listen && p == 0 {
		return netip.AddrPort{}, false, &net.OpError{Op: op, Net: network,
			Err: &net.AddrError{Err: "missing port", Addr: address}}
	}
	return netip.AddrPortFrom(a, uint16(p)), a.Is6(), nil
}

func tcpAddr(a netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(a) }

// opErr wraps err as net does; io.EOF and nil pass through.
func opErr(op, network string, src *net.TCPAddr, dst netip.AddrPort, err error) error {
	var s, d net.Addr // nil interfaces, not typed nils, when there is none
	if src != nil {
		s = src
	}
	if dst.IsValid() {
		d = tcpAddr(dst)
	}
	return netOpErr(op, network, s, d, err)
}

// netOpErr wraps err as package net does, for TCP and UDP alike: nil and
// io.EOF pass unwrapped, EBADF (a closed socket) becomes net.ErrClosed.
func netOpErr(op, network string, src, dst net.Addr, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if err == syscall.EBADF {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}

// TCPConn is a connection of the engine as a net.Conn, as *net.TCPConn is
// the kernel's.
type TCPConn struct {
	s            *Socket
	network      string
	laddr, raddr *net.TCPAddr
}

var _ net.Conn = (*TCPConn)(nil)

// Read implements net.Conn.
func (c *TCPConn) Read(p []byte) (int, error) {
	n, err := c.s.Recv(p)
	if err == io.EOF && n == 0 && len(p) == 0 {
		err = nil
	}
	return n, c.err("read", err)
}

// Write implements net.Conn.
func (c *TCPConn) Write(p []byte) (int, error) {
	n, err := c.s.Send(p)
	return n, c.err("write", err)
}

var (
	_ io.ReaderFrom = (*TCPConn)(nil)
	_ io.WriterTo   = (*TCPConn)(nil)
)

// ReadFrom implements io.ReaderFrom: r reads straight into the
// connection's send ring, so io.Copy(c, r) needs no buffer. Errors of the
// connection are *net.OpError ("readfrom"); r's come back as r gave them.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	n, rerr, werr := c.s.readFrom(r)
	if werr != nil {
		return n, c.err("readfrom", werr)
	}
	return n, rerr
}

// WriteTo implements io.WriterTo: w gets the received bytes where they lie
// in the connection's receive ring, so io.Copy(w, c) needs no buffer, and
// between two pollstack connections the bytes go from one's receive ring
// to the other's send ring in one copy. It returns at the peer's end with
// a nil error. Errors of the connection are *net.OpError ("writeto"); w's
// come back as w gave them.
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	n, rerr, werr := c.s.writeTo(w)
	if rerr != nil {
		return n, c.err("writeto", rerr)
	}
	return n, werr
}

func (c *TCPConn) err(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if err == syscall.EBADF {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close implements net.Conn: a FIN after the queued data (or a RST with
// SetLinger(0)). Waiting Read and Write calls return net.ErrClosed.
func (c *TCPConn) Close() error { return c.err("close", c.s.Close()) }

// CloseWrite shuts the send side (a FIN), as *net.TCPConn does.
func (c *TCPConn) CloseWrite() error { return c.err("close", c.s.Shutdown(SHUT_WR)) }

// CloseRead shuts the receive side.
func (c *TCPConn) CloseRead() error { return c.err("close", c.s.Shutdown(SHUT_RD)) }

// LocalAddr implements net.Conn.
func (c *TCPConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn.
func (c *TCPConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline implements net.Conn.
func (c *TCPConn) SetDeadline(t time.Time) error {
	c.s.SetReadDeadline(t)
	c.s.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *TCPConn) SetReadDeadline(t time.Time) error { c.s.SetReadDeadline(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *TCPConn) SetWriteDeadline(t time.Time) error { c.s.SetWriteDeadline(t); return nil }

// SetNoDelay sets TCP_NODELAY.
func (c *TCPConn) SetNoDelay(on bool) error {
	return c.err("set", c.s.SetSockOpt(IPPROTO_TCP, TCP_NODELAY, intOpt(on)))
}

// SetLinger sets SO_LINGER as *net.TCPConn does: < 0 off, 0 reset on
// Close, > 0 seconds Close waits.
func (c *TCPConn) SetLinger(sec int) error {
	v := make([]byte, 8)
	if sec >= 0 {
		putNative(v, 1)
		putNative(v[4:], uint32(sec))
	}
	return c.err("set", c.s.SetSockOpt(SOL_SOCKET, SO_LINGER, v))
}

// SetKeepAlive sets SO_KEEPALIVE, as *net.TCPConn's does.
func (c *TCPConn) SetKeepAlive(on bool) error {
	return c.err("set", c.s.SetSockOpt(SOL_SOCKET, SO_KEEPALIVE, intOpt(on)))
}

// SetKeepAlivePeriod sets the idle time before the first probe and the
// time between probes to d, rounded up to a whole second, as
// *net.TCPConn's does on Linux (TCP_KEEPIDLE and TCP_KEEPINTVL); it does
// not turn keep-alive on.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	secs := keepSeconds(d)
	if err := c.s.SetSockOpt(IPPROTO_TCP, TCP_KEEPIDLE, intVal(secs)); err != nil {
		return c.err("set", err)
	}
	return c.err("set", c.s.SetSockOpt(IPPROTO_TCP, TCP_KEEPINTVL, intVal(secs)))
}

// SetKeepAliveConfig applies cfg as *net.TCPConn's does: with Enable
// false keep-alive is turned off and the rest ignored; otherwise it is
// turned on, and Idle, Interval and Count are set where positive, set to
// package net's defaults (15s, 15s, 9) where zero, and left as they are
// where negative.
func (c *TCPConn) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if !cfg.Enable {
		return c.SetKeepAlive(false)
	}
	set := func(name int, v int) error { return c.s.SetSockOpt(IPPROTO_TCP, name, intVal(v)) }
	if cfg.Idle >= 0 {
		if cfg.Idle == 0 {
			cfg.Idle = defaultKeepAlive
		}
		if err := set(TCP_KEEPIDLE, keepSeconds(cfg.Idle)); err != nil {
			return c.err("set", err)
		}
	}
	if cfg.Interval >= 0 {
		if cfg.Interval == 0 {
			cfg.Interval = defaultKeepAlive
		}
		if err := set(TCP_KEEPINTVL, keepSeconds(cfg.Interval)); err != nil {
			return c.err("set", err)
		}
	}
	if cfg.Count >= 0 {
		if cfg.Count == 0 {
			cfg.Count = defaultKeepAliveCount
		}
		if err := set(TCP_KEEPCNT, cfg.Count); err != nil {
			return c.err("set", err)
		}
	}
	return c.SetKeepAlive(true)
}

// Package net's keep-alive defaults (net.KeepAliveConfig's zero values).
const (
	defaultKeepAlive      = 15 * time.Second
	defaultKeepAliveCount = 9
)

// keepSeconds is d in whole seconds, rounded up, at least 1.
func keepSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// SetReadBuffer sets SO_RCVBUF, the receive buffer's size in bytes. The
// buffers are made with the connection, so on a TCPConn (connected) it
// returns EINVAL; set the size on a Socket before connect or listen
// (docs/sockets.md).
func (c *TCPConn) SetReadBuffer(bytes int) error {
	return c.err("set", c.s.SetSockOpt(SOL_SOCKET, SO_RCVBUF, intVal(bytes)))
}

// SetWriteBuffer sets SO_SNDBUF, the send buffer's size in bytes; like
// SetReadBuffer, only before the connection exists.
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	return c.err("set", c.s.SetSockOpt(SOL_SOCKET, SO_SNDBUF, intVal(bytes)))
}

// Socket returns the connection's socket, for the calls net.Conn lacks
// (GetSockOpt, TCP_INFO...).
func (c *TCPConn) Socket() *Socket { return c.s }

// TCPListener is a listening socket of the engine as a net.Listener, as
// *net.TCPListener is the kernel's.
type TCPListener struct {
	s       *Socket
	network string
	addr    *net.TCPAddr
}

var _ net.Listener = (*TCPListener)(nil)

// Accept implements net.Listener; after Close it returns net.ErrClosed.
func (l *TCPListener) Accept() (net.Conn, error) {
	s, _, err := l.s.Accept()
	if err != nil {
		if err == syscall.EBADF {
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: err}
	}
	return &TCPConn{s: s, network: l.network, laddr: tcpAddr(s.local), raddr: tcpAddr(s.remote)}, nil
}

// Close implements net.Listener.
func (l *TCPListener) Close() error {
	if err := l.s.Close(); err != nil {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: net.ErrClosed}
	}
	return nil
}

// Addr implements net.Listener.
func (l *TCPListener) Addr() net.Addr { return l.addr }

// SetDeadline bounds Accept.
func (l *TCPListener) SetDeadline(t time.Time) error { l.s.SetReadDeadline(t); return nil }

// Dropped returns how many established connections were reset because
// their core's accept queue was full.
func (l *TCPListener) Dropped() uint64 { return l.s.lset.dropped.Load() }

// intVal is v as an int option value; a value out of an int32's range is
// passed as -1, which the option refuses.
func intVal(v int) []byte {
	b := make([]byte, 4)
	if v < math.MinInt32 || v > math.MaxInt32 {
		v = -1
	}
	putNative(b, uint32(int32(v)))
	return b
}

func intOpt(on bool) []byte {
	v := make([]byte, 4)
	if on {
		putNative(v, 1)
	}
	return v
}
