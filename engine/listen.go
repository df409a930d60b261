package engine

import (
	"net/netip"
	"sync/atomic"

	"github.com/pollstack/pollstack/tcp"
)

// DefaultAcceptBacklog is each core's accept queue when listen(2) is given
// a backlog of 0 or less.
const DefaultAcceptBacklog = 1024

// listenSet is a listening socket's presence on every core: a tcp.Listener
// and an accept queue per core. A core puts the connections it establishes
// on its own queue; Accept takes from the queues in turn, so that no
// core's connections wait behind another's.
type listenSet struct {
	e       *Engine
	s       *Socket
	port    uint16
	lst     []*tcp.Listener  // owned by each core
	queues  []chan *Socket   // per core: established, not yet accepted
	wake    chan struct{}    // a queue got a connection
	next    atomic.Uint32    // the queue Accept looks at first
	dropped atomic.Uint64    // connections reset: their queue was full
	hands   []*acceptHandler // per core
	closed  atomic.Bool
	// opts are the listening socket's options, which the cores copy into
	// the sockets they make: a copy stored under the socket's mu, as the
	// cores may not take it.
	opts atomic.Pointer[tcp.SockOptions]
}

// acceptHandler is a core's handler for connections a listener makes until
// they are established.
type acceptHandler struct {
	ls   *listenSet
	core int
}

// listen starts s listening on every core.
func (e *Engine) listen(s *Socket, backlog int) (*listenSet, error) {
	if backlog <= 0 {
		backlog = DefaultAcceptBacklog
	}
	n := len(e.cores)
	ls := &listenSet{e: e, s: s, port: s.local.Port(), lst: make([]*tcp.Listener, n),
		queues: make([]chan *Socket, n), wake: make(chan struct{}, 1), hands: make([]*acceptHandler, n)}
	ls.setOpts(&s.opts)
	opts := s.opts
	opts.NoDelay = s.noDelay.Load()
	for i := range e.cores {
		ls.queues[i] = make(chan *Socket, backlog)
		ls.hands[i] = &acceptHandler{ls: ls, core: i}
	}
	for i := range e.cores {
		var err error
		if cerr := e.onCore(i, func(c *Core) {
			var l *tcp.Listener
			l, err = c.tcp.Listen(ls.port, backlog, ls.hands[i])
			if err == nil {
				l.SetOptions(&opts)
				ls.lst[i] = l
			}
		}); cerr != nil {
			err = cerr
		}
		if err != nil {
			ls.stop()
			return nil, err
		}
	}
	return ls, nil
}

// setOpts publishes the listening socket's options to the cores. Called
// with the socket's mu held.
func (ls *listenSet) setOpts(o *tcp.SockOptions) {
	c := *o
	ls.opts.Store(&c)
}

// setBacklog changes the accept queues' size for connections to come.
// Connections already queued stay.
func (ls *listenSet) setBacklog(backlog int) {
	// The queues are channels of fixed size: a new backlog takes effect
	// on the SYN_RCVD limit of each core's listener only.
	if backlog <= 0 {
		backlog = DefaultAcceptBacklog
	}
	for i := range ls.lst {
		// A stopped engine has no listener left to change.
		_ = ls.e.onCore(i, func(c *Core) {
			if ls.lst[i] != nil {
				ls.lst[i].SetBacklog(backlog)
			}
		})
	}
}

// take returns an established connection from the next non-empty queue,
// or nil.
func (ls *listenSet) take() *Socket {
	n := uint32(len(ls.queues))
	start := ls.next.Add(1)
	for i := uint32(0); i < n; i++ {
		select {
		case s := <-ls.queues[(start+i)%n]:
			// Others may be waiting for what is left.
			for _, q := range ls.queues {
				if len(q) > 0 {
					poke(ls.wake)
					break
				}
			}
			return s
		default:
		}
	}
	return nil
}

// stop closes the per-core listeners.
func (ls *listenSet) stop() {
	for i := range ls.lst {
		// A stopped engine has no listener left to close.
		_ = ls.e.onCore(i, func(c *Core) {
			if ls.lst[i] != nil {
				ls.lst[i].Close()
				ls.lst[i] = nil
			}
		})
	}
}

// close stops listening and resets the connections never accepted.
func (ls *listenSet) close() error {
	ls.closed.Store(true)
	ls.stop()
	for _, q := range ls.queues {
		for {
			select {
			case s := <-q:
				s.linger = 0
				s.Close()
				continue
			default:
			}
			break
		}
	}
	return nil
}

// Established implements tcp.Handler: the connection gets its own socket
// and waits in this core's accept queue; a full queue resets it.
func (h *acceptHandler) Established(c *tcp.Conn) {
	ls := h.ls
	if ls.closed.Load() {
		c.Abort()
		return
	}
	t := c.Tuple()
	s := ls.e.newSocket(ls.s.v6, h.core)
	s.opts = *ls.opts.Load()
	s.noDelay.Store(ls.s.noDelay.Load())
	s.local = netip.AddrPortFrom(tupleAddr(t.LocalAddr), t.LocalPort)
	s.remote = netip.AddrPortFrom(tupleAddr(t.RemoteAddr), t.RemotePort)
	s.conn = c
	c.SetHandler(s)
	s.everConn.Store(true)
	s.setSt(sockConnected)
	s.serviceRx() // bytes already received go into its ring
	select {
	case ls.queues[h.core] <- s:
		poke(ls.wake)
	default:
		ls.dropped.Add(1)
		c.Abort()
	}
}

// Readable implements tcp.Handler (not called before Established).
func (h *acceptHandler) Readable(*tcp.Conn) {}

// Writable implements tcp.Handler.
func (h *acceptHandler) Writable(*tcp.Conn) {}

// Closed implements tcp.Handler: a connection that never got established.
func (h *acceptHandler) Closed(*tcp.Conn, error) {}
