package rings

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Pcap capture defaults.
const (
	// DefaultPcapSlots is the number of frames each captured link buffers
	// for the writer.
	DefaultPcapSlots = 4096
	// DefaultPcapSnapLen is the most bytes of a frame the capture keeps.
	DefaultPcapSnapLen = 2048
	// pcapIdle is how long the writer sleeps when it found nothing.
	pcapIdle = time.Millisecond
)

// PcapConfig shapes a PcapWriter. Zero fields take defaults.
type PcapConfig struct {
	Slots   int // frames buffered per link, a power of two (DefaultPcapSlots)
	SnapLen int // bytes kept of each frame (DefaultPcapSnapLen)
	// Clock returns the capture timestamp; time.Now when nil.
	Clock func() time.Time
}

// PcapWriter writes the frames of one or more PcapLinks into one pcap
// stream (Ethernet link type) from a goroutine of its own. The links hand
// frames over through bounded single-producer rings: a link never blocks,
// and when its ring is full the frame is left out of the capture and
// counted in Dropped.
type PcapWriter struct {
	cfg   PcapConfig
	bw    *bufio.Writer
	rec   [16]byte // a record's header, writer goroutine only
	links []*PcapLink
	mu    sync.Mutex // links, while the writer runs
	stop  chan struct{}
	done  chan struct{}
	err   error
	once  sync.Once

	written atomic.Uint64
	running atomic.Bool
}

// NewPcapWriter writes the pcap file header to w and starts the writer.
func NewPcapWriter(w io.Writer, cfg PcapConfig) (*PcapWriter, error) {
	p, err := newPcapWriter(w, cfg)
	if err != nil {
		return nil, err
	}
	p.running.Store(true)
	go p.run()
	return p, nil
}

// newPcapWriter is NewPcapWriter without the goroutine: a test drains by hand.
func newPcapWriter(w io.Writer, cfg PcapConfig) (*PcapWriter, error) {
	if cfg.Slots == 0 {
		cfg.Slots = DefaultPcapSlots
	}
	if cfg.SnapLen == 0 {
		cfg.SnapLen = DefaultPcapSnapLen
	}
	if cfg.Slots < 2 || cfg.Slots&(cfg.Slots-1) != 0 || cfg.SnapLen < 64 || cfg.SnapLen > 65535 {
		return nil, errors.New("rings: pcap: want slots a power of two ≥ 2 and a snap length of 64..65535")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	p := &PcapWriter{cfg: cfg, bw: bufio.NewWriterSize(w, 1<<20), stop: make(chan struct{}), done: make(chan struct{})}
	if err := p.writeFileHeader(); err != nil {
		return nil, err
	}
	return p, nil
}

// The pcap file format (draft-ietf-opsawg-pcap): a 24-byte file header,
// then per frame a 16-byte record header and the bytes kept. Fields are in
// the writer's byte order, little-endian here; readers tell it by the
// magic number, whose value also says the timestamps' fraction is in
// microseconds.
const (
	pcapMagicMicros = 0xa1b2c3d4
	pcapLinkEther   = 1 // LINKTYPE_ETHERNET
)

// writeFileHeader writes the file header: version 2.4, no time zone
// offset, the snap length and Ethernet link type.
func (p *PcapWriter) writeFileHeader() error {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicMicros)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(p.cfg.SnapLen))
	binary.LittleEndian.PutUint32(h[20:], pcapLinkEther)
	_, err := p.bw.Write(h[:])
	return err
}

// writeRecord writes one frame's record: stamp in Unix nanoseconds, the
// bytes kept and the frame's length on the wire.
func (p *PcapWriter) writeRecord(stamp int64, data []byte, wireLen uint32) error {
	binary.LittleEndian.PutUint32(p.rec[0:], uint32(stamp/1e9))
	binary.LittleEndian.PutUint32(p.rec[4:], uint32(stamp%1e9/1e3))
	binary.LittleEndian.PutUint32(p.rec[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(p.rec[12:], wireLen)
	if _, err := p.bw.Write(p.rec[:]); err != nil {
		return err
	}
	_, err := p.bw.Write(data)
	return err
}

// Wrap returns l with every frame it receives and transmits captured.
func (p *PcapWriter) Wrap(l Link) *PcapLink {
	n := p.cfg.Slots
	pl := &PcapLink{Link: l, pw: p, mask: uint64(n - 1), snap: p.cfg.SnapLen,
		lens: make([]uint32, n), caps: make([]uint32, n), stamps: make([]int64, n), data: make([]byte, n*p.cfg.SnapLen)}
	p.mu.Lock()
	p.links = append(p.links, pl)
	p.mu.Unlock()
	return pl
}

// Dropped returns the frames left out of the capture because a link's
// ring was full.
func (p *PcapWriter) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint64
	for _, l := range p.links {
		n += l.dropped.Load()
	}
	return n
}

// Written returns the frames written so far.
func (p *PcapWriter) Written() uint64 { return p.written.Load() }

// Close stops the writer once it has written what the links handed over,
// and flushes. Call it after the links' owners stopped. It does not close
// the underlying writer.
func (p *PcapWriter) Close() error {
	p.once.Do(func() {
		if !p.running.Load() {
			p.drain()
			if err := p.bw.Flush(); err != nil && p.err == nil {
				p.err = err
			}
			return
		}
		close(p.stop)
		<-p.done
	})
	return p.err
}

func (p *PcapWriter) run() {
	defer close(p.done)
	for {
		n := p.drain()
		select {
		case <-p.stop:
			p.drain()
			if err := p.bw.Flush(); err != nil && p.err == nil {
				p.err = err
			}
			return
		default:
		}
		if n == 0 {
			if err := p.bw.Flush(); err != nil && p.err == nil {
				p.err = err
			}
			time.Sleep(pcapIdle)
		}
	}
}

// drain writes what every link has handed over.
func (p *PcapWriter) drain() int {
	p.mu.Lock()
	links := p.links
	p.mu.Unlock()
	n := 0
	for _, l := range links {
		n += l.drainTo(p)
	}
	return n
}

// PcapLink is a Link whose frames are copied into a PcapWriter's capture.
// Like every Link it is owned by one goroutine.
type PcapLink struct {
	Link
	pw   *PcapWriter
	mask uint64
	snap int

	_    pad
	tail atomic.Uint64 // written by the link's owner
	_    pad
	head atomic.Uint64 // written by the writer
	_    pad
	// owner-local
	cachedHead uint64
	ptail      uint64
	_          pad
	// slots
	lens    []uint32 // original frame lengths
	caps    []uint32 // bytes kept
	stamps  []int64  // unix ns
	data    []byte
	dropped atomic.Uint64
}

// TxOffloads implements TxOffloader: the inner link's room, but no
// checksums completed after the capture, so that it holds the frames as
// they go out.
func (l *PcapLink) TxOffloads() TxOffloads {
	return TxOffloads{Room: TxOffloadsOf(l.Link).Room}
}

// Receive receives from the wrapped link and captures what arrived.
// Wake implements Waker when the inner link does.
func (l *PcapLink) Wake() { WakeLink(l.Link) }

func (l *PcapLink) Receive(descs []Desc) int {
	n := l.Link.Receive(descs)
	if n > 0 {
		l.capture(descs[:n])
	}
	return n
}

// Transmit captures the frames the wrapped link accepts.
func (l *PcapLink) Transmit(descs []Desc) int {
	if len(descs) == 0 {
		return l.Link.Transmit(descs)
	}
	// Copy first: once the inner link has them the frames are its own.
	k := l.stage(descs)
	n := l.Link.Transmit(descs)
	k = min(k, n) // capture only what went out
	l.ptail += uint64(k)
	l.tail.Store(l.ptail)
	if n > k {
		l.dropped.Add(uint64(n - k))
	}
	return n
}

func (l *PcapLink) capture(descs []Desc) {
	k := l.stage(descs)
	if k < len(descs) {
		l.dropped.Add(uint64(len(descs) - k))
	}
	l.ptail += uint64(k)
	l.tail.Store(l.ptail)
}

// stage copies as many of descs as there is room for into the slots after
// ptail, without publishing them, and returns how many.
func (l *PcapLink) stage(descs []Desc) int {
	size := l.mask + 1
	if l.ptail+uint64(len(descs))-l.cachedHead > size {
		l.cachedHead = l.head.Load()
	}
	room := int(size - (l.ptail - l.cachedHead))
	k := min(room, len(descs))
	if k == 0 {
		return 0
	}
	ts := l.pw.cfg.Clock().UnixNano()
	pool := l.Link.Pool()
	for i := 0; i < k; i++ {
		s := (l.ptail + uint64(i)) & l.mask
		b := pool.Bytes(descs[i])
		c := copy(l.data[int(s)*l.snap:int(s+1)*l.snap], b)
		l.lens[s] = uint32(len(b))
		l.caps[s] = uint32(c)
		l.stamps[s] = ts
	}
	return k
}

// drainTo writes the frames handed over to p; writer goroutine only.
func (l *PcapLink) drainTo(p *PcapWriter) int {
	h := l.head.Load()
	t := l.tail.Load()
	for i := h; i < t; i++ {
		s := i & l.mask
		off := int(s) * l.snap
		if err := p.writeRecord(l.stamps[s], l.data[off:off+int(l.caps[s])], l.lens[s]); err != nil && p.err == nil {
			p.err = err
		}
		p.written.Add(1)
	}
	l.head.Store(t)
	return int(t - h)
}

// Dropped returns the frames of this link left out of the capture.
func (l *PcapLink) Dropped() uint64 { return l.dropped.Load() }
