// A socket's data calls: Send and Recv through the socket's rings
// (sockring.go), waiting, deadlines and wake-ups.

package engine

import (
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Send queues p for sending (send(2)): it copies into the socket's send
// ring, which the core drains into the connection. A blocking socket waits
// for room until all of p is queued; a non-blocking one queues what fits
// and returns EAGAIN when nothing did.
func (s *Socket) Send(p []byte) (int, error) {
	if s.dg != nil {
		return s.dgSend(p, netip.AddrPort{})
	}
	s.wrMu.Lock()
	defer s.wrMu.Unlock()
	total := 0
	for {
		if err := s.sendCheck(); err != nil {
			return total, err
		}
		if len(p) == 0 {
			return total, nil
		}
		enterRing(&s.wrIn)
		r := s.txRing()
		n := r.write(p)
		if n > 0 {
			total += n
			p = p[n:]
		}
		if len(p) == 0 || s.nonblock.Load() {
			leaveRing(&s.wrIn)
			if n > 0 {
				if err := s.kick(); err != nil {
					return total, err
				}
			}
			if total == 0 {
				return 0, syscall.EAGAIN // non-blocking, tx full
			}
			return total, nil
		}
		// tx is full: sleep until the core drains some of it. The flag
		// first, then a last look, so that a drain in between is seen.
		s.wrWaiting.Store(true)
		room := r.free() > 0
		leaveRing(&s.wrIn)
		if n > 0 {
			if err := s.kick(); err != nil {
				return total, err
			}
		}
		if room {
			continue
		}
		if err := s.wait(s.wrWake, &s.wrDeadline, &s.wrTimer); err != nil {
			s.wrWaiting.Store(false)
			return total, err
		}
	}
}

// sendCheck returns why the writer cannot go on, or nil. Under wrMu.
func (s *Socket) sendCheck() error {
	if s.closed.Load() {
		return syscall.EBADF
	}
	st := s.st()
	switch st {
	case sockIdle, sockBound, sockListening, sockConnecting:
		return syscall.ENOTCONN
	}
	if s.shutWr.Load() {
		return syscall.EPIPE
	}
	if s.e.stopped.Load() {
		return ErrEngineStopped
	}
	if st == sockDisconnected {
		if err := s.takeErr(); err != nil {
			return err
		}
		return syscall.EPIPE
	}
	return s.wrDeadlinePassed()
}

func (s *Socket) wrDeadlinePassed() error {
	if d := s.wrDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Recv reads received bytes into p (recv(2)) from the socket's receive
// ring, which the core fills: 0 and io.EOF once the peer closed its side
// and every byte was read (or after SHUT_RD). A blocking socket waits for
// data; a non-blocking one returns EAGAIN.
func (s *Socket) Recv(p []byte) (int, error) {
	if s.dg != nil {
		n, _, err := s.dgRecv(p)
		return n, err
	}
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	for {
		if err := s.recvCheck(); err != nil {
			return 0, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		enterRing(&s.rdIn)
		n, err, done := s.recvRing(p)
		if done || s.nonblock.Load() {
			leaveRing(&s.rdIn)
			if !done {
				return 0, syscall.EAGAIN
			}
			return n, err
		}
		// rx is empty: sleep until the core fills it. The flag first,
		// then a last look, so that bytes published in between are seen.
		s.rdWaiting.Store(true)
		ready := s.rxReady()
		leaveRing(&s.rdIn)
		if ready {
			continue
		}
		if err := s.wait(s.rdWake, &s.rdDeadline, &s.rdTimer); err != nil {
			s.rdWaiting.Store(false)
			return 0, err
		}
	}
}

// recvCheck returns why the reader cannot go on (io.EOF after SHUT_RD),
// or nil. Under rdMu.
func (s *Socket) recvCheck() error {
	if s.closed.Load() {
		return syscall.EBADF
	}
	switch s.st() {
	case sockIdle, sockBound, sockListening:
		return syscall.ENOTCONN
	}
	if s.shutRd.Load() {
		return io.EOF
	}
	if s.e.stopped.Load() {
		return ErrEngineStopped
	}
	if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// recvRing reads what there is to read: bytes in rx, then the bytes kept
// when the connection ended, then the end (io.EOF, or the pending error).
// done is false when there is nothing yet. Inside rdIn.
func (s *Socket) recvRing(p []byte) (n int, err error, done bool) {
	// The end first: the core publishes bytes before it says the end.
	st, eof := s.st(), s.rxEOF.Load()
	if r := s.rx.Load(); r != nil {
		if n := r.read(p); n > 0 {
			s.consumed(r)
			return n, nil, true
		}
	}
	switch {
	case st == sockDisconnected:
		if len(s.leftover) > 0 {
			n := copy(p, s.leftover)
			s.leftover = s.leftover[n:]
			return n, nil, true
		}
		if err := s.takeErr(); err != nil {
			return 0, err, true
		}
		return 0, io.EOF, true
	case eof:
		return 0, io.EOF, true
	}
	return 0, nil, false
}

// rxReady reports whether Recv has something to return without waiting.
// Inside rdIn.
func (s *Socket) rxReady() bool {
	if s.st() == sockDisconnected || s.rxEOF.Load() || s.shutRd.Load() {
		return true
	}
	r := s.rx.Load()
	return r != nil && r.used() > 0
}

// wait blocks until wake fires, the deadline passes, the socket closes or
// the engine stops. The timer is made once per socket and direction.
func (s *Socket) wait(wake chan struct{}, deadline *atomic.Int64, timer **time.Timer) error {
	for {
		var tc <-chan time.Time
		if d := deadline.Load(); d != 0 {
			left := time.Duration(d - time.Now().UnixNano())
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			if *timer == nil {
				*timer = time.NewTimer(left)
			} else {
				(*timer).Reset(left)
			}
			tc = (*timer).C
		}
		select {
		case <-wake:
			return nil
		case <-tc:
			continue // the deadline is checked again: it may have moved
		case <-s.closedCh:
			return syscall.EBADF
		case <-s.e.done:
			return ErrEngineStopped
		}
	}
}

// SetNonblock makes calls return EAGAIN (EINPROGRESS for Connect) instead
// of waiting.
func (s *Socket) SetNonblock(on bool) { s.nonblock.Store(on) }

// SetReadDeadline bounds Recv and Accept (zero: no deadline).
func (s *Socket) SetReadDeadline(t time.Time) {
	s.rdDeadline.Store(deadlineNanos(t))
	poke(s.rdWake) // a waiting reader looks at the new deadline
	// lset is set before the state says listening: Listen may be under way.
	if s.st() == sockListening {
		poke(s.lset.wake)
	}
}

// SetWriteDeadline bounds Send.
func (s *Socket) SetWriteDeadline(t time.Time) {
	s.wrDeadline.Store(deadlineNanos(t))
	poke(s.wrWake)
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n > 0 {
		return n
	}
	return 1 // in the past
}
