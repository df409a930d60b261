package engine

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// ListenPacket binds a datagram socket (net.ListenPacket's contract):
// network "udp", "udp4" or "udp6"; address "HOST:PORT" with HOST an IP
// literal or empty (every address; "udp" and "udp6" then receive both
// families). A zero port picks an ephemeral one.
func (e *Engine) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := e.ListenUDP(network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenUDP is ListenPacket returning the *UDPConn.
func (e *Engine) ListenUDP(network, address string) (*UDPConn, error) {
	la, v6, err := parseNetAddr("listen", network, address, true)
	if err != nil {
		return nil, err
	}
	s, err := e.dgramFor(network, v6)
	if err != nil {
		return nil, udpOpErr("listen", network, la, err)
	}
	if err := s.Bind(la); err != nil {
		s.Close()
		return nil, udpOpErr("listen", network, la, err)
	}
	return &UDPConn{s: s, network: network, laddr: udpAddr(s.local)}, nil
}

func (e *Engine) dgramFor(network string, v6 bool) (*Socket, error) {
	d := syscall.AF_INET
	if v6 || network == "udp6" {
		d = syscall.AF_INET6
	}
	return e.Socket(d, syscall.SOCK_DGRAM, 0)
}

// dialUDP is DialContext for "udp", "udp4" and "udp6": a connected
// datagram socket. Nothing goes on the wire, so ctx is only looked at.
func (e *Engine) dialUDP(ctx context.Context, network, address string) (net.Conn, error) {
	ra, v6, err := parseNetAddr("dial", network, address, false)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		if err == context.DeadlineExceeded {
			err = os.ErrDeadlineExceeded
		}
		return nil, udpOpErr("dial", network, ra, err)
	}
	s, err := e.dgramFor(network, v6 || ra.Addr().Is6())
	if err != nil {
		return nil, udpOpErr("dial", network, ra, err)
	}
	if err := s.Connect(ra); err != nil {
		s.Close()
		return nil, udpOpErr("dial", network, ra, err)
	}
	return &UDPConn{s: s, network: network, laddr: udpAddr(s.local), raddr: udpAddr(s.remote)}, nil
}

func udpAddr(a netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(a) }

func udpOpErr(op, network string, dst netip.AddrPort, err error) error {
	var d net.Addr
	if dst.IsValid() {
		d = udpAddr(dst)
	}
	return netOpErr(op, network, nil, d, err)
}

// UDPConn is a datagram socket of the engine as a net.PacketConn and, once
// connected (Dial), a net.Conn, as *net.UDPConn is the kernel's. Its
// errors are *net.OpError around the socket's errno (errors.Is works):
// ECONNREFUSED on a connected one after a port unreachable, for instance.
type UDPConn struct {
	s            *Socket
	network      string
	laddr, raddr *net.UDPAddr
}

var (
	_ net.Conn       = (*UDPConn)(nil)
	_ net.PacketConn = (*UDPConn)(nil)
)

func (c *UDPConn) err(op string, dst netip.AddrPort, err error) error {
	if err == nil {
		return nil
	}
	if err == syscall.EBADF {
		err = net.ErrClosed
	}
	oe := &net.OpError{Op: op, Net: c.network, Source: c.laddr, Err: err}
	if c.raddr != nil {
		oe.Addr = c.raddr
	} else if dst.IsValid() {
		oe.Addr = udpAddr(dst)
	}
	return oe
}

// Read implements net.Conn: one datagram, cut to len(p).
func (c *UDPConn) Read(p []byte) (int, error) {
	n, _, err := c.s.dgRecv(p)
	return n, c.err("read", netip.AddrPort{}, err)
}

// Write implements net.Conn: p as one datagram to the connected peer.
func (c *UDPConn) Write(p []byte) (int, error) {
	n, err := c.s.dgSend(p, netip.AddrPort{})
	return n, c.err("write", netip.AddrPort{}, err)
}

// ReadFrom implements net.PacketConn.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.s.dgRecv(p)
	if err != nil {
		return 0, nil, c.err("read", netip.AddrPort{}, err)
	}
	return n, udpAddr(from), nil
}

// ReadFromUDPAddrPort is ReadFrom without the allocation of a net.Addr.
func (c *UDPConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	n, from, err := c.s.dgRecv(p)
	return n, from, c.err("read", netip.AddrPort{}, err)
}

// WriteTo implements net.PacketConn; addr is a *net.UDPAddr (or any
// net.Addr whose String is an IP literal and a port).
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var a netip.AddrPort
	switch x := addr.(type) {
	case *net.UDPAddr:
		a = x.AddrPort()
	case nil:
		return 0, c.err("write", a, syscall.EINVAL)
	default:
		var err error
		if a, err = netip.ParseAddrPort(addr.String()); err != nil {
			return 0, c.err("write", a, &net.AddrError{Err: "not an IP literal and port", Addr: addr.String()})
		}
	}
	return c.WriteToUDPAddrPort(p, a)
}

// WriteToUDPAddrPort is WriteTo without a net.Addr.
func (c *UDPConn) WriteToUDPAddrPort(p []byte, a netip.AddrPort) (int, error) {
	if !a.IsValid() {
		return 0, c.err("write", a, syscall.EINVAL)
	}
	n, err := c.s.dgSend(p, a)
	return n, c.err("write", a, err)
}

// Close implements net.Conn: the port is free at once, and calls waiting
// return net.ErrClosed.
func (c *UDPConn) Close() error { return c.err("close", netip.AddrPort{}, c.s.Close()) }

// LocalAddr implements net.Conn.
func (c *UDPConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn: the peer of a connected socket, nil
// otherwise (as *net.UDPConn).
func (c *UDPConn) RemoteAddr() net.Addr {
	if c.raddr == nil {
		return nil
	}
	return c.raddr
}

// SetDeadline implements net.Conn.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.s.SetReadDeadline(t)
	c.s.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *UDPConn) SetReadDeadline(t time.Time) error { c.s.SetReadDeadline(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *UDPConn) SetWriteDeadline(t time.Time) error { c.s.SetWriteDeadline(t); return nil }

// SetReadBuffer sets SO_RCVBUF: the bytes of datagrams the socket queues
// before it drops more (udp_fullsock).
func (c *UDPConn) SetReadBuffer(bytes int) error {
	return c.err("set", netip.AddrPort{}, c.s.SetSockOpt(SOL_SOCKET, SO_RCVBUF, intVal(bytes)))
}

// SetWriteBuffer sets SO_SNDBUF: the bytes of datagrams queued for the
// core to send, and the largest datagram.
func (c *UDPConn) SetWriteBuffer(bytes int) error {
	return c.err("set", netip.AddrPort{}, c.s.SetSockOpt(SOL_SOCKET, SO_SNDBUF, intVal(bytes)))
}

// Socket returns the connection's socket.
func (c *UDPConn) Socket() *Socket { return c.s }
