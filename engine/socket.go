// The Socket type: its fields and state, creation, the entries into its
// core's squeue, and the tcp.Handler callbacks its core runs. The calls are
// in sockconn.go (life), sockio.go (data) and sockopt.go (options).

package engine

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// ErrEngineStopped is returned by socket calls once the engine has stopped.
var ErrEngineStopped = errors.New("engine: stopped")

// sockState is a socket's state as its calls see it.
type sockState uint32

const (
	sockIdle         sockState = iota // created, not bound
	sockBound                         // bound to a local address
	sockListening                     // listening on every core
	sockConnecting                    // SYN sent, or accepted and not yet established
	sockConnected                     // ESTABLISHED or later, the connection alive
	sockDisconnected                  // the connection is gone
)

// Socket is a TCP endpoint with BSD socket semantics: its calls return
// syscall.Errno values as tcp(4) and illumos' tcp_socket.c do. A connected
// socket belongs to one core for life, and only that core touches the
// connection. The control calls (connect, shutdown, close, options) enter
// the core's squeue (the loop's mailbox): synchronously, the caller waiting
// for the result, or asynchronously (Close). The data calls do not: Send
// and Recv copy bytes into and out of a ring per direction that the socket
// shares with its core (sockring.go). Safe for concurrent use.
//
// The fields are grouped by who may touch them:
//
//   - Fixed when the socket is made: e, v6, kickFn and the channels. core
//     too for an accepted socket; an active open sets it under mu before
//     the state becomes sockConnecting, and the calls that read it without
//     mu look at the state first.
//   - The owning core only: conn, appClosed, finPending, closePending, in
//     the tcp.Handler callbacks and the functions posted to the squeue.
//     leftover too, until the core stores sockDisconnected: from then on
//     it is the reader's.
//   - The reader, under rdMu (Recv; Accept on a listener): rdTimer, the
//     consumer's side of rx, and leftover once disconnected.
//   - The writer, under wrMu (Send): wrTimer, the producer's side of tx.
//   - Any goroutine under mu (the control calls: bind, listen, connect,
//     shutdown, close, options, the names): local, remote, opts, linger,
//     bound, lset. lset is set before the state becomes sockListening:
//     Accept and SetReadDeadline read it without mu once they see that
//     state. A listener's cores read its opts from a copy in lset.
//   - Atomics, for any goroutine and the core: state, closed, nonblock,
//     noDelay, everConn, shutRd, shutWr, soErr, the deadlines, the ring
//     pointers and the flags of the data path (rxEOF, rxStalled,
//     kickPending, rdWaiting, wrWaiting). The wake channels hold one
//     token: a poke never blocks, and a token left over only makes a
//     waiter look again. Close closes closedCh under mu.
//
// The rings. rx is filled by the core (from the connection's receive
// buffer, as far as rx has room) and drained by the reader; tx is filled
// by the writer and drained by the core (into the connection's send
// buffer, as far as it has room). Each side publishes only its own index.
// The core takes a ring from the engine's pool when the first bytes come
// (rx) and the writer when it first writes (tx); both go back to the pool
// on the core once the application closed the socket and the core has
// nothing more to move, and before that whenever a ring has been empty
// and untouched for a sweep interval (ringSweepInterval). Either way the
// core gives a ring back only after it took the ring's word (rdIn, wrIn)
// from free: the reader and the writer mark their time inside a ring
// there, so no call is inside. A call still inside at the close (Close
// does not wait: a ReadFrom may wait in its reader for ever) keeps the
// ring until it leaves, and the sweep gives it back then (ringsDoomed).
// After an idle ring went back the next call, or the core, takes a fresh
// one.
//
// Wake-ups happen on transitions only. A reader that finds rx empty sets
// rdWaiting, looks again, and sleeps on rdWake; the core pokes it when it
// moves bytes into rx (or the FIN, or the end) and finds rdWaiting set,
// which it clears: one poke per sleep however many segments the turn
// brings. A writer that finds tx full sleeps the same way on wrWaiting and
// wrWake. The core learns of new bytes in tx, and of room in an rx it had
// filled (rxStalled), through kick: a pre-built entry posted to the
// mailbox without waiting, at most one pending per socket (kickPending).
type Socket struct {
	// Fixed when the socket is made.
	e      *Engine
	v6     bool
	core   int // the owning core once connected or accepted
	kickFn func(now mono.Time)
	dg     *dgram // a datagram (UDP) socket's own state; nil for TCP (udpsock.go)

	// Owned by the core.
	conn         *tcp.Conn
	leftover     []byte // unread bytes rx had no room for when the connection ended
	appClosed    bool   // Close's entry ran: the application has let go
	finPending   bool   // SHUT_WR: the FIN follows when tx drains
	closePending bool   // Close: the close follows when tx drains
	ringListed   bool   // on the core's list of sockets holding rings
	ringsDoomed  bool   // closed: rings go back as soon as no call is inside
	rxSeen       uint64 // rx's head at the core's last sweep
	txSeen       uint64 // tx's head at the core's last sweep

	// The reader's, under rdMu.
	rdMu    sync.Mutex
	rdTimer *time.Timer

	// The writer's, under wrMu.
	wrMu    sync.Mutex
	wrTimer *time.Timer

	// Any goroutine, under mu.
	mu     sync.Mutex     // control calls: bind, listen, connect, options, close
	local  netip.AddrPort // guarded by mu
	remote netip.AddrPort // guarded by mu
	opts   tcp.SockOptions
	linger int32 // SO_LINGER seconds; -1: off
	bound  bool  // holds a place in the engine's port table
	lset   *listenSet

	// Any goroutine: atomics and channels.
	state      atomic.Uint32
	closed     atomic.Bool
	nonblock   atomic.Bool
	noDelay    atomic.Bool
	everConn   atomic.Bool
	shutRd     atomic.Bool
	shutWr     atomic.Bool
	soErr      atomic.Uintptr // pending error (a syscall.Errno), 0 when none
	rdDeadline atomic.Int64
	wrDeadline atomic.Int64
	closedCh   chan struct{}
	rdWake     chan struct{}
	wrWake     chan struct{}
	connWake   chan struct{} // the connection was established or ended

	// The data path (sockring.go).
	rx          atomic.Pointer[byteRing] // core -> reader
	tx          atomic.Pointer[byteRing] // writer -> core
	rxEOF       atomic.Bool              // the peer's FIN is behind the bytes in rx
	rxStalled   atomic.Bool              // the connection holds bytes rx had no room for
	kickPending atomic.Bool              // a kick is in the mailbox
	rdWaiting   atomic.Bool              // the reader sleeps on an empty rx
	wrWaiting   atomic.Bool              // the writer sleeps on a full tx
	rdIn        atomic.Uint32            // ringFree, ringInUse (the reader), ringTaking (the core)
	wrIn        atomic.Uint32            // the same for the writer and tx
}

// sqCall is a reusable squeue entry: fn runs on the core and signals done.
// Posting it allocates nothing.
type sqCall struct {
	fn   func(now mono.Time)
	done chan struct{}
}

// Socket creates a socket (socket(2)): domain syscall.AF_INET or AF_INET6,
// typ syscall.SOCK_STREAM with proto 0 or IPPROTO_TCP, or
// syscall.SOCK_DGRAM with proto 0 or IPPROTO_UDP (udpsock.go); anything
// else is EPROTONOSUPPORT.
func (e *Engine) Socket(domain, typ, proto int) (*Socket, error) {
	if domain != syscall.AF_INET && domain != syscall.AF_INET6 {
		return nil, syscall.EPROTONOSUPPORT
	}
	dgram := typ == syscall.SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP)
	if !dgram && (typ != syscall.SOCK_STREAM || proto != 0 && proto != IPPROTO_TCP) {
		return nil, syscall.EPROTONOSUPPORT
	}
	if !e.running || e.stopped.Load() {
		return nil, ErrEngineStopped
	}
	if dgram {
		return e.newDgramSocket(domain == syscall.AF_INET6), nil
	}
	if e.cores[0].tcp == nil {
		return nil, syscall.EPROTONOSUPPORT
	}
	return e.newSocket(domain == syscall.AF_INET6, -1), nil
}

func (e *Engine) newSocket(v6 bool, core int) *Socket {
	s := &Socket{e: e, v6: v6, core: core, linger: -1, closedCh: make(chan struct{}),
		rdWake: make(chan struct{}, 1), wrWake: make(chan struct{}, 1), connWake: make(chan struct{}, 1)}
	s.kickFn = s.kickOnCore
	return s
}

func (s *Socket) st() sockState      { return sockState(s.state.Load()) }
func (s *Socket) setSt(st sockState) { s.state.Store(uint32(st)) }

// wake wakes the goroutine waiting on ch, from the socket's core (Core.wake).
func (s *Socket) wake(ch chan struct{}) { s.e.cores[s.core].wake(ch) }

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// The squeue entry: the calls that enter the socket's core go through post;
// the synchronous ones then wait in enter.

// post puts fn in the socket's core's mailbox, waiting while it is full
// (SQUEUE_ENTER_ONE). The error is ErrEngineStopped: the loop is stopping.
func (s *Socket) post(fn func(now mono.Time)) error {
	l := s.e.loops[s.core]
	for {
		err := l.Post(fn)
		if err == nil {
			return nil
		}
		if err != cores.ErrMailboxFull {
			return ErrEngineStopped
		}
		runtime.Gosched() // the core is behind: back off
	}
}

// enter runs c on the socket's core and waits for it (squeue_synch_enter).
// A loop that stops first may have run c or not: its done channel says.
// Posting a pre-built entry allocates nothing.
func (s *Socket) enter(c *sqCall) error {
	if err := s.post(c.fn); err != nil {
		return err
	}
	l := s.e.loops[s.core]
	select {
	case <-c.done:
		return nil
	case <-l.Done():
		select {
		case <-c.done:
			return nil
		default:
			return ErrEngineStopped
		}
	}
}

// onCore runs fn on the socket's core with the core's clock set, flushes
// what it sent, and waits: enter with an entry made for the call. For
// control calls; it allocates.
func (s *Socket) onCore(fn func(c *Core)) error {
	c := s.e.cores[s.core]
	call := &sqCall{done: make(chan struct{}, 1)}
	call.fn = func(now mono.Time) {
		c.now = now
		c.tcp.SetNow(now)
		fn(c)
		c.flush()
		c.wake(call.done)
	}
	return s.enter(call)
}

// onConn runs fn on the connection's core when there is a connection.
// Called with mu held.
func (s *Socket) onConn(fn func(c *tcp.Conn)) error {
	if s.core < 0 {
		return nil
	}
	switch s.st() {
	case sockConnecting, sockConnected:
	default:
		return nil
	}
	return s.onCore(func(*Core) {
		if s.conn != nil {
			fn(s.conn)
		}
	})
}

// The socket is the connection's tcp.Handler: these run on its core.

// Established implements tcp.Handler.
func (s *Socket) Established(c *tcp.Conn) {
	s.everConn.Store(true)
	s.setSt(sockConnected)
	s.wake(s.connWake)
	s.wake(s.wrWake)
	s.serviceRx() // bytes that came with the handshake
}

// Readable implements tcp.Handler: the bytes go into rx at once.
func (s *Socket) Readable(c *tcp.Conn) { s.serviceRx() }

// Writable implements tcp.Handler: tx drains into the room that opened.
func (s *Socket) Writable(c *tcp.Conn) { s.serviceTx() }

// Closed implements tcp.Handler: the bytes the application has not read
// yet are kept (in rx, and what rx has no room for in leftover), so that a
// half-closed socket still reads them.
func (s *Socket) Closed(c *tcp.Conn, err error) {
	if n := c.Readable(); n > 0 && !s.closed.Load() && !s.appClosed {
		if r := s.rx.Load(); r != nil || n <= s.e.rings.size {
			if r == nil {
				r = s.e.rings.get()
				s.rx.Store(r)
				s.trackRings()
			}
			a, b := r.space()
			m := c.Read(a)
			if m == len(a) {
				m += c.Read(b)
			}
			r.produce(m)
		}
		if n := c.Readable(); n > 0 {
			s.leftover = make([]byte, n)
			c.Read(s.leftover)
		}
	}
	s.conn = nil
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s.soErr.Store(uintptr(errno))
	}
	s.setSt(sockDisconnected)
	s.releaseRings()
	s.wake(s.connWake)
	s.rdWaiting.Store(false)
	s.wake(s.rdWake)
	s.wrWaiting.Store(false)
	s.wake(s.wrWake)
}

// takeErr returns and clears the pending error (SO_ERROR semantics).
func (s *Socket) takeErr() error {
	if e := s.soErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}
