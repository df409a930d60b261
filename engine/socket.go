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
// socket belongs to one core for life; every call on it enters that core's
// squeue (the loop's mailbox): synchronously, the caller waiting for the
// result (Recv, Send, Shutdown, options), or asynchronously (Close). Only
// the owning core touches the connection. Safe for concurrent use.
//
// The fields are grouped by who may touch them:
//
//   - Fixed when the socket is made: e, v6, the squeue entries rd and wr,
//     rdCancelFn and the channels. core too for an accepted socket; an
//     active open sets it under mu before the state becomes
//     sockConnecting, and the calls that read it without mu look at the
//     state first.
//   - The owning core only: conn, leftover and rdParked, in the
//     tcp.Handler callbacks and the functions posted to the squeue.
//   - The reader, under rdMu (Recv; Accept on a listener): rdBuf, rdPark,
//     rdTimer. rdN, rdEOF, rdErr and rdCancelled are the read's results:
//     the core writes them, the reader reads them after rd.done (and
//     clears rdCancelled before it posts the entry).
//   - The writer, under wrMu (Send): wrBuf, wrTimer; wrN and wrErr are the
//     results, handed back the same way through wr.done.
//   - Any goroutine under mu (the control calls: bind, listen, connect,
//     shutdown, close, options, the names): local, remote, opts, linger,
//     bound, lset. lset is set before the state becomes sockListening:
//     Accept and SetReadDeadline read it without mu once they see that
//     state. A listener's cores read its opts from a copy in lset.
//   - Atomics, for any goroutine and the core: state, closed, nonblock,
//     noDelay, everConn, shutRd, shutWr, soErr and the deadlines. The
//     wake channels hold one token: a poke never blocks, and a token left
//     over only makes a waiter look again. Close closes closedCh under mu.
//
// The read buffer's hand-off. Recv puts the caller's buffer in rdBuf and
// posts rd (recvOnCore); from the post until rd.done is signalled the
// buffer and the result fields are the core's. recvOnCore copies what is
// there: leftover bytes, the connection's, or the end with the pending
// error. When there is nothing and the socket blocks (rdPark) it parks
// the read instead: it sets rdParked and signals nothing. Readable (data)
// and Closed (the connection ended) then fill the parked read
// (fillParked), and Shutdown(SHUT_RD) ends it with io.EOF; each clears
// rdParked and signals rd.done, so an entry is signalled exactly once and
// the one-slot channel never blocks the core. A fill that found nothing
// (a Readable with no bytes) hands Recv nothing: it waits on rdWake and
// enters again.
//
// The reader meanwhile waits on rd.done, its deadline, Close (closedCh),
// rdWake (a deadline moved: the timer is set again) and the loop's end. At
// the deadline or Close it does not take the buffer back: it posts the
// cancel (cancelRecvOnCore) and waits for rd.done again. One goroutine's
// posts keep their order in the mailbox, so the cancel runs after the
// entry and finds the read either still parked, which it ends with
// rdCancelled (Recv returns os.ErrDeadlineExceeded, or EBADF after Close),
// or filled already, and then Recv returns the data: the fill and the
// cancel race on the core, where only one of them can win. A deadline
// extended after the cancel was posted does not save the read. When the
// loop is stopping the cancel cannot be posted; the reader still waits
// for rd.done or the loop's end, as the loop's last turn may fill the
// read. So Recv returns only once the core has let go of the buffer.
//
// Send hands wrBuf over the same way, but its entry never parks: it
// queues what fits and signals; a blocking Send then waits on wrWake
// (Writable) and enters again.
type Socket struct {
	// Fixed when the socket is made.
	e    *Engine
	v6   bool
	core int // the owning core once connected or accepted

	// Owned by the core.
	conn     *tcp.Conn
	leftover []byte // unread bytes saved when the connection ended
	rdParked bool   // a read waits for data in rdBuf

	// The reader's, under rdMu.
	rdMu        sync.Mutex
	rd          sqCall
	rdCancelFn  func(now mono.Time)
	rdBuf       []byte
	rdPark      bool // the entry may park (a blocking read)
	rdTimer     *time.Timer
	rdN         int // results: the core's until rd.done
	rdEOF       bool
	rdErr       error
	rdCancelled bool

	// The writer's, under wrMu.
	wrMu    sync.Mutex
	wr      sqCall
	wrBuf   []byte
	wrTimer *time.Timer
	wrN     int // results: the core's until wr.done
	wrErr   error

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
}

// sqCall is a reusable squeue entry: fn runs on the core and signals done.
// Posting it allocates nothing.
type sqCall struct {
	fn   func(now mono.Time)
	done chan struct{}
}

// Socket creates a socket (socket(2)): domain syscall.AF_INET or AF_INET6,
// typ syscall.SOCK_STREAM, proto 0 or IPPROTO_TCP; anything else is
// EPROTONOSUPPORT.
func (e *Engine) Socket(domain, typ, proto int) (*Socket, error) {
	if domain != syscall.AF_INET && domain != syscall.AF_INET6 || typ != syscall.SOCK_STREAM ||
		proto != 0 && proto != IPPROTO_TCP {
		return nil, syscall.EPROTONOSUPPORT
	}
	if !e.running || e.stopped.Load() {
		return nil, ErrEngineStopped
	}
	if e.cores[0].tcp == nil {
		return nil, syscall.EPROTONOSUPPORT
	}
	return e.newSocket(domain == syscall.AF_INET6, -1), nil
}

func (e *Engine) newSocket(v6 bool, core int) *Socket {
	s := &Socket{e: e, v6: v6, core: core, linger: -1, closedCh: make(chan struct{}),
		rdWake: make(chan struct{}, 1), wrWake: make(chan struct{}, 1), connWake: make(chan struct{}, 1)}
	s.rd = sqCall{fn: s.recvOnCore, done: make(chan struct{}, 1)}
	s.rdCancelFn = s.cancelRecvOnCore
	s.wr = sqCall{fn: s.sendOnCore, done: make(chan struct{}, 1)}
	return s
}

func (s *Socket) st() sockState      { return sockState(s.state.Load()) }
func (s *Socket) setSt(st sockState) { s.state.Store(uint32(st)) }

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
		call.done <- struct{}{}
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
	poke(s.connWake)
	poke(s.wrWake)
}

// Readable implements tcp.Handler: a parked read is filled at once.
func (s *Socket) Readable(c *tcp.Conn) {
	if s.rdParked {
		s.fillParked()
		return
	}
	poke(s.rdWake)
}

// Writable implements tcp.Handler.
func (s *Socket) Writable(c *tcp.Conn) { poke(s.wrWake) }

// Closed implements tcp.Handler: the bytes the application has not read
// yet are kept, so that a half-closed socket still reads them.
func (s *Socket) Closed(c *tcp.Conn, err error) {
	if n := c.Readable(); n > 0 && !s.closed.Load() {
		s.leftover = make([]byte, n)
		c.Read(s.leftover)
	}
	s.conn = nil
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s.soErr.Store(uintptr(errno))
	}
	s.setSt(sockDisconnected)
	if s.rdParked {
		s.fillParked()
	}
	poke(s.connWake)
	poke(s.rdWake)
	poke(s.wrWake)
}

// takeErr returns and clears the pending error (SO_ERROR semantics).
func (s *Socket) takeErr() error {
	if e := s.soErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}
