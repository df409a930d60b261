package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// ringModel drives a byteRing and a flat copy of what it should hold side
// by side: offsets count from the ring's head, known marks the bytes
// written (in order or not).
type ringModel struct {
	t     *testing.T
	pool  chunkPool
	r     byteRing
	ref   []byte
	known []bool
}

func newRingModel(t *testing.T, size int) *ringModel {
	m := &ringModel{t: t, ref: make([]byte, size), known: make([]bool, size)}
	m.r.init(&m.pool, size)
	return m
}

func (m *ringModel) drop(k int) {
	m.r.discard(k)
	copy(m.ref, m.ref[k:])
	copy(m.known, m.known[k:])
	for i := len(m.known) - k; i < len(m.known); i++ {
		m.known[i] = false
	}
}

func (m *ringModel) check(what string) {
	m.t.Helper()
	r := &m.r
	got := make([]byte, r.n)
	r.copyOut(0, got)
	if !bytes.Equal(got, m.ref[:r.n]) {
		m.t.Fatalf("%s: in-order bytes differ", what)
	}
	for range 64 { // out-of-order bytes, sampled
		if r.end == r.n {
			break
		}
		if i := r.n + rand.IntN(r.end-r.n); m.known[i] {
			var b [1]byte
			r.copyOut(i, b[:])
			if b[0] != m.ref[i] {
				m.t.Fatalf("%s: out-of-order byte at %d: %d, want %d", what, i, b[0], m.ref[i])
			}
		}
	}
	if k := r.chunks(); k != m.pool.inUse {
		m.t.Fatalf("%s: ring holds %d chunks, pool counts %d in use", what, k, m.pool.inUse)
	}
	// No chunk beyond the ones [0, end) touches.
	if most := (r.head&chunkMask + r.end + chunkMask) >> chunkShift; r.chunks() > most {
		m.t.Fatalf("%s: %d chunks for %d bytes from %d", what, r.chunks(), r.end, r.head&chunkMask)
	}
	if r.end == 0 && (r.chunks() != 0 || r.head != 0 || r.slots != nil) {
		m.t.Fatalf("%s: empty ring holds %d chunks, head %d, slot table %v", what, r.chunks(), r.head, r.slots != nil)
	}
}

// The chunked ring against a flat buffer: writes, out-of-order copies at any
// offset, in-order advances, reads, peeks and consumes across chunk
// boundaries and the ring's wrap.
func TestByteRingChunks(t *testing.T) {
	for _, size := range []int{1024, 5000, 3 * chunkSize, DefaultRecvSpace} {
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		m := newRingModel(t, size)
		r := &m.r
		var next byte
		fill := func(n int) []byte {
			p := make([]byte, n)
			for i := range p {
				p[i] = next
				next++
			}
			return p
		}
		for step := range 5000 {
			switch op := rng.IntN(7); op {
			case 0: // write
				p := fill(rng.IntN(2*chunkSize + 100))
				k := r.write(p)
				if k != min(len(p), size-r.n+k) {
					t.Fatalf("size %d step %d: write %d of %d with %d free", size, step, k, len(p), size-r.n+k)
				}
				copy(m.ref[r.n-k:], p[:k])
				for i := r.n - k; i < r.n; i++ {
					m.known[i] = true
				}
			case 1: // out of order, at any offset past the in-order bytes
				if r.n == size {
					continue
				}
				off := r.n + rng.IntN(size-r.n)
				p := fill(rng.IntN(size-off) + 1)
				r.copyIn(off, p)
				copy(m.ref[off:], p)
				for i := off; i < off+len(p); i++ {
					m.known[i] = true
				}
			case 2: // what waited out of order follows (reassembly's advance)
				for r.n < size && m.known[r.n] {
					r.n++
				}
			case 3: // read
				p := make([]byte, rng.IntN(3*chunkSize))
				want := min(len(p), r.n)
				exp := bytes.Clone(m.ref[:want])
				if k := r.read(p); k != want || !bytes.Equal(p[:k], exp) {
					t.Fatalf("size %d step %d: read %d, want %d", size, step, k, want)
				}
				copy(m.ref, m.ref[want:])
				copy(m.known, m.known[want:])
				for i := size - want; i < size; i++ {
					m.known[i] = false
				}
			case 4: // peek and consume
				a, b := r.peek(0, r.n)
				if r.n > 0 && len(a) == 0 || len(a)+len(b) > r.n || len(b) > 0 && len(a)+len(b) < min(r.n, chunkSize+1) {
					t.Fatalf("size %d step %d: peek %d+%d of %d", size, step, len(a), len(b), r.n)
				}
				if !bytes.Equal(append(bytes.Clone(a), b...), m.ref[:len(a)+len(b)]) {
					t.Fatalf("size %d step %d: peek differs", size, step)
				}
				m.drop(rng.IntN(len(a) + len(b) + 1))
			case 5: // copy out from the middle
				if r.n == 0 {
					continue
				}
				off := rng.IntN(r.n)
				p := make([]byte, rng.IntN(r.n-off)+1)
				r.copyOut(off, p)
				if !bytes.Equal(p, m.ref[off:off+len(p)]) {
					t.Fatalf("size %d step %d: copyOut at %d differs", size, step, off)
				}
			case 6: // drop what lies past some offset (a refused range)
				if rng.IntN(4) == 0 {
					keep := r.n + rng.IntN(size-r.n+1)
					r.trimTo(keep)
					// Bytes in chunks it kept stay; the model forgets all past keep.
					for i := max(keep, r.n); i < size; i++ {
						m.known[i] = false
					}
				}
			}
			m.check("after op")
		}
		// Drain: nothing is held, no chunk either.
		r.trimTo(0)
		m.drop(r.n)
		m.check("drained")
		if m.pool.inUse != 0 || r.end != 0 {
			t.Fatalf("size %d: drained ring holds %d chunks, end %d", size, m.pool.inUse, r.end)
		}
	}
}

// heldMemory is what a connection holds beyond its control block: chunks,
// slot tables and range sets.
func heldMemory(c *Conn) (chunks, tables, rangeSets int) {
	for _, r := range []*byteRing{&c.snd, &c.rcv} {
		chunks += r.chunks()
		if r.slots != nil {
			tables++
		}
	}
	if c.reas.ranges != nil {
		rangeSets++
	}
	if c.sb.ranges != nil {
		rangeSets++
	}
	return
}

// An idle connection holds no chunk: what it received was read, what it
// sent was acknowledged.
func TestIdleConnHoldsNoChunk(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	if c.snd.chunks()+c.rcv.chunks() != 0 || p.s.pool.inUse != 0 {
		t.Fatalf("a new connection holds %d+%d chunks", c.snd.chunks(), c.rcv.chunks())
	}
	msg := bytes.Repeat([]byte("0123456789abcdef"), 600) // 9600 bytes, across chunks
	for i := 0; i < len(msg); i += 1460 {
		p.data(msg[i:min(i+1460, len(msg))])
	}
	if got := p.h.data.Bytes(); !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, want %d", len(got), len(msg))
	}
	if k := c.rcv.chunks(); k != 0 {
		t.Fatalf("everything read, the receive buffer holds %d chunks", k)
	}
	if n, err := c.Write(msg); n != len(msg) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if c.snd.chunks() == 0 {
		t.Fatal("unacknowledged data but no chunk")
	}
	for range 10 {
		p.take()
		p.advance(rtt)
		p.hi = c.sndMax
		p.ack()
	}
	if c.Unsent() != 0 {
		t.Fatalf("%d bytes unacknowledged", c.Unsent())
	}
	if k, tb, rs := heldMemory(c); k+tb+rs != 0 || p.s.pool.inUse != 0 {
		t.Fatalf("idle again, the connection holds %d chunks, %d slot tables, %d range sets (pool: %d in use)", k, tb, rs, p.s.pool.inUse)
	}
}

// Segments that come in any order land where they belong across chunks.
func TestOutOfOrderAcrossChunks(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	var got bytes.Buffer
	var scratch [3000]byte
	rng := rand.New(rand.NewPCG(1, 2))
	p.h.onReadable = func(c *Conn) {
		if rng.IntN(3) == 0 {
			return // leave some unread for a while
		}
		for {
			n := c.Read(scratch[:rng.IntN(len(scratch))+1])
			if n == 0 {
				break
			}
			got.Write(scratch[:n])
		}
	}
	msg := make([]byte, 300_000)
	for i := range msg {
		msg[i] = byte(rng.Uint32())
	}
	start := p.nxt
	for sent := 0; got.Len() < len(msg); sent++ {
		if sent > 10000 {
			t.Fatalf("stuck at %d of %d bytes", got.Len(), len(msg))
		}
		// A window's worth of segments of odd sizes at random places past
		// rcv_nxt, then the one at rcv_nxt now and then.
		base := int(c.rcvNxt.Sub(start))
		room := int(c.rcvWindow())
		if room == 0 || base == len(msg) {
			got.Write(scratch[:c.Read(scratch[:])])
			continue
		}
		off := base
		if rng.IntN(3) > 0 {
			off += rng.IntN(room)
		}
		n := min(rng.IntN(1460)+1, len(msg)-off, base+room-off)
		if n <= 0 {
			continue
		}
		s := p.mk(FlagACK, start.Add(uint32(off)), c.sndNxt, msg[off:off+n])
		p.inject(&s)
		p.take()
		if got.Len() > 0 && !bytes.Equal(got.Bytes(), msg[:got.Len()]) {
			t.Fatalf("the bytes read differ from the ones sent before %d", got.Len())
		}
	}
	if !bytes.Equal(got.Bytes(), msg) {
		t.Fatal("the bytes read differ from the ones sent")
	}
	if st := p.s.Stats(); st[StatRcvOOPack] < 100 {
		t.Fatalf("only %d segments out of order", st[StatRcvOOPack])
	}
	if k, tb, rs := heldMemory(c); k+tb+rs != 0 {
		t.Fatalf("all read, the connection holds %d chunks, %d slot tables, %d range sets", k, tb, rs)
	}
}

// Closing gives every chunk back: an abort with data both ways, and the
// passage to TIME_WAIT.
func TestChunksReturnedOnClose(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.srv.onReadable = func(*Conn) {} // keep what arrives
	c := p.open()
	p.data(make([]byte, 5000))
	if _, err := c.Write(make([]byte, 20000)); err != nil {
		t.Fatal(err)
	}
	if p.s.pool.inUse == 0 {
		t.Fatal("data both ways but no chunk in use")
	}
	c.Abort()
	if p.s.pool.inUse != 0 {
		t.Fatalf("aborted, %d chunks still in use", p.s.pool.inUse)
	}

	p = newPeer(t, DefaultConfig())
	c = p.open()
	if _, err := c.Write(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.take()
	p.fin()
	if p.s.pool.inUse != 0 || c.State() == Established {
		t.Fatalf("in %v with the FIN unacknowledged, %d chunks", c.State(), p.s.pool.inUse)
	}
}

// Free chunks beyond the floor that stay unused for a whole trim interval
// are dropped; the ones taken meanwhile are not.
func TestChunkPoolTrim(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	pool := &p.s.pool
	var held []*chunk
	for range 1000 {
		held = append(held, pool.get())
	}
	for _, c := range held {
		pool.put(c)
	}
	if len(pool.free) != 1000 {
		t.Fatalf("%d free", len(pool.free))
	}
	p.advance(chunkTrimInterval / 2)
	// Half of them used during the interval.
	for range 500 {
		held[0] = pool.get()
		pool.put(held[0])
	}
	held = held[:0]
	for range 500 {
		held = append(held, pool.get())
	}
	for _, c := range held {
		pool.put(c)
	}
	p.advance(chunkTrimInterval)
	if len(pool.free) != 500 {
		t.Fatalf("after an interval with 500 taken, %d free (want 500)", len(pool.free))
	}
	p.advance(2 * chunkTrimInterval)
	if len(pool.free) != chunkFloor {
		t.Fatalf("after idle intervals, %d free (want the floor %d)", len(pool.free), chunkFloor)
	}
	held = held[:0]
	for range 2 * maxFreeChunks {
		held = append(held, pool.get())
	}
	for _, c := range held {
		pool.put(c)
	}
	if len(pool.free) != maxFreeChunks || pool.inUse != 0 {
		t.Fatalf("free list %d (bound %d), %d in use", len(pool.free), maxFreeChunks, pool.inUse)
	}
}

// Under memory pressure a receive window opens no further than advertised,
// or than two segments for a connection holding less; once the memory is
// read, the windows open again.
func TestBufferMemoryPressure(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BufferMemory = 8 * chunkSize
	p := newPeer(t, cfg)
	p.srv.onReadable = func(*Conn) {} // keep what arrives
	c := p.open()
	full := uint32(cfg.RecvSpace)
	if w := c.rcvWindow(); w != full {
		t.Fatalf("window %d, want %d", w, full)
	}
	for range 40 {
		p.data(make([]byte, 1460))
	}
	if !p.s.pool.pressure() {
		t.Fatalf("%d chunks in use, no pressure", p.s.pool.inUse)
	}
	// A second connection, holding nothing, offers two segments.
	p2 := newPeer(t, cfg)
	p2.s, p2.srv, p2.now = p.s, p.srv, p.now
	p2.tuple.RemotePort++
	setSender(p.s, p2.out)
	c2 := p2.open()
	setSender(p.s, p.out)
	if w := c2.rcvWindow(); w != uint32(2*c2.ourMSS) {
		t.Fatalf("a new connection under pressure offers %d, want %d", w, 2*c2.ourMSS)
	}
	// Reading part of it frees room, but the window stays at what was
	// advertised while the pressure lasts.
	var scratch [20000]byte
	c.Read(scratch[:])
	promised := c.rcvAdv.Sub(c.rcvNxt)
	if !p.s.pool.pressure() || c.rcvWindow() != promised || promised >= full-uint32(c.rcv.n) {
		t.Fatalf("pressure %v: window %d, promised %d, free %d", p.s.pool.pressure(), c.rcvWindow(), promised, full-uint32(c.rcv.n))
	}
	// Data within the promise is taken.
	before := c.rcv.n
	p.data(make([]byte, 1460))
	if c.rcv.n != before+1460 || c.rcvAdv.LT(c.rcvNxt) {
		t.Fatalf("data within the advertised window: %d unread (was %d)", c.rcv.n, before)
	}
	c.Consume(c.Readable())
	if p.s.pool.pressure() || c.rcvWindow() != full || c2.rcvWindow() != full {
		t.Fatalf("read: pressure %v, windows %d and %d", p.s.pool.pressure(), c.rcvWindow(), c2.rcvWindow())
	}
}

// The SACK scoreboard holds its storage while it holds a range and gives
// it back once everything is acknowledged.
func TestScoreboardStorageReturned(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	if _, err := c.Write(make([]byte, 4*1460)); err != nil {
		t.Fatal(err)
	}
	p.take()
	una := c.sndUna
	s := p.mk(FlagACK, p.nxt, una, nil)
	s.Opts.NumSACK = 1
	s.Opts.SACK[0] = SACKBlock{Left: una.Add(1460), Right: una.Add(2 * 1460)}
	p.inject(&s)
	if c.sb.n != 1 || c.sb.ranges == nil {
		t.Fatalf("scoreboard: %d ranges", c.sb.n)
	}
	for range 3 { // the last partial segment follows the first ACK (Nagle)
		p.hi = c.sndMax
		p.ack()
	}
	if c.Unsent() != 0 {
		t.Fatalf("%d unacknowledged: una %d max %d", c.Unsent(), c.sndUna, c.sndMax)
	}
	if k, tb, rs := heldMemory(c); k+tb+rs != 0 || len(p.s.pool.rangeSets.items) != 1 {
		t.Fatalf("all acknowledged: %d chunks, %d slot tables, %d range sets held; %d range sets free", k, tb, rs, len(p.s.pool.rangeSets.items))
	}
}

// Out-of-order data and the hole that fills it take chunks, a slot table
// and a range set from the pool and give them back: nothing allocates once
// the pool is warm.
func TestOutOfOrderAllocatesNothing(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	var scratch [4096]byte
	p.h.onReadable = func(c *Conn) {
		for c.Read(scratch[:]) > 0 {
		}
	}
	setSender(p.s, &discardSender{})
	data := make([]byte, 3000)
	round := func() {
		p.now += 1e6
		s := p.mk(FlagACK, p.nxt.Add(1000), c.sndNxt, data[1000:])
		p.inject(&s)
		s = p.mk(FlagACK, p.nxt, c.sndNxt, data[:1000])
		p.inject(&s)
		p.nxt = p.nxt.Add(uint32(len(data)))
		p.s.Tick(p.now)
	}
	round()
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Errorf("%.1f allocations per out-of-order segment and its hole", allocs)
	}
	if c.rcvNxt != p.nxt || p.s.Stats()[StatRcvOOPack] < 1000 {
		t.Fatalf("rcv_nxt %d, want %d", c.rcvNxt, p.nxt)
	}
	if k, tb, rs := heldMemory(c); k+tb+rs != 0 {
		t.Fatalf("all read, the connection holds %d chunks, %d slot tables, %d range sets", k, tb, rs)
	}
}

// Under memory pressure a connection queues at most pressureSndQueue bytes
// to send; each ACK of them lets its writer write again, and once the
// pressure ends the whole send buffer is its again.
func TestBufferMemoryPressureBoundsWrites(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BufferMemory = 8 * chunkSize
	p := newPeer(t, cfg)
	p.srv.onReadable = func(*Conn) {} // keep what arrives: it makes the pressure
	c := p.open()
	for range 40 {
		p.data(make([]byte, 1460))
	}
	if !p.s.pool.pressure() {
		t.Fatalf("%d chunks in use, no pressure", p.s.pool.inUse)
	}
	if w := c.Writable(); w != pressureSndQueue {
		t.Fatalf("Writable %d under pressure with nothing queued, want %d", w, pressureSndQueue)
	}
	n, err := c.Write(make([]byte, 64<<10))
	if err != nil || n != pressureSndQueue {
		t.Fatalf("Write under pressure took %d (%v), want %d", n, err, pressureSndQueue)
	}
	if w := c.Writable(); w != 0 {
		t.Fatalf("Writable %d with the pressure's queue full", w)
	}
	if n, _ := c.Write(make([]byte, 100)); n != 0 {
		t.Fatalf("Write took %d more with the pressure's queue full", n)
	}
	// The peer acknowledges what went: the writer hears Writable and may
	// queue again.
	writable := 0
	p.h.onWritable = func(*Conn) { writable++ }
	p.take()
	p.hi = c.sndMax
	p.ack()
	if writable == 0 || c.Writable() == 0 {
		t.Fatalf("after an ACK under pressure: %d Writable calls, room %d", writable, c.Writable())
	}
	// The application reads what it kept: the pressure ends, the room is
	// the whole send buffer's.
	c.Consume(c.Readable())
	if p.s.pool.pressure() {
		t.Fatalf("%d chunks still in use", p.s.pool.inUse)
	}
	if w, full := c.Writable(), c.snd.cap()-c.snd.n; w != full {
		t.Fatalf("Writable %d after the pressure, want %d", w, full)
	}
}

// While the link drops received frames, the receive windows of a shard's
// connections promise at most rxdrop_window in all, shared among them (two
// segments at least): what was advertised stays, and room opens again only
// up to the share. RxDropHold after the last drop they open in full again;
// a lone connection keeps the whole budget.
func TestRxDropWindowSharesTheBudget(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RxDropWindow = 64 * 1024
	p := newPeer(t, cfg)
	p.srv.onReadable = func(*Conn) {} // keep what arrives
	c := p.open()
	full := uint32(cfg.RecvSpace)
	p.s.RxDropped(p.now)
	if w := c.rcvWindow(); w != full || p.s.Stats()[StatRxDropWindow] != 1 {
		t.Fatalf("a lone connection under drops: window %d, want %d (the whole budget); episodes %d", w, full, p.s.Stats()[StatRxDropWindow])
	}
	// Fifteen more: the share is 64 KiB / 16 = 4096 bytes.
	peers := []*peer{p}
	for i := range 15 {
		q := newPeer(t, cfg)
		q.s, q.srv, q.now = p.s, p.srv, p.now
		q.tuple.RemotePort += uint16(1 + i)
		setSender(p.s, q.out)
		q.open()
		peers = append(peers, q)
	}
	share := cfg.RxDropWindow / 16
	for i, q := range peers {
		setSender(p.s, q.out)
		k := q.c
		// What was advertised stays promised, and data within it is taken.
		promised := k.rcvAdv.Sub(k.rcvNxt)
		if w := k.rcvWindow(); w != promised || promised < uint32(share) {
			t.Fatalf("connection %d: window %d, promised %d", i, w, promised)
		}
		for left := int(promised); left > 0; left -= 1460 {
			q.data(make([]byte, min(left, 1460)))
		}
		if k.rcv.n != int(promised) {
			t.Fatalf("connection %d: %d unread of the %d promised", i, k.rcv.n, promised)
		}
		// Read, the window opens to the share only.
		k.Consume(k.Readable())
		if w := k.rcvWindow(); w != uint32(max(share, 2*k.ourMSS)) {
			t.Fatalf("connection %d, read under drops: window %d, want %d", i, w, max(share, 2*k.ourMSS))
		}
	}
	setSender(p.s, p.out)
	// Drops again within the hold: no new episode. Past the hold, full
	// windows.
	p.now = p.now.Add(RxDropHold / 2)
	p.s.Tick(p.now)
	p.s.RxDropped(p.now)
	if n := p.s.Stats()[StatRxDropWindow]; n != 1 {
		t.Fatalf("%d episodes, want 1", n)
	}
	p.now = p.now.Add(RxDropHold)
	p.s.Tick(p.now)
	if w := c.rcvWindow(); w != full || peers[9].c.rcvWindow() != full {
		t.Fatalf("after the hold: windows %d and %d, want %d", w, peers[9].c.rcvWindow(), full)
	}
	// Off: no limit under drops.
	cfg.RxDropWindow = 0
	q := newPeer(t, cfg)
	k := q.open()
	q.s.RxDropped(q.now)
	if w := k.rcvWindow(); w != full || q.s.Stats()[StatRxDropWindow] != 0 {
		t.Fatalf("rxdrop_window 0: window %d, episodes %d", w, q.s.Stats()[StatRxDropWindow])
	}
}
