package tcp

import (
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// SockOptions are the per-connection settings a socket chooses with
// setsockopt(2) before it connects or listens. Zero values mean the shard's
// defaults. A listener's options are inherited by the connections it
// accepts, as tcp(4) says for the keepalive options.
type SockOptions struct {
	NoDelay   bool          // TCP_NODELAY
	NoPush    bool          // TCP_NOPUSH
	NoOpt     bool          // TCP_NOOPT
	MaxSeg    int           // TCP_MAXSEG, bytes
	KeepInit  time.Duration // TCP_KEEPINIT
	KeepIdle  time.Duration // TCP_KEEPIDLE
	KeepIntvl time.Duration // TCP_KEEPINTVL
	KeepCnt   int           // TCP_KEEPCNT
	Keepalive bool          // SO_KEEPALIVE
	ReuseAddr bool          // SO_REUSEADDR
	ReusePort bool          // SO_REUSEPORT
	SendSpace int           // SO_SNDBUF, bytes
	RecvSpace int           // SO_RCVBUF, bytes
	// CC is TCP_CONGESTION; nil keeps cc.algorithm.
	CC CongestionControl
}

// MinMaxSeg is the smallest TCP_MAXSEG accepted.
const MinMaxSeg = 64

// apply sets o on a connection that has not sent its SYN yet.
func (c *Conn) apply(o *SockOptions) {
	c.noDelay, c.noPush, c.noOpt = o.NoDelay, o.NoPush, o.NoOpt
	c.keepalive, c.reuseAddr, c.reusePort = o.Keepalive, o.ReuseAddr, o.ReusePort
	if o.MaxSeg > 0 {
		c.maxSeg = o.MaxSeg
		c.ourMSS = min(c.ourMSS, o.MaxSeg)
		c.mss = min(c.mss, o.MaxSeg)
	}
	if o.KeepInit > 0 {
		c.keepInit = o.KeepInit
	}
	if o.KeepIdle > 0 {
		c.keepIdle = o.KeepIdle
	}
	if o.KeepIntvl > 0 {
		c.keepIntvl = o.KeepIntvl
	}
	if o.KeepCnt > 0 {
		c.keepCnt = o.KeepCnt
	}
	if o.CC != nil {
		c.cc = o.CC
	}
	// The buffers are still empty: a size other than the shard's is a slot
	// table of its own.
	if o.SendSpace > 0 {
		c.sndAuto = false
		if o.SendSpace != c.snd.cap() {
			c.snd.init(c.snd.pool, o.SendSpace)
		}
	}
	if o.RecvSpace > 0 {
		c.rcvAuto = false
		if o.RecvSpace != c.rcv.cap() {
			c.rcv.init(c.rcv.pool, o.RecvSpace)
		}
	}
}

// SetNoPush sets TCP_NOPUSH; clearing it sends what was held back.
func (c *Conn) SetNoPush(on bool) {
	c.noPush = on
	if !on && c.state.synchronized() {
		if c.shard.batching {
			c.deferOutput()
		} else {
			c.output()
		}
	}
}

// SetMaxSeg sets TCP_MAXSEG: the connection sends at most n bytes per
// segment (it can only lower what was negotiated).
func (c *Conn) SetMaxSeg(n int) error {
	if n < MinMaxSeg || n > MaxMSS {
		return syscall.EINVAL
	}
	c.maxSeg = n
	if c.state.synchronized() {
		c.mss = min(c.mss, n)
	} else {
		c.ourMSS = min(c.ourMSS, n)
		c.mss = min(c.mss, n)
	}
	return nil
}

// MaxSeg returns the MSS in use (TCP_MAXSEG's read side).
func (c *Conn) MaxSeg() int { return c.mss }

// SetKeepTimes sets TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT; zero
// leaves a value as it is. The next keepalive is armed from now.
func (c *Conn) SetKeepTimes(idle, intvl time.Duration, cnt int) {
	if idle > 0 {
		c.keepIdle = idle
	}
	if intvl > 0 {
		c.keepIntvl = intvl
	}
	if cnt > 0 {
		c.keepCnt = cnt
	}
	if c.state.synchronized() {
		c.armKeep(c.shard.now)
	}
}

// Info is TCP_INFO: a snapshot of the connection's state.
type Info struct {
	State       State
	RTT         time.Duration // smoothed round-trip time
	RTTVar      time.Duration // its variation
	RTO         time.Duration // retransmission timeout
	SndCwnd     uint32
	SndSsthresh uint32
	SndWnd      uint32 // the peer's window
	RcvWnd      uint32 // our free receive space
	SndMSS      int
	RcvMSS      int // the MSS we advertised
	Retransmits int // consecutive retransmissions of the oldest segment
	InFlight    uint32
	Unsent      int // bytes written and not yet acknowledged
	Unread      int // bytes received and not yet read
	SndSpace    int // the send buffer's size (sendbuf_auto grows it)
	RcvSpace    int // the receive buffer's size (recvbuf_auto grows it)
	WScale      bool
	SndScale    uint8
	RcvScale    uint8
	Timestamps  bool
	SACK        bool
	CC          string
	KeepIdle    time.Duration
	KeepIntvl   time.Duration
	KeepCnt     int
	KeepInit    time.Duration
	Keepalive   bool // SO_KEEPALIVE
	NoDelay     bool // TCP_NODELAY as the connection holds it
	NoPush      bool // TCP_NOPUSH
	NoOpt       bool // TCP_NOOPT
	ReuseAddr   bool // SO_REUSEADDR
	ReusePort   bool // SO_REUSEPORT
}

// Info returns the connection's TCP_INFO.
func (c *Conn) Info() Info {
	i := Info{State: c.state, RTT: c.srtt, RTTVar: c.rttvar, RTO: c.rto,
		SndCwnd: c.cwnd, SndSsthresh: c.ssthresh, SndWnd: c.sndWnd, RcvWnd: c.rcvWindow(),
		SndMSS: c.mss, RcvMSS: c.ourMSS, Retransmits: int(c.rexmits), InFlight: c.inFlight(),
		Unsent: c.snd.n, Unread: c.rcv.n, SndSpace: c.snd.cap(), RcvSpace: c.rcv.cap(), WScale: c.wsOK, Timestamps: c.tsOK, SACK: c.sackOK,
		KeepIdle: c.keepIdle, KeepIntvl: c.keepIntvl, KeepCnt: c.keepCnt, KeepInit: c.keepInit,
		Keepalive: c.keepalive, NoDelay: c.noDelay, NoPush: c.noPush, NoOpt: c.noOpt,
		ReuseAddr: c.reuseAddr, ReusePort: c.reusePort}
	if c.wsOK {
		i.SndScale, i.RcvScale = c.sndScale, c.rcvScale
	}
	if c.cc != nil {
		i.CC = c.cc.Name()
	}
	return i
}

// DialWith is Dial with the socket's options applied before the SYN goes.
func (s *Shard) DialWith(t flow.Tuple, h Handler, o *SockOptions, now mono.Time) (*Conn, error) {
	s.now = now
	c, err := s.dial(t, h, o)
	return c, err
}

// MaxMSS is the largest TCP_MAXSEG accepted.
const MaxMSS = 65495

// twReuse reports whether active opens may take over TIME_WAIT entries
// (tw_reuse).
func (s *Shard) twReuse() bool { return s.cfg.TWReuse != 0 }

// SetOptions sets the options the listener's connections inherit (nil:
// the shard's defaults).
func (l *Listener) SetOptions(o *SockOptions) { l.opts = o }

// SetBacklog changes how many of the listener's connections may wait in
// SYN_RCVD.
func (l *Listener) SetBacklog(n int) {
	if n <= 0 {
		n = DefaultBacklog
	}
	l.backlog = n
}

// CloseAll closes every listener and every connection of the shard as the
// application would (a FIN after the data already written), for an
// orderly stop: the connections then finish their close, into TIME_WAIT
// where they closed first. It closes at most max connections a call
// (every one when max <= 0) and reports whether it has closed all that
// the shard had when the first call came; the caller calls it again, from
// later turns of the core's loop, until it has. Each close sends a FIN:
// a million of them in one turn would keep the core from receiving, and
// its caller from stopping, for seconds.
func (s *Shard) CloseAll(max int) (done bool) {
	if !s.closeAll {
		s.closeAll = true
		for _, l := range s.listeners {
			l.Close()
		}
		s.closing = make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			s.closing = append(s.closing, c)
		}
	}
	n := len(s.closing)
	if max > 0 {
		n = min(n, max)
	}
	for i, c := range s.closing[:n] {
		if c.shard == s { // not freed since: a freed block may serve another connection
			c.Close()
		}
		s.closing[i] = nil
	}
	s.closing = s.closing[n:]
	if len(s.closing) == 0 {
		s.closing = nil
		return true
	}
	return false
}
