package engine

import (
	"os"
	"sync/atomic"
	"syscall"
)

// Waking goroutines from a core.
//
// A core that wakes a goroutine by sending on its channel readies it on the
// core's own P, in the slot the scheduler runs next. A pinned core never
// gives its P up (it busy-polls), so the goroutine waits until another P
// steals it, and the runtime steals that slot last, after backing off: on
// this project's 2-CPU bed a wake took about 80 µs from the core's send to
// the goroutine running (median of 3,000, a busy-polling locked goroutine
// waking a parked one). Through the netpoller, woken by a write to a pipe,
// the same wake took about 9 µs: the goroutine the poller readies runs on
// the P that polled, one of the application's.
//
// So a core does not send on a socket's channel itself: it queues the
// channel on its wakeQueue and, at the end of its loop turn (Core.EndTurn),
// writes one byte to the queue's pipe if it queued anything. A waker
// goroutine per core, parked in the pipe's Read, sends on the queued
// channels. One write per turn, however many goroutines it wakes.

// wakeQueueSize bounds the wakes a core queues between two runs of its
// waker; past it the core sends on the channel itself (slow, never lost).
const wakeQueueSize = 4096

// wakeQueue is a core's queue of goroutines to wake: a single-producer (the
// core) single-consumer (the waker goroutine) ring of channels.
type wakeQueue struct {
	slots   [wakeQueueSize]chan struct{}
	head    atomic.Uint64 // written by the core
	tail    atomic.Uint64 // written by the waker
	pending bool          // the core queued wakes since its last flush
	one     [1]byte       // what flush writes
	r, w    *os.File
	wfd     int
	direct  atomic.Uint64 // wakes the core made itself: the queue was full
	done    chan struct{} // closed when the waker has returned
}

// newWakeQueue makes a core's wake queue and starts its waker.
func newWakeQueue() (*wakeQueue, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	q := &wakeQueue{r: r, w: w, done: make(chan struct{})}
	sc, err := w.SyscallConn()
	if err == nil {
		err = sc.Control(func(fd uintptr) { q.wfd = int(fd) })
	}
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	go q.run()
	return q, nil
}

// add queues a wake of ch. On the core only.
func (q *wakeQueue) add(ch chan struct{}) {
	h := q.head.Load()
	if h-q.tail.Load() >= wakeQueueSize {
		q.direct.Add(1)
		poke(ch)
		return
	}
	q.slots[h%wakeQueueSize] = ch
	q.head.Store(h + 1)
	q.pending = true
}

// flush tells the waker about the wakes queued since the last flush. On
// the core only, at the end of its turn.
func (q *wakeQueue) flush() {
	if !q.pending {
		return
	}
	q.pending = false
	// The pipe is non-blocking: EAGAIN means it is full of bytes the waker
	// has not read, so it is awake already.
	_, _ = syscall.Write(q.wfd, q.one[:])
}

// run is the waker: it reads the pipe and wakes what the core queued.
func (q *wakeQueue) run() {
	defer close(q.done)
	var buf [64]byte
	for {
		if _, err := q.r.Read(buf[:]); err != nil {
			q.wakeAll() // closed: what is left, at once
			return
		}
		q.wakeAll()
	}
}

// wakeAll wakes everything queued. The waker's, or the closer's once the
// waker has returned.
func (q *wakeQueue) wakeAll() {
	t, h := q.tail.Load(), q.head.Load()
	for ; t != h; t++ {
		i := t % wakeQueueSize
		ch := q.slots[i]
		q.slots[i] = nil
		poke(ch)
	}
	q.tail.Store(t)
}

// close stops the waker once the core has stopped, waking what is queued.
func (q *wakeQueue) close() {
	q.w.Close()
	<-q.done
	q.r.Close()
	q.wakeAll()
}
