package fwd

import (
	"syscall"

	"github.com/pollstack/pollstack/internal/proxy/h1"
	"github.com/pollstack/pollstack/tcp"
)

// A bconn is a backend connection of HTTP mode, the tcp.Conn's User: busy
// with one pair's exchange, or idle in its server's pool.
type bconn struct {
	c        *tcp.Conn
	g        *group
	srv      int
	p        *pair // the exchange it carries; nil while idle or closing
	pooled   int   // its index in the server's pool while idle; -1 otherwise
	est      bool  // established
	reused   bool  // it carried a request before this one
	private  bool  // it began with a PROXY header for one client: never pooled
	timedOut bool  // the proxy is aborting it for a timeout
}

// httpServer is the App as the handler of HTTP mode's backend connections.
type httpServer App

func (a *App) newBConn() *bconn {
	if n := len(a.freeBC); n > 0 {
		bc := a.freeBC[n-1]
		a.freeBC = a.freeBC[:n-1]
		*bc = bconn{pooled: -1}
		return bc
	}
	return &bconn{pooled: -1}
}

func (a *App) releaseBConn(bc *bconn) {
	bc.c, bc.p, bc.g = nil, nil, nil
	a.freeBC = append(a.freeBC, bc)
}

// assign makes bc carry p's exchange; unassign ends that (bc is then
// pooled or closed by the caller).
func (a *App) assign(p *pair, bc *bconn) {
	p.bc, bc.p, p.server = bc, p, bc.srv
	s := bc.g.servers[bc.srv]
	s.active++
	bc.g.set.Acquire(bc.srv)
}

func (a *App) unassign(p *pair) *bconn {
	bc := p.bc
	if bc == nil {
		return nil
	}
	p.bc, bc.p = nil, nil
	bc.g.servers[bc.srv].active--
	bc.g.set.Release(bc.srv)
	return bc
}

// pool puts an idle backend connection in its server's pool.
func (a *App) pool(bc *bconn) {
	s := bc.g.servers[bc.srv]
	bc.pooled = len(s.pool)
	s.pool = append(s.pool, bc)
	if d := bc.g.cfg.PoolIdleTimeout; d > 0 {
		bc.c.SetAppTimer(bc.c.Now().Add(d))
	} else {
		bc.c.SetAppTimer(0)
	}
}

// unpool takes bc out of its server's pool.
func unpool(bc *bconn) {
	s := bc.g.servers[bc.srv]
	i := bc.pooled
	last := len(s.pool) - 1
	if i < 0 || i > last || s.pool[i] != bc {
		return
	}
	s.pool[i] = s.pool[last]
	s.pool[i].pooled = i
	s.pool[last] = nil
	s.pool = s.pool[:last]
	bc.pooled = -1
}

// closePools closes the idle backend connections of groups (a reload
// replaced them, or the proxy drains).
func closePools(groups []*group) {
	for _, g := range groups {
		for _, s := range g.servers {
			for len(s.pool) > 0 {
				bc := s.pool[len(s.pool)-1]
				unpool(bc)
				bc.c.Close()
			}
		}
	}
}

// The backend connections.

func (h *httpServer) Established(c *tcp.Conn) {
	a := (*App)(h)
	bc, ok := c.User.(*bconn)
	if !ok {
		return
	}
	bc.est = true
	if g := bc.g; g.chk != nil {
		g.chk.Passive(bc.srv, true, c.Now())
	}
	p := bc.p
	if p == nil || p.hs != hsConnect {
		return
	}
	c.SetAppTimer(0)
	a.sendRequest(p)
}

func (h *httpServer) Readable(c *tcp.Conn) {
	a := (*App)(h)
	bc, ok := c.User.(*bconn)
	if !ok {
		return
	}
	p := bc.p
	if p == nil {
		if bc.pooled >= 0 {
			// An idle connection has nothing to say: bytes are garbage,
			// a FIN is the server closing it.
			unpool(bc)
			bc.g.servers[bc.srv].stats[SrvPoolClosed]++
			if c.Readable() > 0 {
				c.Abort()
			} else {
				c.Close()
			}
		}
		return
	}
	if p.hs != hsExchange {
		return
	}
	if !p.respHead {
		a.readResponse(p)
	} else if !p.respDone {
		a.pumpResponse(p)
	}
}

func (h *httpServer) Writable(c *tcp.Conn) {
	a := (*App)(h)
	bc, ok := c.User.(*bconn)
	if !ok || bc.p == nil || bc.p.hs != hsExchange {
		return
	}
	p := bc.p
	if ok, err := flush(c, &p.up); err != nil {
		a.serverFailed(p, false)
		return
	} else if ok && !p.reqDone {
		a.pumpRequest(p)
	}
}

func (h *httpServer) Closed(c *tcp.Conn, err error) {
	a := (*App)(h)
	bc, ok := c.User.(*bconn)
	if !ok {
		return
	}
	c.User = nil
	g, s := bc.g, bc.g.servers[bc.srv]
	if bc.pooled >= 0 {
		unpool(bc)
		s.stats[SrvPoolClosed]++
	}
	p := bc.p
	if p == nil {
		a.releaseBConn(bc)
		return
	}
	now := c.Now()
	switch {
	case !bc.est:
		// A connect that failed.
		a.unassign(p)
		why := failureOf(err, bc.timedOut)
		switch why {
		case failRefused:
			s.stats[SrvConnectRefused]++
		case failTimeout:
			s.stats[SrvConnectTimeout]++
		default:
			s.stats[SrvConnectReset]++
		}
		if g.chk != nil {
			g.chk.Passive(bc.srv, false, now)
		}
		if p.cli != nil {
			if p.tries < httpTries {
				s.stats[SrvRetries]++
				p.failed = bc.srv
				a.httpConnect(p)
			} else if why == failTimeout {
				a.answer(p, 504)
			} else {
				a.answer(p, 502)
			}
		}
	case !p.respHead:
		if err != nil && err != syscall.ETIMEDOUT {
			s.stats[SrvResets]++
		}
		a.serverFailed(p, bc.timedOut)
	default:
		// Within the response body: one that ends at the close ends
		// here; any other is cut short.
		if err == nil && p.respBody.EOF() == h1.OK {
			p.respDone = true
			if p.chunkOut && !put(p.cli, &p.down, lastChunk) {
				a.httpReset(p)
				break
			}
			p.srvKeep = false
			a.responseDone(p)
			break
		}
		s.stats[SrvResets]++
		a.httpReset(p)
	}
	if bc.p == p {
		a.unassign(p)
	}
	a.releaseBConn(bc)
	if g.n > 0 {
		g.serveQueue()
	}
}

func (h *httpServer) AppTimer(c *tcp.Conn) {
	a := (*App)(h)
	bc, ok := c.User.(*bconn)
	if !ok {
		return
	}
	p := bc.p
	switch {
	case bc.pooled >= 0:
		unpool(bc)
		bc.g.servers[bc.srv].stats[SrvPoolExpired]++
		c.Close()
	case p == nil:
	case !bc.est:
		bc.timedOut = true
		c.Abort()
	case p.hs == hsExchange:
		d := bc.g.cfg.ServerTimeout
		if due := p.last.Add(d); d > 0 && c.Now() < due {
			c.SetAppTimer(due)
			return
		}
		bc.timedOut = true
		bc.g.servers[bc.srv].stats[SrvResets]++
		if !p.respHead {
			a.serverFailed(p, true)
		} else {
			a.httpReset(p)
		}
	}
}
