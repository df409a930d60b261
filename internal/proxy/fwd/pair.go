package fwd

import (
	"syscall"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/h1"
	"github.com/pollstack/pollstack/internal/proxy/proxyproto"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// A pair is one proxied connection: its client leg and, once dialled, its
// backend leg, both on this core. It is each leg's tcp.Conn.User.
type pair struct {
	lst       *listener
	grp       *group
	cli, srv  *tcp.Conn
	server    int // the server srv goes to, -1 before the first dial
	failed    int // the server whose connect failed, -1: none
	phase     uint8
	tries     uint8
	overTries uint8     // connects retried because they timed out while the core's ring dropped frames
	dialAt    mono.Time // when the backend leg's SYN went
	queued    bool
	live      bool
	timedOut  bool // srv is being aborted by a timeout (its Closed says so)
	aborting  bool // the proxy is resetting both legs itself (reset)
	cliFin    bool // the client's FIN was passed to the server
	srvFin    bool // the server's FIN was passed to the client
	last      mono.Time
	parser    *parserBox
	orig      proxyproto.Header // the client's addresses, for --send-proxy
	hasOrig   bool

	// HTTP mode (http.go).
	http      bool
	hs        uint8 // the exchange's state
	idleAt    int   // 1 + its index in App.idle while idle between requests; 0 otherwise
	rp        *h1.RequestParser
	sp        *h1.ResponseParser
	headBytes int // bytes of the head in progress consumed so far
	held      int // the request head's last bytes, left in the client's buffer until sent for good
	bc        *bconn
	reqBody   h1.Body
	respBody  h1.Body
	up, down  pend // bytes for the server and the client that their send buffers could not take
	start     mono.Time
	method    h1.Method
	minor     uint8 // the client's HTTP/1.minor
	upgrade   bool  // the request asks to switch protocols
	reqKeep   bool  // the client means to send another request
	retriable bool  // the request may be sent again (idempotent, no body)
	fresh     bool  // the next try takes a new connection, not a pooled one
	reqDone   bool  // the request's body has gone to the server
	respHead  bool  // the final response head has gone to the client
	respDone  bool  // and its body
	sentAny   bool  // bytes of a response went to the client
	cliKeep   bool  // the client connection persists after this response
	srvKeep   bool  // the server connection may
	chunkOut  bool  // the proxy chunks an until-close body itself
	dechunk   bool  // a chunked body goes to an HTTP/1.0 client as payload only
}

// A pair's phase.
const (
	phaseHeader     = iota + 1 // reading the client's PROXY protocol header
	phaseQueued                // waiting in the group's queue
	phaseConnecting            // the backend leg's SYN is out
	phaseForward               // both legs established: bytes move
	phaseHTTP                  // HTTP mode: the exchange's state is in hs
)

type parserBox struct{ p proxyproto.Parser }

// clientLeg and serverLeg are the App as the two legs' handlers.
type (
	clientLeg App
	serverLeg App
)

func (a *App) newPair(l *listener, c *tcp.Conn) *pair {
	var p *pair
	if n := len(a.free); n > 0 {
		p = a.free[n-1]
		a.free = a.free[:n-1]
		up, down := p.up.b[:0], p.down.b[:0]
		*p = pair{}
		p.up.b, p.down.b = up, down
	} else {
		p = &pair{}
	}
	p.lst, p.grp, p.cli, p.server, p.failed, p.live = l, l.grp, c, -1, -1, true
	p.last = c.Now()
	a.pairsLive++
	return p
}

// release returns p to the free list once both legs are gone.
func (a *App) release(p *pair) {
	if !p.live || p.cli != nil || p.srv != nil {
		return
	}
	p.live = false
	a.dropParsers(p)
	if p.parser != nil {
		a.parsers = append(a.parsers, p.parser)
		p.parser = nil
	}
	a.pairsLive--
	a.free = append(a.free, p)
}

func (h *clientLeg) Established(c *tcp.Conn) {
	a := (*App)(h)
	t := c.Tuple()
	l := a.listenerFor(&t)
	if l == nil || a.draining {
		c.Abort()
		return
	}
	if l.maxconn > 0 && l.active >= l.maxconn {
		l.stats[LstRefusedMaxConn]++
		c.Abort()
		return
	}
	l.active++
	l.stats[LstAccepted]++
	c.SetNoDelay(true)
	p := a.newPair(l, c)
	p.http = l.cfg.Mode == config.ModeHTTP
	c.User = p
	if l.cfg.AcceptProxy {
		p.phase = phaseHeader
		if n := len(a.parsers); n > 0 {
			p.parser = a.parsers[n-1]
			a.parsers = a.parsers[:n-1]
			p.parser.p.Reset()
		} else {
			p.parser = &parserBox{}
		}
		if d := l.cfg.AcceptProxyTimeout; d > 0 {
			c.SetAppTimer(c.Now().Add(d))
		}
		return
	}
	if p.http {
		a.httpStart(p)
		return
	}
	a.connect(p)
}

func (h *clientLeg) Readable(c *tcp.Conn) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	switch p.phase {
	case phaseHeader:
		a.readHeader(p)
	case phaseForward:
		a.pump(p, true)
	case phaseHTTP:
		a.httpClientReadable(p)
	}
}

func (h *clientLeg) Writable(c *tcp.Conn) {
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	switch p.phase {
	case phaseForward:
		(*App)(h).pump(p, false)
	case phaseHTTP:
		(*App)(h).httpClientWritable(p)
	}
}

func (h *clientLeg) Closed(c *tcp.Conn, err error) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	p.cli = nil
	p.lst.current().active--
	p.grp.unqueue(p)
	if p.phase == phaseHTTP {
		a.httpClientClosed(p, err)
	}
	if srv := p.srv; srv != nil {
		switch {
		case err != nil || p.phase != phaseForward:
			p.lst.current().stats[LstClientResets]++
			srv.Abort()
		default:
			// An orderly end whose last bytes were read after it
			// (tcp's linger_unread): the FIN follows them.
			passFIN(p, true, srv)
		}
	}
	a.release(p)
}

// AppTimer is the client leg's timer: the PROXY header's or the queue's
// timeout, or the idle (client) timeout while forwarding.
func (h *clientLeg) AppTimer(c *tcp.Conn) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	switch p.phase {
	case phaseHeader:
		p.lst.current().stats[LstProxyTimeouts]++
		c.Abort()
	case phaseQueued:
		p.grp.stats[GrpQueueTimeouts]++
		c.Abort()
	case phaseForward:
		a.idleCheck(p, c.Now())
	case phaseHTTP:
		a.httpClientTimer(p)
	}
}

// readHeader feeds the client's first bytes to its PROXY protocol parser.
func (a *App) readHeader(p *pair) {
	c := p.cli
	for p.phase == phaseHeader {
		b, _ := c.Peek()
		if len(b) == 0 {
			if c.EOF() {
				p.lst.current().stats[LstProxyErrors]++
				c.Abort()
			}
			return
		}
		n, done, err := p.parser.p.Feed(b)
		if err != nil {
			p.lst.current().stats[LstProxyErrors]++
			c.Abort()
			return
		}
		c.Consume(n)
		if done {
			h := p.parser.p.Header()
			if h.HasAddr() {
				p.orig = proxyproto.Header{Command: proxyproto.Proxy, Src: h.Src, Dst: h.Dst}
				p.hasOrig = true
			}
			c.SetAppTimer(0)
			if p.http {
				a.httpStart(p)
			} else {
				a.connect(p)
			}
			return
		}
	}
}

// connect opens p's backend leg, or queues or refuses p.
func (a *App) connect(p *pair) {
	if p.http {
		a.httpConnect(p)
		return
	}
	g := p.grp
	c := p.cli
	now := c.Now()
	i, ok := g.pick(keyOf(c.Tuple().RemoteAddr), p.failed)
	if !ok {
		if g.anyInRotation() && g.enqueue(p) {
			p.phase = phaseQueued
			g.stats[GrpQueued]++
			if d := g.cfg.QueueTimeout; d > 0 {
				c.SetAppTimer(now.Add(d))
			}
			return
		}
		g.stats[GrpNoServer]++
		c.Abort()
		return
	}
	srv, err := g.dial(i, (*serverLeg)(a), now)
	if err != nil {
		c.Abort()
		return
	}
	p.tries++
	p.server, p.srv, p.phase, p.dialAt = i, srv, phaseConnecting, now
	srv.User = p
	srv.SetNoDelay(true)
	srv.SetDeferHandshakeACK(g.cfg.SmartConnect)
	s := g.servers[i]
	s.active++
	s.stats[SrvConnections]++
	g.set.Acquire(i)
	if d := g.cfg.ConnectTimeout; d > 0 {
		srv.SetAppTimer(now.Add(d))
	}
	if v := s.cfg.SendProxy; v != config.ProxyNone {
		a.sendProxy(p, v)
	}
}

// sendProxy writes the PROXY protocol header at the start of the backend
// leg's send buffer: the client's addresses, or those its own PROXY header
// gave.
func (a *App) sendProxy(p *pair, v config.ProxyVersion) {
	h := p.orig
	if !p.hasOrig {
		t := p.cli.Tuple()
		h = proxyproto.Header{Command: proxyproto.Proxy}
		h.Src, h.Dst = proxyproto.FromTuple(&t)
	}
	var err error
	if v == config.ProxyV1 {
		a.hdr = proxyproto.AppendV1(a.hdr[:0], &h)
	} else if a.hdr, err = proxyproto.AppendV2(a.hdr[:0], &h); err != nil {
		a.hdr = a.hdr[:0]
	}
	// A new connection's empty send buffer takes a header whole.
	if n, err := p.srv.Write(a.hdr); err != nil || n != len(a.hdr) {
		p.srv.Abort()
	}
}

func (h *serverLeg) Established(c *tcp.Conn) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	if g := p.grp; g.chk != nil {
		g.chk.Passive(p.server, true, c.Now())
	}
	p.phase = phaseForward
	c.SetAppTimer(0)
	p.last = c.Now()
	a.armIdle(p)
	a.pump(p, true)
	if p.phase == phaseForward && p.srv != nil {
		a.pump(p, false)
	}
}

func (h *serverLeg) Readable(c *tcp.Conn) {
	if p, ok := c.User.(*pair); ok && p.phase == phaseForward {
		(*App)(h).pump(p, false)
	}
}

func (h *serverLeg) Writable(c *tcp.Conn) {
	if p, ok := c.User.(*pair); ok && p.phase == phaseForward {
		(*App)(h).pump(p, true)
	}
}

func (h *serverLeg) Closed(c *tcp.Conn, err error) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	g := p.grp
	s := g.servers[p.server]
	p.srv = nil
	s.active--
	g.set.Release(p.server)
	if p.phase == phaseConnecting {
		a.connectFailed(p, s, err, c.Now())
	} else if cli := p.cli; cli != nil {
		switch {
		case err != nil:
			if !p.aborting {
				s.stats[SrvResets]++
			}
			cli.Abort()
		default:
			passFIN(p, false, cli)
		}
	}
	if g.n > 0 {
		g.serveQueue()
	}
	a.release(p)
}

// connectFailed handles a backend leg that ended before it was
// established: counted by kind, told to the health checker, retried once
// on another server, else the client is reset. A timeout while the core's
// receive ring dropped frames is retried without either (at most
// overloadConnectRetries times).
func (a *App) connectFailed(p *pair, s *server, err error, now mono.Time) {
	g := p.grp
	if p.cli == nil {
		return // the client went away and took the connect with it: no fault of the server's
	}
	why := failureOf(err, p.timedOut)
	p.timedOut = false
	switch why {
	case failRefused:
		s.stats[SrvConnectRefused]++
	case failTimeout:
		s.stats[SrvConnectTimeout]++
	default:
		s.stats[SrvConnectReset]++
	}
	if why == failTimeout && a.lastDrop > p.dialAt && p.overTries < overloadConnectRetries {
		// The core's receive ring dropped frames while the SYN was out:
		// the server's answers may be among them. Overload slows the
		// connect down; it neither uses up the client's tries nor counts
		// against the server's health.
		p.overTries++
		p.tries--
		s.stats[SrvRetries]++
		p.failed = p.server
		a.connect(p)
		return
	}
	if g.chk != nil {
		g.chk.Passive(p.server, false, now)
	}
	if p.tries < 2 {
		s.stats[SrvRetries]++
		p.failed = p.server
		a.connect(p)
		return
	}
	p.cli.Abort()
}

type failure uint8

const (
	failRefused failure = iota
	failTimeout
	failReset
)

func failureOf(err error, timedOut bool) failure {
	switch {
	case timedOut || err == syscall.ETIMEDOUT:
		return failTimeout
	case err == syscall.ECONNREFUSED:
		return failRefused
	}
	return failReset
}

// AppTimer is the backend leg's timer: the connect timeout, or the idle
// (server) timeout while forwarding.
func (h *serverLeg) AppTimer(c *tcp.Conn) {
	a := (*App)(h)
	p, ok := c.User.(*pair)
	if !ok {
		return
	}
	switch p.phase {
	case phaseConnecting:
		p.timedOut = true
		c.Abort()
	case phaseForward:
		a.idleCheck(p, c.Now())
	}
}

// pump moves bytes one way, client to server (up) or back, as far as the
// receiving leg's send buffer takes them, and passes the FIN on after the
// last byte.
func (a *App) pump(p *pair, up bool) {
	from, to := p.cli, p.srv
	if !up {
		from, to = p.srv, p.cli
	}
	if from == nil || to == nil {
		return
	}
	s := p.grp.servers[p.server]
	moved := 0
	for {
		x, y := from.Peek()
		if len(x) == 0 {
			break
		}
		n, err := to.Write(x)
		if err != nil {
			s.stats[SrvWriteErrors]++
			a.reset(p)
			return
		}
		if n == len(x) && len(y) > 0 {
			m, _ := to.Write(y)
			n += m
		}
		if n == 0 {
			break
		}
		moved += n
		// A lingering leg (ended in order, bytes unread) is gone once
		// its last byte is consumed; its Closed passes the FIN on.
		last := from.State() == tcp.Closed && n == from.Readable()
		from.Consume(n)
		if last {
			break
		}
	}
	if moved > 0 {
		// Idle means no byte forwarded either way: segments that move
		// nothing (window probes, ACKs of a stalled peer) do not count.
		p.last = to.Now()
		if up {
			s.stats[SrvBytesOut] += uint64(moved)
		} else {
			s.stats[SrvBytesIn] += uint64(moved)
		}
	}
	if p.cli == nil || p.srv == nil || !from.EOF() {
		return
	}
	if passFIN(p, up, to) {
		a.armIdle(p)
	}
}

// passFIN shuts to's send side after its data, once per direction (up:
// the client's FIN to the server), and reports whether it did now.
func passFIN(p *pair, up bool, to *tcp.Conn) bool {
	done := &p.srvFin
	if up {
		done = &p.cliFin
	}
	if *done {
		return false
	}
	*done = true
	to.CloseWrite()
	return true
}

// reset resets both legs (neither leg's Closed counts it as the peer's
// reset).
func (a *App) reset(p *pair) {
	p.aborting = true
	cli, srv := p.cli, p.srv
	if srv != nil {
		srv.Abort()
	}
	if cli != nil && p.cli != nil {
		cli.Abort()
	}
}

// idleTimeout is the timeout that applies to p now: the smaller of the
// client's and the server's, or their half-closed variants once that side
// has sent its FIN; 0 for none.
func (p *pair) idleTimeout() int64 {
	lc, gc := &p.lst.cfg, &p.grp.cfg
	ct, st := lc.ClientTimeout, gc.ServerTimeout
	if p.cliFin && lc.ClientFinTimeout > 0 {
		ct = lc.ClientFinTimeout
	}
	if p.srvFin && gc.ServerFinTimeout > 0 {
		st = gc.ServerFinTimeout
	}
	d := ct
	if d == 0 || st > 0 && st < d {
		d = st
	}
	return int64(d)
}

// armIdle arms the client leg's timer for p's idle timeout from its last
// activity. The timer is not moved on every byte: when it fires early it
// is set again from the last activity (idleCheck).
func (a *App) armIdle(p *pair) {
	d := p.idleTimeout()
	if d == 0 || p.cli == nil {
		return
	}
	p.cli.SetAppTimer(p.last.Add(timeDuration(d)))
}

// idleCheck closes p when it has been idle its timeout, else re-arms.
//
// The idle clock runs from the later of p's last activity and the last
// time the core's receive ring dropped frames: silence while the core is
// overloaded may be its own doing (the peer's segments, or its
// retransmissions backed off to many seconds, dropped before the ring),
// and the peer is not to blame for it. Overload only slows a pair's
// timeout down: it is reset at the latest overloadIdleFactor timeouts
// after its last activity.
func (a *App) idleCheck(p *pair, now mono.Time) {
	d := p.idleTimeout()
	if d == 0 {
		return
	}
	due := p.last.Add(timeDuration(d))
	if now >= due && a.lastDrop > p.last {
		due = min(a.lastDrop, p.last.Add(timeDuration((overloadIdleFactor-1)*d))).Add(timeDuration(d))
		if now < due {
			p.lst.current().stats[LstIdleOverloaded]++
		}
	}
	if now < due {
		if p.cli != nil {
			p.cli.SetAppTimer(due)
		}
		return
	}
	st := &p.lst.current().stats
	st[LstIdleTimeouts]++
	// What the pair was waiting on, for the counters: a flow-controlled
	// pair whose window update or probe was lost looks idle too. A window
	// under one segment is closed (SWS avoidance sends nothing into it).
	var peerZero, ownZero bool
	for _, c := range [2]*tcp.Conn{p.cli, p.srv} {
		if c == nil {
			continue
		}
		in := c.Info()
		peerZero = peerZero || in.Unsent > 0 && in.InFlight == 0 && int(in.SndWnd) < in.SndMSS
		ownZero = ownZero || int(in.RcvWnd) < in.RcvMSS
	}
	if peerZero {
		st[LstIdlePeerWindowClosed]++
	}
	if ownZero {
		st[LstIdleOwnWindowClosed]++
	}
	a.reset(p)
}

// overloadConnectRetries bounds the connects of a pair retried for a
// timeout under overload (connectFailed), beyond its two tries.
const overloadConnectRetries = 3

// overloadIdleFactor bounds how far the receive ring's drops put off an
// idle timeout: at most this many timeouts after the pair's last activity.
const overloadIdleFactor = 4
