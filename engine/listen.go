package engine

import (
	"math/bits"
	"net/netip"
	"sync/atomic"

	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// DefaultAcceptBacklog is each core's accept queue when listen(2) is given
// a backlog of 0 or less.
const DefaultAcceptBacklog = 1024

// listenSet is a listening socket's presence on every core: a tcp.Listener
// and an accept queue per core. A core puts the connections it establishes
// on its own queue; Accept takes from the queues in turn, so that no
// core's connections wait behind another's.
//
// Each queue is a lock-free single-producer single-consumer ring: the
// producer is the core, the consumer whoever holds the listening socket's
// rdMu (Accept, and close once Accept has let go). A connection costs the
// core one store of the ring's index, and no squeue entry, channel or
// lock; the core wakes Accept only when it is asleep (waiting set:
// the queues were all empty when it looked), once per sleep.
type listenSet struct {
	e       *Engine
	s       *Socket
	port    uint16
	lst     []*tcp.Listener        // owned by each core
	queues  []*rings.SPSC[*Socket] // per core: established, not yet accepted
	limit   atomic.Int64           // connections a queue holds (the backlog, at most its size)
	wake    chan struct{}          // Accept, asleep, has something to look at
	waiting atomic.Bool            // Accept sleeps on empty queues
	out     [1]*Socket             // the consumer's scratch, under the socket's rdMu
	next    uint32                 // the queue Accept looks at first, under rdMu
	dropped atomic.Uint64          // connections reset: their queue was full
	hands   []*acceptHandler       // per core
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
	one  [1]*Socket // the producer's scratch
}

// listen starts s listening on every core.
func (e *Engine) listen(s *Socket, backlog int) (*listenSet, error) {
	if backlog <= 0 {
		backlog = DefaultAcceptBacklog
	}
	n := len(e.cores)
	ls := &listenSet{e: e, s: s, port: s.local.Port(), lst: make([]*tcp.Listener, n),
		queues: make([]*rings.SPSC[*Socket], n), wake: make(chan struct{}, 1), hands: make([]*acceptHandler, n)}
	ls.setOpts(&s.opts)
	opts := s.opts
	opts.NoDelay = s.noDelay.Load()
	size := max(2, 1<<bits.Len(uint(backlog-1))) // a power of two, at least the backlog
	for i := range e.cores {
		q, err := rings.NewSPSC[*Socket](size)
		if err != nil {
			return nil, err
		}
		ls.queues[i] = q
		ls.hands[i] = &acceptHandler{ls: ls, core: i}
	}
	ls.limit.Store(int64(backlog))
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

// setBacklog changes the accept queues' limit for connections to come,
// up to the size the queues were made with (the first listen's backlog
// rounded up to a power of two), and each core's SYN_RCVD limit.
// Connections already queued stay.
func (ls *listenSet) setBacklog(backlog int) {
	if backlog <= 0 {
		backlog = DefaultAcceptBacklog
	}
	ls.limit.Store(int64(min(backlog, ls.queues[0].Cap())))
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
// or nil. The consumer's: under the listening socket's rdMu.
func (ls *listenSet) take() *Socket {
	n := uint32(len(ls.queues))
	ls.next++
	for i := uint32(0); i < n; i++ {
		if ls.queues[(ls.next+i)%n].Dequeue(ls.out[:]) == 1 {
			s := ls.out[0]
			ls.out[0] = nil
			return s
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

// close stops listening and resets the connections never accepted. The
// socket is closed already: Accept returns, and close takes its place as
// the queues' consumer under rdMu; the cores queue nothing more once
// stop has run on each.
func (ls *listenSet) close() error {
	ls.closed.Store(true)
	ls.stop()
	ls.s.rdMu.Lock()
	defer ls.s.rdMu.Unlock()
	for s := ls.take(); s != nil; s = ls.take() {
		s.linger = 0
		s.Close()
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
	q := ls.queues[h.core]
	h.one[0] = s
	if q.Len() >= int(ls.limit.Load()) || q.Enqueue(h.one[:]) == 0 {
		h.one[0] = nil
		ls.dropped.Add(1)
		c.Abort()
		return
	}
	h.one[0] = nil
	if ls.waiting.Load() && ls.waiting.Swap(false) {
		ls.e.cores[h.core].wake(ls.wake) // Accept sleeps on empty queues: once per sleep
	}
}

// Readable implements tcp.Handler (not called before Established).
func (h *acceptHandler) Readable(*tcp.Conn) {}

// Writable implements tcp.Handler.
func (h *acceptHandler) Writable(*tcp.Conn) {}

// Closed implements tcp.Handler: a connection that never got established.
func (h *acceptHandler) Closed(*tcp.Conn, error) {}
