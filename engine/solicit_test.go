package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/mono"
)

// countSolicits counts the ARP requests and neighbour solicitations in out.
func countSolicits(t *testing.T, out [][]byte) int {
	t.Helper()
	n := 0
	for _, f := range out {
		p := decode(t, f)
		if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok && a.Operation == layers.ARPRequest {
			n++
		}
		if p.Layer(layers.LayerTypeICMPv6NeighborSolicitation) != nil {
			n++
		}
	}
	return n
}

// forgedMAC is the Ethernet source of forged frame i.
func forgedMAC(i int) [6]byte { return [6]byte{0x02, 0xf1, byte(i >> 16), byte(i >> 8), byte(i), 0} }

// forgedEcho is an echo request from a new on-link address for each i,
// each from a MAC of its own.
func forgedEcho(t *testing.T, i int) []byte {
	var f []byte
	if i < 250 {
		f = echo4Frame(t, netip.AddrFrom4([4]byte{198, 18, 0, byte(3 + i)}), ourIP4, []byte("f"))
	} else {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 8: 0xf1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		f = echo6Frame(t, src, ourIP6, []byte("f"))
	}
	mac := forgedMAC(i)
	copy(f[6:12], mac[:])
	return f
}

// countSentToSender counts the frames in out addressed to a forged MAC.
func countSentToSender(out [][]byte) int {
	n := 0
	for _, f := range out {
		if f[0] == 0x02 && f[1] == 0xf1 {
			n++
		}
	}
	return n
}

// Echo requests from forged on-link sources, each needing a solicitation
// before its reply: at one instant, new neighbours take a burst less its
// last quarter, and the replies to the rest go to the MACs their requests
// came from, without an entry; over two seconds of a steady flood the core
// sends no more solicitations than the rate allows.
func TestSolicitBudget(t *testing.T) {
	c, l := newTestCore(t)
	burst := NeighSolicitRate / 10
	// A neighbour we ask for first: it is in the table when the flood comes.
	peer := netip.AddrFrom4([4]byte{198, 18, 0, 2})
	if out := run(c, l, 0, echo4Frame(t, peer, ourIP4, []byte("p"))); countSolicits(t, out) != 1 {
		t.Fatalf("the peer's first echo drew %d solicitations, want 1", countSolicits(t, out))
	}
	var flood [][]byte
	for i := range 1000 {
		flood = append(flood, forgedEcho(t, i))
	}
	out := run(c, l, 0, flood...)
	sent := countSolicits(t, out)
	if want := burst - 1 - burst/4; sent != want {
		t.Fatalf("1000 new neighbours at one instant drew %d solicitations, want %d (a burst of %d less the first one's and its last quarter)", sent, want, burst)
	}
	if got, want := countSentToSender(out), 1000-sent; got != want || c.stats[NeighSentToSender] != uint64(want) {
		t.Fatalf("%d replies to their senders' MACs (neigh_sent_to_sender %d), want %d", got, c.stats[NeighSentToSender], want)
	}
	if got := c.stats[DropSolicitLimit]; got != 0 {
		t.Fatalf("solicit_limit %d, want 0: every frame refused a solicitation was a reply", got)
	}
	if c.neigh.n != 1+sent {
		t.Fatalf("%d neighbour entries, want %d: replies sent to their senders make none", c.neigh.n, 1+sent)
	}
	// Two seconds of 10,000 new sources a second, 1 ms apart.
	total := 0
	for ms := 1; ms <= 2000; ms++ {
		var fs [][]byte
		for k := range 10 {
			fs = append(fs, forgedEcho(t, 1000+ms*10+k))
		}
		now := mono.Time(0).Add(time.Duration(ms) * time.Millisecond)
		total += countSolicits(t, run(c, l, now, fs...))
	}
	if limit := 2*NeighSolicitRate + burst; total > limit {
		t.Fatalf("%d solicitations in 2 s of flood, want at most %d", total, limit)
	}
	if total < NeighSolicitRate {
		t.Fatalf("only %d solicitations in 2 s of flood: the budget should allow about %d", total, 2*NeighSolicitRate)
	}
}

// With the budget spent, what does not answer the frame in hand from the
// neighbour itself is dropped as solicit_limit: a reply to a sender behind
// a router (the next hop is the router, not the sender), and a reply whose
// sender's Ethernet source is a group address.
func TestSolicitBudgetSendsOnlyRepliesToTheirSender(t *testing.T) {
	l := newFakeLink(t)
	c, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: testAddrs, Routes: mustRoutes(t, "198.19.0.0/16=198.18.0.3")}, l)
	if err != nil {
		t.Fatal(err)
	}
	for c.solBud.takeNew(0) {
	}
	routed := echo4Frame(t, netip.AddrFrom4([4]byte{198, 19, 0, 9}), ourIP4, []byte("r"))
	mac := forgedMAC(1)
	copy(routed[6:12], mac[:])
	group := forgedEcho(t, 2)
	group[6] |= 1
	out := run(c, l, 0, routed, group)
	if n := countSentToSender(out); n != 0 || c.stats[NeighSentToSender] != 0 {
		t.Fatalf("%d frames to a sender's MAC (neigh_sent_to_sender %d), want none", n, c.stats[NeighSentToSender])
	}
	if got := c.stats[DropSolicitLimit]; got != 2 {
		t.Fatalf("solicit_limit %d, want 2", got)
	}
	// A frame the core originates (no frame in hand) is not sent to the
	// last sender either.
	c.SendEcho(netip.AddrFrom4([4]byte{198, 18, 0, 4}), 1, 1, nil, 0)
	c.Flush()
	if n := countSentToSender(l.take()); n != 0 || c.stats[DropSolicitLimit] != 3 {
		t.Fatalf("an echo we originate: %d frames to a sender's MAC, solicit_limit %d (want 0 and 3)", n, c.stats[DropSolicitLimit])
	}
}

// New neighbours leave the last quarter of a burst to the retries and
// checks of neighbours already in the table.
func TestSolicitBudgetKeepsAQuarterForKnownNeighbours(t *testing.T) {
	var b solicitBudget
	b.init(1000)
	news := 0
	for b.takeNew(0) {
		news++
	}
	if news != b.burst-b.burst/4 {
		t.Fatalf("new neighbours took %d of a burst of %d, want all but its last quarter", news, b.burst)
	}
	known := 0
	for b.take(0) {
		known++
	}
	if known != b.burst/4 {
		t.Fatalf("known neighbours had %d left, want %d", known, b.burst/4)
	}
}

// No bound when asked for none: every new neighbour is solicited.
func TestSolicitBudgetUnbounded(t *testing.T) {
	var b solicitBudget
	b.init(-1)
	for i := range 100_000 {
		if !b.takeNew(0) {
			t.Fatalf("refused at %d with no bound", i)
		}
	}
	b.init(10)
	if b.burst != 4 || !b.takeNew(0) || !b.take(0) || !b.take(0) || !b.take(0) || b.take(0) {
		t.Fatalf("rate 10: burst %d, tokens %d", b.burst, b.tokens)
	}
	if b.take(mono.Time(99 * time.Millisecond)) {
		t.Fatal("a token before its 100 ms")
	}
	if !b.take(mono.Time(100 * time.Millisecond)) {
		t.Fatal("no token after 100 ms")
	}
}

// A client new to the core while the budget refuses new neighbours: its
// SYN-ACK goes to the MAC its SYN came from, and so does what the core
// sends it later, outside the frame it answers (a retransmission from the
// timers), since the client's handshake ACK taught the core its MAC.
func TestSolicitBudgetLearnsSendersThatCompleteAHandshake(t *testing.T) {
	for _, client := range []netip.Addr{netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("2001:2::7")} {
		t.Run(client.String(), func(t *testing.T) {
			l := newFakeLink(t)
			c := tcpTestCore(t, l)
			h := &sinkHandler{}
			if _, err := c.TCP().Listen(81, 16, h); err != nil {
				t.Fatal(err)
			}
			for c.solBud.takeNew(0) {
			}
			mac := forgedMAC(7)
			var synack *layers.TCP
			for _, f := range run(c, l, 0, tcpSegFrame(t, client, mac, &layers.TCP{SrcPort: 40000, DstPort: 81, Seq: 1000, SYN: true, Window: 65535})) {
				if [6]byte(f[0:6]) == mac {
					synack, _ = decode(t, f).Layer(layers.LayerTypeTCP).(*layers.TCP)
				}
			}
			if synack == nil || !synack.SYN || !synack.ACK {
				t.Fatal("no SYN-ACK to the client's MAC")
			}
			key := client.As16()
			if _, ok := c.senders.lookup(&key); ok {
				t.Fatal("a SYN taught the core its sender's MAC: a flood's forged SYNs would displace real clients")
			}
			now := mono.Time(0).Add(time.Millisecond)
			for c.solBud.takeNew(now) {
			}
			run(c, l, now, tcpSegFrame(t, client, mac, &layers.TCP{SrcPort: 40000, DstPort: 81, Seq: 1001, Ack: synack.Seq + 1, ACK: true, Window: 65535}))
			if h.conn == nil {
				t.Fatal("not established")
			}
			// Data the client does not acknowledge: the timers resend it,
			// with no frame from the client in hand.
			if n, err := h.conn.Write([]byte("hello")); n != 5 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			c.Flush()
			l.take()
			drops := c.stats[DropSolicitLimit]
			resent := 0
			for ms := 2; ms < 5000 && resent == 0; ms += 10 {
				now = mono.Time(0).Add(time.Duration(ms) * time.Millisecond)
				for c.solBud.takeNew(now) {
				}
				for _, f := range run(c, l, now) {
					if [6]byte(f[0:6]) == mac {
						resent++
					}
				}
			}
			if resent == 0 || c.stats[DropSolicitLimit] != drops {
				t.Fatalf("retransmissions to the client's MAC: %d; solicit_limit drops %d (want some, and none)", resent, c.stats[DropSolicitLimit]-drops)
			}
		})
	}
}

// tcpSegFrame is seg from src, Ethernet source mac, to the core's address
// of src's family.
func tcpSegFrame(t *testing.T, src netip.Addr, mac [6]byte, seg *layers.TCP) []byte {
	t.Helper()
	e := eth(ourMAC, layers.EthernetTypeIPv4)
	e.SrcMAC = mac[:]
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: ourIP4.AsSlice()}
		if err := seg.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return serialize(t, e, ip, seg)
	}
	e.EthernetType = layers.EthernetTypeIPv6
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: src.AsSlice(), DstIP: ourIP6.AsSlice()}
	if err := seg.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, e, ip, seg)
}
