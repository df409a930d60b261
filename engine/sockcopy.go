// io.Copy without a buffer of its own: WriteTo hands the writer the bytes
// where they lie in the receive ring, ReadFrom has the reader fill the send
// ring in place. Between two pollstack connections io.Copy(dst, src) takes
// src.WriteTo, so the bytes go from src's rx ring into dst's tx ring in
// one copy.

package engine

import (
	"io"
	"syscall"
)

// writeTo writes what the socket receives to w until the peer's end
// (io.EOF, which is not returned) or an error: rerr is the socket's (as
// Recv's), werr w's. w gets the bytes in the receive ring itself, in at
// most two pieces a turn, and must not keep them (io.Writer's contract).
// Each w.Write runs inside the reader's side of the ring: the core does
// not give an idle rx back meanwhile.
func (s *Socket) writeTo(w io.Writer) (n int64, rerr, werr error) {
	s.rdMu.Lock()
	defer s.rdMu.Unlock()
	for {
		if err := s.recvCheck(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err, nil
		}
		enterRing(&s.rdIn)
		m, rerr, werr, done := s.writeRing(w)
		n += int64(m)
		if done {
			leaveRing(&s.rdIn)
			if rerr == io.EOF {
				rerr = nil
			}
			if rerr != nil || werr != nil {
				return n, rerr, werr
			}
			if m == 0 {
				return n, nil, nil // the end
			}
			continue
		}
		if s.nonblock.Load() {
			leaveRing(&s.rdIn)
			return n, syscall.EAGAIN, nil
		}
		s.rdWaiting.Store(true)
		ready := s.rxReady()
		leaveRing(&s.rdIn)
		if ready {
			continue
		}
		if err := s.wait(s.rdWake, &s.rdDeadline, &s.rdTimer); err != nil {
			s.rdWaiting.Store(false)
			return n, err, nil
		}
	}
}

// writeRing is recvRing for WriteTo: it writes to w what there is (rx,
// then what the connection left, then the end). done is false when there
// is nothing yet; done with m == 0 and no error is the end. Inside rdIn.
func (s *Socket) writeRing(w io.Writer) (m int, rerr, werr error, done bool) {
	st, eof := s.st(), s.rxEOF.Load() // the end first, as in recvRing
	if r := s.rx.Load(); r != nil {
		if a, b := r.data(); len(a) > 0 {
			m, werr = w.Write(a)
			if werr == nil && m == len(a) && len(b) > 0 {
				var k int
				k, werr = w.Write(b)
				m += k
			}
			if m > 0 {
				r.consume(m)
				s.consumed(r)
			}
			if werr == nil && m == 0 {
				werr = io.ErrShortWrite
			}
			return m, nil, werr, true
		}
	}
	switch {
	case st == sockDisconnected:
		if len(s.leftover) > 0 {
			m, werr = w.Write(s.leftover)
			s.leftover = s.leftover[m:]
			if werr == nil && m == 0 {
				werr = io.ErrShortWrite
			}
			return m, nil, werr, true
		}
		if err := s.takeErr(); err != nil {
			return 0, err, nil, true
		}
		return 0, nil, nil, true
	case eof:
		return 0, nil, nil, true
	}
	return 0, nil, nil, false
}

// readFrom sends what r gives until io.EOF (not returned) or an error:
// rerr is r's, werr the socket's (as Send's). r reads straight into the
// free room of the send ring, so no buffer comes between; each r.Read runs
// inside the writer's side of the ring and under the writer's lock, so
// other writers wait for it, as for a long Send.
func (s *Socket) readFrom(r io.Reader) (n int64, rerr, werr error) {
	s.wrMu.Lock()
	defer s.wrMu.Unlock()
	for {
		if err := s.sendCheck(); err != nil {
			return n, nil, err
		}
		enterRing(&s.wrIn)
		ring := s.txRing()
		if a, _ := ring.space(); len(a) > 0 {
			m, err := r.Read(a)
			if m > 0 {
				ring.produce(m)
			}
			leaveRing(&s.wrIn)
			if m > 0 {
				n += int64(m)
				if kerr := s.kick(); kerr != nil {
					return n, nil, kerr
				}
			}
			if err == io.EOF {
				return n, nil, nil
			}
			if err != nil {
				return n, err, nil
			}
			continue
		}
		if s.nonblock.Load() {
			leaveRing(&s.wrIn)
			return n, nil, syscall.EAGAIN
		}
		s.wrWaiting.Store(true)
		room := ring.free() > 0
		leaveRing(&s.wrIn)
		if room {
			continue
		}
		if err := s.wait(s.wrWake, &s.wrDeadline, &s.wrTimer); err != nil {
			s.wrWaiting.Store(false)
			return n, nil, err
		}
	}
}
