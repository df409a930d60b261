package tcptrace

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// Ring sizes.
const (
	// DefaultRingRecords is the records each core's ring holds (1.75 MiB).
	DefaultRingRecords = 16384
	// MinRingRecords and MaxRingRecords bound it.
	MinRingRecords = 64
	MaxRingRecords = 1 << 22
	// idle is how long the writer sleeps when every ring was empty.
	idle = time.Millisecond
)

type pad [64]byte

// Ring is one core's single-producer ring of encoded records. Its Trace
// (tcp.Tracer) runs on the core: it encodes the record in place, or drops
// and counts it when the writer has fallen a ring behind.
type Ring struct {
	_    pad
	tail atomic.Uint64 // written by the core
	_    pad
	head atomic.Uint64 // written by the writer
	_    pad
	// the core's
	ptail      uint64
	cachedHead uint64
	_          pad
	mask       uint64
	buf        []byte
	core       int
	dropped    atomic.Uint64
}

func newRing(core, records int) *Ring {
	return &Ring{mask: uint64(records - 1), buf: make([]byte, records*RecordSize), core: core}
}

// Trace implements tcp.Tracer. Owner (the core) only.
func (r *Ring) Trace(rec *tcp.TraceRecord) bool {
	if r.ptail-r.cachedHead > r.mask {
		r.cachedHead = r.head.Load()
		if r.ptail-r.cachedHead > r.mask {
			r.dropped.Add(1)
			return false
		}
	}
	i := (r.ptail & r.mask) * RecordSize
	Encode(r.buf[i:i+RecordSize], rec, r.core)
	r.ptail++
	r.tail.Store(r.ptail)
	return true
}

// Dropped returns the records the ring had no room for.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }

// drainTo writes what the ring holds to w and returns the records written.
func (r *Ring) drainTo(w io.Writer) (int, error) {
	head, tail := r.head.Load(), r.tail.Load()
	n := tail - head
	if n == 0 {
		return 0, nil
	}
	size := r.mask + 1
	start := head & r.mask
	first := min(n, size-start)
	if _, err := w.Write(r.buf[start*RecordSize : (start+first)*RecordSize]); err != nil {
		return 0, err
	}
	if first < n {
		if _, err := w.Write(r.buf[:(n-first)*RecordSize]); err != nil {
			return 0, err
		}
	}
	r.head.Store(tail)
	return int(n), nil
}

// Writer writes the records of one Ring per core to a trace file from a
// goroutine of its own, buffered.
type Writer struct {
	bw    *bufio.Writer
	rings []*Ring
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error
	// started says the goroutine runs (a test's writer drains by hand).
	started bool

	written atomic.Uint64
}

// NewWriter writes the file header to w, makes a ring of records slots (a
// power of two) for each of cores cores, and starts draining them.
func NewWriter(w io.Writer, cores, records int) (*Writer, error) {
	tw, err := newWriter(w, cores, records)
	if err != nil {
		return nil, err
	}
	tw.started = true
	go tw.run()
	return tw, nil
}

// newWriter is NewWriter without the goroutine.
func newWriter(w io.Writer, cores, records int) (*Writer, error) {
	if err := CheckRingRecords(records); err != nil {
		return nil, err
	}
	if cores < 1 {
		return nil, errors.New("tcptrace: want at least one core")
	}
	tw := &Writer{bw: bufio.NewWriterSize(w, 1<<20), stop: make(chan struct{}), done: make(chan struct{})}
	h := header()
	if _, err := tw.bw.Write(h[:]); err != nil {
		return nil, err
	}
	for i := 0; i < cores; i++ {
		tw.rings = append(tw.rings, newRing(i, records))
	}
	return tw, nil
}

// CheckRingRecords checks a ring size: a power of two in
// MinRingRecords..MaxRingRecords.
func CheckRingRecords(n int) error {
	if n < MinRingRecords || n > MaxRingRecords || n&(n-1) != 0 {
		return errors.New("want a power of two in 64..4194304")
	}
	return nil
}

// Ring returns core's ring, the tracer to give its TCP shard.
func (w *Writer) Ring(core int) *Ring { return w.rings[core] }

// Written returns the records written so far.
func (w *Writer) Written() uint64 { return w.written.Load() }

// Dropped returns the records the rings had no room for.
func (w *Writer) Dropped() uint64 {
	var n uint64
	for _, r := range w.rings {
		n += r.Dropped()
	}
	return n
}

// Close writes what the rings hold, flushes and stops the writer. Call
// it once the cores have stopped tracing. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	w.once.Do(func() {
		if !w.started {
			w.drain()
			w.flush()
			return
		}
		close(w.stop)
		<-w.done
	})
	return w.err
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		n := w.drain()
		select {
		case <-w.stop:
			w.drain()
			w.flush()
			return
		default:
		}
		if n == 0 {
			w.flush()
			time.Sleep(idle)
		}
	}
}

func (w *Writer) flush() {
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// drain writes what every ring holds; after a write error it only empties
// the rings, so that the cores do not start dropping.
func (w *Writer) drain() int {
	total := 0
	for _, r := range w.rings {
		var out io.Writer = w.bw
		if w.err != nil {
			out = io.Discard
		}
		n, err := r.drainTo(out)
		if err != nil {
			w.err = err
			r.head.Store(r.tail.Load())
			continue
		}
		if w.err == nil {
			w.written.Add(uint64(n))
		}
		total += n
	}
	return total
}
