package engine

import (
	"net/netip"
	"testing"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// ceMarker is a link that marks CE, as a router with a full queue would,
// on every nth ECT frame it transmits (IPv4 with its header checksum
// rewritten, IPv6), and counts the TCP frames it saw ECT.
type ceMarker struct {
	rings.Link
	every    int
	seen     int
	ect, ce  int
	nonECTIP int // data-carrying TCP frames without ECT
}

func (m *ceMarker) Transmit(descs []rings.Desc) int {
	for _, d := range descs {
		f := m.Pool().Bytes(d)
		var ecn *byte
		var payload int
		switch be16(f[12:]) {
		case etherTypeIPv4:
			ip := f[ethHeaderLen:]
			if ip[9] != protoTCP {
				continue
			}
			payload = int(be16(ip[2:])) - 20 - int(ip[20+12]>>4)*4
			ecn = &ip[1]
		case etherTypeIPv6:
			ip := f[ethHeaderLen:]
			if ip[6] != protoTCP {
				continue
			}
			payload = int(be16(ip[4:])) - int(ip[40+12]>>4)*4
			ecn = &ip[1] // the traffic class's low bits are the top of byte 1
		default:
			continue
		}
		v4 := be16(f[12:]) == etherTypeIPv4
		cp := *ecn & 3
		if !v4 {
			cp = *ecn >> 4 & 3
		}
		if cp == 0 {
			if payload > 0 {
				m.nonECTIP++
			}
			continue
		}
		m.ect++
		m.seen++
		if m.seen%m.every != 0 {
			continue
		}
		m.ce++
		if v4 {
			ip := f[ethHeaderLen:]
			ip[1] |= 3
			put16(ip[10:], 0)
			put16(ip[10:], Checksum(ip[:ipv4MinHeader], 0))
		} else {
			*ecn |= 3 << 4
		}
	}
	return m.Link.Transmit(descs)
}

// ECN end to end between two cores over the in-memory link: the dialler
// asks (ecn.enable 1), the listener accepts (the default 2); data goes
// ECT(0) in the IP header of either family (the receiver's ecn_ect0 counts
// it, so it also parsed it, its checksum intact); a CE marked on the way
// is echoed (ECE) and the sender reduces its window (ecn_rcwnd), and
// retransmissions and pure ACKs never go ECT.
func TestECNBetweenTwoCores(t *testing.T) {
	for _, family := range []string{"IPv4", "IPv6"} {
		t.Run(family, func(t *testing.T) {
			la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 1024})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { la.Close() })
			marker := &ceMarker{Link: la, every: 7}
			cfgA, cfgB := tcp.DefaultConfig(), tcp.DefaultConfig()
			cfgA.ISNKey, cfgB.ISNKey = [16]byte{1}, [16]byte{2}
			cfgB.ECN = tcp.ECNOn
			addrsA := []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("2001:2::1/64")}
			addrsB := []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("2001:2::2/64")}
			a, err := NewCore(CoreConfig{MAC: ourMAC, Addrs: addrsA, TCP: &cfgA}, marker)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewCore(CoreConfig{ID: 1, MAC: peerMAC, Addrs: addrsB, TCP: &cfgB}, lb)
			if err != nil {
				t.Fatal(err)
			}
			// a listens and sends; b dials and receives.
			srv := &sinkHandler{}
			if _, err := a.TCP().Listen(80, 0, srv); err != nil {
				t.Fatal(err)
			}
			tu := flow.Tuple{LocalAddr: v4Mapped([4]byte{198, 18, 0, 2}), RemoteAddr: v4Mapped([4]byte{198, 18, 0, 1}), RemotePort: 80}
			if family == "IPv6" {
				tu.LocalAddr, tu.RemoteAddr = netip.MustParseAddr("2001:2::2").As16(), netip.MustParseAddr("2001:2::1").As16()
			}
			now := mono.Time(1e9)
			cli := &sinkHandler{}
			if _, err := b.TCP().Dial(tu, cli, now); err != nil {
				t.Fatal(err)
			}
			b.Flush()
			for i := 0; i < 20 && srv.conn == nil; i++ {
				now += 1e5
				pump(a, b, now, 1)
				a.Timers(now)
				b.Timers(now)
			}
			if srv.conn == nil || cli.conn == nil {
				t.Fatal("no connection")
			}
			sa, sb := a.TCP().Stats(), b.TCP().Stats()
			if sa[tcp.StatECNShs] != 1 || sb[tcp.StatECNShs] != 1 {
				t.Fatalf("ecn_shs %d, %d; want 1 on each side", sa[tcp.StatECNShs], sb[tcp.StatECNShs])
			}
			buf := make([]byte, 64<<10)
			const total = 2 << 20
			sent := 0
			for i := 0; i < 200000 && cli.got < total; i++ {
				if sent < total {
					n, _ := srv.conn.Write(buf[:min(len(buf), total-sent)])
					sent += n
				}
				now += 2e4
				pump(a, b, now, 1)
				a.Timers(now)
				b.Timers(now)
			}
			if cli.got != total {
				t.Fatalf("received %d of %d", cli.got, total)
			}
			sa, sb = a.TCP().Stats(), b.TCP().Stats()
			t.Logf("sender: %d ECT(0) sent, %d reductions; wire: %d ECT, %d marked CE, %d data frames not ECT; receiver: ecn_ect0 %d, ecn_ce %d",
				sa[tcp.StatECNSndECT0], sa[tcp.StatECNRcwnd], marker.ect, marker.ce, marker.nonECTIP, sb[tcp.StatECNECT0], sb[tcp.StatECNCE])
			if sa[tcp.StatECNSndECT0] == 0 || uint64(marker.ect) != sa[tcp.StatECNSndECT0] {
				t.Fatalf("ecn_sndect0 %d, ECT frames on the wire %d", sa[tcp.StatECNSndECT0], marker.ect)
			}
			if sb[tcp.StatECNECT0]+sb[tcp.StatECNCE] != uint64(marker.ect) || sb[tcp.StatECNCE] != uint64(marker.ce) {
				t.Fatalf("receiver: ecn_ect0 %d + ecn_ce %d, wire ECT %d of which CE %d", sb[tcp.StatECNECT0], sb[tcp.StatECNCE], marker.ect, marker.ce)
			}
			if sa[tcp.StatECNRcwnd] == 0 {
				t.Fatal("CE marks but no window reduction")
			}
			if uint64(marker.nonECTIP) != sa[tcp.StatSndRexmitPack] {
				t.Fatalf("%d data frames not ECT, %d retransmissions", marker.nonECTIP, sa[tcp.StatSndRexmitPack])
			}
		})
	}
}

// A segment that arrives on the core that does not own its connection
// keeps its ECN codepoint across the hand-off: every ECT(0) data segment
// the peer sends is counted ECT(0) by the owner's shard.
func TestSteeredSegmentKeepsItsECNCodepoint(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		b := newSteerBed(t, 0, nil)
		cfg := b.peer.TCP().Config()
		cfg.ECN = tcp.ECNOn
		if err := b.peer.TCP().Reconfigure(cfg); err != nil {
			t.Fatal(err)
		}
		now := mono.Time(1e9)
		b.peer.now = now
		ours, peer := family(v6)
		var clients []*sinkHandler
		for i := range 8 {
			tu := flow.Tuple{LocalAddr: peer.As16(), RemoteAddr: ours.As16(), LocalPort: uint16(40000 + i), RemotePort: 80}
			h := &sinkHandler{}
			if _, err := b.peer.TCP().Dial(tu, h, now); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, h)
		}
		b.peer.Flush()
		b.pump(now, 20)
		for _, h := range clients {
			if h.conn == nil {
				t.Fatalf("v6=%v: a client did not connect", v6)
			}
			h.conn.Write(make([]byte, 3000))
		}
		b.pump(now, 20)
		sent := b.peer.TCP().Stats()[tcp.StatECNSndECT0]
		var got, shs uint64
		for _, c := range b.e.cores {
			got += c.TCP().Stats()[tcp.StatECNECT0]
			shs += c.TCP().Stats()[tcp.StatECNShs]
		}
		if shs != 8 || sent == 0 || got != sent || b.e.cores[0].stats[SteeredIn]+b.e.cores[1].stats[SteeredIn] == 0 {
			t.Fatalf("v6=%v: ecn_shs %d, peer sent %d ECT(0), the owners counted %d", v6, shs, sent, got)
		}
	}
}
