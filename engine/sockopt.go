// Socket options: setsockopt(2), getsockopt(2) and TCP_INFO's encoding
// (the option numbers are in sockconst.go).

package engine

import (
	"encoding/binary"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// SetSockOpt sets an option (setsockopt(2)). Levels and names are Linux's
// (syscall.SOL_SOCKET, syscall.TCP_KEEPIDLE...; see sockconst.go). Integer
// options take 4 bytes in host order, SO_LINGER 8 ({onoff, seconds}),
// TCP_CONGESTION a name. A wrong level, an option pollstack does not
// implement or a read-only one is ENOPROTOOPT, as on Linux; a wrong length
// or value EINVAL, an unknown congestion control ENOENT.
func (s *Socket) SetSockOpt(level, name int, val []byte) error {
	if s.dg != nil {
		return s.dgSetSockOpt(level, name, val)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return syscall.EBADF
	}
	if s.st() == sockListening {
		defer s.lset.setOpts(&s.opts) // for the connections to come
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
	if !knownOpt(level, name) || readOnlyOpt(level, name) {
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
	case IPPROTO_TCP<<16 | TCP_NODELAY:
		// As illumos does, without entering the squeue: the core reads it
		// at the next send.
		s.noDelay.Store(on)
		s.opts.NoDelay = on
		return nil
	case IPPROTO_TCP<<16 | TCP_CORK, IPPROTO_TCP<<16 | TCP_NOPUSH:
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
	}
	return syscall.ENOPROTOOPT
}

// knownOpt reports whether pollstack implements the option; anything else
// is ENOPROTOOPT.
func knownOpt(level, name int) bool {
	switch level {
	case SOL_SOCKET:
		switch name {
		case SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_LINGER,
			SO_REUSEPORT, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN:
			return true
		}
	case IPPROTO_TCP:
		switch name {
		case TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
			TCP_INFO, TCP_CONGESTION, TCP_NOPUSH, TCP_NOOPT, TCP_KEEPINIT:
			return true
		}
	}
	return false
}

// readOnlyOpt reports whether the option may only be read: setting it is
// ENOPROTOOPT, as on Linux.
func readOnlyOpt(level, name int) bool {
	switch level {
	case SOL_SOCKET:
		return name == SO_TYPE || name == SO_ERROR || name == SO_ACCEPTCONN || name == SO_PROTOCOL || name == SO_DOMAIN
	case IPPROTO_TCP:
		return name == TCP_INFO
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

// GetSockOpt reads an option into val and returns its length
// (getsockopt(2)); val must have room for it (4 bytes for integers, 8 for
// SO_LINGER, TCPCANameMax for TCP_CONGESTION), else EINVAL. TCP_INFO is
// Linux's struct tcp_info, cut to len(val) as Linux cuts it. SO_ERROR
// clears the pending error.
func (s *Socket) GetSockOpt(level, name int, val []byte) (int, error) {
	if s.dg != nil {
		return s.dgGetSockOpt(level, name, val)
	}
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
	case SOL_SOCKET<<16 | SO_SNDBUF, SOL_SOCKET<<16 | SO_RCVBUF:
		set, dflt := s.opts.SendSpace, cfg.SendSpace
		if name == SO_RCVBUF {
			set, dflt = s.opts.RecvSpace, cfg.RecvSpace
		}
		// A connection's buffers may have grown (sendbuf_auto,
		// recvbuf_auto): its size now, as Linux reports sk_sndbuf and
		// sk_rcvbuf.
		if st := s.st(); st == sockConnecting || st == sockConnected {
			info, err := s.info()
			if err != nil {
				return 0, err
			}
			now := info.SndSpace
			if name == SO_RCVBUF {
				now = info.RcvSpace
			}
			if now > 0 {
				return put(now)
			}
		}
		return put(orDefault(set, dflt))
	case SOL_SOCKET<<16 | SO_TYPE:
		return put(syscall.SOCK_STREAM)
	case SOL_SOCKET<<16 | SO_PROTOCOL:
		return put(IPPROTO_TCP)
	case SOL_SOCKET<<16 | SO_DOMAIN:
		if s.v6 {
			return put(syscall.AF_INET6)
		}
		return put(syscall.AF_INET)
	case SOL_SOCKET<<16 | SO_ACCEPTCONN:
		return put(b2i(s.st() == sockListening))
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
	case IPPROTO_TCP<<16 | TCP_CORK, IPPROTO_TCP<<16 | TCP_NOPUSH:
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
		info, err := s.info()
		if err != nil {
			return 0, err
		}
		var b [TCPInfoLen]byte
		encodeInfo(b[:], &info)
		return copy(val, b[:]), nil
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

// Linux's tcp_info: the byte offsets of the fields pollstack fills (the
// kernel's include/uapi/linux/tcp.h, golang.org/x/sys/unix.TCPInfo), its
// tcpi_options bits and its state numbers.
const (
	tiState        = 0
	tiRetransmits  = 2
	tiOptions      = 5
	tiWscale       = 6 // snd_wscale in the low nibble, rcv_wscale in the high
	tiRTO          = 8
	tiSndMSS       = 16
	tiRcvMSS       = 20
	tiUnacked      = 24
	tiRTT          = 68
	tiRTTVar       = 72
	tiSndSsthresh  = 76
	tiSndCwnd      = 80
	tiAdvMSS       = 84
	tiNotsentBytes = 144
	tiSndWnd       = 228
	tiRcvWnd       = 232

	tcpiOptTimestamps = 1
	tcpiOptSACK       = 2
	tcpiOptWscale     = 4

	linuxInfiniteSsthresh = 0x7fffffff // TCP_INFINITE_SSTHRESH
)

// linuxState is Linux's number for a TCP state (TCP_ESTABLISHED = 1 ...).
var linuxState = [...]uint8{
	tcp.Closed:      7,
	tcp.Listen:      10,
	tcp.SynSent:     2,
	tcp.SynReceived: 3,
	tcp.Established: 1,
	tcp.FinWait1:    4,
	tcp.FinWait2:    5,
	tcp.CloseWait:   8,
	tcp.Closing:     11,
	tcp.LastAck:     9,
	tcp.TimeWait:    6,
}

// encodeInfo lays TCP_INFO out as Linux's struct tcp_info, TCPInfoLen
// bytes in host order. It fills the fields pollstack keeps, in Linux's
// units: tcpi_state (Linux's numbering), retransmits, options,
// snd_wscale/rcv_wscale, rto, rtt, rttvar (µs), snd_mss, rcv_mss and
// advmss (both the MSS we advertised), unacked, snd_cwnd and snd_ssthresh
// (segments; TCP_INFINITE_SSTHRESH before the first loss), notsent_bytes,
// snd_wnd and rcv_wnd (bytes). Every other field is zero. Socket.TCPInfo
// returns more (the keepalive times, the congestion control's name).
func encodeInfo(b []byte, i *tcp.Info) {
	clear(b[:TCPInfoLen])
	if int(i.State) < len(linuxState) {
		b[tiState] = linuxState[i.State]
	}
	b[tiRetransmits] = uint8(min(i.Retransmits, 255))
	if i.Timestamps {
		b[tiOptions] |= tcpiOptTimestamps
	}
	if i.SACK {
		b[tiOptions] |= tcpiOptSACK
	}
	if i.WScale {
		b[tiOptions] |= tcpiOptWscale
		b[tiWscale] = i.SndScale&0xf | i.RcvScale<<4
	}
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
	us := func(d time.Duration) uint32 { return uint32(d / time.Microsecond) }
	put(tiRTO, us(i.RTO))
	put(tiRTT, us(i.RTT))
	put(tiRTTVar, us(i.RTTVar))
	put(tiSndMSS, uint32(i.SndMSS))
	put(tiRcvMSS, uint32(i.RcvMSS))
	put(tiAdvMSS, uint32(i.RcvMSS))
	if mss := uint32(i.SndMSS); mss > 0 {
		put(tiUnacked, (i.InFlight+mss-1)/mss)
		put(tiSndCwnd, i.SndCwnd/mss)
		if i.SndSsthresh >= tcp.MaxBufferSpace || i.SndSsthresh/mss >= linuxInfiniteSsthresh {
			put(tiSndSsthresh, linuxInfiniteSsthresh)
		} else {
			put(tiSndSsthresh, i.SndSsthresh/mss)
		}
	}
	if i.Unsent > int(i.InFlight) {
		put(tiNotsentBytes, uint32(i.Unsent)-i.InFlight)
	}
	put(tiSndWnd, i.SndWnd)
	put(tiRcvWnd, i.RcvWnd)
}
