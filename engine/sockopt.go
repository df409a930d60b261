// Socket options: setsockopt(2), getsockopt(2) and TCP_INFO's encoding
// (the option numbers are in sockconst.go).

package engine

import (
	"encoding/binary"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

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
