package cores

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

const cacheLine = 64

type pad [cacheLine]byte

// Handoff is a single-producer single-consumer ring of variable-length
// records in one contiguous byte buffer: the way one core passes packets to
// another (flow steering) without touching the other core's frame pool.
//
// The producer reserves room for a record in place (Reserve), writes it and
// commits it; the consumer peeks at the oldest record in place (Peek) and
// releases it. Records start on 64-byte boundaries and take their length
// rounded up to 64 bytes plus an 8-byte header, so a 60-byte ACK costs two
// cache lines and a 1500-byte segment 25. Neither side publishes its index
// per record: Publish (producer) and Done (consumer) store it once per batch,
// so the shared index lines move between the cores once per batch, not once
// per packet.
//
// A record that does not fit before the end of the buffer leaves a pad
// record there and starts at offset 0.
type Handoff struct {
	_    pad
	tail atomic.Uint64 // bytes produced; written by the producer
	_    pad
	head atomic.Uint64 // bytes consumed; written by the consumer
	_    pad
	// producer-local
	ptail      uint64 // committed, maybe not yet published
	cachedHead uint64
	reserved   uint64 // bytes of the record Reserve returned, 0 when none
	published  uint64 // the tail last stored
	_          pad
	// consumer-local
	chead      uint64 // released, maybe not yet published
	cachedTail uint64
	peeked     uint64 // bytes of the record Peek returned, 0 when none
	released   uint64 // the head last stored
	_          pad
	// read-only after construction
	mask uint64
	max  int // longest record payload
	buf  []byte
}

// handoffHeader is the bytes before each record's payload: its length
// (payload bytes, or padFlag|bytes to skip for a pad record), then 4
// unused bytes so that payloads start 8 bytes into a line.
const handoffHeader = 8

const padFlag = 1 << 31

// MinHandoffBytes is the smallest Handoff buffer.
const MinHandoffBytes = 4096

// NewHandoff returns a ring of size bytes (a power of two ≥ MinHandoffBytes)
// whose records hold at most size/4 bytes less the header.
func NewHandoff(size int) (*Handoff, error) {
	if size < MinHandoffBytes || size&(size-1) != 0 {
		return nil, fmt.Errorf("cores: hand-off ring of %d bytes: want a power of two ≥ %d", size, MinHandoffBytes)
	}
	// Over-allocate so that the buffer can start on a cache line.
	raw := make([]byte, size+cacheLine)
	off := 0
	for uintptr(unsafe.Pointer(&raw[off]))&(cacheLine-1) != 0 {
		off++
	}
	return &Handoff{mask: uint64(size - 1), max: size/4 - handoffHeader, buf: raw[off : off+size : off+size]}, nil
}

// Cap returns the ring's size in bytes.
func (r *Handoff) Cap() int { return len(r.buf) }

// MaxRecord returns the longest record payload Reserve accepts.
func (r *Handoff) MaxRecord() int { return r.max }

// RecordBytes returns the room a record of n payload bytes takes in the ring.
func RecordBytes(n int) int { return (n + handoffHeader + cacheLine - 1) &^ (cacheLine - 1) }

// Reserve returns room for a record of n bytes, or nil when the ring has
// none (or n is larger than MaxRecord). The record is not visible to the
// consumer until Commit and then Publish. Producer only.
func (r *Handoff) Reserve(n int) []byte {
	if n < 0 || n > r.max {
		return nil
	}
	need := uint64(RecordBytes(n))
	size := r.mask + 1
	pos := r.ptail & r.mask
	skip := uint64(0)
	if size-pos < need {
		skip = size - pos // the record cannot straddle the end
	}
	if size-(r.ptail-r.cachedHead) < skip+need {
		r.cachedHead = r.head.Load()
		if size-(r.ptail-r.cachedHead) < skip+need {
			return nil
		}
	}
	if skip > 0 {
		binary.LittleEndian.PutUint32(r.buf[pos:], padFlag|uint32(skip))
		r.ptail += skip
		pos = 0
	}
	binary.LittleEndian.PutUint32(r.buf[pos:], uint32(n))
	r.reserved = need
	return r.buf[pos+handoffHeader : pos+handoffHeader+uint64(n) : pos+handoffHeader+uint64(n)]
}

// Commit makes the record Reserve returned part of the ring. Producer only.
func (r *Handoff) Commit() {
	r.ptail += r.reserved
	r.reserved = 0
}

// Publish makes committed records visible to the consumer. Producer only;
// call it once per batch.
func (r *Handoff) Publish() {
	if r.published != r.ptail {
		r.published = r.ptail
		r.tail.Store(r.ptail)
	}
}

// Peek returns the oldest published record, or nil when there is none.
// The record stays valid until Release. Consumer only.
func (r *Handoff) Peek() []byte {
	for {
		if r.chead == r.cachedTail {
			r.cachedTail = r.tail.Load()
			if r.chead == r.cachedTail {
				return nil
			}
		}
		pos := r.chead & r.mask
		h := binary.LittleEndian.Uint32(r.buf[pos:])
		if h&padFlag != 0 {
			r.chead += uint64(h &^ padFlag)
			continue
		}
		n := uint64(h)
		r.peeked = uint64(RecordBytes(int(n)))
		return r.buf[pos+handoffHeader : pos+handoffHeader+n : pos+handoffHeader+n]
	}
}

// Waiting reports whether the producer has published a record the
// consumer has not taken: the look an owner makes after it announced its
// sleep (Loop), so that a record published before the producer could see
// that announcement is not left for the sleep's end. Consumer only.
func (r *Handoff) Waiting() bool {
	if r.chead != r.cachedTail {
		return true
	}
	r.cachedTail = r.tail.Load()
	return r.chead != r.cachedTail
}

// Release frees the record Peek returned. Consumer only.
func (r *Handoff) Release() {
	r.chead += r.peeked
	r.peeked = 0
}

// Done gives released room back to the producer. Consumer only; call it
// once per batch.
func (r *Handoff) Done() {
	if r.released != r.chead {
		r.released = r.chead
		r.head.Store(r.chead)
	}
}

// Pending reports whether published records wait (an estimate from any
// goroutine other than the consumer).
func (r *Handoff) Pending() bool { return r.tail.Load() != r.head.Load() }
