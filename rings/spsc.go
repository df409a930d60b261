package rings

import (
	"fmt"
	"sync/atomic"
)

const cacheLine = 64

type pad [cacheLine]byte

// SPSC is a lock-free ring with one producer goroutine and one consumer
// goroutine. Its size is a power of two. The producer's and consumer's indices
// sit on separate cache lines, and each side caches the other's index so that
// it touches the shared line only when its cached view runs out.
type SPSC[T any] struct {
	_    pad
	tail atomic.Uint64 // written by the producer
	_    pad
	head atomic.Uint64 // written by the consumer
	_    pad
	// producer-local
	ptail      uint64
	cachedHead uint64
	_          pad
	// consumer-local
	chead      uint64
	cachedTail uint64
	_          pad
	mask       uint64
	buf        []T
}

// NewSPSC returns a ring of size slots; size must be a power of two ≥ 2.
func NewSPSC[T any](size int) (*SPSC[T], error) {
	if size < 2 || size&(size-1) != 0 {
		return nil, fmt.Errorf("rings: SPSC size %d is not a power of two ≥ 2", size)
	}
	return &SPSC[T]{mask: uint64(size - 1), buf: make([]T, size)}, nil
}

// Cap returns the number of slots.
func (r *SPSC[T]) Cap() int { return len(r.buf) }

// Len returns the number of items queued; exact only when called by one side
// while the other is idle. From a third goroutine it is an estimate in
// [0, Cap()].
func (r *SPSC[T]) Len() int {
	// Load head first: head only grows and never passes tail, so a tail
	// loaded after it is not smaller (the other order can go negative).
	h := r.head.Load()
	n := r.tail.Load() - h
	if n > uint64(len(r.buf)) {
		n = uint64(len(r.buf))
	}
	return int(n)
}

// Enqueue copies as many of items as fit and returns how many. Producer only.
func (r *SPSC[T]) Enqueue(items []T) int {
	size := uint64(len(r.buf))
	free := size - (r.ptail - r.cachedHead)
	if free < uint64(len(items)) {
		r.cachedHead = r.head.Load()
		free = size - (r.ptail - r.cachedHead)
	}
	n := uint64(len(items))
	if n > free {
		n = free
	}
	for i := uint64(0); i < n; i++ {
		r.buf[(r.ptail+i)&r.mask] = items[i]
	}
	if n > 0 {
		r.ptail += n
		r.tail.Store(r.ptail)
	}
	return int(n)
}

// Dequeue moves up to len(out) items into out and returns how many. Consumer only.
func (r *SPSC[T]) Dequeue(out []T) int {
	avail := r.cachedTail - r.chead
	if avail < uint64(len(out)) {
		r.cachedTail = r.tail.Load()
		avail = r.cachedTail - r.chead
	}
	n := uint64(len(out))
	if n > avail {
		n = avail
	}
	var zero T
	for i := uint64(0); i < n; i++ {
		j := (r.chead + i) & r.mask
		out[i] = r.buf[j]
		r.buf[j] = zero
	}
	if n > 0 {
		r.chead += n
		r.head.Store(r.chead)
	}
	return int(n)
}
