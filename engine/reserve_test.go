package engine

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// holdLink is a fakeLink whose transmitted frames stay out of the pool
// until complete: a kernel slow to hand back its completions.
type holdLink struct {
	*fakeLink
	held []rings.Desc
}

func (l *holdLink) Transmit(descs []rings.Desc) int {
	for _, d := range descs {
		if l.keepOut {
			l.out = append(l.out, bytes.Clone(l.pool.Bytes(d)))
		}
		l.sent++
		l.held = append(l.held, d)
	}
	return len(descs)
}

func (l *holdLink) complete() {
	for _, d := range l.held {
		l.pool.Put(d.Addr)
	}
	l.held = l.held[:0]
}

// tcpTestCore is newTestCore with a TCP shard listening on port 80.
func tcpTestCore(t testing.TB, l rings.Link) *Core {
	t.Helper()
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{7}
	c, err := NewCore(CoreConfig{MAC: ourMAC, TCP: &cfg, Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64"),
	}}, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TCP().Listen(80, 4096, &sinkHandler{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func synFrame(t testing.TB, src netip.Addr, sport uint16) []byte {
	seg := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: 1000, SYN: true, Window: 65535}
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: ourIP4.AsSlice()}
		if err := seg.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return serialize(t, eth(ourMAC, layers.EthernetTypeIPv4), ip, seg)
	}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: src.AsSlice(), DstIP: ourIP6.AsSlice()}
	if err := seg.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth(ourMAC, layers.EthernetTypeIPv6), ip, seg)
}

// checkPending checks the core's waiting frames: the age list holds n of
// them, oldest first, each on its neighbour's list, and the neighbours'
// counts add up.
func checkPending(t *testing.T, c *Core) []netip.Addr {
	t.Helper()
	q := &c.pend
	var order []netip.Addr
	seen := map[[16]byte]int{}
	for i := q.oldest; i >= 0; i = q.slots[i].newer {
		ip := q.slots[i].ip
		order = append(order, netip.AddrFrom16(ip).Unmap())
		seen[ip]++
	}
	if len(order) != q.n || q.n > len(q.slots) {
		t.Fatalf("age list has %d frames, count %d, budget %d", len(order), q.n, len(q.slots))
	}
	total := 0
	for i := range c.neigh.slots {
		e := &c.neigh.slots[i]
		if e.state == neighFree {
			continue
		}
		total += int(e.npending)
		if seen[e.ip] != int(e.npending) {
			t.Fatalf("%v: %d frames on the age list, npending %d", netip.AddrFrom16(e.ip).Unmap(), seen[e.ip], e.npending)
		}
		j := e.head
		for k := 0; k < int(e.npending); k++ {
			if q.slots[j].ip != e.ip {
				t.Fatalf("%v: its list reaches another neighbour's frame", netip.AddrFrom16(e.ip).Unmap())
			}
			j = q.slots[j].next
		}
	}
	if total != q.n {
		t.Fatalf("neighbours hold %d frames, queue %d", total, q.n)
	}
	return order
}

// The frames waiting for neighbours are bounded on the core as a whole
// (1/8 of the pool), and past the budget the oldest is dropped first and
// counted as neigh_budget.
func TestPendingBudgetDropsOldestFirst(t *testing.T) {
	c, l := newTestCore(t)
	budget := rings.PendingFrames(c.pool.Frames())
	if len(c.pend.slots) != budget || budget != 32 {
		t.Fatalf("budget %d slots, want %d = 256/8", len(c.pend.slots), budget)
	}
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}) }
	var flood [][]byte
	for i := 0; i < budget+8; i++ {
		flood = append(flood, echo4Frame(t, src(i), ourIP4, []byte("f")))
	}
	out := run(c, l, 0, flood...)
	if len(out) != budget+8 { // one ARP request each
		t.Fatalf("sent %d frames, want %d ARP requests", len(out), budget+8)
	}
	if c.stats[DropNeighBudget] != 8 || c.pend.n != budget {
		t.Fatalf("neigh_budget %d, waiting %d; want 8, %d", c.stats[DropNeighBudget], c.pend.n, budget)
	}
	order := checkPending(t, c)
	for k, a := range order {
		if a != src(8+k) {
			t.Fatalf("waiting frame %d is for %v, want %v: not the oldest dropped", k, a, src(8+k))
		}
	}
	// Two more from a neighbour that has one waiting: the next two oldest go.
	run(c, l, 1, echo4Frame(t, src(20), ourIP4, []byte("g")), echo4Frame(t, src(20), ourIP4, []byte("h")))
	order = checkPending(t, c)
	if c.stats[DropNeighBudget] != 10 || order[0] != src(10) || order[len(order)-1] != src(20) {
		t.Fatalf("neigh_budget %d, oldest %v, newest %v", c.stats[DropNeighBudget], order[0], order[len(order)-1])
	}
	// Its answer sends its three.
	reply := arpFrame(t, layers.ARPReply, peerMAC, src(20), ourIP4)
	copy(reply[0:6], ourMAC)
	if out := run(c, l, 2, reply); len(out) != 3 {
		t.Fatalf("sent %d frames once the neighbour answered, want its 3 echo replies", len(out))
	}
	checkPending(t, c)
	if c.pool.Free()+c.pend.n != c.pool.Frames() {
		t.Fatalf("frames lost: %d free + %d waiting of %d", c.pool.Free(), c.pend.n, c.pool.Frames())
	}
	// The rest give up as before: unresolved, not neigh_budget.
	budgetDrops := c.stats[DropNeighBudget]
	for now := mono.Time(0); now < mono.Time(5*NeighRetrans); now = now.Add(NeighRetrans / 2) {
		run(c, l, now)
	}
	if c.pend.n != 0 || c.pool.Free() != c.pool.Frames() || c.stats[DropNeighBudget] != budgetDrops {
		t.Fatalf("after giving up: %d waiting, %d free of %d", c.pend.n, c.pool.Free(), c.pool.Frames())
	}
	checkPending(t, c)
}

// A SYN flood from on-link sources that never answer ARP or ND, with a
// kernel slow to complete transmissions, leaves the core with frames to
// receive a resolved peer's SYN and answer it with a SYN-ACK: waiting
// frames stay within their budget, the solicitations and other ordinary
// frames stop at the reserve, and the reserve serves the refill and the
// SYN-ACK.
func TestFloodLeavesReserveForSYNACKAndRefills(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		l := &holdLink{fakeLink: newFakeLink(t)}
		c := tcpTestCore(t, l)
		// Solicitations unbounded: the reserve must hold even when every
		// forged source is asked for (TestSolicitBudget bounds them).
		c.solBud.init(-1)
		peer := peerIP4
		learn := arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4)
		if v6 {
			peer, learn = peerIP6, nsFrame(t, peerIP6, ourIP6)
		}
		l.in = append(l.in, learn)
		c.Poll(0)
		l.complete()
		reserve, budget := c.pool.Reserve(), len(c.pend.slots)
		var flood [][]byte
		for i := 3; i <= 254; i++ {
			src := netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
			if v6 {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 8: 0x5e, 13: byte(i >> 8), 14: byte(i), 15: 9})
			}
			for p := 0; p < 4; p++ {
				flood = append(flood, synFrame(t, src, uint16(20000+p)))
			}
		}
		l.in = append(l.in, flood...)
		for len(l.in) > 0 {
			c.Poll(1)
			if c.pend.n > budget {
				t.Fatalf("v6=%v: %d frames waiting, budget %d", v6, c.pend.n, budget)
			}
		}
		if c.pool.Free() < reserve-1 {
			t.Fatalf("v6=%v: %d frames free after the flood, reserve %d", v6, c.pool.Free(), reserve)
		}
		l.take()
		sent := len(l.held)
		l.in = append(l.in, synFrame(t, peer, 40000))
		c.Poll(2)
		out := l.take()
		if len(l.held) != sent+1 || len(out) != 1 {
			t.Fatalf("v6=%v: sent %d frames for the peer's SYN, want its SYN-ACK", v6, len(out))
		}
		p := decode(t, out[0])
		seg, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if seg == nil || !seg.SYN || !seg.ACK || seg.DstPort != 40000 || !bytes.Equal(p.LinkLayer().LayerContents()[0:6], peerMAC) {
			t.Fatalf("v6=%v: sent %v, want a SYN-ACK to the peer", v6, p)
		}
		c.Publish(3)
		s := c.stats
		if s[PoolReserveUsed] == 0 || s[PoolReserveDenied] == 0 || s[DropNeighBudget] == 0 {
			t.Fatalf("v6=%v: reserve used %d, denied %d, empty %d, neigh_budget %d", v6,
				s[PoolReserveUsed], s[PoolReserveDenied], s[PoolEmpty], s[DropNeighBudget])
		}
		checkPending(t, c)
		if c.pool.Free()+c.pend.n+len(l.held) != c.pool.Frames() {
			t.Fatalf("v6=%v: frames lost: %d free + %d waiting + %d held of %d", v6, c.pool.Free(), c.pend.n, len(l.held), c.pool.Frames())
		}
		l.complete()
	}
}

// Data segments and waiting frames never take the reserve; control
// segments do.
func TestReserveNotTakenByDataOrPending(t *testing.T) {
	l := &holdLink{fakeLink: newFakeLink(t)}
	c := tcpTestCore(t, l)
	s := (*tcpSender)(c)
	tu := flow.Tuple{LocalAddr: v4Mapped(ourIP4.As4()), RemoteAddr: v4Mapped(peerIP4.As4()), LocalPort: 80, RemotePort: 1}
	var taken []rings.Desc
	for s.Buffer(&tu) != nil {
		taken = append(taken, c.tcpFrame)
	}
	if c.pool.Free() != c.pool.Reserve() || len(taken) != c.pool.Frames()-c.pool.Reserve() {
		t.Fatalf("data took %d frames, %d left; want all but the reserve of %d", len(taken), c.pool.Free(), c.pool.Reserve())
	}
	// A frame that would wait for a neighbour with the pool at its reserve
	// is dropped rather than kept.
	run(c, l.fakeLink, 0, echo4Frame(t, netip.MustParseAddr("198.18.0.77"), ourIP4, []byte("w")))
	if c.pend.n != 0 || c.stats[DropNeighBudget] != 1 || c.pool.Free() != c.pool.Reserve() {
		t.Fatalf("waiting %d, neigh_budget %d, free %d", c.pend.n, c.stats[DropNeighBudget], c.pool.Free())
	}
	// Control segments take the reserve.
	for i := 0; i < c.pool.Reserve(); i++ {
		if s.ControlBuffer(&tu) == nil {
			t.Fatalf("control segment %d refused with %d free", i, c.pool.Free())
		}
		taken = append(taken, c.tcpFrame)
	}
	if s.ControlBuffer(&tu) != nil || s.Buffer(&tu) != nil {
		t.Fatal("a frame from an empty pool")
	}
	c.Publish(1)
	// The echo's receive took one too: refills may.
	if c.stats[PoolReserveUsed] != uint64(c.pool.Reserve())+1 || c.stats[PoolReserveDenied] == 0 || c.stats[PoolEmpty] != 2 {
		t.Fatalf("reserve used %d, denied %d, empty %d", c.stats[PoolReserveUsed], c.stats[PoolReserveDenied], c.stats[PoolEmpty])
	}
	for _, d := range taken {
		c.pool.Put(d.Addr)
	}
}

// Waiting, eviction past the budget and release allocate nothing.
func TestPendingPathAllocatesNothing(t *testing.T) {
	c, l := newTestCore(t)
	var echoes, replies [][]byte
	for i := 0; i < 40; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)})
		echoes = append(echoes, echo4Frame(t, src, ourIP4, []byte("a")))
		r := arpFrame(t, layers.ARPReply, peerMAC, src, ourIP4)
		copy(r[0:6], ourMAC)
		replies = append(replies, r)
	}
	l.keepOut = false
	k := 0
	round := func() {
		l.in = echoes
		c.Poll(1)
		l.in = replies[k%40 : k%40+1]
		c.Poll(1)
		k++
	}
	round()
	if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
		t.Fatalf("%v allocations per round", allocs)
	}
	if c.stats[DropNeighBudget] == 0 {
		t.Fatal("the budget was never exceeded")
	}
}

// With the neighbour table full of sources that never answer, a peer that
// announces itself (an ARP request for us, an NS) takes the place of one of
// them and is answered, and so does a new neighbour we must ask for.
func TestFullNeighbourTableMakesRoomForAnnouncedPeer(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, l := newTestCore(t)
		c.solBud.init(-1) // the table's room, not the solicitation budget
		var flood [][]byte
		for i := 0; i < NeighMaxEntries+10; i++ {
			src := netip.AddrFrom4([4]byte{198, 18, 0, byte(3 + i%250)})
			if i >= 250 || v6 {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 8: 0xf1, 14: byte(i >> 8), 15: byte(i)})
			}
			if src.Is6() {
				flood = append(flood, echo6Frame(t, src, ourIP6, []byte("f")))
			} else {
				flood = append(flood, echo4Frame(t, src, ourIP4, []byte("f")))
			}
		}
		run(c, l, 0, flood...)
		if c.neigh.n != NeighMaxEntries {
			t.Fatalf("v6=%v: %d entries, want the table full (%d)", v6, c.neigh.n, NeighMaxEntries)
		}
		announce, echo := arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), echo4Frame(t, peerIP4, ourIP4, []byte("p"))
		if v6 {
			announce, echo = nsFrame(t, peerIP6, ourIP6), echo6Frame(t, peerIP6, ourIP6, []byte("p"))
		}
		run(c, l, 1, announce)
		if out := run(c, l, 2, echo); len(out) != 1 {
			t.Fatalf("v6=%v: sent %d frames for the peer's echo, want its reply", v6, len(out))
		}
		// A new neighbour we must ask for gets an entry too, and is asked.
		fresh := netip.AddrFrom4([4]byte{198, 18, 0, 253})
		if out := run(c, l, 3, echo4Frame(t, fresh, ourIP4, []byte("n"))); len(out) != 1 || decode(t, out[0]).Layer(layers.LayerTypeARP) == nil {
			t.Fatalf("v6=%v: sent %d frames for a new neighbour, want an ARP request", v6, len(out))
		}
		if key := v4Mapped(fresh.As4()); c.neigh.lookup(&key) == nil {
			t.Fatalf("v6=%v: no entry for a new neighbour", v6)
		}
		checkPending(t, c)
		if c.neigh.n != NeighMaxEntries || c.pool.Free()+c.pend.n != c.pool.Frames() {
			t.Fatalf("v6=%v: %d entries, %d free + %d waiting of %d", v6, c.neigh.n, c.pool.Free(), c.pend.n, c.pool.Frames())
		}
	}
}
