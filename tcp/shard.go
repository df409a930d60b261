package tcp

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/pollstack/pollstack/tw"
)

// Config holds a shard's tunables; fields follow FreeBSD's net.inet.tcp
// names. Times are nanoseconds.
type Config struct {
	MSSDflt          int    // mssdflt
	SendSpace        int    // sendspace, bytes
	RecvSpace        int    // recvspace, bytes
	MSL              int64  // msl; TIME_WAIT lasts 2*MSL (a change applies to entries made after it)
	RexmitInitial    int64  // rexmit_initial
	RexmitMin        int64  // rexmit_min
	RexmitSlop       int64  // rexmit_slop
	DelayedAck       bool   // delayed_ack
	DelAckTime       int64  // delacktime
	KeepInit         int64  // keepinit
	KeepIdle         int64  // keepidle
	KeepIntvl        int64  // keepintvl
	KeepCnt          int    // keepcnt
	AlwaysKeepalive  bool   // always_keepalive
	FinWait2Timeout  int64  // finwait2_timeout
	InitCwndSegments int    // initcwnd_segments
	RFC1323          bool   // rfc1323: window scaling and timestamps
	SACK             bool   // sack.enable
	ReassMaxQueueLen int    // reass.maxqueuelen: out-of-order ranges per connection
	Blackhole        int    // blackhole: 1 no RST for SYNs to closed ports, 2 no RST at all
	InsecureRST      bool   // insecure_rst: RFC 793 RST rules instead of RFC 5961
	InsecureSYN      bool   // insecure_syn: RFC 793 SYN rules instead of RFC 5961
	DropSynFin       bool   // drop_synfin: drop SYN+FIN segments to listeners and TIME_WAIT entries
	SynCookies       bool   // syncookies: answer SYNs with cookies when a listen queue is full
	CCAlgorithm      string // cc.algorithm: newreno or cubic
	ICMPMayRST       bool   // icmp_may_rst: hard ICMP unreachables abort connections in SYN_SENT
	// MaxTCPTW is maxtcptw: the most TIME_WAIT entries, machine-wide;
	// each of the Cores shards keeps its share (see TimeWaitLimit). 0
	// sizes it as FreeBSD does: min(max(half the ephemeral port range,
	// 32), maxsockets/5) = 8191 with DefaultMaxSockets. When a shard's
	// share is full its oldest entry is recycled.
	MaxTCPTW int
	// NoLocalTimeWait is nolocaltimewait: a connection to a local address
	// (one Local reports, or else a loopback address or the connection's
	// own local address) closes without a TIME_WAIT entry.
	NoLocalTimeWait bool
	// Local reports whether an address is one of this host's, for
	// nolocaltimewait; nil means only loopback addresses and the
	// connection's own local address are. It is called on the shard's
	// core when a connection enters TIME_WAIT.
	Local func(addr [16]byte) bool
	// Cores is the number of shards that share the machine-wide limits
	// (maxtcptw): the engine's cores. 0 means 1.
	Cores int
	// MTU is the link MTU; the MSS we advertise is MTU less the IP and
	// TCP headers.
	MTU int
	// ISNKey keys initial sequence numbers (RFC 6528), SYN cookies, and
	// timestamp offsets when TSKey is zero.
	ISNKey [16]byte
	// TSKey keys the per-connection timestamp offsets (RFC 7323 5.4); zero
	// means ISNKey. A key that outlives the process (the engine derives
	// it from the boot's identity) together with TSBase keeps a 4-tuple's
	// timestamps rising across restarts, so that a peer still holding the
	// 4-tuple in TIME_WAIT accepts the new SYN (RFC 6191) instead of
	// refusing it for a second.
	TSKey [16]byte
	// TSBase is added to the shard's clock for the timestamp clock, ns:
	// the engine makes it the system's monotonic clock, the same in every
	// process.
	TSBase int64
	// FastFinWait2Recycle is fast_finwait2_recycle: a FIN_WAIT_2
	// connection the application has closed ends finwait2_timeout after
	// our FIN was acknowledged. Off (FreeBSD's default), it stays while
	// the peer was heard from within keepcnt*keepintvl (TP_MAXIDLE).
	FastFinWait2Recycle bool
	// ECN is ecn.enable; ECN is not implemented and only 0 is accepted.
	ECN int
	// LogInVain is log_in_vain: 1 logs SYNs to closed ports, 2 every
	// segment to a closed port, through Log (a few lines per second).
	LogInVain int
	// TSOffsetPerConn is ts_offset_per_conn: a timestamp offset per
	// connection (RFC 7323 7.1); off, the offset is 0 for every connection.
	TSOffsetPerConn bool
	// ISNReseedInterval is isn_reseed_interval in nanoseconds (the
	// tunable takes seconds): the ISN key is replaced this often; 0 never.
	ISNReseedInterval int64
	// TWReuse is tw_reuse (Linux's tcp_tw_reuse): 1 lets connect() take a
	// 4-tuple in TIME_WAIT; 0 (the default) does not.
	TWReuse int
	// PortFirst and PortLast are net.inet.ip.portrange.first and .last:
	// the ephemeral ports active opens (and bind to port 0) choose from;
	// 0 means IANA's dynamic range, PortFirstAuto..PortLastAuto.
	PortFirst, PortLast int
	// Log receives the lines log_in_vain asks for, on the shard's core;
	// nil drops them.
	Log func(line string)
}

// DefaultConfig returns FreeBSD's defaults for a 1500-byte MTU.
func DefaultConfig() Config {
	return Config{
		MSSDflt: DefaultMSSDflt, SendSpace: DefaultSendSpace, RecvSpace: DefaultRecvSpace,
		MSL: DefaultMSL, RexmitInitial: DefaultRexmitInitial, RexmitMin: DefaultRexmitMin,
		RexmitSlop: DefaultRexmitSlop, DelayedAck: true, DelAckTime: DefaultDelAckTime,
		KeepInit: DefaultKeepInit, KeepIdle: DefaultKeepIdle, KeepIntvl: DefaultKeepIntvl,
		KeepCnt: DefaultKeepCnt, FinWait2Timeout: DefaultFinWait2Timeout,
		InitCwndSegments: DefaultInitCwndSegments, RFC1323: true, SACK: true, SynCookies: true, CCAlgorithm: "cubic", ICMPMayRST: true,
		DropSynFin:       true,
		ReassMaxQueueLen: DefaultReassMaxQueueLen, MTU: 1500, TSOffsetPerConn: true,
	}
}

// Sender carries a shard's segments to the IP layer (the engine). Buffer
// returns room for one segment's TCP header and payload towards t's remote
// end — at least HeaderLen+MaxOptionsLen+MSS bytes — or nil when no frame is
// free; Send transmits the first n bytes written into it, adding the IP
// header and the checksum.
type Sender interface {
	Buffer(t *Tuple) []byte
	Send(t *Tuple, n int)
}

// Listener is a passive open on a port.
type Listener struct {
	shard   *Shard
	port    uint16
	backlog int
	pending int // connections from it not yet established
	handler Handler
	closed  bool
	opts    *SockOptions // inherited by the connections it accepts
}

// Port returns the listener's port.
func (l *Listener) Port() uint16 { return l.port }

// Close stops accepting connections; established ones are not affected.
func (l *Listener) Close() {
	if l.closed {
		return
	}
	l.closed = true
	delete(l.shard.listeners, l.port)
}

// Shard is one core's TCP: its connection table, listeners, timers and
// counters. Owned by its core's loop; not safe for concurrent use.
type Shard struct {
	cfg        Config
	send       Sender
	conns      map[Tuple]*Conn
	listeners  map[uint16]*Listener
	wheel      timerWheel
	isn        *ISNGenerator
	stats      Stats
	stateCount [NumStates]int
	now        int64
	outSeg     Segment
	inSeg      Segment
	free       []*Conn
	sndBufs    [][]byte // send rings kept for reuse
	rcvBufs    [][]byte // receive rings kept for reuse

	tw *tw.Table // TIME_WAIT: compressed entries, not connections

	challengeSec   int64
	challengeCount int
	nextPort       uint16
	cc             CongestionControl
	vain           vainLimit // log_in_vain's rate limit (sysctl.go)
}

// NewShard returns a shard that sends through send.
func NewShard(cfg Config, send Sender) (*Shard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc, err := LookupCongestionControl(cfg.CCAlgorithm)
	if err != nil {
		return nil, err
	}
	limit := cfg.TimeWaitLimit()
	t, err := tw.NewTable(tw.Config{Limit: limit, MSL: cfg.MSL, ACKLimit: challengeACKLimit,
		Reserve: min(limit, twReserve)})
	if err != nil {
		return nil, err
	}
	isn := NewISNGenerator(cfg.ISNKey)
	isn.SetReseedInterval(cfg.ISNReseedInterval)
	return &Shard{cfg: cfg, send: send, conns: make(map[Tuple]*Conn, TCBHashSize), cc: cc, tw: t,
		listeners: make(map[uint16]*Listener), isn: isn, nextPort: PortFirstAuto}, nil
}

// MaxTCPTWAuto is the maxtcptw FreeBSD's tcptw_auto_size computes: half the
// ephemeral port range, at least 32, at most maxsockets/5.
func MaxTCPTWAuto() int {
	return min(max((PortLastAuto-PortFirstAuto)/2, MinMaxTCPTW), DefaultMaxSockets/5)
}

// TimeWaitLimit is the most TIME_WAIT entries one shard keeps: its share
// of maxtcptw (MaxTCPTW, or MaxTCPTWAuto when 0) among Cores shards,
// rounded up.
func (cfg *Config) TimeWaitLimit() int {
	n := cfg.MaxTCPTW
	if n == 0 {
		n = MaxTCPTWAuto()
	}
	cores := max(cfg.Cores, 1)
	return (n + cores - 1) / cores
}

// Validate checks a configuration's limits.
func (cfg *Config) Validate() error {
	switch {
	case cfg.MSSDflt < 64 || cfg.MSSDflt > 65495:
		return fmt.Errorf("tcp: mssdflt %d: want 64..65495", cfg.MSSDflt)
	case cfg.SendSpace < 1024 || cfg.SendSpace > MaxBufferSpace:
		return fmt.Errorf("tcp: sendspace %d: want 1024..%d", cfg.SendSpace, MaxBufferSpace)
	case cfg.RecvSpace < 1024 || cfg.RecvSpace > MaxBufferSpace:
		return fmt.Errorf("tcp: recvspace %d: want 1024..%d", cfg.RecvSpace, MaxBufferSpace)
	case cfg.MSL <= 0 || cfg.MSL > MaxMSL:
		return fmt.Errorf("tcp: msl %d ns: want 1..%d (one day)", cfg.MSL, MaxMSL)
	case cfg.MaxTCPTW != 0 && cfg.MaxTCPTW < MinMaxTCPTW:
		return fmt.Errorf("tcp: maxtcptw %d: want 0 (automatic) or at least %d", cfg.MaxTCPTW, MinMaxTCPTW)
	case cfg.Cores < 0:
		return fmt.Errorf("tcp: %d cores", cfg.Cores)
	case cfg.TimeWaitLimit() > tw.MaxLimit:
		return fmt.Errorf("tcp: maxtcptw %d: at most %d per core", cfg.MaxTCPTW, tw.MaxLimit)
	case cfg.RexmitInitial <= 0 || cfg.RexmitMin < 0 || cfg.RexmitSlop < 0:
		return errors.New("tcp: rexmit_initial must be positive, rexmit_min and rexmit_slop not negative")
	case cfg.DelAckTime <= 0 || cfg.KeepInit <= 0 || cfg.KeepIdle <= 0 || cfg.KeepIntvl <= 0 || cfg.FinWait2Timeout <= 0:
		return errors.New("tcp: delacktime, keepinit, keepidle, keepintvl and finwait2_timeout must be positive")
	case cfg.KeepCnt < 1:
		return errors.New("tcp: keepcnt must be at least 1")
	case cfg.InitCwndSegments < 1 || cfg.InitCwndSegments > 1000:
		return fmt.Errorf("tcp: initcwnd_segments %d: want 1..1000", cfg.InitCwndSegments)
	case cfg.ReassMaxQueueLen < 1 || cfg.ReassMaxQueueLen > DefaultReassMaxQueueLen:
		return fmt.Errorf("tcp: reass.maxqueuelen %d: want 1..%d", cfg.ReassMaxQueueLen, DefaultReassMaxQueueLen)
	case cfg.MTU < 576 || cfg.MTU > 9216:
		return fmt.Errorf("tcp: MTU %d: want 576..9216", cfg.MTU)
	case cfg.ECN != 0:
		return fmt.Errorf("tcp: ecn.enable %d: ECN is not implemented (only 0)", cfg.ECN)
	case cfg.LogInVain < 0 || cfg.LogInVain > 2:
		return fmt.Errorf("tcp: log_in_vain %d: want 0, 1 or 2", cfg.LogInVain)
	case cfg.ISNReseedInterval < 0:
		return fmt.Errorf("tcp: isn_reseed_interval %d ns: want 0 (never) or more", cfg.ISNReseedInterval)
	case cfg.TWReuse < 0 || cfg.TWReuse > 1:
		return fmt.Errorf("tcp: tw_reuse %d: want 0 or 1", cfg.TWReuse)
	case cfg.PortFirst != 0 && (cfg.PortFirst < 1024 || cfg.PortFirst > 65535) ||
		cfg.PortLast != 0 && (cfg.PortLast < 1024 || cfg.PortLast > 65535):
		return fmt.Errorf("tcp: portrange %d..%d: want ports 1024..65535 (0: %d..%d)", cfg.PortFirst, cfg.PortLast, PortFirstAuto, PortLastAuto)
	case cfg.portFirst() > cfg.portLast():
		return fmt.Errorf("tcp: portrange.first %d is above portrange.last %d", cfg.portFirst(), cfg.portLast())
	}
	return nil
}

// Config returns the shard's configuration.
func (s *Shard) Config() Config { return s.cfg }

// Stats returns the shard's live counters, the TIME_WAIT table's (tw_*)
// brought up to date. Owner only.
func (s *Shard) Stats() *Stats {
	ts := s.tw.Stats()
	for i, st := range twStats {
		s.stats[st] = ts[i]
	}
	return &s.stats
}

// TWStats returns the TIME_WAIT table's live counters. Owner only.
func (s *Shard) TWStats() *tw.Stats { return s.tw.Stats() }

// StateCounts returns the number of connections in each state: LISTEN
// counts listeners, TIME_WAIT the TIME_WAIT entries.
func (s *Shard) StateCounts() [NumStates]int {
	c := s.stateCount
	c[Listen] = len(s.listeners)
	c[TimeWait] = s.tw.Len()
	return c
}

// Conns returns the number of connections in the table; TIME_WAIT entries
// are not connections (see TimeWaitEntries).
func (s *Shard) Conns() int { return len(s.conns) }

// TimeWaitEntries returns the number of TIME_WAIT entries.
func (s *Shard) TimeWaitEntries() int { return s.tw.Len() }

// TimeWaitBytes returns the memory the TIME_WAIT table's arrays hold.
func (s *Shard) TimeWaitBytes() int { return s.tw.Bytes() }

// InTimeWait reports whether the 4-tuple t is in TIME_WAIT here.
func (s *Shard) InTimeWait(t *Tuple) bool {
	_, ok := s.tw.Lookup((*tw.Tuple)(t))
	return ok
}

// SetNow sets the shard's clock for calls made from outside its input and
// timers (application calls on the core).
func (s *Shard) SetNow(now int64) { s.now = now }

// Listen starts a passive open on port with a backlog of connections that
// may wait in SYN_RCVD; h handles the connections it accepts.
func (s *Shard) Listen(port uint16, backlog int, h Handler) (*Listener, error) {
	if port == 0 {
		return nil, syscall.EINVAL
	}
	if _, ok := s.listeners[port]; ok {
		return nil, syscall.EADDRINUSE
	}
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	l := &Listener{shard: s, port: port, backlog: backlog, handler: h}
	s.listeners[port] = l
	return l, nil
}

// Dial opens a connection actively (SYN_SENT) from t's local to its remote
// end; a zero local port picks an ephemeral one.
func (s *Shard) Dial(t Tuple, h Handler, now int64) (*Conn, error) {
	s.now = now
	return s.dial(t, h, nil)
}

// dial opens a connection with options o (nil: the defaults). A 4-tuple
// held by a connection is EADDRINUSE; one in TIME_WAIT is taken over when
// tw_reuse allows it (see reuseTimeWait), else EADDRINUSE. An ephemeral
// port is one whose 4-tuple is free; with tw_reuse, when none is, one whose
// TIME_WAIT entry may be taken over; else EADDRNOTAVAIL.
func (s *Shard) dial(t Tuple, h Handler, o *SockOptions) (*Conn, error) {
	var after *Seq
	if t.LocalPort == 0 {
		if !s.pickPort(&t, false) && !(s.twReuse() && s.pickPort(&t, true)) {
			s.stats[StatPortsExhausted]++
			return nil, syscall.EADDRNOTAVAIL
		}
	} else if _, ok := s.conns[t]; ok {
		return nil, syscall.EADDRINUSE
	}
	if s.tw.Len() > 0 {
		if r, ok := s.tw.Lookup((*tw.Tuple)(&t)); ok {
			if !s.reusable(r) {
				return nil, syscall.EADDRINUSE
			}
			old := Seq(s.tw.Get(r).SndNxt)
			after = &old
			s.tw.Remove(r)
			s.stats[StatTWReused]++
		}
	}
	c := s.newConn(t)
	if after != nil {
		// The new ISN lies above the old connection's snd_nxt, so that no
		// segment of the old incarnation is acceptable in the new one.
		c.iss = after.Add(1 << 17)
		c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	}
	c.handler = h
	if o != nil {
		c.apply(o)
	}
	c.rcvScale = s.wscaleFor(c.rcv.cap())
	c.setState(SynSent)
	s.conns[t] = c
	s.stats[StatConnAttempt]++
	c.armTimer(timerKeep, s.now+c.keepInit)
	c.sendSYN()
	return c, nil
}

// reusable reports whether a TIME_WAIT entry may be taken over by an
// active open (tw_reuse): timestamps were in use, so the peer's PAWS
// rejects the old incarnation's segments once our timestamp clock has
// ticked past the last value the old connection sent — one tick after the
// entry was made (Linux waits a whole second).
func (s *Shard) reusable(r tw.Ref) bool {
	if !s.twReuse() || !s.tw.Get(r).TS {
		return false
	}
	made := s.tw.Expiry(r) - 2*s.tw.MSL()
	return s.now-made >= tsTick
}

// PortRange returns the ephemeral port range (portrange.first, .last).
func (cfg *Config) PortRange() (first, last uint16) {
	return uint16(cfg.portFirst()), uint16(max(cfg.portFirst(), cfg.portLast()))
}

func (cfg *Config) portFirst() int {
	if cfg.PortFirst != 0 {
		return cfg.PortFirst
	}
	return PortFirstAuto
}

func (cfg *Config) portLast() int {
	if cfg.PortLast != 0 {
		return cfg.PortLast
	}
	return PortLastAuto
}

// pickPort chooses an ephemeral port for t (the portrange) that no
// listener holds and whose 4-tuple has no connection and, unless reuse is
// set, no TIME_WAIT entry; with reuse, only ports whose TIME_WAIT entry may
// be taken over qualify.
func (s *Shard) pickPort(t *Tuple, reuse bool) bool {
	first, last := s.cfg.PortRange()
	for i := 0; i <= int(last-first); i++ {
		if s.nextPort < first || s.nextPort > last {
			s.nextPort = first
		}
		p := s.nextPort
		if s.nextPort++; s.nextPort == 0 || s.nextPort > last {
			s.nextPort = first
		}
		t.LocalPort = p
		if _, ok := s.listeners[p]; ok || !s.portAllowed(t) {
			continue
		}
		if _, ok := s.conns[*t]; ok {
			continue
		}
		r, inTW := s.tw.Lookup((*tw.Tuple)(t))
		if !reuse && !inTW || reuse && inTW && s.reusable(r) {
			return true
		}
	}
	return false
}

// wscale is the window scale that lets recvspace be advertised.
func (s *Shard) wscale() uint8 { return s.wscaleFor(s.cfg.RecvSpace) }

// wscaleFor is the window scale that lets a receive buffer of size bytes
// be advertised.
func (s *Shard) wscaleFor(size int) uint8 {
	if !s.cfg.RFC1323 {
		return 0
	}
	var sc uint8
	for sc < maxWScale && size>>sc > 0xffff {
		sc++
	}
	return sc
}

// ourMSS is the MSS we advertise for t.
func (s *Shard) ourMSS(t *Tuple) int {
	if t.IsIPv4() {
		return s.cfg.MTU - 40
	}
	return s.cfg.MTU - 60
}

// newConn takes a control block from the free list (with its buffers) or
// makes one.
func (s *Shard) newConn(t Tuple) *Conn {
	var c *Conn
	if n := len(s.free); n > 0 {
		c = s.free[n-1]
		s.free = s.free[:n-1]
		*c = Conn{}
	} else {
		c = &Conn{}
	}
	c.snd.buf = takeBuf(&s.sndBufs, s.cfg.SendSpace)
	c.rcv.buf = takeBuf(&s.rcvBufs, s.cfg.RecvSpace)
	c.shard = s
	c.tuple = t
	c.state = Closed
	s.stateCount[Closed]++
	c.iss = s.isn.ISN(t.LocalAddr, t.RemoteAddr, t.LocalPort, t.RemotePort, s.now)
	c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	c.ourMSS = s.ourMSS(&t)
	c.mss = min(c.ourMSS, s.cfg.MSSDflt)
	c.rto = s.cfg.RexmitInitial
	c.ssthresh = MaxBufferSpace
	c.cc = s.cc
	c.cwnd = uint32(s.cfg.InitCwndSegments * c.mss)
	c.tsOffset = s.tsOffset(&t)
	c.keepInit, c.keepIdle, c.keepIntvl, c.keepCnt = s.cfg.KeepInit, s.cfg.KeepIdle, s.cfg.KeepIntvl, s.cfg.KeepCnt
	return c
}

// tsOffset is the per-connection timestamp offset: SipHash-2-4 of the
// 4-tuple under the ISN key, so that TIME_WAIT, which does not keep it,
// derives it again. With ts_offset_per_conn off it is 0.
func (s *Shard) tsOffset(t *Tuple) uint32 {
	if !s.cfg.TSOffsetPerConn {
		return 0
	}
	var b [36]byte
	putTSKey(&b, t)
	key := s.cfg.TSKey
	if key == [16]byte{} {
		key = s.cfg.ISNKey
	}
	return uint32(SipHash24(key, b[:]))
}

// tsClock is the timestamp clock without the per-connection offset: 1 ms
// ticks of the shard's clock plus TSBase.
func (s *Shard) tsClock() uint32 { return uint32((s.now + s.cfg.TSBase) / tsTick) }

// putTSKey writes the input of the per-connection timestamp offset.
func putTSKey(b *[36]byte, t *Tuple) {
	copy(b[0:16], t.LocalAddr[:])
	copy(b[16:32], t.RemoteAddr[:])
	b[32], b[33] = byte(t.LocalPort>>8), byte(t.LocalPort)
	b[34], b[35] = byte(t.RemotePort>>8), byte(t.RemotePort)
}

// unlink removes the connection from the table.
func (s *Shard) unlink(c *Conn) {
	if s.conns[c.tuple] == c {
		delete(s.conns, c.tuple)
	}
	if c.lst != nil {
		c.lst.pending--
		c.lst = nil
	}
}

// freeConn puts a closed connection on the free list.
func (s *Shard) freeConn(c *Conn) {
	if c.shard == nil {
		return
	}
	s.stateCount[c.state]--
	s.releaseBuffers(c)
	c.shard = nil
	c.handler = nil
	c.User = nil
	if len(s.free) < maxFreeConns {
		s.free = append(s.free, c)
	}
}

// releaseBuffers gives the connection's send and receive rings back for
// reuse (when it closes, or enters TIME_WAIT, which needs neither).
func (s *Shard) releaseBuffers(c *Conn) {
	putBuf(&s.sndBufs, c.snd.buf, s.cfg.SendSpace)
	putBuf(&s.rcvBufs, c.rcv.buf, s.cfg.RecvSpace)
	c.snd, c.rcv = byteRing{}, byteRing{}
	c.reas.reset()
	c.sb.reset()
}

// takeBuf returns a kept buffer of size bytes, or a new one.
func takeBuf(list *[][]byte, size int) []byte {
	for n := len(*list); n > 0; n = len(*list) {
		b := (*list)[n-1]
		*list = (*list)[:n-1]
		if len(b) == size {
			return b
		}
	}
	return make([]byte, size)
}

// putBuf keeps b for reuse when it has the current size and the list has room.
func putBuf(list *[][]byte, b []byte, size int) {
	if b != nil && len(b) == size && len(*list) < maxFreeConns {
		*list = append(*list, b)
	}
}

// Receive processes one TCP segment: b is the TCP header and payload, with
// the checksum already verified; t names the connection from our side
// (local = the packet's destination).
func (s *Shard) Receive(t *Tuple, b []byte, now int64) {
	s.now = now
	seg := &s.inSeg
	if err := Parse(b, seg); err != ParseOK && err != ErrBadOption {
		s.stats[StatRcvBadOff]++
		return
	}
	s.stats[StatRcvTotal]++
	if c := s.conns[*t]; c != nil {
		c.input(seg)
		return
	}
	l := s.listeners[t.LocalPort]
	var reopen *Seq
	if s.tw.Len() > 0 {
		if r, ok := s.tw.Lookup((*tw.Tuple)(t)); ok {
			if s.dropSynFin(seg) {
				return // the entry stays
			}
			tseg := tw.Segment{Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), Flags: uint8(seg.Flags),
				Len: len(seg.Payload), HasTS: seg.Opts.HasTS, TSVal: seg.Opts.TSVal}
			rep := s.tw.Input(r, &tseg, l != nil, now)
			switch rep.Action {
			case tw.SendACK:
				s.timeWaitACK(t, &rep.State)
				return
			case tw.Drop:
				return
			}
			// A new connection on the 4-tuple (RFC 6191): the entry is
			// gone; the new ISN lies above its snd_nxt.
			s.stats[StatClosed]++
			next := Seq(rep.SndNxt)
			reopen = &next
		}
	}
	if l != nil {
		s.listenInput(l, t, seg, reopen)
		return
	}
	s.closedPort(t, seg)
}

// timeWaitACK sends the ACK a TIME_WAIT entry answers with (FreeBSD
// tcp_twrespond): <SEQ=snd_nxt><ACK=rcv_nxt><CTL=ACK>, the last window
// field and, when the connection used timestamps, our clock (with the
// connection's offset, derived again from the 4-tuple) and ts_recent.
func (s *Shard) timeWaitACK(t *Tuple, st *tw.State) {
	buf := s.send.Buffer(t)
	if buf == nil {
		return
	}
	seg := &s.outSeg
	*seg = Segment{SrcPort: t.LocalPort, DstPort: t.RemotePort, Seq: Seq(st.SndNxt), Ack: Seq(st.RcvNxt),
		Flags: FlagACK, Window: st.Window}
	if st.TS {
		seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, s.tsFor(t), st.TSRecent
	}
	h := Write(buf, seg)
	s.send.Send(t, h)
	s.stats[StatSndTotal]++
	s.stats[StatSndAcks]++
}

// Unreachable handles an ICMP destination unreachable about a segment we
// sent on t with sequence number seq (RFC 1122 4.2.3.9, RFC 5927): a hard
// error aborts a connection in SYN_SENT when icmp_may_rst allows it and the
// sequence number is the one in flight; otherwise it is remembered as a soft
// error (reported if the connection later times out).
func (s *Shard) Unreachable(t *Tuple, seq Seq, hard bool) {
	c := s.conns[*t]
	if c == nil || !seq.InRange(c.sndUna, c.sndMax.Add(1)) {
		return
	}
	s.stats[StatICMPUnreach]++
	if hard && c.state == SynSent && s.cfg.ICMPMayRST {
		s.stats[StatConnDrops]++
		c.finish(syscall.ECONNREFUSED)
		return
	}
	c.softErr = syscall.EHOSTUNREACH
}

// timeoutErr is the error a connection that timed out reports: the last
// ICMP soft error if there was one, else ETIMEDOUT.
func (c *Conn) timeoutErr() error {
	if c.softErr != nil {
		return c.softErr
	}
	return syscall.ETIMEDOUT
}

// CountBadSum counts a segment the IP layer dropped for its checksum.
func (s *Shard) CountBadSum() { s.stats[StatRcvBadSum]++ }

// closedPort answers a segment for no connection and no listener with a RST
// (RFC 9293 3.10.7.1), unless blackhole says not to.
func (s *Shard) closedPort(t *Tuple, seg *Segment) {
	s.stats[StatNoPort]++
	if s.cfg.LogInVain == 2 || s.cfg.LogInVain == 1 && seg.Flags&FlagSYN != 0 {
		s.logInVain(t, seg)
	}
	if seg.Flags&FlagRST != 0 || s.cfg.Blackhole >= 2 || (s.cfg.Blackhole == 1 && seg.Flags&FlagSYN != 0) {
		return
	}
	s.resetFor(t, seg)
}

// resetFor sends the RST RFC 9293 prescribes for a segment that belongs to
// no connection.
func (s *Shard) resetFor(t *Tuple, seg *Segment) {
	s.stats[StatRSTSent]++
	if seg.Flags&FlagACK != 0 {
		s.reset(t, seg.Ack, 0, FlagRST)
		return
	}
	n := uint32(len(seg.Payload))
	if seg.Flags&FlagSYN != 0 {
		n++
	}
	if seg.Flags&FlagFIN != 0 {
		n++
	}
	s.reset(t, 0, seg.Seq.Add(n), FlagRST|FlagACK)
}

// dropSynFin reports whether seg has both SYN and FIN set and drop_synfin
// says to drop it, and counts it as a bad SYN (FreeBSD's drop_synfin, on by
// default there; Linux drops such a SYN to a listener unconditionally). A
// SYN+FIN to a listener opens nothing; one that finds a TIME_WAIT entry
// neither ends the entry nor draws an ACK (FreeBSD's tcp_twcheck).
func (s *Shard) dropSynFin(seg *Segment) bool {
	if seg.Flags&(FlagSYN|FlagFIN) != FlagSYN|FlagFIN || !s.cfg.DropSynFin {
		return false
	}
	s.stats[StatBadSyn]++
	return true
}

// listenInput is RFC 9293 3.10.7.2: a segment for a listening port.
func (s *Shard) listenInput(l *Listener, t *Tuple, seg *Segment, after *Seq) {
	switch {
	case seg.Flags&FlagRST != 0:
		return
	case seg.Flags&FlagACK != 0:
		if !s.cookieACK(l, t, seg) {
			s.resetFor(t, seg)
		}
		return
	case seg.Flags&FlagSYN == 0:
		return
	case s.dropSynFin(seg):
		return
	}
	if l.pending >= l.backlog {
		if s.cfg.SynCookies {
			s.sendCookie(t, seg)
			return
		}
		s.stats[StatListenDrop]++
		return
	}
	c := s.newConn(*t)
	if l.opts != nil {
		c.apply(l.opts)
	}
	if after != nil && c.iss.LEQ(*after) {
		c.iss = after.Add(1 << 17)
		c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	}
	c.lst = l
	l.pending++
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.sndWnd, c.sndWl1, c.sndWl2 = uint32(seg.Window), seg.Seq, c.iss // a SYN's window is not scaled
	c.rcvScale = s.wscaleFor(c.rcv.cap())
	c.negotiate(&seg.Opts, true)
	c.setState(SynReceived)
	s.conns[*t] = c
	c.armTimer(timerKeep, s.now+c.keepInit)
	c.sendSYN()
}

// maxFreeConns bounds the control blocks (with their buffers) a shard keeps
// for reuse; past it, closed connections are left to the garbage collector.
const maxFreeConns = 4096

// Tick runs the timers due at now and ends the TIME_WAIT entries whose
// 2MSL is over.
func (s *Shard) Tick(now int64) {
	s.now = now
	s.wheel.advance(now, fireTimers)
	if n := s.tw.Expire(now); n > 0 {
		s.stats[StatClosed] += uint64(n)
	}
}

// NextTimer returns the earliest armed deadline (a connection's timer or
// the end of the oldest TIME_WAIT entry's 2MSL), for tests and idle loops;
// ok is false when none is armed.
func (s *Shard) NextTimer() (at int64, ok bool) {
	at, ok = s.tw.NextExpiry()
	if s.wheel.count == 0 {
		return at, ok
	}
	for _, c := range s.conns {
		if c.deadline != 0 && (!ok || c.deadline < at) {
			at, ok = c.deadline, true
		}
	}
	return at, ok
}

// fireTimers runs a connection's expired timers and reschedules it.
func fireTimers(c *Conn, now int64) {
	for k := timerKind(0); k < numTimers; k++ {
		if c.state == Closed || c.shard == nil {
			return
		}
		if t := c.timers[k]; t != 0 && t <= now {
			c.timers[k] = 0
			c.fire(k, now)
		}
	}
	if c.shard != nil && c.state != Closed {
		c.reschedule()
	}
}

// fire handles one expired timer.
func (c *Conn) fire(k timerKind, now int64) {
	s := c.shard
	switch k {
	case timerRexmt:
		if c.tlpPending {
			c.tlpPending = false
			c.tailLossProbe()
			return
		}
		s.stats[StatRexmtTimeo]++
		c.rexmits++
		if c.state == SynSent || c.state == SynReceived {
			if c.rexmits > MaxSynRexmits {
				c.drop(c.timeoutErr())
				return
			}
			c.rto = min(c.rto*2, MaxRTO)
			c.rtTime = 0
			c.sendSYN()
			return
		}
		if c.sndWnd == 0 {
			// A zero window is not a loss: probe it.
			c.rexmits--
			c.armPersist()
			return
		}
		if c.rexmits > MaxRexmits {
			c.drop(c.timeoutErr())
			return
		}
		c.rto = min(c.rto*2, MaxRTO)
		mss := uint32(c.mss)
		if c.rexmits == 1 {
			c.ssthresh = c.cc.OnCongestion(c)
		}
		c.cwnd = mss
		c.inRecovery = false
		c.dupAcks = 0
		c.sb.reset()
		c.highRxt = c.sndUna
		c.recover = c.sndMax
		c.rtTime = 0
		c.sndNxt = c.sndUna
		c.output()
		if c.timers[timerRexmt] == 0 && c.sndUna != c.sndMax {
			c.armTimer(timerRexmt, now+c.rto)
		}
	case timerPersist:
		s.stats[StatPersistTimeo]++
		// A peer that keeps its window shut is kept only while it answers:
		// silence for keepidle (FreeBSD's maxpersistidle), or for
		// finwait2_timeout once the application has closed, drops it.
		idle := now - c.lastRecv
		if idle >= c.keepIdle || c.closedByApp && idle >= s.cfg.FinWait2Timeout {
			s.stats[StatPersistDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		s.stats[StatSndProbe]++
		c.persistShift = min(c.persistShift+1, 12)
		// Send one byte beyond the window (RFC 9293 3.8.6.1).
		off := int(c.sndNxt.Sub(c.sndUna))
		if off < c.snd.n {
			c.emit(c.sndNxt, 1, FlagACK)
		} else {
			c.emit(c.sndNxt-1, 0, FlagACK)
		}
		if c.sndWnd == 0 {
			c.armPersist()
		}
	case timerKeep:
		s.stats[StatKeepTimeo]++
		if !c.state.synchronized() {
			s.stats[StatKeepDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		if !(c.keepalive || s.cfg.AlwaysKeepalive) || c.state >= FinWait2 && c.state != CloseWait {
			return
		}
		if c.keepProbes >= c.keepCnt {
			s.stats[StatKeepDrops]++
			c.drop(syscall.ETIMEDOUT)
			return
		}
		c.keepProbes++
		s.stats[StatKeepProbe]++
		c.emit(c.sndUna-1, 0, FlagACK)
		c.timers[timerKeep] = now + c.keepIntvl
	case timerDelAck:
		s.stats[StatDelAck]++
		c.ackNow = true
		c.output()
	case timer2MSL:
		if c.state == FinWait2 {
			if !s.cfg.FastFinWait2Recycle && now-c.lastRecv <= int64(c.keepCnt)*c.keepIntvl {
				// FreeBSD tcp_timer_2msl: heard from within TP_MAXIDLE.
				c.timers[timer2MSL] = now + c.keepIntvl
				return
			}
			c.finish(nil)
		}
	}
}
