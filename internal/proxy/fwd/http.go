package fwd

import (
	"net/netip"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/internal/proxy/h1"
	"github.com/pollstack/pollstack/tcp"
)

// HTTP mode: a client connection carries requests one at a time (a
// pipelined request waits in the client's receive buffer until the one
// before it is answered); each goes to a backend connection taken from the
// chosen server's pool on this core, or dialled from it, and comes back to
// the pool when its response has ended and both sides mean to keep it.

// An exchange's state, p.hs.
const (
	hsHead     = iota + 1 // reading a request head (the first, or one begun)
	hsIdle                // between requests: waiting for a keep-alive client's next
	hsQueued              // waiting in the group's queue for a server with room
	hsConnect             // a new backend connection's SYN is out
	hsExchange            // the request went to the server: bodies move, the response comes back
	hsClosing             // the proxy answered an error: the client's bytes are discarded until it closes
	hsDone                // the last response went out: the client connection is closing
)

// pend holds bytes for a connection that its send buffer could not take
// at once (a head larger than the room left); Writable sends them first.
type pend struct {
	b   []byte
	off int
}

func (q *pend) empty() bool { return q.off == len(q.b) }

// put writes b to c, keeping what c's send buffer cannot take now in q
// (behind what q holds already). It fails only when c cannot be written.
func put(c *tcp.Conn, q *pend, b []byte) bool {
	if !q.empty() {
		q.b = append(q.b, b...)
		return true
	}
	n, err := c.Write(b)
	if err != nil {
		return false
	}
	if n < len(b) {
		q.b = append(q.b[:0], b[n:]...)
		q.off = 0
	}
	return true
}

// flush sends what q holds; it reports whether q is empty after it, and
// fails when c cannot be written.
func flush(c *tcp.Conn, q *pend) (bool, error) {
	if q.empty() {
		return true, nil
	}
	n, err := c.Write(q.b[q.off:])
	if err != nil {
		return false, err
	}
	q.off += n
	if q.empty() {
		q.b, q.off = q.b[:0], 0
		return true, nil
	}
	return false, nil
}

// httpStart begins HTTP on a new client connection (after its PROXY
// header, if any): the first request's head must arrive within the
// listener's http-request timeout.
func (a *App) httpStart(p *pair) {
	p.phase, p.hs = phaseHTTP, hsHead
	a.armClient(p, p.lst.cfg.HTTPRequestTimeout)
	a.readRequest(p)
}

// armClient sets the client leg's timer d from now (0: none).
func (a *App) armClient(p *pair, d time.Duration) {
	if p.cli == nil {
		return
	}
	if d <= 0 {
		p.cli.SetAppTimer(0)
		return
	}
	p.cli.SetAppTimer(p.cli.Now().Add(d))
}

// takeReqParser and takeRespParser hand out parsers from the core's free
// lists; dropParsers gives p's back.
func (a *App) takeReqParser() *h1.RequestParser {
	if n := len(a.reqParsers); n > 0 {
		rp := a.reqParsers[n-1]
		a.reqParsers = a.reqParsers[:n-1]
		return rp
	}
	return &h1.RequestParser{}
}

func (a *App) takeRespParser() *h1.ResponseParser {
	if n := len(a.respParsers); n > 0 {
		sp := a.respParsers[n-1]
		a.respParsers = a.respParsers[:n-1]
		return sp
	}
	return &h1.ResponseParser{}
}

func (a *App) dropReqParser(p *pair) {
	if p.rp != nil {
		a.reqParsers = append(a.reqParsers, p.rp)
		p.rp = nil
	}
}

func (a *App) dropParsers(p *pair) {
	a.dropReqParser(p)
	if p.sp != nil {
		a.respParsers = append(a.respParsers, p.sp)
		p.sp = nil
	}
}

// readRequest reads the next request head from the client, and sends the
// request on once it is whole.
func (a *App) readRequest(p *pair) {
	c := p.cli
	for p.hs == hsHead || p.hs == hsIdle {
		x, y := c.Peek()
		if len(x) == 0 {
			if c.EOF() {
				a.delIdle(p)
				if p.hs == hsHead && p.rp != nil && p.headBytes > 0 {
					// A head cut short by the client's FIN.
					p.lst.current().stats[LstHTTPRefused]++
					a.answer(p, 400)
					return
				}
				p.hs = hsDone
				c.Close()
			}
			return
		}
		if p.hs == hsIdle {
			a.delIdle(p)
			p.hs = hsHead
			a.armClient(p, p.lst.cfg.HTTPRequestTimeout)
		}
		if p.rp == nil {
			p.rp = a.takeReqParser()
			p.rp.Reset()
			p.headBytes = 0
		}
		n, done, why := p.rp.FeedPair(x, y)
		if why != h1.OK {
			p.lst.current().stats[LstHTTPRefused]++
			a.answer(p, why.Status())
			return
		}
		if !done {
			p.headBytes += n
			c.Consume(n)
			continue
		}
		// The head's last n bytes stay in the receive buffer until the
		// request has gone to the server (the head may be parsed where
		// it lies).
		p.held = n
		a.beginRequest(p)
		return
	}
}

// beginRequest acts on a whole request head: it refuses what the proxy
// will not forward and finds a backend connection for the rest.
func (a *App) beginRequest(p *pair) {
	req := p.rp.Request()
	p.lst.current().stats[LstHTTPRequests]++
	if req.Flags&h1.ExpectOther != 0 {
		a.answer(p, 417)
		return
	}
	if why := earlyBodyRefusal(p, req); why != h1.OK {
		p.lst.current().stats[LstHTTPRefused]++
		a.answer(p, why.Status())
		return
	}
	p.grp = p.lst.route(req)
	p.method, p.minor, p.reqKeep = req.Method, req.Minor, req.KeepAlive
	p.upgrade = req.Flags&h1.Upgrade != 0
	p.retriable = idempotent(req.Method) && !req.HasBody()
	p.tries, p.failed, p.fresh = 0, -1, false
	p.cli.SetAppTimer(0)
	a.httpConnect(p)
}

// httpTries is how many connects a request may try (HAProxy's retries 3
// with redispatch): a failed connect is tried again on another server.
const httpTries = 3

// idempotent reports whether a request of method m may be sent twice
// (RFC 9110 9.2.2).
func idempotent(m h1.Method) bool {
	switch m {
	case h1.MethodGET, h1.MethodHEAD, h1.MethodPUT, h1.MethodDELETE, h1.MethodOPTIONS, h1.MethodTRACE:
		return true
	}
	return false
}

// httpConnect gives p's request a backend connection: an idle one from
// the chosen server's pool, else a new one; or queues p, or answers 503.
func (a *App) httpConnect(p *pair) {
	g := p.grp
	c := p.cli
	now := c.Now()
	i, ok := g.pick(keyOf(c.Tuple().RemoteAddr), p.failed)
	if !ok {
		if g.anyInRotation() && g.enqueue(p) {
			p.hs = hsQueued
			g.stats[GrpQueued]++
			if d := g.cfg.QueueTimeout; d > 0 {
				c.SetAppTimer(now.Add(d))
			}
			return
		}
		g.stats[GrpNoServer]++
		a.answer(p, 503)
		return
	}
	s := g.servers[i]
	p.tries++
	if n := len(s.pool); n > 0 && !p.fresh {
		bc := s.pool[n-1]
		s.pool[n-1] = nil
		s.pool = s.pool[:n-1]
		bc.pooled, bc.reused = -1, true
		bc.c.SetAppTimer(0)
		s.stats[SrvPoolReused]++
		a.assign(p, bc)
		a.sendRequest(p)
		return
	}
	sc, err := g.dial(i, (*httpServer)(a), now)
	if err != nil {
		a.answer(p, 503)
		return
	}
	bc := a.newBConn()
	bc.c, bc.g, bc.srv = sc, g, i
	sc.User = bc
	sc.SetNoDelay(true)
	s.stats[SrvConnections]++
	a.assign(p, bc)
	p.hs = hsConnect
	if d := g.cfg.ConnectTimeout; d > 0 {
		sc.SetAppTimer(now.Add(d))
	}
	if v := s.cfg.SendProxy; v != config.ProxyNone {
		bc.private = true
		p.srv = sc
		a.sendProxy(p, v)
		p.srv = nil
	}
}

// clientAddr is the client's address for the forwarding fields: its PROXY
// header's source when it sent one.
func clientAddr(p *pair) netip.Addr {
	if p.hasOrig {
		return p.orig.Src.Addr()
	}
	return netip.AddrFrom16(p.cli.Tuple().RemoteAddr).Unmap()
}

// sendRequest writes the request head to p's established backend
// connection and starts the exchange.
func (a *App) sendRequest(p *pair) {
	bc := p.bc
	now := p.cli.Now()
	req := p.rp.Request()
	lc := &p.lst.cfg
	e := h1.RequestEdit{Client: clientAddr(p), Replace: lc.ForwardReplace, Tunnel: p.upgrade}
	switch lc.ForwardFor {
	case config.ForwardXFF:
		e.Forwarding = h1.XForwardedFor | h1.XForwardedProto
	case config.ForwardRFC7239:
		e.Forwarding = h1.Forwarded
	}
	if lc.ForwardHost && lc.ForwardFor == config.ForwardXFF {
		e.Forwarding |= h1.XForwardedHost
	}
	if req.Minor == 0 {
		// An HTTP/1.0 request keeps the server connection only if it
		// says so.
		e.Connection = h1.ConnFieldKeepAlive
	}
	a.out = p.rp.AppendHead(a.out[:0], &e)
	if !put(bc.c, &p.up, a.out) {
		a.serverFailed(p, false)
		return
	}
	s := bc.g.servers[bc.srv]
	s.stats[SrvHTTPRequests]++
	p.hs, p.start, p.last = hsExchange, now, now
	p.reqBody.Reset(req.Framing, req.ContentLength, h1.Limits{})
	p.reqDone = p.reqBody.Done()
	p.respHead, p.respDone, p.sentAny, p.headBytes = false, false, false, 0
	p.chunkOut, p.dechunk, p.cliKeep, p.srvKeep = false, false, false, false
	if !p.retriable || p.fresh {
		// Not to be sent again: the head's bytes and parser can go.
		a.releaseHead(p)
	}
	if p.sp == nil {
		p.sp = a.takeRespParser()
	}
	p.sp.Reset()
	p.sp.SetRequest(p.method, p.upgrade)
	if d := bc.g.cfg.ServerTimeout; d > 0 {
		bc.c.SetAppTimer(now.Add(d))
	}
	a.armIdleHTTP(p)
	if !p.reqDone {
		a.pumpRequest(p)
	}
	if p.hs == hsExchange && p.bc != nil {
		a.readResponse(p)
	}
}

// releaseHead consumes the request head's last bytes from the client's
// buffer and gives its parser back.
func (a *App) releaseHead(p *pair) {
	if p.held > 0 && p.cli != nil {
		n := p.held
		p.held = 0
		p.cli.Consume(n)
	}
	p.held = 0
	a.dropReqParser(p)
}

// pumpRequest moves the request body to the server as far as its send
// buffer takes it, re-framing a chunked body.
func (a *App) pumpRequest(p *pair) {
	bc := p.bc
	if bc == nil || p.cli == nil {
		return
	}
	from, to := p.cli, bc.c
	s := bc.g.servers[bc.srv]
	reserve := 0
	if p.reqBody.Framing() == h1.Chunked {
		reserve = h1.MaxEmit
	}
	moved := 0
	for !p.reqDone {
		if ok, err := flush(to, &p.up); err != nil {
			a.serverFailed(p, false)
			return
		} else if !ok {
			break
		}
		x, _ := from.Peek()
		if len(x) == 0 {
			if from.EOF() {
				// The client closed within its request's body.
				p.lst.current().stats[LstClientResets]++
				a.httpReset(p)
				return
			}
			break
		}
		room := to.Writable() - reserve
		if room <= 0 {
			break
		}
		if len(x) > room {
			x = x[:room]
		}
		st, why := p.reqBody.Next(x)
		if why != h1.OK {
			p.lst.current().stats[LstHTTPRefused]++
			a.answer(p, why.Status())
			return
		}
		if st.Data && st.N > 0 && !put(to, &p.up, x[:st.N]) {
			a.serverFailed(p, false)
			return
		}
		if len(st.Emit) > 0 && !put(to, &p.up, st.Emit) {
			a.serverFailed(p, false)
			return
		}
		if st.Data {
			moved += st.N
		}
		from.Consume(st.N)
		p.reqDone = p.reqBody.Done()
		if st.N == 0 && len(st.Emit) == 0 {
			break
		}
	}
	if moved > 0 {
		s.stats[SrvBytesOut] += uint64(moved)
		p.last = to.Now()
	}
	if p.reqDone && p.respDone {
		a.finish(p)
	}
}

// readResponse reads the response head from the server and sends it on.
func (a *App) readResponse(p *pair) {
	for p.hs == hsExchange && !p.respHead {
		bc := p.bc
		if bc == nil {
			return
		}
		c := bc.c
		x, y := c.Peek()
		if len(x) == 0 {
			if c.EOF() {
				// The server closed without (the rest of) an answer.
				if p.sp != nil && p.headBytes > 0 {
					bc.g.servers[bc.srv].stats[SrvBadResponses]++
				}
				a.serverFailed(p, false)
			}
			return
		}
		n, done, why := p.sp.FeedPair(x, y)
		if why != h1.OK {
			bc.g.servers[bc.srv].stats[SrvBadResponses]++
			a.serverFailed(p, false)
			return
		}
		if !done {
			p.headBytes += n
			c.Consume(n)
			continue
		}
		// The server answered: the request will not be sent again.
		a.releaseHead(p)
		resp := p.sp.Response()
		if resp.Interim() {
			if p.minor >= 1 {
				// 1xx go on to HTTP/1.1 clients only (RFC 9110 15.2).
				a.out = p.sp.AppendHead(a.out[:0], &h1.ResponseEdit{})
				if !put(p.cli, &p.down, a.out) {
					a.httpReset(p)
					return
				}
				p.sentAny = true
			}
			c.Consume(n)
			p.sp.Reset()
			p.sp.SetRequest(p.method, p.upgrade)
			continue
		}
		a.sendResponseHead(p, resp, n)
	}
	if p.hs == hsExchange && p.respHead && !p.respDone {
		a.pumpResponse(p)
	}
}

// sendResponseHead writes the final response head (its n last bytes still
// in the server's buffer) to the client, choosing how the body is framed
// toward it and whether the client connection persists.
func (a *App) sendResponseHead(p *pair, resp *h1.Response, n int) {
	bc := p.bc
	s := bc.g.servers[bc.srv]
	tunnel := resp.Framing == h1.Tunnel
	keep := p.reqKeep && !a.draining && !tunnel
	e := h1.ResponseEdit{Tunnel: tunnel}
	switch resp.Framing {
	case h1.Chunked:
		if p.minor == 0 {
			// An HTTP/1.0 client gets the payload, delimited by the close.
			p.dechunk, keep = true, false
		}
	case h1.UntilClose:
		if keep && p.minor >= 1 && resp.CanChunk() {
			e.Chunked, p.chunkOut = true, true
		} else {
			keep = false
		}
	}
	switch {
	case tunnel:
	case !keep:
		e.Connection = h1.ConnFieldClose
	case p.minor == 0:
		e.Connection = h1.ConnFieldKeepAlive
	}
	p.cliKeep, p.srvKeep = keep, resp.KeepAlive
	a.out = p.sp.AppendHead(a.out[:0], &e)
	if !put(p.cli, &p.down, a.out) {
		a.httpReset(p)
		return
	}
	p.sentAny = true
	p.respHead = true
	s.rt.record(int64(bc.c.Now().Sub(p.start)))
	if k := resp.Status / 100; k >= 1 && k <= 5 {
		s.stats[SrvHTTP1xx+k-1]++
	}
	p.respBody.Reset(resp.Framing, resp.ContentLength, h1.Limits{})
	bc.c.Consume(n)
	a.dropParsers(p)
	if p.bc == nil {
		return
	}
	if tunnel {
		a.toTunnel(p)
		return
	}
	p.respDone = p.respBody.Done()
	if p.respDone {
		a.responseDone(p)
	}
}

// chunkHead is the room a chunk header of the proxy's own and the CRLF
// after its data take.
const chunkHead = 16 + 2 + 2

// pumpResponse moves the response body to the client as far as its send
// buffer takes it.
func (a *App) pumpResponse(p *pair) {
	bc := p.bc
	if bc == nil || p.cli == nil {
		return
	}
	from, to := bc.c, p.cli
	s := bc.g.servers[bc.srv]
	reserve := 0
	switch {
	case p.chunkOut:
		reserve = chunkHead
	case p.respBody.Framing() == h1.Chunked && !p.dechunk:
		reserve = h1.MaxEmit
	}
	moved := 0
	for !p.respDone {
		if ok, err := flush(to, &p.down); err != nil {
			a.httpReset(p)
			return
		} else if !ok {
			break
		}
		x, _ := from.Peek()
		if len(x) == 0 {
			if from.EOF() {
				if p.respBody.EOF() != h1.OK {
					// The server closed within the body: the client
					// cannot be told but by a reset.
					s.stats[SrvResets]++
					a.httpReset(p)
					return
				}
				p.respDone = true
				if p.chunkOut && !put(to, &p.down, lastChunk) {
					a.httpReset(p)
					return
				}
			}
			break
		}
		room := to.Writable() - reserve
		if room <= 0 {
			break
		}
		if len(x) > room {
			x = x[:room]
		}
		st, why := p.respBody.Next(x)
		if why != h1.OK {
			s.stats[SrvBadResponses]++
			a.httpReset(p)
			return
		}
		if st.Data && st.N > 0 {
			var ok bool
			if p.chunkOut {
				a.out = h1.AppendChunkHeader(a.out[:0], st.N)
				ok = put(to, &p.down, a.out) && put(to, &p.down, x[:st.N]) && put(to, &p.down, crlf)
			} else {
				ok = put(to, &p.down, x[:st.N])
			}
			if !ok {
				a.httpReset(p)
				return
			}
			moved += st.N
		}
		if len(st.Emit) > 0 && !p.dechunk && !put(to, &p.down, st.Emit) {
			a.httpReset(p)
			return
		}
		from.Consume(st.N)
		if p.bc == nil {
			return
		}
		p.respDone = p.respBody.Done()
		if st.N == 0 && len(st.Emit) == 0 {
			break
		}
	}
	if moved > 0 {
		s.stats[SrvBytesIn] += uint64(moved)
		p.last = to.Now()
	}
	if p.respDone {
		a.responseDone(p)
	}
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// responseDone ends the exchange once the response has gone (to the
// client's send buffer) and the request body with it.
func (a *App) responseDone(p *pair) {
	if !p.down.empty() {
		return // Writable comes back here once it has gone
	}
	a.finish(p)
}

// finish ends p's exchange: the backend connection goes back to its pool
// when both sides keep it and nothing is left on it, else it is closed;
// the client connection waits for its next request, or closes.
func (a *App) finish(p *pair) {
	if p.hs != hsExchange || !p.respDone || !p.down.empty() {
		return
	}
	bc := p.bc
	if bc != nil {
		g, s := bc.g, bc.g.servers[bc.srv]
		reuse := p.reqDone && p.srvKeep && !bc.private && p.up.empty() && bc.c.Readable() == 0 && !bc.c.EOF() &&
			!a.draining && !g.retired && g.cfg.PoolMaxIdle > 0 && len(s.pool) < g.cfg.PoolMaxIdle && g.set.InRotation(bc.srv)
		a.unassign(p)
		if reuse {
			a.pool(bc)
		} else {
			bc.c.Close()
		}
		if g.n > 0 {
			g.serveQueue()
		}
	}
	p.up.b, p.up.off = p.up.b[:0], 0
	c := p.cli
	if c == nil {
		return
	}
	if !p.reqDone || !p.cliKeep || c.EOF() || a.draining {
		// The connection closes after this response. What the client
		// sent after its request (the rest of a body the server did not
		// wait for, pipelined requests) is read and dropped while the
		// client reads the response, and the close is a FIN after it: a
		// close with unread bytes would be a reset, which could destroy
		// the response at the client.
		a.lingerClose(p)
		return
	}
	p.hs = hsIdle
	a.addIdle(p)
	a.armClient(p, p.lst.cfg.KeepAliveTimeout)
	if c.Readable() > 0 {
		a.readRequest(p)
	}
}

// addIdle and delIdle keep the list of client connections idle between
// requests, which a drain closes.
func (a *App) addIdle(p *pair) {
	if p.idleAt == 0 {
		a.idle = append(a.idle, p)
		p.idleAt = len(a.idle)
	}
}

func (a *App) delIdle(p *pair) {
	i := p.idleAt - 1
	if i < 0 {
		return
	}
	last := len(a.idle) - 1
	a.idle[i] = a.idle[last]
	a.idle[i].idleAt = i + 1
	a.idle[last] = nil
	a.idle = a.idle[:last]
	p.idleAt = 0
}

// closeIdle closes the client connections idle between requests (a drain:
// a keep-alive client would otherwise hold its connection to the end).
func (a *App) closeIdle() {
	for len(a.idle) > 0 {
		p := a.idle[len(a.idle)-1]
		a.delIdle(p)
		p.hs = hsDone
		p.cli.Close()
	}
}

// lingerClose ends the client connection in order after what was
// written to it: its further bytes are dropped until it closes, or reset
// after lingerTime.
func (a *App) lingerClose(p *pair) {
	c := p.cli
	p.hs = hsClosing
	discard(c)
	if p.down.empty() {
		if c.EOF() {
			c.Close()
			return
		}
		c.CloseWrite()
	}
	a.armClient(p, lingerTime)
}

// toTunnel makes p an L4 pair after a 101 or a 2xx to CONNECT: its
// backend connection leaves HTTP mode and bytes move both ways as they come.
func (a *App) toTunnel(p *pair) {
	bc := p.bc
	if ok, err := flush(p.cli, &p.down); err != nil || !ok {
		// A switch's head is small; a client that cannot take it now is
		// not worth a tunnel.
		a.httpReset(p)
		return
	}
	c := bc.c
	p.bc, bc.p = nil, nil
	c.User = p
	c.SetHandler((*serverLeg)(a))
	c.SetAppTimer(0)
	p.srv, p.server = c, bc.srv
	a.releaseBConn(bc)
	p.http, p.phase = false, phaseForward
	p.last = c.Now()
	a.armIdle(p)
	a.pump(p, true)
	if p.phase == phaseForward && p.srv != nil {
		a.pump(p, false)
	}
}

// answer sends the client an error of the proxy's own and closes the
// connection after it; the request's backend connection, if any, is
// reset. A response already begun cannot be followed by another: the
// client is reset then.
func (a *App) answer(p *pair, status int) {
	if p.sentAny {
		a.httpReset(p)
		return
	}
	if bc := a.unassign(p); bc != nil {
		bc.c.Abort()
	}
	p.grp.unqueue(p)
	a.dropParsers(p)
	p.held = 0
	c := p.cli
	if c == nil {
		return
	}
	switch status {
	case 408:
		p.lst.current().stats[LstHTTPRequestTimeouts]++
	case 502:
		p.lst.current().stats[LstHTTP502]++
	case 503:
		p.lst.current().stats[LstHTTP503]++
	case 504:
		p.lst.current().stats[LstHTTP504]++
	}
	p.down.b, p.down.off = p.down.b[:0], 0
	if !put(c, &p.down, errorResponse(status)) {
		c.Abort()
		return
	}
	// The client gets lingerTime to read the answer and close.
	a.lingerClose(p)
}

// lingerTime is how long a client answered with an error may take to read
// it and close before it is reset.
const lingerTime = 5 * time.Second

// discard consumes everything c has received.
func discard(c *tcp.Conn) {
	for {
		x, y := c.Peek()
		n := len(x) + len(y)
		if n == 0 {
			return
		}
		c.Consume(n)
	}
}

// httpReset resets both legs of p.
func (a *App) httpReset(p *pair) {
	p.aborting = true
	if bc := a.unassign(p); bc != nil {
		bc.c.Abort()
	}
	if c := p.cli; c != nil {
		c.Abort()
	}
}

// serverFailed handles a backend connection that failed during p's
// exchange (reset, closed, garbage, timed out): a request that may be sent
// again and was sent on a reused connection is sent once more on a new
// one; otherwise the client is answered 502 (504 for a timeout).
func (a *App) serverFailed(p *pair, timedOut bool) {
	reused := false
	if bc := a.unassign(p); bc != nil {
		reused = bc.reused
		if !timedOut && p.headBytes == 0 && !p.sentAny && p.rp != nil && reused && !p.fresh {
			bc.g.servers[bc.srv].stats[SrvRetries]++
		}
		bc.c.Abort() // its Closed may release bc
	}
	if p.cli == nil {
		return
	}
	if !timedOut && p.headBytes == 0 && !p.sentAny && p.rp != nil && reused && !p.fresh {
		p.fresh = true
		a.dropRespParser(p)
		a.httpConnect(p)
		return
	}
	if timedOut {
		a.answer(p, 504)
		return
	}
	a.answer(p, 502)
}

func (a *App) dropRespParser(p *pair) {
	if p.sp != nil {
		a.respParsers = append(a.respParsers, p.sp)
		p.sp = nil
	}
}

// armIdleHTTP arms the client leg's timer for the client timeout while an
// exchange runs (the server's timer has the server timeout).
func (a *App) armIdleHTTP(p *pair) {
	if d := p.lst.cfg.ClientTimeout; d > 0 && p.cli != nil {
		p.cli.SetAppTimer(p.last.Add(d))
	}
}

// The client leg in HTTP mode.

func (a *App) httpClientReadable(p *pair) {
	switch p.hs {
	case hsHead, hsIdle:
		a.readRequest(p)
	case hsExchange:
		if !p.reqDone {
			a.pumpRequest(p)
		}
	case hsClosing:
		discard(p.cli)
		if p.cli.EOF() {
			p.cli.Close()
		}
	}
}

func (a *App) httpClientWritable(p *pair) {
	c := p.cli
	switch p.hs {
	case hsExchange:
		if ok, err := flush(c, &p.down); err != nil {
			a.httpReset(p)
			return
		} else if !ok {
			return
		}
		if p.respHead && !p.respDone {
			a.pumpResponse(p)
		} else if p.respDone {
			a.finish(p)
		}
	case hsClosing:
		if ok, err := flush(c, &p.down); err == nil && ok {
			c.CloseWrite()
		}
	}
}

func (a *App) httpClientClosed(p *pair, err error) {
	p.grp.unqueue(p)
	a.delIdle(p)
	if bc := a.unassign(p); bc != nil {
		// The client went within an exchange: the backend connection
		// is in an unknown state.
		if err != nil {
			p.lst.current().stats[LstClientResets]++
		}
		bc.c.Abort()
	}
	a.dropParsers(p)
	p.held = 0
}

func (a *App) httpClientTimer(p *pair) {
	c := p.cli
	now := c.Now()
	switch p.hs {
	case hsIdle:
		p.lst.current().stats[LstHTTPKeepAliveTimeouts]++
		a.delIdle(p)
		p.hs = hsDone
		c.Close()
	case hsHead:
		p.lst.current().stats[LstHTTPRefused]++
		a.answer(p, 408)
	case hsQueued:
		p.grp.stats[GrpQueueTimeouts]++
		a.answer(p, 503)
	case hsExchange:
		d := p.lst.cfg.ClientTimeout
		if due := p.last.Add(d); d > 0 && now < due {
			c.SetAppTimer(due)
			return
		}
		p.lst.current().stats[LstIdleTimeouts]++
		a.httpReset(p)
	case hsClosing, hsDone:
		c.Abort()
	}
}
