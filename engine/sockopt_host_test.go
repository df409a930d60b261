package engine

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pollstack/pollstack/tcp"
)

// soReusePort is Linux's SO_REUSEPORT (golang.org/x/sys/unix.SO_REUSEPORT;
// the frozen syscall package lacks it, and engine may not import x/sys).
const soReusePort = 0xf

// The engine's option numbers are the host's: a Go program passes syscall's
// constants. FreeBSD's own options sit in the private range, far from them.
func TestSockOptNumbersAreTheHosts(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"SOL_SOCKET", SOL_SOCKET, syscall.SOL_SOCKET}, {"IPPROTO_TCP", IPPROTO_TCP, syscall.IPPROTO_TCP},
		{"SO_REUSEADDR", SO_REUSEADDR, syscall.SO_REUSEADDR}, {"SO_TYPE", SO_TYPE, syscall.SO_TYPE},
		{"SO_ERROR", SO_ERROR, syscall.SO_ERROR}, {"SO_SNDBUF", SO_SNDBUF, syscall.SO_SNDBUF},
		{"SO_RCVBUF", SO_RCVBUF, syscall.SO_RCVBUF}, {"SO_KEEPALIVE", SO_KEEPALIVE, syscall.SO_KEEPALIVE},
		{"SO_LINGER", SO_LINGER, syscall.SO_LINGER}, {"SO_REUSEPORT", SO_REUSEPORT, soReusePort},
		{"SO_ACCEPTCONN", SO_ACCEPTCONN, syscall.SO_ACCEPTCONN}, {"SO_PROTOCOL", SO_PROTOCOL, syscall.SO_PROTOCOL},
		{"SO_DOMAIN", SO_DOMAIN, syscall.SO_DOMAIN},
		{"TCP_NODELAY", TCP_NODELAY, syscall.TCP_NODELAY}, {"TCP_MAXSEG", TCP_MAXSEG, syscall.TCP_MAXSEG},
		{"TCP_CORK", TCP_CORK, syscall.TCP_CORK}, {"TCP_KEEPIDLE", TCP_KEEPIDLE, syscall.TCP_KEEPIDLE},
		{"TCP_KEEPINTVL", TCP_KEEPINTVL, syscall.TCP_KEEPINTVL}, {"TCP_KEEPCNT", TCP_KEEPCNT, syscall.TCP_KEEPCNT},
		{"TCP_INFO", TCP_INFO, syscall.TCP_INFO}, {"TCP_CONGESTION", TCP_CONGESTION, syscall.TCP_CONGESTION},
	} {
		if c.got != c.want {
			t.Errorf("engine.%s = %#x, the host's is %#x", c.name, c.got, c.want)
		}
	}
	for _, o := range []int{TCP_NOPUSH, TCP_NOOPT, TCP_KEEPINIT} {
		if o < PrivateOptBase || o >= PrivateOptBase+0x1000 {
			t.Errorf("FreeBSD-only option %#x outside the private range", o)
		}
	}
}

// Every supported option through syscall's numbers: set, get back, and
// where the connection shows it, its effect; the options pollstack lacks
// are ENOPROTOOPT, on set and on get.
func TestSockOptHostNumbers(t *testing.T) {
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)

	type row struct {
		name        string
		level, opt  int
		set, want   int                        // want: what getsockopt reads back
		opts        func(tcp.SockOptions) bool // the socket's options after set
		conn        func(tcp.Info) bool        // the connection after set (nil: not observable)
		beforeConnO bool                       // may only be set before connect
	}
	rows := []row{
		{"SO_REUSEADDR", syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1, 1,
			func(o tcp.SockOptions) bool { return o.ReuseAddr }, func(i tcp.Info) bool { return i.ReuseAddr }, false},
		{"SO_REUSEPORT", syscall.SOL_SOCKET, soReusePort, 1, 1,
			func(o tcp.SockOptions) bool { return o.ReusePort }, func(i tcp.Info) bool { return i.ReusePort }, false},
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1, 1,
			func(o tcp.SockOptions) bool { return o.Keepalive }, func(i tcp.Info) bool { return i.Keepalive }, false},
		{"SO_SNDBUF", syscall.SOL_SOCKET, syscall.SO_SNDBUF, 65536, 65536,
			func(o tcp.SockOptions) bool { return o.SendSpace == 65536 }, nil, true},
		{"SO_RCVBUF", syscall.SOL_SOCKET, syscall.SO_RCVBUF, 131072, 131072,
			func(o tcp.SockOptions) bool { return o.RecvSpace == 131072 }, nil, true},
		{"TCP_NODELAY", syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1, 1,
			func(o tcp.SockOptions) bool { return o.NoDelay }, func(i tcp.Info) bool { return i.NoDelay }, false},
		{"TCP_MAXSEG", syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1000, 1000,
			func(o tcp.SockOptions) bool { return o.MaxSeg == 1000 }, func(i tcp.Info) bool { return i.SndMSS <= 1000 }, false},
		{"TCP_CORK", syscall.IPPROTO_TCP, syscall.TCP_CORK, 1, 1,
			func(o tcp.SockOptions) bool { return o.NoPush }, func(i tcp.Info) bool { return i.NoPush }, false},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 77, 77,
			func(o tcp.SockOptions) bool { return o.KeepIdle == 77*time.Second && !o.NoPush },
			func(i tcp.Info) bool { return i.KeepIdle == 77*time.Second && !i.NoPush }, false},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 11, 11,
			func(o tcp.SockOptions) bool { return o.KeepIntvl == 11*time.Second },
			func(i tcp.Info) bool { return i.KeepIntvl == 11*time.Second }, false},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 5, 5,
			func(o tcp.SockOptions) bool { return o.KeepCnt == 5 }, func(i tcp.Info) bool { return i.KeepCnt == 5 }, false},
		// FreeBSD's own, by the engine's names.
		{"TCP_NOPUSH", IPPROTO_TCP, TCP_NOPUSH, 1, 1,
			func(o tcp.SockOptions) bool { return o.NoPush }, func(i tcp.Info) bool { return i.NoPush }, false},
		{"TCP_NOOPT", IPPROTO_TCP, TCP_NOOPT, 1, 1, func(o tcp.SockOptions) bool { return o.NoOpt }, nil, true},
		{"TCP_KEEPINIT", IPPROTO_TCP, TCP_KEEPINIT, 9, 9,
			func(o tcp.SockOptions) bool { return o.KeepInit == 9*time.Second }, nil, true},
	}
	get := func(t *testing.T, s *Socket, level, opt int) int {
		t.Helper()
		v := make([]byte, 4)
		n, err := s.GetSockOpt(level, opt, v)
		if err != nil || n != 4 {
			t.Fatalf("getsockopt(%d, %d) = %d, %v", level, opt, n, err)
		}
		return int(int32(binary.NativeEndian.Uint32(v)))
	}
	opts := func(s *Socket) tcp.SockOptions {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.opts
	}
	connect := func(t *testing.T) *Socket {
		s := mustSocket(t, p.cli, false)
		if err := s.Connect(netip.AddrPortFrom(srvAddr4, 9)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send([]byte("x")); err != nil { // TCP_NODELAY reaches the connection at a send
			t.Fatal(err)
		}
		if _, err := s.Recv(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			s := mustSocket(t, p.cli, false)
			if err := s.SetSockOpt(r.level, r.opt, intVal(r.set)); err != nil {
				t.Fatalf("setsockopt: %v", err)
			}
			if got := get(t, s, r.level, r.opt); got != r.want {
				t.Fatalf("getsockopt = %d, want %d", got, r.want)
			}
			if !r.opts(opts(s)) {
				t.Fatalf("the socket's options %+v", opts(s))
			}
			if r.conn == nil {
				return
			}
			// Set on the connection itself.
			c := connect(t)
			if err := c.SetSockOpt(r.level, r.opt, intVal(r.set)); err != nil {
				t.Fatalf("setsockopt when connected: %v", err)
			}
			if r.opt == syscall.TCP_NODELAY {
				if _, err := c.Send([]byte("y")); err != nil {
					t.Fatal(err)
				}
			}
			info, err := c.TCPInfo()
			if err != nil {
				t.Fatal(err)
			}
			if !r.conn(info) {
				t.Fatalf("the connection %+v", info)
			}
		})
	}
	t.Run("before connect only", func(t *testing.T) {
		c := connect(t)
		for _, r := range rows {
			if r.beforeConnO && r.opt != TCP_KEEPINIT { // TCP_KEEPINIT is taken and unused
				if err := c.SetSockOpt(r.level, r.opt, intVal(r.set)); err != syscall.EINVAL {
					t.Errorf("%s when connected: %v, want EINVAL", r.name, err)
				}
			}
		}
	})
	t.Run("SO_LINGER", func(t *testing.T) {
		s := mustSocket(t, p.cli, false)
		v := make([]byte, 8)
		putNative(v, 1)
		putNative(v[4:], 5)
		if err := s.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_LINGER, v); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 8)
		if n, err := s.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_LINGER, got); err != nil || n != 8 || !bytes.Equal(got, v) || s.linger != 5 {
			t.Fatalf("getsockopt(SO_LINGER) = %d, %v, %x; linger %d", n, err, got, s.linger)
		}
	})
	t.Run("TCP_CONGESTION", func(t *testing.T) {
		c := connect(t)
		if err := c.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, []byte("cubic\x00")); err != nil {
			t.Fatal(err)
		}
		name := make([]byte, TCPCANameMax)
		if n, err := c.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name); err != nil || string(name[:n]) != "cubic" {
			t.Fatalf("getsockopt(TCP_CONGESTION) = %q, %v", name, err)
		}
		if info, err := c.TCPInfo(); err != nil || info.CC != "cubic" {
			t.Fatalf("the connection's CC %q, %v", info.CC, err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		s := mustSocket(t, p.cli, false)
		ls := mustSocket(t, p.cli, true)
		if err := ls.Listen(4); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			name       string
			s          *Socket
			level, opt int
			want       int
		}{
			{"SO_TYPE", s, syscall.SOL_SOCKET, syscall.SO_TYPE, syscall.SOCK_STREAM},
			{"SO_ERROR", s, syscall.SOL_SOCKET, syscall.SO_ERROR, 0},
			{"SO_PROTOCOL", s, syscall.SOL_SOCKET, syscall.SO_PROTOCOL, syscall.IPPROTO_TCP},
			{"SO_DOMAIN", s, syscall.SOL_SOCKET, syscall.SO_DOMAIN, syscall.AF_INET},
			{"SO_DOMAIN v6", ls, syscall.SOL_SOCKET, syscall.SO_DOMAIN, syscall.AF_INET6},
			{"SO_ACCEPTCONN", s, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN, 0},
			{"SO_ACCEPTCONN listening", ls, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN, 1},
		} {
			if got := get(t, r.s, r.level, r.opt); got != r.want {
				t.Errorf("%s = %d, want %d", r.name, got, r.want)
			}
			if err := r.s.SetSockOpt(r.level, r.opt, intVal(1)); err != syscall.ENOPROTOOPT {
				t.Errorf("setsockopt(%s) = %v, want ENOPROTOOPT", r.name, err)
			}
		}
		if err := s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_INFO, make([]byte, TCPInfoLen)); err != syscall.ENOPROTOOPT {
			t.Errorf("setsockopt(TCP_INFO) = %v, want ENOPROTOOPT", err)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		s := mustSocket(t, p.cli, false)
		for _, o := range []struct {
			name       string
			level, opt int
		}{
			{"SO_DEBUG", syscall.SOL_SOCKET, syscall.SO_DEBUG},
			{"SO_DONTROUTE", syscall.SOL_SOCKET, syscall.SO_DONTROUTE},
			{"SO_BROADCAST", syscall.SOL_SOCKET, syscall.SO_BROADCAST},
			{"SO_OOBINLINE", syscall.SOL_SOCKET, syscall.SO_OOBINLINE},
			{"SO_PRIORITY", syscall.SOL_SOCKET, syscall.SO_PRIORITY},
			{"SO_RCVLOWAT", syscall.SOL_SOCKET, syscall.SO_RCVLOWAT},
			{"SO_RCVTIMEO", syscall.SOL_SOCKET, syscall.SO_RCVTIMEO},
			{"SO_SNDTIMEO", syscall.SOL_SOCKET, syscall.SO_SNDTIMEO},
			{"SO_BINDTODEVICE", syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE},
			{"SO_MARK", syscall.SOL_SOCKET, syscall.SO_MARK},
			{"TCP_SYNCNT", syscall.IPPROTO_TCP, syscall.TCP_SYNCNT},
			{"TCP_LINGER2", syscall.IPPROTO_TCP, syscall.TCP_LINGER2},
			{"TCP_DEFER_ACCEPT", syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT},
			{"TCP_WINDOW_CLAMP", syscall.IPPROTO_TCP, syscall.TCP_WINDOW_CLAMP},
			{"TCP_QUICKACK", syscall.IPPROTO_TCP, syscall.TCP_QUICKACK},
			{"TCP_MD5SIG", syscall.IPPROTO_TCP, syscall.TCP_MD5SIG},
			{"TCP_USER_TIMEOUT", syscall.IPPROTO_TCP, 18},
			{"TCP_FASTOPEN", syscall.IPPROTO_TCP, 23},
			{"IP_TOS", syscall.IPPROTO_IP, syscall.IP_TOS},
			{"IPV6_V6ONLY", syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY},
			// FreeBSD's numbers, which the engine took before.
			{"FreeBSD SOL_SOCKET", 0xffff, 0x4},
			{"FreeBSD TCP_INFO", syscall.IPPROTO_TCP, 0x20},
			{"FreeBSD TCP_CONGESTION", syscall.IPPROTO_TCP, 0x40},
			{"FreeBSD TCP_KEEPINIT", syscall.IPPROTO_TCP, 0x80},
			{"FreeBSD TCP_KEEPIDLE", syscall.IPPROTO_TCP, 0x100},
			{"FreeBSD SO_SNDBUF", syscall.SOL_SOCKET, 0x1001},
		} {
			if err := s.SetSockOpt(o.level, o.opt, intVal(1)); err != syscall.ENOPROTOOPT {
				t.Errorf("setsockopt(%s) = %v, want ENOPROTOOPT", o.name, err)
			}
			if _, err := s.GetSockOpt(o.level, o.opt, make([]byte, 64)); err != syscall.ENOPROTOOPT {
				t.Errorf("getsockopt(%s) = %v, want ENOPROTOOPT", o.name, err)
			}
		}
	})
}

// linuxTCPInfo is Linux's struct tcp_info as encoding/binary reads it:
// golang.org/x/sys/unix.TCPInfo's fields in its order, with the two bytes
// after tcpi_options (the window scales, the bit fields) and the tail
// padding that Go's alignment gives unix.TCPInfo made explicit.
type linuxTCPInfo struct {
	State, Ca_state, Retransmits, Probes, Backoff, Options uint8
	Wscale, Bits                                           uint8
	Rto, Ato, Snd_mss, Rcv_mss                             uint32
	Unacked, Sacked, Lost, Retrans, Fackets                uint32
	Last_data_sent, Last_ack_sent                          uint32
	Last_data_recv, Last_ack_recv                          uint32
	Pmtu, Rcv_ssthresh, Rtt, Rttvar                        uint32
	Snd_ssthresh, Snd_cwnd, Advmss, Reordering             uint32
	Rcv_rtt, Rcv_space, Total_retrans                      uint32
	Pacing_rate, Max_pacing_rate                           uint64
	Bytes_acked, Bytes_received                            uint64
	Segs_out, Segs_in, Notsent_bytes, Min_rtt              uint32
	Data_segs_in, Data_segs_out                            uint32
	Delivery_rate, Busy_time, Rwnd_limited, Sndbuf_limited uint64
	Delivered, Delivered_ce                                uint32
	Bytes_sent, Bytes_retrans                              uint64
	Dsack_dups, Reord_seen, Rcv_ooopack                    uint32
	Snd_wnd, Rcv_wnd, Rehash                               uint32
	Total_rto, Total_rto_recoveries                        uint16
	Total_rto_time, Received_ce                            uint32
	Delivered_e1_bytes, Delivered_e0_bytes                 uint32
	Delivered_ce_bytes, Received_e1_bytes                  uint32
	Received_e0_bytes, Received_ce_bytes                   uint32
	_                                                      [4]byte
}

func decodeTCPInfo(t *testing.T, b []byte) linuxTCPInfo {
	t.Helper()
	var i linuxTCPInfo
	if err := binary.Read(bytes.NewReader(b), binary.NativeEndian, &i); err != nil {
		t.Fatal(err)
	}
	return i
}

// TCP_INFO is Linux's struct tcp_info: decoded at Linux's offsets it
// reads what Socket.TCPInfo reports, in Linux's units.
func TestTCPInfoLinuxLayout(t *testing.T) {
	if n := binary.Size(linuxTCPInfo{}); n != TCPInfoLen {
		t.Fatalf("struct tcp_info is %d bytes, TCPInfoLen %d", n, TCPInfoLen)
	}
	p := newSockPair(t, nil)
	l, err := p.srv.Listen("tcp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	s := mustSocket(t, p.cli, false)

	b := make([]byte, TCPInfoLen)
	if n, err := s.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_INFO, b); err != nil || n != TCPInfoLen || b[0] != 7 {
		t.Fatalf("TCP_INFO of a new socket: %d, %v, state %d, want TCP_CLOSE (7)", n, err, b[0])
	}
	if err := s.Connect(netip.AddrPortFrom(srvAddr4, 9)); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 3000)
	if _, err := s.Send(msg); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < len(msg); {
		n, err := s.Recv(msg)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	info, err := s.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_INFO, b)
	if err != nil || n != TCPInfoLen {
		t.Fatalf("getsockopt(TCP_INFO) = %d, %v", n, err)
	}
	li := decodeTCPInfo(t, b)
	mss := uint32(info.SndMSS)
	if li.State != 1 || li.Options != 1|2|4 || li.Wscale != info.SndScale|info.RcvScale<<4 ||
		li.Snd_mss != mss || li.Rcv_mss != uint32(info.RcvMSS) || li.Advmss != uint32(info.RcvMSS) ||
		li.Snd_cwnd == 0 || li.Snd_ssthresh == 0 || li.Rto == 0 || li.Rtt == 0 || li.Rcv_wnd == 0 {
		t.Fatalf("tcp_info %+v\nTCPInfo %+v", li, info)
	}
	// The round trip is over: the fields that move with it have settled.
	if li.Rto != uint32(info.RTO/time.Microsecond) || li.Rtt != uint32(info.RTT/time.Microsecond) ||
		li.Rttvar != uint32(info.RTTVar/time.Microsecond) || li.Snd_cwnd != info.SndCwnd/mss ||
		li.Snd_wnd != info.SndWnd || li.Unacked != 0 || li.Notsent_bytes != 0 {
		t.Errorf("tcp_info %+v\nTCPInfo %+v", li, info)
	}
	// A shorter buffer gets the start, as on Linux (an older struct tcp_info).
	short := make([]byte, 104)
	if n, err := s.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_INFO, short); err != nil || n != 104 || !bytes.Equal(short, b[:104]) {
		t.Fatalf("TCP_INFO into 104 bytes: %d, %v", n, err)
	}

	ls := mustSocket(t, p.cli, false)
	if err := ls.Listen(4); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_INFO, b); err != nil || b[0] != 10 {
		t.Fatalf("TCP_INFO of a listener: %v, state %d, want TCP_LISTEN (10)", err, b[0])
	}
}

// linuxTCPInfo reads the kernel's own TCP_INFO right: the layout the test
// above holds pollstack to is Linux's.
func TestTCPInfoLayoutIsTheKernels(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err) // every Linux machine has loopback
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, TCPInfoLen)
	n := uint32(len(b))
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&n)), 0)
	}); err != nil || errno != 0 {
		t.Fatalf("getsockopt: %v, %v", err, errno)
	}
	li := decodeTCPInfo(t, b)
	if li.State != 1 || li.Options&1 == 0 || li.Snd_mss == 0 || li.Snd_mss > 65535 || li.Advmss == 0 ||
		li.Snd_cwnd == 0 || li.Snd_cwnd > 1000 || li.Rto == 0 {
		t.Fatalf("the kernel's tcp_info (%d bytes) decodes as %+v", n, li)
	}
}
