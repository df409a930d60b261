package rings

import "fmt"

// Desc names one packet in a Pool: Addr is the offset of its first byte in
// the pool's memory and Len its length in bytes. It has the layout of the
// kernel's struct xdp_desc, so AF_XDP descriptors are Descs.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// Frame sizes and counts.
const (
	// DefaultFrameSize is the size of one UMEM frame in bytes (one
	// Ethernet frame of up to 1514 bytes plus headroom fits).
	DefaultFrameSize = 2048
	// DefaultFrames is the number of frames in a core's pool.
	DefaultFrames = 4096
	// MaxFrames bounds a pool so that an address fits in 32 bits.
	MaxFrames = 1 << 20
)

// Pool is a UMEM: one contiguous memory region cut into equal frames, with a
// free list of frame addresses. It is owned by one core's loop; not safe for
// concurrent use. Get and Put never allocate.
//
// A pool may keep a reserve (SetReserve): frames that Get does not hand
// out and only GetReserved may take. An engine keeps it for what must never
// wait for the frames a flood holds: receive refills and TCP control
// segments. The reserve is a level, not a set of frames: Get refuses once
// no more than the reserve is free.
type Pool struct {
	mem       []byte
	frameSize uint64
	free      []uint64 // stack of free frame addresses
	nframes   int
	reserve   int
	stats     PoolStats
}

// PoolStats counts what a pool's reserve did. Owner only, like the pool.
type PoolStats struct {
	// ReserveUsed counts frames GetReserved took when no more than the
	// reserve was free: frames Get would have refused.
	ReserveUsed uint64
	// ReserveDenied counts Get calls refused while frames were free: only
	// the reserve was left.
	ReserveDenied uint64
	// Empty counts Get and GetReserved calls refused with no frame free.
	Empty uint64
}

// NewPool returns a pool of n frames of frameSize bytes each. frameSize must
// be a power of two between 2048 and 4096 (the AF_XDP aligned-mode limits);
// the memory is page aligned so the kernel can register it as a UMEM.
func NewPool(n, frameSize int) (*Pool, error) {
	if n <= 0 || n > MaxFrames {
		return nil, fmt.Errorf("rings: pool of %d frames: want 1..%d", n, MaxFrames)
	}
	if frameSize != 2048 && frameSize != 4096 {
		return nil, fmt.Errorf("rings: frame size %d: want 2048 or 4096", frameSize)
	}
	mem, err := allocUMEM(n * frameSize)
	if err != nil {
		return nil, fmt.Errorf("rings: allocate %d bytes of UMEM: %w", n*frameSize, err)
	}
	p := &Pool{mem: mem, frameSize: uint64(frameSize), free: make([]uint64, 0, n), nframes: n}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, uint64(i*frameSize))
	}
	return p, nil
}

// Close releases the pool's memory. Nothing may use the pool or a frame of
// it afterwards, and no link may still have it registered: close the links
// first. Close is idempotent.
func (p *Pool) Close() error {
	if p.mem == nil {
		return nil
	}
	mem := p.mem
	p.mem, p.free = nil, nil
	return freeUMEM(mem)
}

// Reset puts every frame back on the free list and zeroes the counters. Only
// for an owner that knows no frame is held anywhere (tests reusing a pool, a
// link torn down).
func (p *Pool) Reset() {
	p.stats = PoolStats{}
	p.free = p.free[:0]
	for i := p.nframes - 1; i >= 0; i-- {
		p.free = append(p.free, uint64(i)*p.frameSize)
	}
}

// Mem returns the whole memory region (for UMEM registration).
func (p *Pool) Mem() []byte { return p.mem }

// FrameSize returns the size of one frame in bytes.
func (p *Pool) FrameSize() int { return int(p.frameSize) }

// Frames returns the number of frames in the pool.
func (p *Pool) Frames() int { return p.nframes }

// Free returns the number of frames on the free list.
func (p *Pool) Free() int { return len(p.free) }

// SetReserve keeps n frames (0..Frames()-1) that only GetReserved may take.
func (p *Pool) SetReserve(n int) {
	p.reserve = max(0, min(n, p.nframes-1))
}

// Reserve returns the number of frames Get leaves to GetReserved.
func (p *Pool) Reserve() int { return p.reserve }

// Stats returns the pool's reserve counters.
func (p *Pool) Stats() PoolStats { return p.stats }

// Get takes a free frame and returns its address; ok is false when no more
// than the reserve is left.
func (p *Pool) Get() (addr uint64, ok bool) {
	n := len(p.free)
	if n <= p.reserve {
		if n == 0 {
			p.stats.Empty++
		} else {
			p.stats.ReserveDenied++
		}
		return 0, false
	}
	addr = p.free[n-1]
	p.free = p.free[:n-1]
	return addr, true
}

// GetReserved is Get for receive refills and control segments: it may take
// the reserve's frames too; ok is false only when the pool is empty.
func (p *Pool) GetReserved() (addr uint64, ok bool) {
	n := len(p.free)
	if n == 0 {
		p.stats.Empty++
		return 0, false
	}
	if n <= p.reserve {
		p.stats.ReserveUsed++
	}
	addr = p.free[n-1]
	p.free = p.free[:n-1]
	return addr, true
}

// Put returns a frame to the free list. addr may point anywhere inside the
// frame (AF_XDP hands back addresses with an offset); it is rounded down.
func (p *Pool) Put(addr uint64) {
	p.free = append(p.free, addr&^(p.frameSize-1))
}

// Frame returns the whole frame that holds addr, from addr to the frame's end.
func (p *Pool) Frame(addr uint64) []byte {
	end := (addr &^ (p.frameSize - 1)) + p.frameSize
	return p.mem[addr:end:end]
}

// Bytes returns the packet d names.
func (p *Pool) Bytes(d Desc) []byte {
	return p.mem[d.Addr : d.Addr+uint64(d.Len) : d.Addr+uint64(d.Len)]
}
