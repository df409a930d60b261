// A socket's data calls: Send and Recv through their squeue entries, the
// read parked on the core, waiting, deadlines and wake-ups.

package engine

import (
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// Send queues p for sending (send(2)). A blocking socket waits for room in
// the send buffer until all of p is queued; a non-blocking one queues what
// fits and returns EAGAIN when nothing did.
func (s *Socket) Send(p []byte) (int, error) {
	s.wrMu.Lock()
	defer s.wrMu.Unlock()
	total := 0
	for {
		if s.closed.Load() {
			return total, syscall.EBADF
		}
		switch s.st() {
		case sockIdle, sockBound, sockListening, sockConnecting:
			return total, syscall.ENOTCONN
		}
		if s.shutWr.Load() {
			return total, syscall.EPIPE
		}
		if err := s.wrDeadlinePassed(); err != nil {
			return total, err
		}
		s.wrBuf = p
		if err := s.enter(&s.wr); err != nil {
			s.wrBuf = nil
			return total, err
		}
		s.wrBuf = nil
		n, err := s.wrN, s.wrErr
		total += n
		p = p[n:]
		if err != nil || len(p) == 0 {
			return total, err
		}
		if s.nonblock.Load() {
			if total == 0 {
				return 0, syscall.EAGAIN
			}
			return total, nil
		}
		if err := s.wait(s.wrWake, &s.wrDeadline, &s.wrTimer); err != nil {
			return total, err
		}
	}
}

func (s *Socket) wrDeadlinePassed() error {
	if d := s.wrDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// sendOnCore is the send half of the squeue entry.
func (s *Socket) sendOnCore(now mono.Time) {
	s.wrN, s.wrErr = 0, nil
	if s.conn == nil {
		s.wrErr = s.takeErr()
		if s.wrErr == nil {
			s.wrErr = syscall.EPIPE
		}
	} else {
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		s.conn.SetNoDelay(s.noDelay.Load())
		s.wrN, s.wrErr = s.conn.Write(s.wrBuf)
		c.flush()
	}
	s.wr.done <- struct{}{}
}

// Recv reads received bytes into p (recv(2)): 0 and io.EOF once the peer
// closed its side (or after SHUT_RD). A blocking socket waits for data; a
// non-blocking one returns EAGAIN.
func (s *Socket) Recv(p []byte) (int, error) {
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	for {
		if s.closed.Load() {
			return 0, syscall.EBADF
		}
		switch s.st() {
		case sockIdle, sockBound, sockListening:
			return 0, syscall.ENOTCONN
		}
		if s.shutRd.Load() {
			return 0, io.EOF
		}
		if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return 0, nil
		}
		if s.st() != sockConnecting {
			n, err, done := s.recvEntry(p)
			if done {
				return n, err
			}
		}
		if s.nonblock.Load() {
			return 0, syscall.EAGAIN
		}
		if err := s.wait(s.rdWake, &s.rdDeadline, &s.rdTimer); err != nil {
			return 0, err
		}
	}
}

// recvEntry enters the squeue to read into p. A blocking socket's entry
// parks on the core when there is nothing to read: the core fills p when
// data, the FIN or an error arrives (one entry and one wake-up per read).
// done is false when the caller should wait and try again.
func (s *Socket) recvEntry(p []byte) (n int, err error, done bool) {
	s.rdBuf, s.rdPark, s.rdCancelled = p, !s.nonblock.Load(), false
	defer func() { s.rdBuf = nil }()
	l := s.e.loops[s.core]
	if err := s.post(s.rd.fn); err != nil {
		return 0, err, true
	}
	for cancelled := false; ; {
		var tc <-chan time.Time
		if d := s.rdDeadline.Load(); d != 0 && !cancelled {
			left := time.Duration(d - time.Now().UnixNano())
			if left <= 0 {
				left = 0
			}
			if s.rdTimer == nil {
				s.rdTimer = time.NewTimer(left)
			} else {
				s.rdTimer.Reset(left)
			}
			tc = s.rdTimer.C
		}
		closed := s.closedCh
		if cancelled {
			closed = nil
		}
		select {
		case <-s.rd.done:
			switch {
			case s.rdN > 0 || s.rdErr != nil:
				return s.rdN, s.rdErr, true
			case s.rdEOF:
				return 0, io.EOF, true
			case s.rdCancelled:
				if s.closed.Load() {
					return 0, syscall.EBADF, true
				}
				return 0, os.ErrDeadlineExceeded, true
			}
			return 0, nil, false
		case <-s.rdWake:
			// A new deadline, or a wake-up left from before: look again.
		case <-tc:
			if d := s.rdDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
				cancelled = true
				s.cancelRecv()
			}
		case <-closed:
			cancelled = true
			s.cancelRecv()
		case <-l.Done():
			return 0, ErrEngineStopped, true
		}
	}
}

// cancelRecv posts the cancel of the parked read. When the loop is
// stopping the post fails, but the loop may still fill the read in its
// last turn: the reader waits for that or for the loop's end all the same,
// so that the core never writes into a buffer the caller got back.
func (s *Socket) cancelRecv() {
	_ = s.post(s.rdCancelFn)
}

// cancelRecvOnCore ends a parked read with nothing (deadline or Close).
func (s *Socket) cancelRecvOnCore(now mono.Time) {
	if s.rdParked {
		s.rdParked = false
		s.rdN, s.rdEOF, s.rdErr, s.rdCancelled = 0, false, nil, true
		s.rd.done <- struct{}{}
	}
}

// fillParked completes a parked read on the core.
func (s *Socket) fillParked() {
	s.rdParked = false
	s.readOnCore(s.e.cores[s.core].now)
	s.rd.done <- struct{}{}
}

// recvOnCore is the receive half of the squeue entry: it reads, or parks
// the read when a blocking socket has nothing to read yet.
func (s *Socket) recvOnCore(now mono.Time) {
	s.readOnCore(now)
	if s.rdN == 0 && !s.rdEOF && s.rdErr == nil && s.rdPark {
		s.rdParked = true // Readable or Closed completes it
		return
	}
	s.rd.done <- struct{}{}
}

// readOnCore reads into rdBuf what is there: leftover bytes, the
// connection's, or the end.
func (s *Socket) readOnCore(now mono.Time) {
	s.rdN, s.rdEOF, s.rdErr = 0, false, nil
	switch {
	case len(s.leftover) > 0:
		s.rdN = copy(s.rdBuf, s.leftover)
		s.leftover = s.leftover[s.rdN:]
	case s.conn == nil:
		s.rdErr = s.takeErr()
		s.rdEOF = true
	default:
		c := s.e.cores[s.core]
		c.now = now
		c.tcp.SetNow(now)
		s.rdN = s.conn.Read(s.rdBuf)
		s.rdEOF = s.rdN == 0 && s.conn.EOF()
		c.flush()
	}
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
