// A connected socket's data path: a byte ring per direction shared by the
// connection's core and the application's goroutines, so that Send and
// Recv copy bytes and publish indices instead of entering the squeue. The
// core stays the only one that touches the tcp.Conn: it moves bytes
// between the rings and the connection's buffers on its loop turn.

package engine

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// DefaultSocketRing is the size of each of a connected socket's two rings
// (receive and send) when Config.SocketRing is zero.
const DefaultSocketRing = 16 << 10

// Bounds of Config.SocketRing.
const (
	MinSocketRing = 4 << 10
	MaxSocketRing = 1 << 20
)

// byteRing is a single-producer single-consumer ring of bytes. head counts
// the bytes the producer ever wrote, tail those the consumer ever read; each
// side stores only its own index (atomically, so that the bytes it wrote or
// freed before the store are the other side's after its load). Its size is
// a power of two.
type byteRing struct {
	head atomic.Uint64 // the producer's
	_    [56]byte      // head and tail on cache lines of their own
	tail atomic.Uint64 // the consumer's
	_    [56]byte
	buf  []byte
	mask uint64
}

func newByteRing(size int) *byteRing {
	return &byteRing{buf: make([]byte, size), mask: uint64(size - 1)}
}

// size returns the ring's capacity.
func (r *byteRing) size() int { return len(r.buf) }

// used returns the bytes written and not yet read (either side).
func (r *byteRing) used() int { return int(r.head.Load() - r.tail.Load()) }

// The producer's side.

// free returns the room left for the producer.
func (r *byteRing) free() int { return len(r.buf) - r.used() }

// space returns the free room in at most two pieces, in order.
func (r *byteRing) space() (a, b []byte) {
	h := r.head.Load()
	n := uint64(len(r.buf)) - (h - r.tail.Load())
	return r.pieces(h, n)
}

// produce publishes n bytes written into what space returned.
func (r *byteRing) produce(n int) { r.head.Store(r.head.Load() + uint64(n)) }

// write copies what fits of p and publishes it.
func (r *byteRing) write(p []byte) int {
	a, b := r.space()
	n := copy(a, p)
	n += copy(b, p[n:])
	if n > 0 {
		r.produce(n)
	}
	return n
}

// The consumer's side.

// data returns the unread bytes in at most two pieces, in order.
func (r *byteRing) data() (a, b []byte) {
	t := r.tail.Load()
	return r.pieces(t, r.head.Load()-t)
}

// consume frees n bytes read from what data returned.
func (r *byteRing) consume(n int) { r.tail.Store(r.tail.Load() + uint64(n)) }

// read copies unread bytes into p and frees them.
func (r *byteRing) read(p []byte) int {
	a, b := r.data()
	n := copy(p, a)
	n += copy(p[n:], b)
	if n > 0 {
		r.consume(n)
	}
	return n
}

// pieces returns the n bytes from index at, wrapped into two slices.
func (r *byteRing) pieces(at, n uint64) (a, b []byte) {
	if n == 0 {
		return nil, nil
	}
	off := at & r.mask
	if end := off + n; end <= uint64(len(r.buf)) {
		return r.buf[off:end], nil
	}
	return r.buf[off:], r.buf[:n-(uint64(len(r.buf))-off)]
}

// reset empties a ring no one else holds.
func (r *byteRing) reset() {
	r.head.Store(0)
	r.tail.Store(0)
}

// ringPool holds an engine's free rings, all of one size. Any goroutine
// may take or give back one.
type ringPool struct {
	size int
	pool sync.Pool
}

func newRingPool(size int) (*ringPool, error) {
	if size == 0 {
		size = DefaultSocketRing
	}
	if size < MinSocketRing || size > MaxSocketRing || size&(size-1) != 0 {
		return nil, fmt.Errorf("engine: socket ring of %d bytes: want a power of two in %d..%d",
			size, MinSocketRing, MaxSocketRing)
	}
	p := &ringPool{size: size}
	p.pool.New = func() any { return newByteRing(size) }
	return p, nil
}

func (p *ringPool) get() *byteRing {
	r := p.pool.Get().(*byteRing)
	r.reset()
	return r
}

func (p *ringPool) put(r *byteRing) { p.pool.Put(r) }

// Idle rings go back to the pool. A socket's rdIn (rx) and wrIn (tx) say
// who may hold the ring's pointer: the reader or the writer marks its time
// inside (ringInUse) and waits out the core, which takes the word from free
// (ringTaking) for the few instructions that give an empty ring back. So
// the core never takes a ring from under a call, and a call that comes
// after finds no ring and takes a fresh one (the writer), or finds none and
// waits for bytes (the reader; the core takes a fresh rx when bytes come).
const (
	ringFree   = 0
	ringInUse  = 1
	ringTaking = 2
)

// ringSweepInterval is how often a core looks for idle rings: a ring empty
// and untouched from one sweep to the next goes back to the pool, so an
// idle connection holds its rings between one and two intervals.
const ringSweepInterval = time.Second

// enterRing marks the reader's or the writer's entry into its ring.
func enterRing(w *atomic.Uint32) {
	for !w.CompareAndSwap(ringFree, ringInUse) {
		runtime.Gosched() // the core is giving the ring back: a few instructions
	}
}

// leaveRing marks its exit.
func leaveRing(w *atomic.Uint32) { w.Store(ringFree) }

// trackRings puts the socket on its core's list of sockets that hold a
// ring, which the core sweeps. On the socket's core.
func (s *Socket) trackRings() {
	if !s.ringListed {
		s.ringListed = true
		c := s.e.cores[s.core]
		c.ringSocks = append(c.ringSocks, s)
	}
}

// sweepRings gives back the rings that stayed empty and untouched since
// the last sweep, and drops the sockets that hold none from the list.
func (c *Core) sweepRings(now mono.Time) {
	c.nextRingSweep = now.Add(c.ringSweep)
	keep := c.ringSocks[:0]
	for _, s := range c.ringSocks {
		if s.ringsDoomed { // closed: the rings go as soon as no call is inside
			s.dropRing(&s.rx, &s.rdIn)
			s.dropRing(&s.tx, &s.wrIn)
		} else {
			if s.idleRing(&s.rx, &s.rdIn, &s.rxSeen) {
				c.ringsSwept++
			}
			if s.idleRing(&s.tx, &s.wrIn, &s.txSeen) {
				c.ringsSwept++
			}
		}
		if s.rx.Load() == nil && s.tx.Load() == nil {
			s.ringListed = false
			continue
		}
		keep = append(keep, s)
	}
	clear(c.ringSocks[len(keep):])
	c.ringSocks = keep
}

// idleRing gives the ring in p back when it is empty, its head has not
// moved since the last sweep (seen), and no call is inside it. It reports
// whether it did.
func (s *Socket) idleRing(p *atomic.Pointer[byteRing], in *atomic.Uint32, seen *uint64) bool {
	r := p.Load()
	if r == nil {
		return false
	}
	if h := r.head.Load(); h != *seen || h != r.tail.Load() {
		*seen = h
		return false
	}
	if !in.CompareAndSwap(ringFree, ringTaking) {
		return false // a call is inside: next time
	}
	gone := r.used() == 0 // a call may have come and gone since the look above
	if gone {
		p.Store(nil)
		s.e.rings.put(r)
		*seen = 0 // a fresh ring starts at 0
	}
	in.Store(ringFree)
	return gone
}

// The application's side of the rings: the reader (under rdMu) consumes
// rx and the writer (under wrMu) produces into tx. They tell the core what
// it cannot see by itself through kick.

// kick asks the core to look at the socket's rings on its next turn: new
// bytes in tx, or room made in an rx ring the core had filled. At most one
// kick per socket waits in the mailbox; nobody waits for it to run.
func (s *Socket) kick() error {
	if s.kickPending.Swap(true) {
		return nil // one is on its way, and will see what we published
	}
	return s.post(s.kickFn)
}

// txRing returns the send ring, taking one from the pool on first use
// (and after the core gave an idle one back). The writer's, under wrMu
// and inside wrIn.
func (s *Socket) txRing() *byteRing {
	r := s.tx.Load()
	if r == nil {
		r = s.e.rings.get()
		s.tx.Store(r)
	}
	return r
}

// consumed tells the core, when it left bytes in the connection because
// rx was full, that rx is now at least half empty: one kick per stall.
// The reader's, under rdMu.
func (s *Socket) consumed(r *byteRing) {
	if s.rxStalled.Load() && r.free() >= r.size()/2 && s.rxStalled.CompareAndSwap(true, false) {
		_ = s.kick() // a stopping engine: the next Recv says so
	}
}

// The core's side: the rest runs on the socket's core only.

// kickOnCore is the squeue entry kick posts.
func (s *Socket) kickOnCore(now mono.Time) {
	s.kickPending.Store(false) // before looking: a later kick is not lost
	if s.conn == nil {
		return
	}
	if s.tx.Load() != nil {
		s.trackRings()
	}
	c := s.e.cores[s.core]
	c.now = now
	c.tcp.SetNow(now)
	s.serviceTx()
	s.serviceRx()
	// No flush: the loop's next turn, which follows a turn that ran
	// calls at once, sends what the turn's kicks queued in one batch.
}

// serviceRx moves what the connection has received into rx, as far as rx
// has room: bytes left in the connection keep its window closed until the
// reader makes room (rxStalled, then a kick). It sets rxEOF once the
// peer's FIN is all that is left, and wakes a sleeping reader.
func (s *Socket) serviceRx() {
	c := s.conn
	if c == nil || s.appClosed {
		return
	}
	moved := false
	for c.Readable() > 0 {
		r := s.rx.Load()
		if r == nil {
			r = s.e.rings.get()
			s.rx.Store(r)
			s.trackRings()
		}
		// Copy, publish, then consume: consuming the last bytes of a
		// connection that ended may run Closed, which says the end, and
		// the reader must see the bytes before it sees the end.
		pa, pb := c.Peek()
		sa, sb := r.space()
		n, sa, sb := copyInto(sa, sb, pa)
		if n == len(pa) {
			m, _, _ := copyInto(sa, sb, pb)
			n += m
		}
		if n > 0 {
			r.produce(n)
			moved = true
			c.Consume(n)
		}
		if s.conn != c {
			break // Closed ran (and woke the reader)
		}
		if c.Readable() == 0 {
			break
		}
		if n > 0 && r.free() > 0 {
			continue // Peek gave a first part of the bytes
		}
		// rx is full: wait for the reader, unless it made room since.
		s.rxStalled.Store(true)
		if r.free() < r.size()/2 || !s.rxStalled.CompareAndSwap(true, false) {
			break
		}
	}
	if s.conn == c && c.EOF() && !s.rxEOF.Load() {
		s.rxEOF.Store(true)
		moved = true
	}
	if moved {
		s.wakeReader()
	}
}

// copyInto copies src into a, then b, and returns how much and the room
// left in each.
func copyInto(a, b, src []byte) (int, []byte, []byte) {
	n := copy(a, src)
	m := copy(b, src[n:])
	return n + m, a[n:], b[m:]
}

// wakeReader wakes a reader that sleeps on an empty rx: once per sleep.
func (s *Socket) wakeReader() {
	if s.rdWaiting.Load() && s.rdWaiting.Swap(false) {
		s.wake(s.rdWake)
	}
}

// wakeWriter wakes a writer that sleeps on a full tx: once per sleep.
func (s *Socket) wakeWriter() {
	if s.wrWaiting.Load() && s.wrWaiting.Swap(false) {
		s.wake(s.wrWake)
	}
}

// serviceTx moves tx into the connection's send buffer as far as it has
// room (the rest on Writable), then queues the FIN or the close that wait
// for tx to drain, and wakes a writer that waits for room.
func (s *Socket) serviceTx() {
	c := s.conn
	if c == nil {
		return
	}
	r := s.tx.Load()
	if r != nil && r.used() > 0 {
		c.SetNoDelay(s.noDelay.Load())
		// Bytes that wrap around tx's end go to TCP in two writes: hold
		// partial segments over the first (TCP_NOPUSH), so that the two
		// pieces do not leave as two small segments.
		held := false
		if _, b := r.data(); len(b) > 0 && !c.Info().NoPush {
			c.SetNoPush(true)
			held = true
		}
		freed := false
		for s.conn == c {
			a, _ := r.data()
			if len(a) == 0 {
				break
			}
			n, err := c.Write(a)
			if n > 0 {
				r.consume(n)
				freed = true
			}
			if err != nil {
				// The connection takes no more (its end raced the
				// write): the bytes go, as a socket's buffer would.
				a, b := r.data()
				r.consume(len(a) + len(b))
				break
			}
			if n < len(a) {
				break
			}
		}
		if held && s.conn == c {
			c.SetNoPush(false) // sends what was held
		}
		if freed {
			s.wakeWriter()
		}
		if r.used() > 0 || s.conn != c {
			return
		}
	}
	switch {
	case s.closePending:
		s.closePending, s.finPending = false, false
		c.Close()
		s.releaseRings()
	case s.finPending:
		s.finPending = false
		c.CloseWrite()
	}
}

// closeOnCore is Close's entry: the application has closed the socket
// (a call still inside a ring keeps it until it leaves). Unread bytes,
// in rx or in the connection, make it a reset, as in Linux; otherwise
// the FIN follows what tx still holds.
func (s *Socket) closeOnCore(linger int32) {
	s.appClosed = true
	c := s.conn
	if c == nil {
		s.releaseRings()
		return
	}
	if r := s.rx.Load(); linger == 0 || r != nil && r.used() > 0 {
		c.Abort()
		s.releaseRings()
		return
	}
	s.closePending = true
	s.serviceTx() // closes now when tx is empty, else when it drains
}

// releaseRings gives the rings back once the application closed the
// socket and the core has nothing more to move. A call still inside a ring
// (a ReadFrom waiting in its reader's Read, a WriteTo in its writer's
// Write: Close does not wait for them) keeps it until it leaves; the
// sweep then gives it back (ringsDoomed).
func (s *Socket) releaseRings() {
	if !s.appClosed {
		return
	}
	s.ringsDoomed = true
	s.dropRing(&s.rx, &s.rdIn)
	s.dropRing(&s.tx, &s.wrIn)
	if s.rx.Load() != nil || s.tx.Load() != nil {
		s.trackRings()
	}
}

// dropRing gives the ring in p back, full or not, unless a call is inside
// it. It reports whether it did.
func (s *Socket) dropRing(p *atomic.Pointer[byteRing], in *atomic.Uint32) bool {
	if p.Load() == nil || !in.CompareAndSwap(ringFree, ringTaking) {
		return false
	}
	r := p.Swap(nil)
	s.e.rings.put(r)
	in.Store(ringFree)
	return true
}
