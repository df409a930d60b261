package tcp

import (
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tw"
)

// Sender carries a shard's segments to the IP layer (the engine). Buffer
// returns room for one segment's TCP header and payload towards t's remote
// end — at least HeaderLen+MaxOptionsLen+MSS bytes — or nil when no frame is
// free; Send transmits the first n bytes written into it, adding the IP
// header and the checksum.
type Sender interface {
	Buffer(t *flow.Tuple) []byte
	Send(t *flow.Tuple, n int)
}

// ControlSender is a Sender that keeps frames for segments that carry no
// data (SYN, SYN-ACK, pure ACK, FIN, RST): the shard asks ControlBuffer for
// those, and the engine may give them a frame from a reserve that data and
// floods cannot use up.
type ControlSender interface {
	Sender
	ControlBuffer(t *flow.Tuple) []byte
}

// controlBuffer is Buffer for a segment without data.
func (s *Shard) controlBuffer(t *flow.Tuple) []byte {
	if s.ctl != nil {
		return s.ctl.ControlBuffer(t)
	}
	return s.send.Buffer(t)
}

// Shard is one core's TCP: its connection table, listeners, timers and
// counters. Owned by its core's loop; not safe for concurrent use.
type Shard struct {
	cfg        Config
	send       Sender
	ctl        ControlSender // send, when it keeps frames for control segments
	tos        TOSSender     // send, when it sets the IP TOS byte (ECN)
	rxECN      uint8         // the ECN codepoint of the segment being processed
	conns      map[flow.Tuple]*Conn
	listeners  map[uint16]*Listener
	wheel      timerWheel
	isn        *ISNGenerator
	stats      Stats
	stateCount [NumStates]int
	now        mono.Time
	outSeg     Segment
	inSeg      Segment
	partial    []*connSlab // slabs of control blocks with a free slot (connslab.go)
	emptySlabs int         // slabs in partial with every slot free: at most 1
	pool       chunkPool   // the chunks of the connections' buffers
	hc         *hostCache  // path MTUs by destination (pmtu.go)

	tw *tw.Table // TIME_WAIT: compressed entries, not connections

	// connsPeak is the most connections the table held since it was
	// last made anew, or the room it was made with (shrinkConns).
	connsPeak int

	// closing holds the connections CloseAll has still to close.
	closing []*Conn
	// closeAll is set once CloseAll has begun.
	closeAll bool

	challengeSec   int64
	challengeCount int
	nextPort       uint16
	cc             CongestionControl
	vain           vainLimit // log_in_vain's rate limit (sysctl.go)

	// RSTs of closed connections that found no frame (queueRST).
	rsts [rstQueueLen]pendingRST
	nRST int

	ticker func(now mono.Time) // the application's periodic work (SetTicker)

	lastRxDrop mono.Time // when the link last said it dropped received frames (RxDropped)

	tracer   Tracer      // per-connection tracing (SetTracer), nil when off
	traceRec TraceRecord // the record handed to tracer

	// A receive batch (BeginBatch..EndBatch): the connections owing an
	// ACK by the every-second-segment rule, acknowledged once at its end.
	batching bool
	ackList  []*Conn
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
	// conns is keyed by 4-tuples an attacker chooses, SYN_RCVD connections
	// (the listeners' SYN queues, which are only counts) included. It is a
	// Go map: the runtime gives every map its own random hash seed, so
	// colliding keys cannot be worked out ahead (hash flooding). The
	// TIME_WAIT index is keyed with maphash and a seed of its own (tw.Table).
	sh := &Shard{cfg: cfg, send: send, conns: make(map[flow.Tuple]*Conn, TCBHashSize), cc: cc, tw: t,
		listeners: make(map[uint16]*Listener), isn: isn, nextPort: PortFirstAuto, hc: new(hostCache)}
	sh.ctl, _ = send.(ControlSender)
	sh.tos, _ = send.(TOSSender)
	sh.pool.limit = cfg.BufferMemory >> chunkShift
	return sh, nil
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

// BufferBytes returns the memory the connections' send and receive
// buffers hold (chunks in use; the pool's free chunks are not counted).
func (s *Shard) BufferBytes() int { return s.pool.inUse * chunkSize }

// InTimeWait reports whether the 4-tuple t is in TIME_WAIT here.
func (s *Shard) InTimeWait(t *flow.Tuple) bool {
	_, ok := s.tw.Lookup(t)
	return ok
}

// SetNow sets the shard's clock for calls made from outside its input and
// timers (application calls on the core).
func (s *Shard) SetNow(now mono.Time) { s.now = now }

// wscale is the window scale that lets recvspace be advertised, or
// recvbuf_max when receive buffers grow.
func (s *Shard) wscale() uint8 {
	if s.cfg.RecvBufAuto {
		return s.wscaleFor(max(s.cfg.RecvSpace, s.cfg.RecvBufMax))
	}
	return s.wscaleFor(s.cfg.RecvSpace)
}

// offerScale is the window scale c offers: enough for its receive buffer,
// or for recvbuf_max when the buffer may grow.
func (s *Shard) offerScale(c *Conn) uint8 {
	if c.rcvAuto {
		return s.wscaleFor(max(c.rcv.cap(), s.cfg.RecvBufMax))
	}
	return s.wscaleFor(c.rcv.cap())
}

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
func (s *Shard) ourMSS(t *flow.Tuple) int {
	if t.IsIPv4() {
		return s.cfg.MTU - 40
	}
	return s.cfg.MTU - 60
}

// newConn takes a control block from the shard's slabs; its buffers hold
// no memory until data comes.
func (s *Shard) newConn(t flow.Tuple) *Conn {
	c := s.allocConn()
	c.snd.init(&s.pool, s.cfg.SendSpace)
	c.rcv.init(&s.pool, s.cfg.RecvSpace)
	c.sndAuto, c.rcvAuto = s.cfg.SendBufAuto, s.cfg.RecvBufAuto
	c.reas.pool, c.sb.pool = &s.pool, &s.pool
	c.shard = s
	c.tuple = t
	c.state = Closed
	s.stateCount[Closed]++
	c.iss = s.isn.ISN(t.LocalAddr, t.RemoteAddr, t.LocalPort, t.RemotePort, s.now)
	c.sndUna, c.sndNxt, c.sndMax, c.recover = c.iss, c.iss, c.iss, c.iss
	c.ourMSS = s.ourMSS(&t)
	c.mss = min(c.ourMSS, s.cfg.MSSDflt)
	c.pathMSS()
	c.rto = s.cfg.RexmitInitial
	c.ssthresh = MaxBufferSpace
	c.cc = s.cc
	c.cwnd = uint32(s.cfg.InitCwndSegments * c.mss)
	c.dctcpAlpha = uint16(s.cfg.DCTCPAlpha)
	c.tsOffset = s.tsOffset(&t)
	c.keepInit, c.keepIdle, c.keepIntvl, c.keepCnt = s.cfg.KeepInit, s.cfg.KeepIdle, s.cfg.KeepIntvl, s.cfg.KeepCnt
	return c
}

// tsOffset is the per-connection timestamp offset: SipHash-2-4 of the
// 4-tuple under the ISN key, so that TIME_WAIT, which does not keep it,
// derives it again. With ts_offset_per_conn off it is 0.
func (s *Shard) tsOffset(t *flow.Tuple) uint32 {
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
func (s *Shard) tsClock() uint32 { return uint32(int64(s.now.Add(s.cfg.TSBase)) / int64(tsTick)) }

// putTSKey writes the input of the per-connection timestamp offset.
func putTSKey(b *[36]byte, t *flow.Tuple) {
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

// A Go map keeps the room it grew to once its entries are deleted: a
// million connections gone leave some 65 MB of table behind (6.5 MB was
// measured live after 100,000 had closed). So the shard moves its
// connections to a new table, from Tick, once they are fewer than
// 1/connsShrinkFactor of the most it held since the last move, when that
// was at least connsShrinkPeak. The copy is of at most 1/64 of the peak:
// 15,600 entries after a million, about a millisecond of the core's time.
const connsShrinkFactor = 64

var connsShrinkPeak = 16384 // a variable for tests

// shrinkConns makes the connection table anew when it holds far fewer
// connections than it grew for (above).
func (s *Shard) shrinkConns() {
	n := len(s.conns)
	if n > s.connsPeak {
		s.connsPeak = n
		return
	}
	if s.connsPeak < connsShrinkPeak || n > s.connsPeak/connsShrinkFactor {
		return
	}
	size := max(TCBHashSize, 2*n)
	m := make(map[flow.Tuple]*Conn, size)
	for t, c := range s.conns {
		m[t] = c
	}
	s.conns = m
	// The new table has room for size: it is made anew again once the
	// connections fall to 1/connsShrinkFactor of that (a million gone
	// leave 15,625 at the first move, in a table of 1.6 MB, and fewer
	// later).
	s.connsPeak = size
}

// freeConn gives a closed connection's control block back to its slab.
func (s *Shard) freeConn(c *Conn) {
	if c.shard == nil {
		return
	}
	s.stateCount[c.state]--
	s.releaseBuffers(c)
	c.shard = nil
	c.handler = nil
	c.User = nil
	s.releaseConn(c)
}

// releaseBuffers gives the chunks of the connection's send and receive
// rings back to the pool (when it closes, or enters TIME_WAIT, which needs
// neither).
func (s *Shard) releaseBuffers(c *Conn) {
	c.snd.drop()
	c.rcv.drop()
	c.reas.reset()
	c.sb.reset()
	c.releaseRack()
}
