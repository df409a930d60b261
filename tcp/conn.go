package tcp

import (
	"syscall"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// State is a connection's state (RFC 9293 3.3.2).
type State uint8

// States.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
	NumStates
)

var stateNames = [NumStates]string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"}

func (s State) String() string {
	if s >= NumStates {
		return "INVALID"
	}
	return stateNames[s]
}

// synchronized reports whether the state is past the handshake (RFC 9293's
// synchronized states).
func (s State) synchronized() bool { return s >= Established }

// Handler receives a connection's events on its core. The calls happen
// inside the shard's processing; a handler may call the connection's methods
// (Read, Write, Close...) from them.
type Handler interface {
	// Established is called when the connection reaches ESTABLISHED.
	Established(c *Conn)
	// Readable is called when data or the peer's FIN arrived.
	Readable(c *Conn)
	// Writable is called when room opened in the send buffer.
	Writable(c *Conn)
	// Closed is called once when the connection is gone for the
	// application: err is nil after an orderly close, else an errno
	// (ECONNRESET, ECONNREFUSED, ETIMEDOUT...). The connection must not be
	// used after Closed returns.
	Closed(c *Conn, err error)
}

// Conn is a TCP control block. It is owned by its shard's core; not safe for
// concurrent use.
type Conn struct {
	shard   *Shard
	slab    *connSlab // where the control block lives (connslab.go)
	slot    uint8     // its index there
	tuple   flow.Tuple
	state   State
	handler Handler
	lst     *Listener // the listener that made it, until it is established
	// User is free for the application.
	User any

	// Send sequence space (RFC 9293 3.3.1).
	iss       flow.Seq
	sndUna    flow.Seq
	sndNxt    flow.Seq
	sndMax    flow.Seq // highest sequence number sent (snd_nxt may go back on retransmission)
	sndWnd    uint32   // the peer's window, scaled
	sndWl1    flow.Seq
	sndWl2    flow.Seq
	maxSndWnd uint32

	// Receive sequence space.
	irs    flow.Seq
	rcvNxt flow.Seq
	rcvAdv flow.Seq // right edge of the window last advertised
	dsackL flow.Seq // a D-SACK block [dsackL, dsackL+dsackLen) (RFC 2883) goes first in the next ACK

	// Options.
	mss         int   // send MSS: the peer's, capped by ours
	ourMSS      int   // what we advertised
	sndScale    uint8 // shift applied to the peer's window field
	rcvScale    uint8 // shift the peer applies to ours
	wsOK        bool
	tsOK        bool
	sackOK      bool
	noDelay     bool
	noPush      bool // TCP_NOPUSH: hold partial segments until the buffer fills or the FIN
	noOpt       bool // TCP_NOOPT: no options on our SYN
	tsRecent    uint32
	tsOffset    uint32
	tsRecentAge mono.Time
	maxSeg      int    // TCP_MAXSEG: the most we send per segment (0: as negotiated)
	bhActive    bool   // black-hole detection lowered the MSS (pmtu.go)
	bhPassed    bool   // a full segment sent after snd_una's got through in this timeout streak: no black hole
	ackWarCnt   uint8  // ACKs sent for dropped segments since ackWarStart (dropAfterAck)
	ackWarStart uint32 // ms of the shard's clock
	bhSavedMSS  int32  // the MSS before it did
	rfCnt       uint32 // bytes the application took since rfStart (autosize.go)

	// Round-trip time (RFC 6298).
	srtt    time.Duration
	rttvar  time.Duration
	rto     time.Duration
	rtSeq   flow.Seq  // sequence number being timed (no timestamps)
	highRxt flow.Seq  // highest byte retransmitted in this recovery (the freebsd stack)
	rtTime  mono.Time // when it was sent; 0 when not timing
	dupAcks int32

	// Congestion control.
	cwnd       uint32
	ssthresh   uint32
	recover    flow.Seq
	undo       undoState // with RACK: how to take back the last reduction if it proves spurious
	inRecovery bool
	inLoss     bool     // a retransmission timeout, until snd_una reaches recover (the trace's loss state)
	inCWR      bool     // the window was reduced for an ECN echo, until snd_una reaches cwrEnd
	frto       uint8    // with RACK: the F-RTO step after a timeout (RFC 5682), 0 when none
	rexmitSegs uint32   // segments retransmitted over the connection's life (its trace)
	cwrEnd     flow.Seq // snd_max when the window was reduced for an ECN echo
	// ECN (RFC 3168) and DCTCP (RFC 8257), ecn.go.
	dctcpAcked   uint32   // DCTCP: bytes acknowledged in this observation window
	dctcpMarked  uint32   // DCTCP: of those, acknowledged with ECE
	dctcpEnd     flow.Seq // DCTCP: the observation window ends past it
	dctcpAlpha   uint16   // DCTCP: the estimate of the fraction of bytes marked, of 1024 (the flags are below)
	hs           hystart  // HyStart++ (RFC 9406) in the first slow start (hystart.go)
	cc           CongestionControl
	cubicWMax    float64    // CUBIC: window (segments) at the last loss
	cubicK       float64    // CUBIC: seconds to reach cubicWMax again
	cubicEpoch   mono.Time  // CUBIC: start of the current epoch, 0 when none
	cubicWEst    float64    // CUBIC: Reno-friendly estimate (segments)
	cubicFrac    float64    // CUBIC: growth not yet applied, bytes
	sb           scoreboard // SACKed ranges above snd_una
	lastAdvance  mono.Time  // when snd_una last moved
	rexmtMode    uint8      // what the rexmt timer runs: the RTO, a tail loss probe, RACK's reordering timer
	tlpDone      bool       // a probe was sent since snd_una last moved (the freebsd stack)
	rackOK       bool       // RACK-TLP and PRR recover this connection's losses (the rack stack, with SACK)
	deferConnAck bool       // SYN_SENT: the handshake's last ACK waits for the first data (SetDeferHandshakeACK)
	dsackLen     uint16     // 0: no D-SACK block pending
	rk           *rackBlock // with RACK, while data is in flight (pool)
	reo          rackReo    // what RACK learned of the path
	tlp          tlpState   // with RACK, the tail loss probe's episode

	// Buffers.
	snd  byteRing // bytes from sndUna on
	rcv  byteRing // unread in-order bytes, then room for out-of-order data
	reas reassembly

	// Flags.
	finQueued   bool // the application shut the send side: FIN follows the data
	finRcvd     bool // the peer's FIN is in order
	ackNow      bool
	forceData   bool     // the persist timer overrides silly window avoidance
	finSeq      flow.Seq // the FIN's sequence number, once queued
	delAcked    int32    // full segments received since the last ACK
	ackBatch    bool     // an ACK owed by the every-second-segment rule, sent at the end of the receive batch (Shard.EndBatch)
	quickAcks   uint8    // in-order segments still to acknowledge at once, after a loss was seen (input.go)
	outBatch    bool     // data written within the receive batch, sent at its end (Shard.EndBatch)
	inAckList   bool     // on the shard's list of batch ACKs
	closedByApp bool     // Close was called: nothing more will be read
	notified    bool     // Closed was delivered
	lingering   bool     // ended in order with unread bytes: kept for the application (release)
	keepalive   bool
	reuseAddr   bool // SO_REUSEADDR, kept in TIME_WAIT for bind()
	reusePort   bool // SO_REUSEPORT, kept in TIME_WAIT for bind()
	softUnreach bool // an ICMP unreachable (a soft error) came: a timeout reports EHOSTUNREACH
	// ECN (ecn.go); the flags fill what alignment leaves here.
	ecnOK        bool  // ECN agreed (RFC 3168)
	ecnSYN       bool  // our SYN or SYN-ACK asked for ECN (passive: the peer's SYN did, until we give up)
	ecnEcho      bool  // ECE goes on our ACKs
	ecnSendCWR   bool  // CWR goes on the next new data segment
	noECT        bool  // the segment being sent is a window probe: not ECT
	persistShift uint8 // the persist timer's backoff
	// Buffer autosizing (autosize.go).
	rcvAuto bool // recvbuf_auto applies: SO_RCVBUF was not set
	sndAuto bool // sendbuf_auto applies: SO_SNDBUF was not set
	// winUpOwed is set when an ACK opened a window the peer could not
	// send a segment into, and holds 1 + the times it was sent again
	// since; 0 once the peer is heard from (winup.go).
	winUpOwed  uint8
	rfStart    mono.Time // when this measure of the reading rate began; 0: none yet
	keepProbes int32
	rexmits    int32         // consecutive retransmissions of the oldest segment
	keepInit   time.Duration // TCP_KEEPINIT (keepinit by default)
	keepIdle   time.Duration // TCP_KEEPIDLE
	keepIntvl  time.Duration // TCP_KEEPINTVL
	keepCnt    int           // TCP_KEEPCNT
	lastRecv   mono.Time     // when the last acceptable segment arrived
	err        error

	timers [numTimers]mono.Time
	// Wheel links.
	tlist    *timerList
	tnext    *Conn
	tprev    *Conn
	deadline mono.Time
}

// Now returns the shard's current time (the time of the batch or timer run
// being processed), for handlers that measure.
func (c *Conn) Now() mono.Time { return c.shard.now }

// State returns the connection's state.
func (c *Conn) State() State { return c.state }

// Tuple returns the connection's addresses and ports.
func (c *Conn) Tuple() flow.Tuple { return c.tuple }

// Err returns the error the connection ended with, if any.
func (c *Conn) Err() error { return c.err }

// SetHandler sets the connection's event handler.
func (c *Conn) SetHandler(h Handler) { c.handler = h }

// SetCongestionControl chooses the connection's algorithm (TCP_CONGESTION).
func (c *Conn) SetCongestionControl(cc CongestionControl) { c.cc = cc }

// CongestionControl returns the connection's algorithm.
func (c *Conn) CongestionControl() CongestionControl { return c.cc }

// SetReuseAddr records SO_REUSEADDR. The connection's TIME_WAIT entry keeps
// it, for the bind() rules of the socket layer to come.
func (c *Conn) SetReuseAddr(on bool) { c.reuseAddr = on }

// SetReusePort records SO_REUSEPORT, kept like SO_REUSEADDR.
func (c *Conn) SetReusePort(on bool) { c.reusePort = on }

// SetNoDelay turns Nagle's algorithm off (true) or on.
func (c *Conn) SetNoDelay(on bool) { c.noDelay = on }

// SetDeferHandshakeACK asks a connection that has not been answered yet
// (SYN_SENT) to let its first data carry the last ACK of the handshake:
// when the SYN-ACK comes with nothing queued to send, the ACK waits up to
// delacktime for the application's first write, and then goes with it.
// That is one segment fewer per connection, and the peer's server gets
// its connection and the first data together. Linux does the same for a
// socket that connects with TCP_QUICKACK off, which is how HAProxy's
// option tcp-smart-connect works. It suits protocols where the client
// speaks first; a server that speaks first waits for the timer. It has no
// effect on a connection past SYN_SENT.
func (c *Conn) SetDeferHandshakeACK(on bool) { c.deferConnAck = on }

// SetKeepalive turns keepalive probes on or off (SO_KEEPALIVE).
func (c *Conn) SetKeepalive(on bool) {
	c.keepalive = on
	if c.state.synchronized() {
		c.armKeep(c.shard.now)
	}
}

// Readable returns the number of bytes ready to read.
func (c *Conn) Readable() int { return c.rcvReady() }

// EOF reports whether the peer has closed its side and every byte was read.
func (c *Conn) EOF() bool { return c.finRcvd && c.rcvReady() == 0 }

// Writable returns the room in the send buffer. Under memory pressure it
// is what keeps the bytes queued within pressureSndQueue.
func (c *Conn) Writable() int {
	if c.finQueued || c.state == Closed || c.state == TimeWait {
		return 0
	}
	return c.sndRoom()
}

// pressureSndQueue bounds the bytes a connection may queue to send while
// its shard's buffer memory is under pressure: one chunk, as Linux shrinks
// a socket's send buffer towards SOCK_MIN_SNDBUF under tcp_memory_pressure.
// A connection holding less always has room, and each ACK of its data
// tells its writer (Writable), so no writer stalls; one holding more
// writes again once its queue drained below it.
const pressureSndQueue = chunkSize

// sndRoom is the room Write takes: the send buffer's, bounded by
// pressureSndQueue under memory pressure.
func (c *Conn) sndRoom() int {
	if c.sndAuto {
		c.sndAutoSize()
	}
	room := c.snd.free()
	if c.snd.pool != nil && c.snd.pool.pressure() {
		room = min(room, max(0, pressureSndQueue-c.snd.n))
	}
	return room
}

// Unsent returns the bytes written but not yet acknowledged.
func (c *Conn) Unsent() int { return c.snd.n }

// rcvReady is the number of in-order unread bytes.
func (c *Conn) rcvReady() int { return c.rcv.n }

// Read copies received bytes into p and returns how many.
func (c *Conn) Read(p []byte) int {
	if c.rcv.cap() == 0 {
		return 0
	}
	n := c.rcv.read(p)
	if c.lingering {
		c.lingerDrained()
		return n
	}
	c.rcvAutoSize(n)
	c.windowOpened()
	return n
}

// windowOpened sends a window update when reading moved the window's right
// edge far enough beyond what was advertised (RFC 9293 3.8.6.2.2, receiver
// SWS avoidance), with FreeBSD's rule for when it is worth a segment: two
// segments or half the buffer, and either a quarter of the buffer or a
// peer that has at most an eighth of it left to send into (or a buffer of
// eight segments or less); or half the buffer whatever the peer has left.
// A sender the window holds back hears of two segments of room at once;
// one with room to spare is not sent an ACK per two segments read.
func (c *Conn) windowOpened() {
	if !c.state.synchronized() || c.finRcvd {
		return
	}
	edge := c.rcvNxt.Add(c.rcvWindow())
	if !edge.GT(c.rcvAdv) {
		return
	}
	opened, size := int(edge.Sub(c.rcvAdv)), c.rcv.cap()
	left := 0
	if c.rcvAdv.GT(c.rcvNxt) {
		left = int(c.rcvAdv.Sub(c.rcvNxt))
	}
	if opened >= min(2*c.ourMSS, size/2) && (opened >= size/4 || left <= size/8 || size <= 8*c.ourMSS) || 2*opened >= size {
		if c.shard.batching {
			// Read within a receive batch (an app that consumes as data
			// arrives): the batch's ACK at its end carries the window.
			c.deferAck()
			return
		}
		c.ackNow = true
		c.shard.stats[StatSndWinUp]++
		c.output()
	}
}

// Write queues p for sending and returns how much of it fit (under memory
// pressure, at most what keeps pressureSndQueue queued).
func (c *Conn) Write(p []byte) (int, error) {
	switch {
	case c.finQueued || c.state >= FinWait1 && c.state != CloseWait:
		return 0, syscall.EPIPE
	case c.state == Closed:
		if c.err != nil {
			return 0, c.err
		}
		return 0, syscall.EPIPE
	case c.state < SynSent:
		return 0, syscall.ENOTCONN
	}
	if room := c.sndRoom(); room < len(p) {
		p = p[:room]
	}
	n := c.snd.write(p)
	if c.state.synchronized() {
		if c.shard.batching {
			// Written within a receive batch (an app answering what
			// arrived): the batch's end sends it, with what else the
			// batch writes, in full segments (tcp/batch.go).
			c.deferOutput()
		} else {
			c.output()
		}
	}
	return n, nil
}

// CloseWrite shuts the send side: a FIN follows the data already written.
func (c *Conn) CloseWrite() {
	if c.finQueued {
		return
	}
	switch c.state {
	case SynSent:
		c.drop(nil)
		return
	case SynReceived:
		// With nothing to send the FIN goes now and FIN_WAIT_1 follows;
		// otherwise it waits for ESTABLISHED (RFC 9293 3.10.4).
		c.queueFIN()
		if c.snd.n > 0 {
			return
		}
		c.setState(FinWait1)
	case Established:
		c.queueFIN()
		c.setState(FinWait1)
	case CloseWait:
		c.queueFIN()
		c.setState(LastAck)
	default:
		return
	}
	c.output()
}

// queueFIN places the FIN after the data written so far.
func (c *Conn) queueFIN() {
	c.finQueued = true
	start := c.sndUna
	if !c.state.synchronized() {
		start = c.iss + 1 // the data starts after the SYN
	}
	c.finSeq = start.Add(uint32(c.snd.n))
}

// finAcked reports whether the peer acknowledged our FIN.
func (c *Conn) finAcked() bool { return c.finQueued && c.sndUna.GT(c.finSeq) }

// Close closes the connection for the application: the send side is shut
// with a FIN after the data already written, and nothing more will be read.
// When unread data is pending it is reset instead (RFC 2525 2.17), as BSD
// and Linux do. The handler's Closed follows once the connection is gone.
func (c *Conn) Close() {
	if c.closedByApp {
		return
	}
	c.closedByApp = true
	if c.state == Closed {
		if c.lingering {
			c.rcv.discard(c.rcv.n)
			c.lingerDrained()
		}
		return
	}
	if c.rcv.n > 0 && c.state.synchronized() {
		c.Abort()
		return
	}
	c.CloseWrite()
	if c.state == FinWait2 {
		c.armTimer(timer2MSL, c.shard.now.Add(c.shard.cfg.FinWait2Timeout))
	}
}

// Abort resets the connection (SO_LINGER with a zero timeout).
func (c *Conn) Abort() {
	switch c.state {
	case Closed, TimeWait:
		if c.lingering {
			c.closedByApp = true
			c.rcv.discard(c.rcv.n)
			c.lingerDrained()
		}
		return
	case SynReceived, Established, FinWait1, FinWait2, CloseWait:
		c.sendRST(c.sndNxt)
	}
	c.shard.stats[StatDrops]++
	c.closedByApp = true
	c.finish(syscall.ECONNRESET)
}

func (c *Conn) setState(s State) {
	c.assertOwner()
	c.shard.stateCount[c.state]--
	c.state = s
	c.shard.stateCount[s]++
	c.trace(TraceState)
}

// drop ends the connection with err, sending a RST when it was synchronized.
func (c *Conn) drop(err error) {
	if c.state.synchronized() && c.state != TimeWait {
		c.sendRST(c.sndNxt)
		c.shard.stats[StatDrops]++
	} else {
		c.shard.stats[StatConnDrops]++
	}
	c.finish(err)
}

// finish moves the connection to CLOSED and tells the application.
func (c *Conn) finish(err error) {
	if c.state == Closed {
		return
	}
	c.shard.stats[StatClosed]++
	c.release(err)
}

// release moves the connection to CLOSED, tells the application and frees
// the control block.
func (c *Conn) release(err error) {
	if c.err == nil {
		c.err = err
	}
	for i := range c.timers {
		c.timers[i] = 0
	}
	c.shard.wheel.schedule(c, 0)
	c.setState(Closed)
	c.shard.unlink(c)
	if err == nil && c.rcv.n > 0 && !c.closedByApp && c.handler != nil && !c.notified {
		// An orderly end (TIME_WAIT, or our FIN acknowledged in LAST_ACK)
		// with bytes the application has not read: as a socket outlives
		// its connection in BSD and Linux, the receive buffer stays, and
		// Peek, Read and Consume go on until it is drained (or Close or
		// Abort drops it); Closed comes then. The 4-tuple is free already.
		c.lingering = true
		c.shard.stats[StatLingerUnread]++
		return
	}
	c.notify(err)
	// The application heard Closed and may not use the connection again.
	c.shard.freeConn(c)
}

// notify delivers the handler's Closed, once.
func (c *Conn) notify(err error) {
	if !c.notified {
		c.notified = true
		if c.handler != nil {
			c.handler.Closed(c, err)
		}
	}
}

// armTimer sets a timer's deadline (0 cancels it) and reschedules.
func (c *Conn) armTimer(k timerKind, at mono.Time) {
	c.timers[k] = at
	c.reschedule()
}

func (c *Conn) reschedule() {
	var d mono.Time
	for _, t := range c.timers {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	if d != c.deadline || (d != 0 && c.tlist == nil) {
		c.shard.wheel.schedule(c, d)
	}
}

// armKeep arms keepalive (when enabled) from now.
func (c *Conn) armKeep(now mono.Time) {
	if c.keepalive || c.shard.cfg.AlwaysKeepalive {
		c.timers[timerKeep] = now.Add(c.keepIdle)
	} else {
		c.timers[timerKeep] = 0
	}
	c.reschedule()
}

// rcvWindow is the room in the receive buffer past the unread bytes. Under
// memory pressure it opens no further than advertised, or than two segments
// in all for a connection holding less (see chunkPool); while the link
// drops received frames, no further than advertised or than the
// connection's share of rxdrop_window (Shard.rxDropShare). A window
// already advertised is never taken back.
func (c *Conn) rcvWindow() uint32 {
	w := c.rcv.free()
	limit := -1
	if c.rcv.pool != nil && c.rcv.pool.pressure() {
		limit = 2 * c.ourMSS
	} else if share := c.shard.rxDropShare(); share > 0 {
		limit = max(share, 2*c.ourMSS)
	}
	if limit >= 0 {
		promised := 0
		if c.rcvAdv.GT(c.rcvNxt) {
			promised = int(c.rcvAdv.Sub(c.rcvNxt))
		}
		w = min(w, max(promised, limit-c.rcv.n))
	}
	return uint32(w)
}

// inFlight is the number of bytes sent and not acknowledged.
func (c *Conn) inFlight() uint32 { return c.sndMax.Sub(c.sndUna) }

// Peek returns the bytes ready to read, or a first part of them, in at most
// two pieces, without consuming them; they stay valid until the next call
// on the connection. Consume, then Peek again for the rest.
func (c *Conn) Peek() (a, b []byte) {
	if c.rcv.n == 0 {
		return nil, nil
	}
	return c.rcv.peek(0, c.rcv.n)
}

// Consume drops n bytes from the front of what Peek returned, as Read would.
func (c *Conn) Consume(n int) {
	n = min(n, c.rcv.n)
	c.rcv.discard(n)
	if c.lingering {
		c.lingerDrained()
		return
	}
	c.rcvAutoSize(n)
	c.windowOpened()
}

// lingerDrained ends a lingering connection (see release) once the
// application has read its last byte.
func (c *Conn) lingerDrained() {
	if c.rcv.n > 0 {
		return
	}
	c.lingering = false
	c.notify(nil)
	c.shard.freeConn(c)
}
