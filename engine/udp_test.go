package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// serveUDPEcho echoes every datagram on pc back to its source.
func serveUDPEcho(t testing.TB, pc *UDPConn) {
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || errors.Is(err, ErrEngineStopped) {
					return
				}
				continue
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close() })
}

// udpTotals publishes every core's counters, on its core, and sums them.
func udpTotals(e *Engine) Counters {
	for _, c := range e.cores {
		e.onCore(c.id, func(c *Core) { c.Publish(c.now) })
	}
	return e.Totals()
}

// Datagrams of every size up to the largest, both families, go through a
// connected Dial("udp") to a ListenPacket on the other engine and come
// back whole; those over the MTU travel in fragments both ways.
func TestUDPEchoBothFamilies(t *testing.T) {
	p := newSockPair(t, nil)
	pc, err := p.srv.ListenUDP("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveUDPEcho(t, pc)
	for _, addr := range []string{"198.18.0.1:7", "[2001:2::1]:7"} {
		c, err := p.cli.Dial("udp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		max := maxDatagram4
		if addr[0] == '[' {
			max = maxDatagram6
		}
		got := make([]byte, 65536)
		for _, size := range []int{0, 1, 7, 1472, 1473, 1452, 1453, 8192, 30000, max} {
			want := make([]byte, size)
			rand.Read(want)
			if n, err := c.Write(want); err != nil || n != size {
				t.Fatalf("%s: write %d: %d, %v", addr, size, n, err)
			}
			n, err := c.Read(got)
			if err != nil {
				t.Fatalf("%s: read %d: %v", addr, size, err)
			}
			if !bytes.Equal(got[:n], want) {
				t.Fatalf("%s: echoed %d bytes differ from the %d sent", addr, n, size)
			}
		}
		if n, err := c.Write(make([]byte, max+1)); !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("%s: write of %d bytes: %d, %v; want EMSGSIZE", addr, max+1, n, err)
		}
		c.Close()
	}
	st, ct := udpTotals(p.srv), udpTotals(p.cli)
	for _, x := range []struct {
		name string
		v    uint64
	}{
		{"server ip_reassembled", st[IPReassembled]}, {"server ip6_reassembled", st[IP6Reassembled]},
		{"client ip_reassembled", ct[IPReassembled]}, {"client ip6_reassembled", ct[IP6Reassembled]},
		{"server ip_fragmented", st[IPFragmented]}, {"client ip6_fragmented", ct[IP6Fragmented]},
		{"server udp_opackets", st[UDPOPackets]}, {"client udp_ipackets", ct[UDPIPackets]},
	} {
		if x.v == 0 {
			t.Errorf("%s = 0", x.name)
		}
	}
	if st[UDPBadSum]+ct[UDPBadSum]+st[IPFragDropped]+st[IP6FragDropped] != 0 {
		t.Errorf("bad checksums %d/%d, fragments dropped %d/%d", st[UDPBadSum], ct[UDPBadSum], st[IPFragDropped], st[IP6FragDropped])
	}
}

// A datagram to a port no socket holds draws a port unreachable, which a
// connected socket reports as ECONNREFUSED (once), both families.
func TestUDPPortUnreachableRefuses(t *testing.T) {
	p := newSockPair(t, nil)
	for _, addr := range []string{"198.18.0.1:9", "[2001:2::1]:9"} {
		c, err := p.cli.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		_, err = c.Read(make([]byte, 16))
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) {
			t.Fatalf("%s: read: %v, want ECONNREFUSED in a *net.OpError", addr, err)
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: second read: %v, want the deadline (the error is reported once)", addr, err)
		}
		c.Close()
	}
	if st := udpTotals(p.srv); st[UDPNoPort] != 2 || st[ICMPUnreachOut] != 2 {
		t.Fatalf("server: udp_noport %d, icmp_unreach_out %d; want 2 and 2", st[UDPNoPort], st[ICMPUnreachOut])
	}
	if ct := udpTotals(p.cli); ct[ICMPUnreachIn] != 2 {
		t.Fatalf("client: icmp_unreach_in %d, want 2", ct[ICMPUnreachIn])
	}
}

// The errno of every datagram socket call in the states udp(4) and
// FreeBSD's udp_usrreqs name, as TestSocketErrnoTable does for TCP.
func TestUDPSocketErrnoTable(t *testing.T) {
	p := newSockPair(t, nil)
	pc, err := p.srv.ListenUDP("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	serveUDPEcho(t, pc)
	srv := netip.AddrPortFrom(srvAddr4, 53)
	mk := func(t *testing.T, v6 bool) *Socket {
		d := syscall.AF_INET
		if v6 {
			d = syscall.AF_INET6
		}
		s, err := p.cli.Socket(d, syscall.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	idle := func(t *testing.T) *Socket { return mk(t, false) }
	bound := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Bind(netip.AddrPortFrom(cliAddr4, 0)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	connected := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Connect(srv); err != nil {
			t.Fatal(err)
		}
		return s
	}
	refused := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Connect(netip.AddrPortFrom(srvAddr4, 54)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send([]byte("x")); err != nil {
			t.Fatal(err)
		}
		for i := 0; s.soErr.Load() == 0; i++ {
			if i == 5000 {
				t.Fatal("no port unreachable came back")
			}
			time.Sleep(time.Millisecond)
		}
		return s
	}
	closed := func(t *testing.T) *Socket {
		s := idle(t)
		s.Close()
		return s
	}
	buf := make([]byte, 64)
	rows := []struct {
		name  string
		sock  func(*testing.T) *Socket
		call  func(*Socket) error
		errno error
	}{
		{"bind/bound", bound, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(cliAddr4, 0)) }, syscall.EINVAL},
		{"bind/address not ours", idle, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(noHost4, 0)) }, syscall.EADDRNOTAVAIL},
		{"bind/IPv6 address on an IPv4 socket", idle, func(s *Socket) error { return s.Bind(netip.MustParseAddrPort("[2001:2::2]:5")) }, syscall.EAFNOSUPPORT},
		{"bind/port in use", idle, func(s *Socket) error {
			o := bound(t)
			a, _ := o.GetSockName()
			return s.Bind(a)
		}, syscall.EADDRINUSE},
		{"bind/port in use, both SO_REUSEPORT", idle, func(s *Socket) error {
			o := idle(t)
			o.SetSockOpt(SOL_SOCKET, SO_REUSEPORT, intVal(1))
			if err := o.Bind(netip.AddrPortFrom(cliAddr4, 4000)); err != nil {
				return err
			}
			s.SetSockOpt(SOL_SOCKET, SO_REUSEPORT, intVal(1))
			return s.Bind(netip.AddrPortFrom(cliAddr4, 4000))
		}, nil},
		{"listen", bound, func(s *Socket) error { return s.Listen(1) }, syscall.EOPNOTSUPP},
		{"accept", bound, func(s *Socket) error { _, _, err := s.Accept(); return err }, syscall.EOPNOTSUPP},
		{"connect/unspecified address", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("0.0.0.0:53")) }, syscall.EADDRNOTAVAIL},
		{"connect/multicast", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("224.0.0.1:53")) }, syscall.EAFNOSUPPORT},
		{"connect/IPv6 peer on an IPv4 socket", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("[2001:2::1]:53")) }, syscall.EAFNOSUPPORT},
		{"connect/no route", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("198.19.0.1:53")) }, syscall.ENETUNREACH},
		{"connect/IPv4 peer, bound to an IPv6 address", func(t *testing.T) *Socket {
			s := mk(t, true)
			if err := s.Bind(netip.MustParseAddrPort("[2001:2::2]:0")); err != nil {
				t.Fatal(err)
			}
			return s
		}, func(s *Socket) error { return s.Connect(srv) }, syscall.EAFNOSUPPORT},
		{"sendto/IPv4 peer, bound to an IPv6 address", func(t *testing.T) *Socket {
			s := mk(t, true)
			if err := s.Bind(netip.MustParseAddrPort("[2001:2::2]:0")); err != nil {
				t.Fatal(err)
			}
			return s
		}, func(s *Socket) error { _, err := s.SendTo(buf, srv); return err }, syscall.EAFNOSUPPORT},
		{"sendto/IPv4 peer from an IPv6 socket bound to ::", func(t *testing.T) *Socket {
			s := mk(t, true)
			if err := s.Bind(netip.MustParseAddrPort("[::]:0")); err != nil {
				t.Fatal(err)
			}
			return s
		}, func(s *Socket) error {
			if _, err := s.SendTo([]byte("dual"), srv); err != nil {
				return err
			}
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := s.RecvFrom(buf)
			if err == nil && (string(buf[:n]) != "dual" || from != srv) {
				return fmt.Errorf("got %q from %v", buf[:n], from)
			}
			return err
		}, nil},
		{"connect/port 0", idle, func(s *Socket) error { return s.Connect(netip.AddrPortFrom(srvAddr4, 0)) }, syscall.EINVAL},
		{"connect/connected: a new peer", connected, func(s *Socket) error { return s.Connect(netip.AddrPortFrom(srvAddr4, 54)) }, nil},
		{"send/not connected", bound, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.ENOTCONN},
		{"sendto/connected", connected, func(s *Socket) error { _, err := s.SendTo(buf, srv); return err }, syscall.EISCONN},
		{"sendto/no route", idle, func(s *Socket) error { _, err := s.SendTo(buf, netip.MustParseAddrPort("198.19.0.1:53")); return err }, syscall.ENETUNREACH},
		{"sendto/unbound binds", idle, func(s *Socket) error {
			if _, err := s.SendTo(buf, srv); err != nil {
				return err
			}
			if a, _ := s.GetSockName(); a.Port() == 0 {
				return errors.New("no port bound")
			}
			return nil
		}, nil},
		{"send/larger than SO_SNDBUF", connected, func(s *Socket) error {
			if err := s.SetSockOpt(SOL_SOCKET, SO_SNDBUF, intVal(1000)); err != nil {
				return err
			}
			_, err := s.Send(make([]byte, 1001))
			return err
		}, syscall.EMSGSIZE},
		{"send/after SHUT_WR", connected, func(s *Socket) error {
			s.Shutdown(SHUT_WR)
			_, err := s.Send(buf)
			return err
		}, syscall.EPIPE},
		{"send/after a port unreachable", refused, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.ECONNREFUSED},
		{"recv/after a port unreachable", refused, func(s *Socket) error { _, err := s.Recv(buf); return err }, syscall.ECONNREFUSED},
		{"getsockopt/SO_ERROR after a port unreachable", refused, func(s *Socket) error {
			v := make([]byte, 4)
			if _, err := s.GetSockOpt(SOL_SOCKET, SO_ERROR, v); err != nil {
				return err
			}
			return syscall.Errno(nativeUint32(v))
		}, syscall.ECONNREFUSED},
		{"recv/non-blocking, nothing queued", bound, func(s *Socket) error {
			s.SetNonblock(true)
			_, err := s.Recv(buf)
			return err
		}, syscall.EAGAIN},
		{"recv/non-blocking, unbound", idle, func(s *Socket) error {
			s.SetNonblock(true)
			_, err := s.Recv(buf)
			return err
		}, syscall.EAGAIN},
		{"recv/deadline", bound, func(s *Socket) error {
			s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := s.Recv(buf)
			return err
		}, os.ErrDeadlineExceeded},
		{"recv/after SHUT_RD", connected, func(s *Socket) error {
			s.Shutdown(SHUT_RD)
			_, err := s.Recv(buf)
			return err
		}, io.EOF},
		{"shutdown/not connected", bound, func(s *Socket) error { return s.Shutdown(SHUT_WR) }, syscall.ENOTCONN},
		{"getpeername/not connected", bound, func(s *Socket) error { _, err := s.GetPeerName(); return err }, syscall.ENOTCONN},
		{"getpeername/connected", connected, func(s *Socket) error {
			a, err := s.GetPeerName()
			if err == nil && a != srv {
				return errors.New("wrong peer " + a.String())
			}
			return err
		}, nil},
		{"setsockopt/TCP level", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_NODELAY, intVal(1)) }, syscall.ENOPROTOOPT},
		{"setsockopt/SO_RCVBUF 0", idle, func(s *Socket) error { return s.SetSockOpt(SOL_SOCKET, SO_RCVBUF, intVal(0)) }, syscall.EINVAL},
		{"setsockopt/SO_RCVBUF beyond maxsockbuf", idle, func(s *Socket) error { return s.SetSockOpt(SOL_SOCKET, SO_RCVBUF, intVal(MaxSockBuf+1)) }, syscall.ENOBUFS},
		{"getsockopt/SO_TYPE", idle, func(s *Socket) error {
			v := make([]byte, 4)
			if _, err := s.GetSockOpt(SOL_SOCKET, SO_TYPE, v); err != nil {
				return err
			}
			if nativeUint32(v) != syscall.SOCK_DGRAM {
				return errors.New("SO_TYPE not SOCK_DGRAM")
			}
			return nil
		}, nil},
		{"close/closed", closed, func(s *Socket) error { return s.Close() }, syscall.EBADF},
		{"sendto/closed", closed, func(s *Socket) error { _, err := s.SendTo(buf, srv); return err }, syscall.EBADF},
		{"recv/closed", closed, func(s *Socket) error { _, err := s.Recv(buf); return err }, syscall.EBADF},
		{"stream call/sendto on TCP", func(t *testing.T) *Socket { return mustSocket(t, p.cli, false) },
			func(s *Socket) error { _, err := s.SendTo(buf, srv); return err }, syscall.EOPNOTSUPP},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			s := r.sock(t)
			if err := r.call(s); !errors.Is(err, r.errno) && err != r.errno {
				t.Fatalf("got %v, want %v", err, r.errno)
			}
		})
	}

	// The adapters wrap the same errnos in *net.OpError.
	if _, err := p.cli.ListenPacket("udp", "198.18.0.99:0"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("ListenPacket on an address not ours: %v", err)
	}
	a, _ := p.cli.ListenUDP("udp4", ":0")
	defer a.Close()
	if _, err := p.cli.ListenPacket("udp4", a.LocalAddr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("ListenPacket on a port in use: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("Write on an unconnected UDPConn: %v", err)
	}
	a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := a.ReadFrom(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrom past the deadline: %v", err)
	}
	if _, err := p.cli.Dial("udp", "[2001:2::1]:0"); err == nil {
		t.Error("Dial to port 0 succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.cli.DialContext(ctx, "udp", "198.18.0.1:53"); !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext with a done context: %v", err)
	}
	a.Close()
	if _, err := a.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 53}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v", err)
	}
}

func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

// On a two-core engine a datagram socket belongs to one core; datagrams
// for it that arrive on the other core's queue (whole, or in fragments
// reassembled there) are handed to it, and every one is received.
func TestUDPDatagramsSteeredToTheSocketsCore(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	if err := b.e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.e.Stop() })
	pc, err := b.e.ListenUDP("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	owner := pc.s.core
	want := map[string]bool{}
	for i := 0; i < 20; i++ {
		v6 := i%4 >= 2
		payload := []byte(fmt.Sprintf("datagram %d", i))
		if i%5 == 0 {
			payload = bytes.Repeat(payload, 300) // in fragments
		}
		want[string(payload)] = true
		for _, f := range fragFrames(t, v6, 53, payload, 1024, uint32(i)) {
			b.inject(t, i%2, f)
		}
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	for len(want) > 0 {
		n, _, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("%d datagrams not received: %v", len(want), err)
		}
		if !want[string(buf[:n])] {
			t.Fatalf("unexpected datagram of %d bytes", n)
		}
		delete(want, string(buf[:n]))
	}
	for _, c := range b.e.cores {
		b.e.onCore(c.id, func(*Core) { c.Publish(0) })
	}
	tot := b.e.Totals()
	other := b.e.cores[1-owner].pub.Load()
	if other[SteeredOut] != 10 || tot[SteeredIn] != 10 || other[IPReassembled]+other[IP6Reassembled] != 2 {
		t.Fatalf("core %d (not the owner): steered out %d, reassembled %d+%d; steered in %d; want 10, 2, 10",
			1-owner, other[SteeredOut], other[IPReassembled], other[IP6Reassembled], tot[SteeredIn])
	}
}

// The adapters' errors, as TestNetConnErrors checks TCP's: a
// *net.OpError around the errno for every call of a ListenPacket conn and
// a connected Dial("udp") conn that fails, net.ErrClosed after Close,
// os.ErrDeadlineExceeded past a deadline.
func TestUDPConnErrnoTable(t *testing.T) {
	p := newSockPair(t, nil)
	srv, err := p.srv.ListenUDP("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	serveUDPEcho(t, srv)
	listener := func(t *testing.T) *UDPConn {
		c, err := p.cli.ListenUDP("udp4", "198.18.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dialled := func(t *testing.T) *UDPConn {
		c, err := p.cli.Dial("udp", "198.18.0.1:53")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*UDPConn)
	}
	refused := func(t *testing.T) *UDPConn {
		c, err := p.cli.Dial("udp6", "[2001:2::1]:54")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		u := c.(*UDPConn)
		u.Write([]byte("x"))
		for i := 0; u.s.soErr.Load() == 0; i++ {
			if i == 5000 {
				t.Fatal("no port unreachable")
			}
			time.Sleep(time.Millisecond)
		}
		return u
	}
	closed := func(t *testing.T) *UDPConn {
		c := dialled(t)
		c.Close()
		return c
	}
	srvAddr := &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 53}
	buf := make([]byte, 64)
	rows := []struct {
		name string
		conn func(*testing.T) *UDPConn
		call func(*UDPConn) error
		want error
	}{
		{"ListenPacket: Write, not connected", listener, func(c *UDPConn) error { _, err := c.Write(buf); return err }, syscall.ENOTCONN},
		{"ListenPacket: WriteTo an IPv6 address on udp4", listener, func(c *UDPConn) error {
			_, err := c.WriteTo(buf, &net.UDPAddr{IP: net.ParseIP("2001:2::1"), Port: 53})
			return err
		}, syscall.EAFNOSUPPORT},
		{"ListenPacket: WriteTo port 0", listener, func(c *UDPConn) error {
			_, err := c.WriteTo(buf, &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1)})
			return err
		}, syscall.EINVAL},
		{"ListenPacket: WriteTo nil", listener, func(c *UDPConn) error { _, err := c.WriteTo(buf, nil); return err }, syscall.EINVAL},
		{"ListenPacket: WriteTo too large", listener, func(c *UDPConn) error { _, err := c.WriteTo(make([]byte, 70000), srvAddr); return err }, syscall.EMSGSIZE},
		{"ListenPacket: WriteTo, ReadFrom echo", listener, func(c *UDPConn) error {
			if _, err := c.WriteTo([]byte("hi"), srvAddr); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFrom(buf)
			if err == nil && (string(buf[:n]) != "hi" || from.String() != "198.18.0.1:53") {
				return fmt.Errorf("read %q from %v", buf[:n], from)
			}
			return err
		}, nil},
		{"ListenPacket: ReadFrom past the deadline", listener, func(c *UDPConn) error {
			c.SetDeadline(time.Now().Add(10 * time.Millisecond))
			_, _, err := c.ReadFrom(buf)
			return err
		}, os.ErrDeadlineExceeded},
		{"ListenPacket: SetReadBuffer 0", listener, func(c *UDPConn) error { return c.SetReadBuffer(0) }, syscall.EINVAL},
		{"ListenPacket: SetWriteBuffer beyond maxsockbuf", listener, func(c *UDPConn) error { return c.SetWriteBuffer(MaxSockBuf + 1) }, syscall.ENOBUFS},
		{"Dial: WriteTo on a connected conn", dialled, func(c *UDPConn) error { _, err := c.WriteTo(buf, srvAddr); return err }, syscall.EISCONN},
		{"Dial: Write, Read echo", dialled, func(c *UDPConn) error {
			if _, err := c.Write([]byte("hello")); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err == nil && string(buf[:n]) != "hello" {
				return fmt.Errorf("read %q", buf[:n])
			}
			return err
		}, nil},
		{"Dial: Read cuts a long datagram", dialled, func(c *UDPConn) error {
			c.Write(make([]byte, 100))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf[:10])
			if err == nil && n != 10 {
				return fmt.Errorf("read %d bytes, want 10", n)
			}
			return err
		}, nil},
		{"Dial: Read past the deadline", dialled, func(c *UDPConn) error {
			c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := c.Read(buf)
			return err
		}, os.ErrDeadlineExceeded},
		{"Dial: Read after a port unreachable", refused, func(c *UDPConn) error { _, err := c.Read(buf); return err }, syscall.ECONNREFUSED},
		{"Dial: Write after a port unreachable", refused, func(c *UDPConn) error { _, err := c.Write(buf); return err }, syscall.ECONNREFUSED},
		{"Dial: Read after Close", closed, func(c *UDPConn) error { _, err := c.Read(buf); return err }, net.ErrClosed},
		{"Dial: Write after Close", closed, func(c *UDPConn) error { _, err := c.Write(buf); return err }, net.ErrClosed},
		{"Dial: Close after Close", closed, func(c *UDPConn) error { return c.Close() }, net.ErrClosed},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := r.call(r.conn(t))
			if !errors.Is(err, r.want) {
				t.Fatalf("got %v, want %v", err, r.want)
			}
			var oe *net.OpError
			if err != nil && !errors.As(err, &oe) {
				t.Fatalf("%v is not a *net.OpError", err)
			}
		})
	}
	// Dial and ListenPacket themselves.
	for _, c := range []struct {
		network, address string
		want             error
	}{
		{"udp4", "[2001:2::1]:53", nil}, // an AddrError: wrong family
		{"udp", "198.18.0.1:0", nil},    // missing port
		{"udp", "name.example:53", nil}, // a name no server answers for
		{"udp", "198.19.0.1:53", syscall.ENETUNREACH},
		{"udp", "224.0.0.1:53", syscall.EAFNOSUPPORT},
	} {
		_, err := p.cli.Dial(c.network, c.address)
		var oe *net.OpError
		if err == nil || !errors.As(err, &oe) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Dial(%q, %q) = %v, want a *net.OpError (%v)", c.network, c.address, err, c.want)
		}
	}
	if _, err := p.cli.ListenPacket("tcp", ":53"); err == nil {
		t.Error("ListenPacket(tcp) succeeded")
	}
	if _, err := p.cli.Listen("udp", ":53"); err == nil {
		t.Error("Listen(udp) succeeded")
	}
}

// BenchmarkUDPEcho is a connected UDP socket's round trip through an echo
// on the other engine over the in-memory link: 64-byte datagrams and
// 8 KiB ones, fragmented and reassembled both ways.
func BenchmarkUDPEcho(b *testing.B) {
	for _, size := range []int{64, 8192} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p := newSockPair(b, nil)
			pc, err := p.srv.ListenUDP("udp", ":7")
			if err != nil {
				b.Fatal(err)
			}
			serveUDPEcho(b, pc)
			c, err := p.cli.Dial("udp", "198.18.0.1:7")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			msg, buf := make([]byte, size), make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
