package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var (
	srvAddr4 = netip.MustParseAddr("198.18.0.1")
	cliAddr4 = netip.MustParseAddr("198.18.0.2")
	noHost4  = netip.MustParseAddr("198.18.0.99") // on the link, never answers ARP
)

// sockPair is two running engines joined by an in-memory link: srv at
// 198.18.0.1 / 2001:2::1, cli at .2 / ::2.
type sockPair struct {
	srv, cli *Engine
}

func newSockPair(t testing.TB, mod func(*tcp.Config)) *sockPair {
	t.Helper()
	return newSockPairWith(t, mod, nil)
}

// newSockPairWith is newSockPair with emod changing both engines' Config.
func newSockPairWith(t testing.TB, mod func(*tcp.Config), emod func(*Config)) *sockPair {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tcp.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	idle := cores.IdlePolicy{SleepAfter: 64, SleepFor: 200 * time.Microsecond}
	mk := func(l rings.Link, mac net.HardwareAddr, a4, a6 string) *Engine {
		ec := Config{MAC: mac, CPUs: []int{0}, Idle: idle, TCP: &cfg,
			Addrs: []netip.Prefix{netip.MustParsePrefix(a4), netip.MustParsePrefix(a6)}}
		if emod != nil {
			emod(&ec)
		}
		e, err := New(ec, []rings.Link{l})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	p := &sockPair{srv: mk(la, ourMAC, "198.18.0.1/24", "2001:2::1/64"), cli: mk(lb, peerMAC, "198.18.0.2/24", "2001:2::2/64")}
	t.Cleanup(func() {
		p.cli.Stop()
		p.srv.Stop()
		la.Close()
		lb.Close()
	})
	return p
}

func echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

func serveEcho(t testing.TB, l net.Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
}

// A net.Conn from DialContext talks to a net.Listener on the other engine,
// both families, and a byte stream comes back intact.
func TestNetConnEchoBothFamilies(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	for _, addr := range []string{"198.18.0.1:7", "[2001:2::1]:7"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := p.cli.DialContext(ctx, "tcp", addr)
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		want := make([]byte, 300_000)
		rand.Read(want)
		go func() {
			c.Write(want)
			c.(*TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%s: read: %v", addr, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: echoed %d bytes, differ from the %d sent", addr, len(got), len(want))
		}
		if ra := c.RemoteAddr().(*net.TCPAddr); ra.Port != 7 || ra.AddrPort().Addr().String() != addr[:len(addr)-2] && "["+ra.AddrPort().Addr().String()+"]" != addr[:len(addr)-2] {
			t.Fatalf("RemoteAddr %v for %s", ra, addr)
		}
		c.Close()
	}
}

func mustSocket(t *testing.T, e *Engine, v6 bool) *Socket {
	t.Helper()
	s, err := e.socketFor(v6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The errno of every socket call in every state tcp(4) and tcp_socket.c
// name, one row each.
func TestSocketErrnoTable(t *testing.T) {
	p := newSockPair(t, nil)
	lst, err := p.srv.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := lst.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { lst.Close() })
	srv := netip.AddrPortFrom(srvAddr4, 80)

	idle := func(t *testing.T) *Socket { return mustSocket(t, p.cli, false) }
	bound := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Bind(netip.AddrPortFrom(cliAddr4, 0)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	listening := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Listen(8); err != nil {
			t.Fatal(err)
		}
		return s
	}
	connecting := func(t *testing.T) *Socket {
		s := idle(t)
		s.SetNonblock(true)
		if err := s.Connect(netip.AddrPortFrom(noHost4, 80)); err != syscall.EINPROGRESS {
			t.Fatalf("non-blocking connect: %v, want EINPROGRESS", err)
		}
		return s
	}
	connected := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Connect(srv); err != nil {
			t.Fatal(err)
		}
		c := <-accepted
		t.Cleanup(func() { c.Close() })
		return s
	}
	// reset: connected, then the server resets the connection.
	reset := func(t *testing.T) *Socket {
		s := idle(t)
		if err := s.Connect(srv); err != nil {
			t.Fatal(err)
		}
		c := <-accepted
		c.(*TCPConn).SetLinger(0)
		c.Close()
		waitState(t, s, sockDisconnected)
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
		{"bind/listening", listening, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(cliAddr4, 0)) }, syscall.EINVAL},
		{"bind/connected", connected, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(cliAddr4, 0)) }, syscall.EINVAL},
		{"bind/address not ours", idle, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(noHost4, 0)) }, syscall.EADDRNOTAVAIL},
		{"bind/multicast", idle, func(s *Socket) error { return s.Bind(netip.MustParseAddrPort("224.0.0.1:5")) }, syscall.EAFNOSUPPORT},
		{"bind/IPv6 address on an IPv4 socket", idle, func(s *Socket) error { return s.Bind(netip.MustParseAddrPort("[2001:2::2]:5")) }, syscall.EAFNOSUPPORT},
		{"bind/port of a listener", idle, func(s *Socket) error {
			l := listening(t)
			a, _ := l.GetSockName()
			return s.Bind(netip.AddrPortFrom(cliAddr4, a.Port()))
		}, syscall.EADDRINUSE},
		{"unbind/bound", bound, func(s *Socket) error { return s.Unbind() }, nil},
		{"unbind/listening", listening, func(s *Socket) error { return s.Unbind() }, syscall.EINVAL},
		{"listen/connecting", connecting, func(s *Socket) error { return s.Listen(1) }, syscall.EINVAL},
		{"listen/connected", connected, func(s *Socket) error { return s.Listen(1) }, syscall.EINVAL},
		{"accept/not listening", idle, func(s *Socket) error { _, _, err := s.Accept(); return err }, syscall.EINVAL},
		{"accept/non-blocking, none waiting", listening, func(s *Socket) error {
			s.SetNonblock(true)
			_, _, err := s.Accept()
			return err
		}, syscall.EAGAIN},
		{"connect/SYN_SENT", connecting, func(s *Socket) error { return s.Connect(netip.AddrPortFrom(noHost4, 80)) }, syscall.EALREADY},
		{"connect/ESTABLISHED", connected, func(s *Socket) error { return s.Connect(srv) }, syscall.EISCONN},
		{"connect/LISTEN", listening, func(s *Socket) error { return s.Connect(srv) }, syscall.EOPNOTSUPP},
		{"connect/after the connection ended", reset, func(s *Socket) error { return s.Connect(srv) }, syscall.EINVAL},
		{"connect/closed port", idle, func(s *Socket) error { return s.Connect(netip.AddrPortFrom(srvAddr4, 81)) }, syscall.ECONNREFUSED},
		{"connect/no answer within TCP_KEEPINIT", idle, func(s *Socket) error {
			if err := s.SetSockOpt(IPPROTO_TCP, TCP_KEEPINIT, intVal(1)); err != nil {
				return err
			}
			return s.Connect(netip.AddrPortFrom(noHost4, 80))
		}, syscall.ETIMEDOUT},
		{"connect/unspecified address", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("0.0.0.0:80")) }, syscall.EADDRNOTAVAIL},
		{"connect/multicast", idle, func(s *Socket) error { return s.Connect(netip.MustParseAddrPort("224.0.0.1:80")) }, syscall.EAFNOSUPPORT},
		{"send/not connected", idle, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.ENOTCONN},
		{"send/SYN_SENT", connecting, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.ENOTCONN},
		{"send/after SHUT_WR", connected, func(s *Socket) error {
			if err := s.Shutdown(SHUT_WR); err != nil {
				return err
			}
			_, err := s.Send(buf)
			return err
		}, syscall.EPIPE},
		{"send/after a reset", reset, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.ECONNRESET},
		{"send/after a reset, again", reset, func(s *Socket) error {
			s.Send(buf)
			_, err := s.Send(buf)
			return err
		}, syscall.EPIPE},
		{"send/non-blocking, send buffer full", connected, func(s *Socket) error {
			s.SetNonblock(true)
			big := make([]byte, 1<<20)
			for i := 0; i < 64; i++ {
				if _, err := s.Send(big); err != nil {
					return err
				}
			}
			return nil
		}, syscall.EAGAIN},
		{"recv/not connected", idle, func(s *Socket) error { _, err := s.Recv(buf); return err }, syscall.ENOTCONN},
		{"recv/non-blocking, no data", connected, func(s *Socket) error {
			s.SetNonblock(true)
			_, err := s.Recv(buf)
			return err
		}, syscall.EAGAIN},
		{"recv/after SHUT_RD", connected, func(s *Socket) error {
			s.Shutdown(SHUT_RD)
			_, err := s.Recv(buf)
			return err
		}, io.EOF},
		{"shutdown/idle", idle, func(s *Socket) error { return s.Shutdown(SHUT_WR) }, syscall.ENOTCONN},
		{"shutdown/bound", bound, func(s *Socket) error { return s.Shutdown(SHUT_RDWR) }, syscall.ENOTCONN},
		{"shutdown/listening", listening, func(s *Socket) error { return s.Shutdown(SHUT_RD) }, syscall.ENOTCONN},
		{"shutdown/bad how", connected, func(s *Socket) error { return s.Shutdown(7) }, syscall.EINVAL},
		{"getpeername/idle", idle, func(s *Socket) error { _, err := s.GetPeerName(); return err }, syscall.ENOTCONN},
		{"getpeername/SYN_SENT", connecting, func(s *Socket) error { _, err := s.GetPeerName(); return err }, syscall.ENOTCONN},
		{"getpeername/connected", connected, func(s *Socket) error {
			a, err := s.GetPeerName()
			if err == nil && a != srv {
				return errors.New("wrong peer " + a.String())
			}
			return err
		}, nil},
		{"setsockopt/wrong level", idle, func(s *Socket) error { return s.SetSockOpt(17, TCP_NODELAY, intVal(1)) }, syscall.ENOPROTOOPT},
		{"setsockopt/unknown option", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, 0x7777, intVal(1)) }, syscall.ENOPROTOOPT},
		{"setsockopt/wrong length", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_NODELAY, []byte{1}) }, syscall.EINVAL},
		{"setsockopt/TCP_MAXSEG too small", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_MAXSEG, intVal(10)) }, syscall.EINVAL},
		{"setsockopt/TCP_KEEPIDLE 0", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_KEEPIDLE, intVal(0)) }, syscall.EINVAL},
		{"setsockopt/TCP_CONGESTION unknown", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_CONGESTION, []byte("bbr")) }, syscall.ENOENT},
		{"setsockopt/TCP_INFO is read-only", idle, func(s *Socket) error { return s.SetSockOpt(IPPROTO_TCP, TCP_INFO, make([]byte, TCPInfoLen)) }, syscall.ENOPROTOOPT},
		{"setsockopt/SO_LINGER wrong length", idle, func(s *Socket) error { return s.SetSockOpt(SOL_SOCKET, SO_LINGER, intVal(1)) }, syscall.EINVAL},
		{"getsockopt/short buffer", idle, func(s *Socket) error { _, err := s.GetSockOpt(IPPROTO_TCP, TCP_NODELAY, []byte{0}); return err }, syscall.EINVAL},
		{"getsockopt/TCP_INFO short buffer is cut", connected, func(s *Socket) error {
			n, err := s.GetSockOpt(IPPROTO_TCP, TCP_INFO, make([]byte, 8))
			if err == nil && n != 8 {
				return errors.New("not cut to the buffer")
			}
			return err
		}, nil},
		{"getsockopt/unknown option", idle, func(s *Socket) error { _, err := s.GetSockOpt(SOL_SOCKET, syscall.SO_RCVTIMEO, intVal(0)); return err }, syscall.ENOPROTOOPT},
		{"close/closed", closed, func(s *Socket) error { return s.Close() }, syscall.EBADF},
		{"send/closed", closed, func(s *Socket) error { _, err := s.Send(buf); return err }, syscall.EBADF},
		{"bind/closed", closed, func(s *Socket) error { return s.Bind(netip.AddrPortFrom(cliAddr4, 0)) }, syscall.EBADF},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			s := r.sock(t)
			if err := r.call(s); !errors.Is(err, r.errno) && err != r.errno {
				t.Fatalf("got %v, want %v", err, r.errno)
			}
		})
	}
	// socket(2) itself.
	for _, c := range []struct{ d, ty, pr int }{
		{syscall.AF_UNIX, syscall.SOCK_STREAM, 0},
		{syscall.AF_INET, syscall.SOCK_RAW, 0},
		{syscall.AF_INET, syscall.SOCK_DGRAM, IPPROTO_TCP},
		{syscall.AF_INET6, syscall.SOCK_STREAM, 17},
	} {
		if _, err := p.cli.Socket(c.d, c.ty, c.pr); err != syscall.EPROTONOSUPPORT {
			t.Errorf("socket(%d, %d, %d) = %v, want EPROTONOSUPPORT", c.d, c.ty, c.pr, err)
		}
	}
}

func waitState(t *testing.T, s *Socket, st sockState) {
	t.Helper()
	for i := 0; s.st() != st; i++ {
		if i == 5000 {
			t.Fatalf("socket state %d, want %d", s.st(), st)
		}
		time.Sleep(time.Millisecond)
	}
}

// The options a socket sets reach its connection, and TCP_INFO reports
// the connection.
func TestSocketOptionsReachTheConnection(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	s := mustSocket(t, p.cli, false)
	for _, o := range []struct{ level, name, v int }{
		{IPPROTO_TCP, TCP_MAXSEG, 536}, {IPPROTO_TCP, TCP_KEEPIDLE, 30}, {IPPROTO_TCP, TCP_KEEPCNT, 3},
		{SOL_SOCKET, SO_KEEPALIVE, 1}, {SOL_SOCKET, SO_RCVBUF, 1 << 20}, {IPPROTO_TCP, TCP_NODELAY, 1},
	} {
		if err := s.SetSockOpt(o.level, o.name, intVal(o.v)); err != nil {
			t.Fatalf("setsockopt(%#x, %#x, %d): %v", o.level, o.name, o.v, err)
		}
	}
	if err := s.SetSockOpt(IPPROTO_TCP, TCP_CONGESTION, []byte("newreno")); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(netip.AddrPortFrom(srvAddr4, 9)); err != nil {
		t.Fatal(err)
	}
	info, err := s.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.State != tcp.Established || info.SndMSS != 536-12 && info.SndMSS != 536 || info.CC != "newreno" ||
		info.KeepIdle != 30e9 || info.KeepCnt != 3 || !info.WScale || info.RcvScale == 0 {
		t.Fatalf("TCP_INFO %+v", info)
	}
	b := make([]byte, TCPInfoLen)
	if n, err := s.GetSockOpt(IPPROTO_TCP, TCP_INFO, b); err != nil || n != TCPInfoLen || b[0] != 1 { // Linux's TCP_ESTABLISHED
		t.Fatalf("getsockopt(TCP_INFO) = %d, %v, state byte %d", n, err, b[0])
	}
	cc := make([]byte, TCPCANameMax)
	if n, err := s.GetSockOpt(IPPROTO_TCP, TCP_CONGESTION, cc); err != nil || string(cc[:n]) != "newreno" {
		t.Fatalf("getsockopt(TCP_CONGESTION) = %q, %v", cc[:n], err)
	}
	v := make([]byte, 4)
	if _, err := s.GetSockOpt(IPPROTO_TCP, TCP_MAXSEG, v); err != nil || binary.NativeEndian.Uint32(v) != 536 {
		t.Fatalf("getsockopt(TCP_MAXSEG) = %d, %v", binary.NativeEndian.Uint32(v), err)
	}
}

// SO_REUSEADDR decides whether a port held by TIME_WAIT entries can be
// bound, and the entries of every core count.
func TestBindOverTimeWait(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	// The client closes first: its side of the 4-tuple enters TIME_WAIT.
	s := mustSocket(t, p.cli, false)
	if err := s.Bind(netip.AddrPortFrom(cliAddr4, 40000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(netip.AddrPortFrom(srvAddr4, 80)); err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("x"))
	s.Recv(make([]byte, 1))
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for p.cli.timeWaitEntries() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no TIME_WAIT entry")
		}
		time.Sleep(time.Millisecond)
	}
	again := mustSocket(t, p.cli, false)
	if err := again.Bind(netip.AddrPortFrom(cliAddr4, 40000)); err != syscall.EADDRINUSE {
		t.Fatalf("bind over TIME_WAIT without SO_REUSEADDR: %v, want EADDRINUSE", err)
	}
	if err := again.SetSockOpt(SOL_SOCKET, SO_REUSEADDR, intVal(1)); err != nil {
		t.Fatal(err)
	}
	if err := again.Bind(netip.AddrPortFrom(cliAddr4, 40000)); err != nil {
		t.Fatalf("bind over TIME_WAIT with SO_REUSEADDR: %v", err)
	}
	// The 4-tuple is still in TIME_WAIT, and tw_reuse is off.
	if err := again.Connect(netip.AddrPortFrom(srvAddr4, 80)); err != syscall.EADDRINUSE {
		t.Fatalf("connect onto a TIME_WAIT 4-tuple: %v, want EADDRINUSE", err)
	}
}

func (e *Engine) timeWaitEntries() int {
	n := 0
	for i, c := range e.cores {
		e.onCore(i, func(*Core) { n += c.tcp.TimeWaitEntries() })
	}
	return n
}

// Calls on an engine that has stopped return an error; none hangs.
func TestSocketCallsAfterStop(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	c, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		readErr <- err
	}()
	p.cli.Stop()
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrEngineStopped) {
			t.Fatalf("blocked Read after Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after Stop")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrEngineStopped) {
		t.Fatalf("Write after Stop: %v", err)
	}
	if _, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7"); !errors.Is(err, ErrEngineStopped) {
		t.Fatalf("Dial after Stop: %v", err)
	}
}

// Errors carry the errno through *net.OpError; a closed Conn says
// net.ErrClosed; a deadline says os.ErrDeadlineExceeded.
func TestNetConnErrors(t *testing.T) {
	p := newSockPair(t, nil)
	_, err := p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:81")
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a closed port: %v", err)
	}
	if _, err := p.cli.DialContext(context.Background(), "sctp", "198.18.0.1:81"); err == nil {
		t.Fatal("dial sctp succeeded")
	}
	if _, err := p.cli.DialContext(context.Background(), "tcp", "example.com:80"); err == nil {
		t.Fatal("dial a host name succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.cli.DialContext(ctx, "tcp", noHost4.String()+":80"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dial with an expiring context: %v", err)
	}
	l, err := p.srv.Listen("tcp4", "198.18.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	c, err := p.cli.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	c.Close()
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// 64 goroutines share connections, calling Read, Write, Close and the
// deadline setters at once: the race detector stays quiet, every call
// returns, and no goroutine or connection outlives the test.
func TestNetConnConcurrentCalls(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	before := runtime.NumGoroutine()
	const conns, workers = 8, 64
	cs := make([]net.Conn, conns)
	for i := range cs {
		if cs[i], err = p.cli.DialContext(context.Background(), "tcp", "198.18.0.1:7"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%conns]
			buf := make([]byte, 512)
			for i := 0; i < 200; i++ {
				switch (w + i) % 5 {
				case 0, 1:
					c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
					c.Write(buf[:1+i%512])
				case 2, 3:
					c.SetReadDeadline(time.Now().Add(time.Millisecond))
					c.Read(buf)
				case 4:
					// Not the zero time: a reader that lost its deadline to
					// it could wait for data no worker will send any more.
					c.SetDeadline(time.Now().Add(2 * time.Millisecond))
				}
				if w < conns && i == 150 {
					c.Close() // the others see net.ErrClosed from here on
				}
			}
		}(w)
	}
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	// The server sees every connection end; both shards drain.
	deadline := time.Now().Add(10 * time.Second)
	for p.srv.liveConns()+p.cli.liveConns() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections left: server %d, client %d", p.srv.liveConns(), p.cli.liveConns())
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *Engine) liveConns() int {
	n := 0
	for i, c := range e.cores {
		e.onCore(i, func(*Core) { n += c.tcp.Conns() })
	}
	return n
}

// An ephemeral pick never takes a port a socket has bound.
func TestEphemeralPortsSkipBoundPorts(t *testing.T) {
	p := newSockPair(t, func(c *tcp.Config) { c.PortFirst, c.PortLast = 50000, 50001 })
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	held := mustSocket(t, p.cli, false)
	if err := held.Bind(netip.AddrPortFrom(cliAddr4, 50000)); err != nil {
		t.Fatal(err)
	}
	c, err := p.cli.Dial("tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if port := c.LocalAddr().(*net.TCPAddr).Port; port != 50001 {
		t.Fatalf("dial took port %d, want 50001 (50000 is bound)", port)
	}
	if _, err := p.cli.Dial("tcp", "198.18.0.1:7"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("dial with the range used up: %v, want EADDRNOTAVAIL", err)
	}
	held.Close()
	c2, err := p.cli.Dial("tcp", "198.18.0.1:7")
	if err != nil {
		t.Fatalf("dial after the bound socket closed: %v", err)
	}
	c2.Close()
}

// The engine tells nolocaltimewait which addresses are its own.
func TestLocalAddrsForNoLocalTimeWait(t *testing.T) {
	local := localAddrs([]netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")})
	for a, want := range map[string]bool{"198.18.0.1": true, "2001:2::1": true, "127.0.0.1": true, "::1": true,
		"198.18.0.2": false, "2001:2::2": false} {
		if got := local(netip.MustParseAddr(a).As16()); got != want {
			t.Errorf("%s: local %v, want %v", a, got, want)
		}
	}
	cfg := tcp.DefaultConfig()
	e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, TCP: &cfg, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}},
		[]rings.Link{newFakeLink(t)})
	if err != nil {
		t.Fatal(err)
	}
	sc := e.cores[0].tcp.Config()
	if sc.Local == nil || !sc.Local(netip.MustParseAddr("198.18.0.1").As16()) || sc.Local(netip.MustParseAddr("198.18.0.2").As16()) {
		t.Fatal("the engine's shards do not know its addresses")
	}
}

// Drain closes every connection in order: the peer reads every byte and
// then EOF (no reset), and pollstack's side ends in TIME_WAIT.
func TestDrainClosesConnectionsInOrder(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	var cs []net.Conn
	for i := 0; i < 4; i++ {
		c, err := p.cli.Dial("tcp", "198.18.0.1:9")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for i := 0; i < 4; i++ {
		s := <-got
		s.Write(make([]byte, 20_000)) // queued when the drain starts (it fits the send buffer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() {
		_, err := p.srv.Drain(ctx)
		drained <- err
	}()
	for _, c := range cs {
		b, err := io.ReadAll(c)
		if err != nil || len(b) != 20_000 {
			t.Fatalf("the peer read %d bytes, %v; want 20000 then EOF", len(b), err)
		}
		c.Close()
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := p.srv.timeWaitEntries(); n != 4 {
		t.Fatalf("%d TIME_WAIT entries after the drain, want 4", n)
	}
	if _, err := p.cli.Dial("tcp", "198.18.0.1:9"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after the drain: %v, want ECONNREFUSED (the listener is gone)", err)
	}
}

// Two engines of one boot give their shards the same timestamp key and a
// clock base on the system's monotonic clock (their ISN keys differ), so a
// restarted pollstack's timestamps keep rising on a 4-tuple.
func TestEnginesShareTheTimestampKeyOfTheBoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the boot id is Linux's")
	}
	mk := func() tcp.Config {
		cfg := tcp.DefaultConfig()
		e, err := New(Config{MAC: ourMAC, CPUs: []int{0}, TCP: &cfg, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}},
			[]rings.Link{newFakeLink(t)})
		if err != nil {
			t.Fatal(err)
		}
		return e.cores[0].tcp.Config()
	}
	a, b := mk(), mk()
	if a.TSKey != b.TSKey || a.TSKey == [16]byte{} || a.ISNKey == b.ISNKey {
		t.Fatalf("timestamp keys %x / %x, ISN keys equal: %v", a.TSKey, b.TSKey, a.ISNKey == b.ISNKey)
	}
	if a.TSBase == 0 || b.TSBase-a.TSBase > time.Second || a.TSBase-b.TSBase > time.Second {
		t.Fatalf("timestamp clock bases %d and %d", a.TSBase, b.TSBase)
	}
}
