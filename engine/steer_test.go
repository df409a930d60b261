package engine

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// splitLink is the peer's end of a two-queue link: it receives what either
// queue's wire carries and transmits each frame on the queue route names,
// so a test decides which of the engine's cores a frame reaches.
type splitLink struct {
	q     [2]*rings.MemLink
	route func(f []byte) int
	tmp   [rings.IdealBatch]rings.Desc
	one   [1]rings.Desc
}

func (l *splitLink) Pool() *rings.Pool { return l.q[0].Pool() }

func (l *splitLink) Receive(descs []rings.Desc) int {
	n := l.q[0].Receive(descs)
	if n == len(descs) {
		return n
	}
	m := l.q[1].Receive(l.tmp[:len(descs)-n])
	p0, p1 := l.q[0].Pool(), l.q[1].Pool()
	for i := 0; i < m; i++ {
		addr, ok := p0.Get()
		if !ok {
			panic("splitLink: pool empty")
		}
		copy(p0.Frame(addr), p1.Bytes(l.tmp[i]))
		descs[n] = rings.Desc{Addr: addr, Len: l.tmp[i].Len}
		p1.Put(l.tmp[i].Addr)
		n++
	}
	return n
}

func (l *splitLink) Transmit(descs []rings.Desc) int {
	p0, p1 := l.q[0].Pool(), l.q[1].Pool()
	for i, d := range descs {
		if l.route(p0.Bytes(d)) == 0 {
			l.one[0] = d
			if l.q[0].Transmit(l.one[:]) == 0 {
				return i
			}
			continue
		}
		addr, ok := p1.Get()
		if !ok {
			return i
		}
		copy(p1.Frame(addr), p0.Bytes(d))
		l.one[0] = rings.Desc{Addr: addr, Len: d.Len}
		if l.q[1].Transmit(l.one[:]) == 0 {
			p1.Put(addr)
			return i
		}
		p0.Put(d.Addr)
	}
	return len(descs)
}

func (l *splitLink) Wait(time.Duration)     {}
func (l *splitLink) Stats() rings.LinkStats { return rings.LinkStats{} }
func (l *splitLink) Close() error           { return l.q[0].Close() }

// steerBed is a two-core engine and a one-core peer joined by a splitLink.
type steerBed struct {
	e     *Engine
	peer  *Core
	split *splitLink
	eng   [2]*rings.MemLink // the engine's ends
	srv   [2]*sinkHandler   // each core's listener handler (port 80)
	wrong bool              // route TCP to the core that does not own it
}

func newSteerBed(t testing.TB, handoffBytes int, key []byte) *steerBed {
	t.Helper()
	b := &steerBed{wrong: true}
	for i := range 2 {
		a, p, err := rings.NewMemPair(rings.MemConfig{Frames: 1024})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		b.eng[i] = a
		if i == 0 {
			b.split = &splitLink{}
		}
		b.split.q[i] = p
	}
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{1}
	addrs := []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")}
	var err error
	b.e, err = New(Config{MAC: ourMAC, Addrs: addrs, CPUs: []int{0, 0}, TCP: &cfg, RSSKey: key, HandoffBytes: handoffBytes,
		Listen: []ListenSpec{{Port: 80, Handler: func(core int) tcp.Handler { b.srv[core] = &sinkHandler{}; return b.srv[core] }}}},
		[]rings.Link{b.eng[0], b.eng[1]})
	if err != nil {
		t.Fatal(err)
	}
	b.split.route = b.route
	if b.peer, err = NewCore(CoreConfig{MAC: peerMAC, Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("2001:2::2/64")}, TCP: &cfg}, b.split); err != nil {
		t.Fatal(err)
	}
	return b
}

// flowOf returns the engine's view of the TCP flow f (a frame from the peer
// carries), and whether f is TCP.
func flowOf(f []byte) (t flow.Tuple, ok bool) {
	switch be16(f[12:]) {
	case etherTypeIPv4:
		p := f[ethHeaderLen:]
		if p[9] != protoTCP {
			return t, false
		}
		seg := p[int(p[0]&0xf)*4:]
		t.RemoteAddr, t.LocalAddr = v4Mapped([4]byte(p[12:16])), v4Mapped([4]byte(p[16:20]))
		t.RemotePort, t.LocalPort = be16(seg[0:]), be16(seg[2:])
		return t, true
	case etherTypeIPv6:
		p := f[ethHeaderLen:]
		if p[6] != protoTCP {
			return t, false
		}
		t.RemoteAddr, t.LocalAddr = [16]byte(p[8:24]), [16]byte(p[24:40])
		t.RemotePort, t.LocalPort = be16(p[40:]), be16(p[42:])
		return t, true
	}
	return t, false
}

// route sends TCP to the core that does not own the flow (or to the one
// that does), everything else to core 0.
func (b *steerBed) route(f []byte) int {
	t, ok := flowOf(f)
	if !ok {
		return 0
	}
	o := b.e.steer.owner(&t)
	if b.wrong {
		return 1 - o
	}
	return o
}

func (b *steerBed) pump(now mono.Time, rounds int) {
	for range rounds {
		b.peer.Poll(now)
		b.e.cores[0].Poll(now)
		b.e.cores[1].Poll(now)
	}
}

// inject puts a frame on queue q's wire towards the engine.
func (b *steerBed) inject(t testing.TB, q int, f []byte) {
	t.Helper()
	p := b.split.q[q]
	addr, ok := p.Pool().Get()
	if !ok {
		t.Fatal("pool empty")
	}
	copy(p.Pool().Frame(addr), f)
	if p.Transmit([]rings.Desc{{Addr: addr, Len: uint32(len(f))}}) != 1 {
		t.Fatal("wire full")
	}
}

// taken returns what the engine's core q sent, taken off its wire.
func (b *steerBed) taken(q int) [][]byte {
	p := b.split.q[q]
	var out [][]byte
	var d [1]rings.Desc
	for p.Receive(d[:]) == 1 {
		out = append(out, append([]byte(nil), p.Pool().Bytes(d[0])...))
		p.Pool().Put(d[0].Addr)
	}
	return out
}

// resolve teaches core 0 the peer (and the peer the engine) through an ARP
// request and an NS that arrive on queue 0 only.
func (b *steerBed) resolve(t testing.TB, now mono.Time) {
	b.inject(t, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	b.inject(t, 0, nsFrame(t, peerIP6, ourIP6))
	b.pump(now, 3)
}

func family(v6 bool) (local, remote netip.Addr) {
	if v6 {
		return ourIP6, peerIP6
	}
	return ourIP4, peerIP4
}

// A connection whose segments all arrive on the core that does not own it
// completes, carries data and is served by its owner alone; the steered
// counters account for every segment.
func TestSteeringServesFlowsOnTheOwner(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		b := newSteerBed(t, 0, nil)
		now := mono.Time(1e9)
		b.peer.now = now
		ours, peer := family(v6)
		var clients []*sinkHandler
		var want [2]int
		for i := range 16 {
			tu := flow.Tuple{LocalAddr: peer.As16(), RemoteAddr: ours.As16(), LocalPort: uint16(40000 + i), RemotePort: 80}
			h := &sinkHandler{}
			if _, err := b.peer.TCP().Dial(tu, h, now); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, h)
			want[b.e.steer.owner(&flow.Tuple{LocalAddr: tu.RemoteAddr, RemoteAddr: tu.LocalAddr, LocalPort: 80, RemotePort: tu.LocalPort})]++
		}
		b.peer.Flush()
		b.pump(now, 20)
		if want[0] == 0 || want[1] == 0 {
			t.Fatalf("v6=%v: the 16 flows all hash to one core (%v): pick other ports", v6, want)
		}
		for i, c := range b.e.cores {
			est := c.TCP().StateCounts()[tcp.Established]
			if est != want[i] || c.TCP().Conns() != want[i] {
				t.Fatalf("v6=%v: core %d has %d established (%d conns), owns %d", v6, i, est, c.TCP().Conns(), want[i])
			}
		}
		for _, h := range clients {
			if h.conn == nil {
				t.Fatalf("v6=%v: a client did not connect", v6)
			}
			h.conn.Write(make([]byte, 3000))
		}
		b.pump(now, 20)
		for i := range 2 {
			if got := b.srv[i].got; got != 3000*want[i] {
				// sinkHandler keeps only its last conn, but counts every byte.
				t.Fatalf("v6=%v: core %d's server read %d bytes, want %d", v6, i, got, 3000*want[i])
			}
		}
		c0, c1 := &b.e.cores[0].stats, &b.e.cores[1].stats
		if c0[SteeredOut] == 0 || c1[SteeredOut] == 0 || c0[SteeredOut] != c1[SteeredIn] || c1[SteeredOut] != c0[SteeredIn] {
			t.Fatalf("v6=%v: steered out %d/%d, in %d/%d", v6, c0[SteeredOut], c1[SteeredOut], c0[SteeredIn], c1[SteeredIn])
		}
		// Every segment arrived on the wrong core, so each core's shard got
		// exactly what it was handed.
		if c0[TCPSegmentsIn] != c0[SteeredIn] || c1[TCPSegmentsIn] != c1[SteeredIn] {
			t.Fatalf("v6=%v: segments in %d/%d, steered in %d/%d", v6, c0[TCPSegmentsIn], c1[TCPSegmentsIn], c0[SteeredIn], c1[SteeredIn])
		}
		if c0[HandoffFull]+c1[HandoffFull] != 0 {
			t.Fatalf("v6=%v: hand-off rings overflowed", v6)
		}
	}
}

// Segments for the owner beyond the hand-off ring's room are dropped and
// counted; what fit is processed by the owner.
func TestSteeringRingFullDropsAndCounts(t *testing.T) {
	b := newSteerBed(t, cores.MinHandoffBytes, nil)
	now := mono.Time(1e9)
	b.peer.now = now
	b.resolve(t, now)
	const n = 100
	sent := 0
	for port := uint16(30000); sent < n; port++ {
		tu := flow.Tuple{LocalAddr: peerIP4.As16(), RemoteAddr: ourIP4.As16(), LocalPort: port, RemotePort: 80}
		if b.e.steer.owner(&flow.Tuple{LocalAddr: tu.RemoteAddr, RemoteAddr: tu.LocalAddr, LocalPort: 80, RemotePort: port}) != 1 {
			continue
		}
		if _, err := b.peer.TCP().Dial(tu, &sinkHandler{}, now); err != nil {
			t.Fatal(err)
		}
		b.peer.Flush()
		sent++
	}
	// Only core 0, where the SYNs arrive, runs.
	for range 4 {
		b.e.cores[0].Poll(now)
	}
	s0 := &b.e.cores[0].stats
	if s0[HandoffFull] == 0 || s0[SteeredOut] == 0 || s0[SteeredOut]+s0[HandoffFull] != n {
		t.Fatalf("steered %d, ring full %d, of %d SYNs", s0[SteeredOut], s0[HandoffFull], n)
	}
	if max := uint64(cores.MinHandoffBytes / cores.RecordBytes(steerHdr+tcp.HeaderLen)); s0[SteeredOut] > max {
		t.Fatalf("steered %d SYNs into a ring that holds at most %d", s0[SteeredOut], max)
	}
	b.e.cores[1].Poll(now)
	s1 := &b.e.cores[1].stats
	if s1[SteeredIn] != s0[SteeredOut] || b.e.cores[1].TCP().StateCounts()[tcp.SynReceived] != int(s0[SteeredOut]) {
		t.Fatalf("core 1 took %d, has %d in SYN_RECEIVED; %d were steered", s1[SteeredIn],
			b.e.cores[1].TCP().StateCounts()[tcp.SynReceived], s0[SteeredOut])
	}
	if b.e.cores[0].TCP().Conns() != 0 {
		t.Fatal("core 0 made connections it does not own")
	}
}

// Dial with a zero local port picks a port whose replies hash to the
// dialling core (an RSS computed here, independently of the engine's
// table), for both families, both cores and two keys; an explicit port
// owned elsewhere is dialled on its owner.
func TestDialPicksPortsOwnedByTheCore(t *testing.T) {
	for _, key := range [][]byte{nil, cores.MicrosoftRSSKey[:]} {
		b := newSteerBed(t, 0, key)
		k := key
		if k == nil {
			k = cores.SymmetricRSSKey[:]
		}
		rss, err := cores.NewRSS(k)
		if err != nil {
			t.Fatal(err)
		}
		expect := func(c flow.Tuple) int { // reply: remote -> local
			var h uint32
			if c.IsIPv4() {
				h = rss.HashTCP4([4]byte(c.RemoteAddr[12:]), [4]byte(c.LocalAddr[12:]), c.RemotePort, c.LocalPort)
			} else {
				h = rss.HashTCP6(c.RemoteAddr, c.LocalAddr, c.RemotePort, c.LocalPort)
			}
			return int(h%DefaultRSSTableSize) % 2
		}
		for _, v6 := range []bool{false, true} {
			ours, peer := family(v6)
			ports := map[uint16]bool{}
			for i := range 600 {
				core := i % 2
				c, tu, err := b.e.dialTarget(core, netip.AddrPortFrom(ours, 0), netip.AddrPortFrom(peer, uint16(1000+i%7)))
				if err != nil || c != core {
					t.Fatalf("dialTarget(%d) = %d, %v", core, c, err)
				}
				conn, err := b.e.cores[c].dial(tu, &sinkHandler{}, 1e9)
				if err != nil {
					t.Fatal(err)
				}
				got := conn.Tuple()
				if o := expect(got); o != core {
					t.Fatalf("key %x v6=%v: core %d dialled from port %d, whose replies hash to core %d", k[:2], v6, core, got.LocalPort, o)
				}
				ports[got.LocalPort] = true
			}
			if len(ports) < 600/7 {
				t.Fatalf("only %d distinct ports", len(ports))
			}
			moved := 0
			for p := uint16(50000); p < 50064; p++ {
				remote := netip.AddrPortFrom(peer, 443)
				c, tu, err := b.e.dialTarget(0, netip.AddrPortFrom(ours, p), remote)
				if err != nil {
					t.Fatal(err)
				}
				if want := expect(tu); c != want {
					t.Fatalf("explicit port %d: dialled on core %d, owner %d", p, c, want)
				}
				if c != 0 {
					moved++
				}
			}
			if moved == 0 || moved == 64 {
				t.Fatalf("%d of 64 explicit ports moved to core 1", moved)
			}
		}
	}
}

// A neighbour core 0 learnt is usable on core 1 at once: core 1's SYN
// leaves without an ARP request or NS of its own.
func TestNeighbourSharedAcrossCores(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		b := newSteerBed(t, 0, nil)
		now := mono.Time(1e9)
		if v6 {
			b.inject(t, 0, nsFrame(t, peerIP6, ourIP6))
		} else {
			b.inject(t, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
		}
		b.e.cores[0].Poll(now)
		b.e.cores[1].Poll(now) // takes core 0's update
		ours, peer := family(v6)
		_, tu, _ := b.e.dialTarget(1, netip.AddrPortFrom(ours, 0), netip.AddrPortFrom(peer, 80))
		if _, err := b.e.cores[1].dial(tu, &sinkHandler{}, now); err != nil {
			t.Fatal(err)
		}
		out := b.taken(1)
		s1 := &b.e.cores[1].stats
		if len(out) != 1 || s1[ARPRequestsOut]+s1[NDSolicitsOut] != 0 {
			t.Fatalf("v6=%v: core 1 sent %d frames, %d solicitations", v6, len(out), s1[ARPRequestsOut]+s1[NDSolicitsOut])
		}
		p := decode(t, out[0])
		tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !tl.SYN {
			t.Fatalf("v6=%v: core 1 sent %v, want its SYN", v6, p)
		}
		if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); e.DstMAC.String() != peerMAC.String() {
			t.Fatalf("v6=%v: SYN to %v", v6, e.DstMAC)
		}
	}
}

// A core that solicits a neighbour gets the answer even when the reply
// arrives on another core's queue; its waiting SYN then leaves.
func TestNeighbourReplyOnAnotherCoreResolves(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		b := newSteerBed(t, 0, nil)
		now := mono.Time(1e9)
		ours, peer := family(v6)
		_, tu, _ := b.e.dialTarget(1, netip.AddrPortFrom(ours, 0), netip.AddrPortFrom(peer, 80))
		if _, err := b.e.cores[1].dial(tu, &sinkHandler{}, now); err != nil {
			t.Fatal(err)
		}
		s1 := &b.e.cores[1].stats
		if out := b.taken(1); len(out) != 1 || s1[ARPRequestsOut]+s1[NDSolicitsOut] != 1 {
			t.Fatalf("v6=%v: core 1 sent %d frames, %d solicitations", v6, len(out), s1[ARPRequestsOut]+s1[NDSolicitsOut])
		}
		var reply []byte
		if v6 {
			reply = icmp6Frame(t, ourMAC, peerIP6, ourIP6, 255,
				&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
				&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: peerIP6.AsSlice(),
					Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: peerMAC}}})
		} else {
			reply = arpFrame(t, layers.ARPReply, peerMAC, peerIP4, ourIP4)
			copy(reply[0:6], ourMAC)
		}
		b.inject(t, 0, reply)
		b.e.cores[0].Poll(now)
		b.e.cores[1].Poll(now)
		out := b.taken(1)
		if len(out) != 1 {
			t.Fatalf("v6=%v: core 1 sent %d frames after core 0 got the reply", v6, len(out))
		}
		if tl, ok := decode(t, out[0]).Layer(layers.LayerTypeTCP).(*layers.TCP); !ok || !tl.SYN {
			t.Fatalf("v6=%v: core 1's waiting SYN did not leave", v6)
		}
		// An ARP reply for our address makes an entry (RFC 826); an
		// unsolicited NA does not (RFC 4861 7.2.5), so core 0 keeps none
		// while core 1, which asked, keeps its answer.
		if want0 := map[bool]int{false: 1, true: 0}[v6]; b.e.cores[0].neigh.n != want0 || b.e.cores[1].neigh.n != 1 {
			t.Fatalf("v6=%v: neighbour entries: core 0 %d (want %d), core 1 %d", v6, b.e.cores[0].neigh.n, want0, b.e.cores[1].neigh.n)
		}
	}
}

// closeRecorder notes how a connection ended.
type closeRecorder struct {
	sinkHandler
	err    error
	closed bool
}

func (h *closeRecorder) Closed(_ *tcp.Conn, err error) { h.closed, h.err = true, err }

// An ICMP port unreachable about core 1's SYN that arrives on core 0 is
// handed to core 1, where it refuses the connect.
func TestUnreachableSteeredToTheOwner(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	now := mono.Time(1e9)
	b.resolve(t, now)
	b.taken(0)
	b.taken(1)
	_, tu, _ := b.e.dialTarget(1, netip.AddrPortFrom(ourIP4, 0), netip.AddrPortFrom(peerIP4, 9))
	h := &closeRecorder{}
	if _, err := b.e.cores[1].dial(tu, h, now); err != nil {
		t.Fatal(err)
	}
	out := b.taken(1)
	if len(out) != 1 {
		t.Fatalf("core 1 sent %d frames, want its SYN", len(out))
	}
	quoted := out[0][ethHeaderLen : ethHeaderLen+ipv4MinHeader+8]
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: peerIP4.AsSlice(), DstIP: ourIP4.AsSlice()}
	b.inject(t, 0, serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(quoted)))
	b.e.cores[0].Poll(now)
	b.e.cores[1].Poll(now)
	if !h.closed || !errors.Is(h.err, syscall.ECONNREFUSED) {
		t.Fatalf("after the unreachable: closed %v, err %v", h.closed, h.err)
	}
	s0, s1 := &b.e.cores[0].stats, &b.e.cores[1].stats
	if s0[SteeredOut] != 1 || s1[SteeredIn] != 1 || s1[ICMPUnreachIn] != 1 || s0[ICMPUnreachIn] != 0 {
		t.Fatalf("steered out %d, in %d, unreach in %d/%d", s0[SteeredOut], s1[SteeredIn], s0[ICMPUnreachIn], s1[ICMPUnreachIn])
	}
}

// Steady-state data over a connection whose segments arrive on the wrong
// core — copied into the hand-off ring and processed by the owner —
// allocates nothing.
func TestSteeredDataPathAllocatesNothing(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	now := mono.Time(1e9)
	b.peer.now = now
	cli := &sinkHandler{}
	tu := flow.Tuple{LocalAddr: peerIP4.As16(), RemoteAddr: ourIP4.As16(), LocalPort: 40000, RemotePort: 80}
	if _, err := b.peer.TCP().Dial(tu, cli, now); err != nil {
		t.Fatal(err)
	}
	b.peer.Flush()
	b.pump(now, 10)
	if cli.conn == nil {
		t.Fatal("no connection")
	}
	o := b.e.steer.owner(&flow.Tuple{LocalAddr: tu.RemoteAddr, RemoteAddr: tu.LocalAddr, LocalPort: 80, RemotePort: 40000})
	payload := make([]byte, 1400)
	round := func() {
		now += 1e5
		b.peer.now = now
		cli.conn.Write(payload)
		b.pump(now, 3)
	}
	for range 100 {
		round()
	}
	before, steered := b.srv[o].got, b.e.cores[1-o].stats[SteeredOut]
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%v allocations per steered data segment and its ACK", allocs)
	}
	if got := b.srv[o].got - before; got < 1001*len(payload) {
		t.Fatalf("owner got %d bytes, want %d", got, 1001*len(payload))
	}
	if n := b.e.cores[1-o].stats[SteeredOut] - steered; n < 1001 {
		t.Fatalf("%d segments steered during the run, want every one", n)
	}
}

// The cost of a data segment that arrives on the wrong core, against one
// that arrives on its owner (BenchmarkTCPDataSegment's path over this bed).
func BenchmarkSteeredDataSegment(bm *testing.B) {
	for _, wrong := range []bool{false, true} {
		name := "owner"
		if wrong {
			name = "steered"
		}
		bm.Run(name, func(bm *testing.B) {
			b := newSteerBed(bm, 0, nil)
			b.wrong = wrong
			now := mono.Time(1e9)
			b.peer.now = now
			cli := &sinkHandler{}
			tu := flow.Tuple{LocalAddr: peerIP4.As16(), RemoteAddr: ourIP4.As16(), LocalPort: 40000, RemotePort: 80}
			b.peer.TCP().Dial(tu, cli, now)
			b.peer.Flush()
			b.pump(now, 10)
			payload := make([]byte, 1448)
			bm.ReportAllocs()
			bm.SetBytes(int64(len(payload)))
			bm.ResetTimer()
			for range bm.N {
				now += 1e4
				b.peer.now = now
				cli.conn.Write(payload)
				b.pump(now, 2)
			}
		})
	}
}

// A segment handed to an owner that sleeps in its idle policy wakes it:
// with the loops asleep for an hour when idle, connections whose segments
// all arrive on the wrong core still complete at once.
func TestSteeredSegmentWakesASleepingOwner(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	now := mono.Time(1e9)
	b.peer.now = now
	b.resolve(t, now)
	for i, c := range b.e.cores {
		b.e.loops[i] = cores.NewLoop(0, false, c, cores.IdlePolicy{SleepAfter: 1, SleepFor: time.Hour})
	}
	for _, c := range b.e.cores {
		c.steer.peers = b.e.loops
	}
	if err := b.e.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.e.Stop()
	// Only flows core 1 owns: they all arrive on core 0, so nothing but the
	// hand-off can wake core 1.
	var clients []*sinkHandler
	for p := uint16(41000); len(clients) < 8; p++ {
		tu := flow.Tuple{LocalAddr: v4Mapped(peerIP4.As4()), RemoteAddr: v4Mapped(ourIP4.As4()), LocalPort: p, RemotePort: 80}
		if b.e.steer.owner(&flow.Tuple{LocalAddr: tu.RemoteAddr, RemoteAddr: tu.LocalAddr, LocalPort: 80, RemotePort: p}) != 1 {
			continue
		}
		h := &sinkHandler{}
		if _, err := b.peer.TCP().Dial(tu, h, now); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, h)
	}
	b.peer.Flush()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.peer.Poll(now)
		done := 0
		for _, h := range clients {
			if h.conn != nil {
				done++
			}
		}
		if done == len(clients) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections established: a sleeping owner was not woken", done, len(clients))
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// closeOnEstablished closes its connection as soon as it is up.
type closeOnEstablished struct{ sinkHandler }

func (h *closeOnEstablished) Established(c *tcp.Conn) { h.conn = c; c.Close() }

// closeOnEOF closes its side when the peer's FIN arrives.
type closeOnEOF struct{ sinkHandler }

func (h *closeOnEOF) Readable(c *tcp.Conn) {
	c.Consume(c.Readable())
	if c.EOF() {
		c.Close()
	}
}

// A TIME_WAIT entry on one core blocks a bind of its port made through the
// engine, whichever core the entry is on; SO_REUSEADDR lets the bind
// through.
func TestBindSeesTimeWaitOnEveryCore(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	b.wrong = false
	now := mono.Time(1e9)
	b.peer.now = now
	b.resolve(t, now)
	if _, err := b.peer.TCP().Listen(9, 0, &closeOnEOF{}); err != nil {
		t.Fatal(err)
	}
	// A port whose flow core 1 owns; the engine closes first, so the
	// TIME_WAIT entry is core 1's.
	var tu flow.Tuple
	for p := uint16(42000); ; p++ {
		tu = flow.Tuple{LocalAddr: v4Mapped(ourIP4.As4()), RemoteAddr: v4Mapped(peerIP4.As4()), LocalPort: p, RemotePort: 9}
		if b.e.steer.owner(&tu) == 1 {
			break
		}
	}
	c1 := b.e.cores[1]
	c1.now = now
	if _, err := c1.TCP().Dial(tu, &closeOnEstablished{}, now); err != nil {
		t.Fatal(err)
	}
	c1.Flush()
	b.pump(now, 20)
	if c1.TCP().TimeWaitEntries() != 1 || b.e.cores[0].TCP().TimeWaitEntries() != 0 {
		t.Fatalf("TIME_WAIT entries: core 0 %d, core 1 %d; want 0, 1",
			b.e.cores[0].TCP().TimeWaitEntries(), c1.TCP().TimeWaitEntries())
	}
	s := b.e.newSocket(false, -1)
	if _, err := b.e.ports.bind(s, ourIP4, tu.LocalPort, &tcp.SockOptions{}); err != syscall.EADDRINUSE {
		t.Fatalf("bind over core 1's TIME_WAIT entry: %v, want EADDRINUSE", err)
	}
	if _, err := b.e.ports.bind(s, ourIP4, tu.LocalPort, &tcp.SockOptions{ReuseAddr: true}); err != nil {
		t.Fatalf("bind with SO_REUSEADDR: %v", err)
	}
}

// A packet too big about core 1's segment that arrives on core 0 is handed
// to core 1, whose shard takes it: its host cache learns the MTU, core 0's
// does not.
func TestPacketTooBigSteeredToTheOwner(t *testing.T) {
	b := newSteerBed(t, 0, nil)
	now := mono.Time(1e9)
	b.resolve(t, now)
	b.taken(0)
	b.taken(1)
	_, tu, _ := b.e.dialTarget(1, netip.AddrPortFrom(ourIP4, 0), netip.AddrPortFrom(peerIP4, 9))
	h := &closeRecorder{}
	if _, err := b.e.cores[1].dial(tu, h, now); err != nil {
		t.Fatal(err)
	}
	out := b.taken(1)
	if len(out) != 1 {
		t.Fatalf("core 1 sent %d frames, want its SYN", len(out))
	}
	b.inject(t, 0, tooBigFrame(t, out[0], false, 1400, 200, 0))
	b.e.cores[0].Poll(now)
	b.e.cores[1].Poll(now)
	if h.closed {
		t.Fatalf("the connection ended: %v", h.err)
	}
	s0, s1 := &b.e.cores[0].stats, &b.e.cores[1].stats
	if s0[SteeredOut] != 1 || s1[SteeredIn] != 1 || s0[ICMPTooBigIn] != 1 {
		t.Fatalf("steered out %d, in %d, too_big_in %d", s0[SteeredOut], s1[SteeredIn], s0[ICMPTooBigIn])
	}
	if got := b.e.cores[1].TCP().PathMTU(tu.RemoteAddr, now); got != 1400 {
		t.Fatalf("core 1 cached %d", got)
	}
	if got := b.e.cores[0].TCP().PathMTU(tu.RemoteAddr, now); got != 0 {
		t.Fatalf("core 0 cached %d", got)
	}
	if st := b.e.cores[1].TCP().Stats(); st[tcp.StatPMTUDICMPAccepted] != 1 {
		t.Fatalf("core 1 accepted %d", st[tcp.StatPMTUDICMPAccepted])
	}
}
