package tcp

import (
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Path MTU discovery (RFC 1191, RFC 8201, RFC 5927's checks) and black-hole
// detection, on the virtual clock with a scripted peer.

// checkCovers fails unless segs are data segments that cover [from, to)
// in order with payloads of at most max bytes.
func checkCovers(t *testing.T, segs []sentSeg, from, to flow.Seq, max int) {
	t.Helper()
	next := from
	for _, s := range segs {
		if len(s.Payload) == 0 {
			continue
		}
		if s.Seq != next {
			t.Fatalf("segment at %d, want %d: %v", s.Seq, next, segs)
		}
		if len(s.Payload) > max {
			t.Fatalf("segment of %d bytes, want at most %d: %v", len(s.Payload), max, s)
		}
		next = next.Add(uint32(len(s.Payload)))
	}
	if next != to {
		t.Fatalf("segments end at %d, want %d: %v", next, to, segs)
	}
}

// RFC 1191 6.4, RFC 5927 5.2: a "fragmentation needed" about a segment in
// flight lowers the MSS at once, and what is in flight goes again at the
// new size from snd_una (no abort, no congestion response); data sent later
// keeps the new size, and the transfer completes.
func TestRFC1191_PacketTooBigShrinksAndResends(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := newPeer(t, DefaultConfig())
		if v6 {
			p.tuple.LocalAddr, p.tuple.RemoteAddr = addrA6, addrB6
		}
		c := p.open()
		full := p.view().MSS - 12
		if want := map[bool]int{false: 1448, true: 1428}[v6]; full != want {
			// The peer's 1460 over IPv4, ours (1500 - 60) over IPv6, less timestamps.
			t.Fatalf("v6=%v: full segment %d, want %d", v6, full, want)
		}
		c.Write(make([]byte, 6*full))
		sent := dataSegs(p.take())
		if len(sent) != 6 {
			t.Fatalf("v6=%v: sent %v", v6, sent)
		}
		before := *p.s.Stats()
		cwnd := c.cwnd
		p.advance(rtt / 2)
		if !p.s.PacketTooBig(&p.tuple, sent[2].Seq, 1280, p.now) {
			t.Fatalf("v6=%v: packet too big about a segment in flight refused", v6)
		}
		hdr := 40
		if v6 {
			hdr = 60
		}
		small := 1280 - hdr - 12
		if got := p.view().MSS; got != 1280-hdr {
			t.Fatalf("v6=%v: MSS %d after packet too big 1280, want %d", v6, got, 1280-hdr)
		}
		resent := dataSegs(p.take())
		// The congestion window (6 full segments' bytes and more) lets
		// everything go again at once.
		checkCovers(t, resent, sent[0].Seq, sent[5].Seq.Add(uint32(full)), small)
		statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDICMPAccepted: 1, StatPMTUDICMPIgnored: 0,
			StatMTUResent: 1, StatRexmtTimeo: 0, StatConnDrops: 0, StatDrops: 0})
		if c.State() != Established || c.cwnd != cwnd {
			t.Fatalf("v6=%v: after packet too big: %v, cwnd %d (was %d)", v6, c.State(), c.cwnd, cwnd)
		}
		if got := p.s.PathMTU(p.tuple.RemoteAddr, p.now); got != 1280 {
			t.Fatalf("v6=%v: host cache has %d for the peer, want 1280", v6, got)
		}
		// The peer acknowledges everything; new data keeps the new size.
		p.advance(rtt / 2)
		p.ack()
		c.Write(make([]byte, 3*small))
		more := dataSegs(p.take())
		checkCovers(t, more, sent[5].Seq.Add(uint32(full)), sent[5].Seq.Add(uint32(full+3*small)), small)
		if p.view().SndUna != sent[5].Seq.Add(uint32(full)) {
			t.Fatalf("v6=%v: snd_una %d after the ACK", v6, p.view().SndUna)
		}
	}
}

// RFC 5927 5.2 (and 4.1): a message whose quoted segment is not ours in
// flight — another 4-tuple, a sequence number below snd_una (acknowledged
// already) or at or above snd_max (never sent) — is ignored and counted:
// the MSS, the host cache and the wire stay as they were.
func TestRFC5927_OutOfWindowPacketTooBigIgnored(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	full := p.view().MSS - 12
	c.Write(make([]byte, 4*full))
	sent := dataSegs(p.take())
	v := p.view()
	other := p.tuple
	other.RemotePort++
	cases := []struct {
		name string
		t    flow.Tuple
		seq  flow.Seq
	}{
		{"below snd_una", p.tuple, v.SndUna - 1},
		{"far below", p.tuple, v.SndUna - 1<<30},
		{"at snd_max", p.tuple, v.SndMax},
		{"above snd_max", p.tuple, v.SndMax + 100000},
		{"another port", other, sent[0].Seq},
	}
	for _, tc := range cases {
		before := *p.s.Stats()
		if p.s.PacketTooBig(&tc.t, tc.seq, 600, p.now) {
			t.Fatalf("%s: taken", tc.name)
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDICMPIgnored: 1, StatPMTUDICMPAccepted: 0, StatMTUResent: 0})
		p.expectNone(tc.name)
		if p.view().MSS != v.MSS || p.s.PathMTU(p.tuple.RemoteAddr, p.now) != 0 || c.State() != Established {
			t.Fatalf("%s: MSS %d (was %d), cached %d, %v", tc.name, p.view().MSS, v.MSS, p.s.PathMTU(p.tuple.RemoteAddr, p.now), c.State())
		}
	}
	// At snd_una it is taken (the lower edge is inside).
	if !p.s.PacketTooBig(&p.tuple, v.SndUna, 600, p.now) {
		t.Fatal("packet too big at snd_una refused")
	}
	// Nothing in flight: nothing to check it against, ignored.
	p.advance(rtt)
	p.ack()
	p.take()
	if p.s.PacketTooBig(&p.tuple, p.view().SndUna, 576, p.now) {
		t.Fatal("packet too big with nothing in flight taken")
	}
}

// A packet too big offering more than the MSS in use changes nothing and
// resends nothing; path_mtu_discovery 0 ignores them all.
func TestPacketTooBigAboveMSSAndPMTUDOff(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write(make([]byte, 3000))
	sent := dataSegs(p.take())
	before := *p.s.Stats()
	if !p.s.PacketTooBig(&p.tuple, sent[0].Seq, 9000, p.now) {
		t.Fatal("refused")
	}
	p.expectNone("a larger MTU")
	statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDICMPAccepted: 1, StatMTUResent: 0})
	if p.view().MSS != 1460 {
		t.Fatalf("MSS %d", p.view().MSS)
	}

	cfg := DefaultConfig()
	cfg.PathMTUDiscovery = false
	q := newPeer(t, cfg)
	d := q.open()
	d.Write(make([]byte, 3000))
	sent = dataSegs(q.take())
	if q.s.PacketTooBig(&q.tuple, sent[0].Seq, 1280, q.now) || q.view().MSS != 1460 {
		t.Fatalf("path_mtu_discovery 0: taken, MSS %d", q.view().MSS)
	}
	q.expectNone("path_mtu_discovery 0")
}

// The host cache keeps a destination's path MTU for hostcache.expire: a
// connection made meanwhile to the same host starts with the smaller MSS,
// one made after it expired with the full one again.
func TestHostCacheExpiry(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HostCacheExpire = 60 * time.Second
	p := newPeer(t, cfg)
	c := p.open()
	c.Write(make([]byte, 3000))
	sent := dataSegs(p.take())
	if !p.s.PacketTooBig(&p.tuple, sent[0].Seq, 1400, p.now) {
		t.Fatal("refused")
	}
	learned := p.now

	second := func() int {
		p.tuple.RemotePort++
		p.iss += 1 << 20
		p.nxt = p.iss
		p.hiSet = false
		p.open()
		return p.view().MSS
	}
	p.advance(59 * time.Second)
	if got := second(); got != 1400-40 {
		t.Fatalf("a connection 59 s later: MSS %d, want %d from the host cache", got, 1400-40)
	}
	// A higher value does not replace the lower one while it lives.
	p.s.hc.update(&p.tuple.RemoteAddr, 1450, p.now, p.now.Add(time.Hour))
	if got := p.s.PathMTU(p.tuple.RemoteAddr, p.now); got != 1400 {
		t.Fatalf("cached %d after a higher update, want 1400", got)
	}
	p.now = learned.Add(60 * time.Second)
	if got := p.s.PathMTU(p.tuple.RemoteAddr, p.now); got != 0 {
		t.Fatalf("cached %d at expiry, want none", got)
	}
	if got := second(); got != 1460 {
		t.Fatalf("a connection after expiry: MSS %d, want 1460", got)
	}
	// Another destination was never cached.
	if got := p.s.PathMTU(addrA, p.now); got != 0 {
		t.Fatalf("cached %d for another host", got)
	}
}

// The host cache holds hostCacheWays destinations per bucket; a full bucket
// gives up the entry that expires first, and every live entry is found.
func TestHostCacheReplacement(t *testing.T) {
	var h hostCache
	now := mono.Time(1e9)
	var addrs [][16]byte
	want := h.bucket(&addrA)
	for i := 0; len(addrs) < hostCacheWays+1; i++ {
		a := addrA
		a[14], a[15] = byte(i>>8), byte(i)
		if h.bucket(&a) == want {
			addrs = append(addrs, a)
		}
	}
	for i, a := range addrs[:hostCacheWays] {
		h.update(&a, 1000+i, now, now.Add(time.Duration(10+i)*time.Second))
	}
	for i, a := range addrs[:hostCacheWays] {
		if got := h.lookup(&a, now); got != 1000+i {
			t.Fatalf("entry %d: %d", i, got)
		}
	}
	h.update(&addrs[hostCacheWays], 900, now, now.Add(time.Hour))
	if got := h.lookup(&addrs[0], now); got != 0 {
		t.Fatalf("the entry expiring first is still there: %d", got)
	}
	for i := 1; i <= hostCacheWays; i++ {
		if h.lookup(&addrs[i], now) == 0 {
			t.Fatalf("entry %d lost", i)
		}
	}
	if h.n != hostCacheWays {
		t.Fatalf("%d live entries", h.n)
	}
}

// Black-hole detection (FreeBSD's tcp_timer_rexmt, RFC 4821): no ICMP
// comes and full-sized segments time out; the second consecutive timeout
// lowers the MSS to pmtud_blackhole_mss and what goes again is that size;
// once the smaller segments get through the transfer completes. With
// detection off the size stays.
func TestPMTUDBlackholeFallback(t *testing.T) {
	for _, tc := range []struct {
		v6     bool
		detect int
		want   int // MSS after two timeouts, 0: unchanged
	}{
		{false, 1, DefaultPMTUDBlackholeMSS},
		{true, 1, DefaultV6PMTUDBlackholeMSS},
		{false, 0, 0},
		{false, 2, 0}, // IPv6 only
		{true, 3, 0},  // IPv4 only
		{true, 2, DefaultV6PMTUDBlackholeMSS},
	} {
		cfg := DefaultConfig()
		cfg.PMTUDBlackholeDetect = tc.detect
		p := newPeer(t, cfg)
		if tc.v6 {
			p.tuple.LocalAddr, p.tuple.RemoteAddr = addrA6, addrB6
		}
		c := p.open()
		if tc.v6 && p.view().MSS != 1440 {
			// The peer offered 1460; ours is 1440 over IPv6.
			t.Fatalf("v6 MSS %d", p.view().MSS)
		}
		start := p.view().MSS
		if tc.want == 0 {
			tc.want = start
		}
		c.Write(make([]byte, 20*1448))
		first := dataSegs(p.take())
		before := *p.s.Stats()
		// Nothing comes back: the tail probe, then timeouts.
		for i := 0; p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo] < 2; i++ {
			if i > 100 {
				t.Fatal("no second timeout")
			}
			at, _ := p.s.NextTimer()
			p.advance(at.Sub(p.now))
		}
		segs := dataSegs(p.take())
		last := segs[len(segs)-1]
		if got := p.view().MSS; got != tc.want {
			t.Fatalf("%+v: MSS %d after two timeouts, want %d", tc, got, tc.want)
		}
		wantLen := tc.want - 12
		if last.Seq != first[0].Seq || len(last.Payload) != wantLen {
			t.Fatalf("%+v: the second timeout resent %v, want %d bytes at %d", tc, last, wantLen, first[0].Seq)
		}
		activated := uint64(0)
		if tc.want != start {
			activated = 1
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDBlackholeActivated: activated,
			StatPMTUDBlackholeActivatedMinMSS: 0, StatPMTUDBlackholeFailed: 0})
		if activated == 0 {
			continue
		}
		// The small segment arrives: the peer acknowledges it, and the
		// rest goes at the small size.
		p.advance(rtt)
		s := p.mk(FlagACK, p.nxt, last.Seq.Add(uint32(len(last.Payload))), nil)
		p.inject(&s)
		for i := 0; p.view().SndUna != p.view().SndMax || p.view().SndQueued > 0; i++ {
			if i > 200 {
				t.Fatalf("%+v: the transfer does not complete: %+v", tc, p.view())
			}
			for _, s := range dataSegs(p.take()) {
				if len(s.Payload) > wantLen {
					t.Fatalf("%+v: a %d-byte segment after the fallback", tc, len(s.Payload))
				}
			}
			p.advance(rtt)
			p.ack()
		}
		if c.State() != Established || p.view().MSS != tc.want {
			t.Fatalf("%+v: %v, MSS %d", tc, c.State(), p.view().MSS)
		}
	}
}

// If the timeouts go on at the smaller sizes (the fourth lowers to mssdflt)
// the path is no black hole: the sixth gives the old MSS back.
func TestPMTUDBlackholeFailedRestores(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write(make([]byte, 20*1448))
	p.take()
	before := *p.s.Stats()
	mss := map[uint64]int{}
	for i := 0; p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo] < 6; i++ {
		if i > 100 {
			t.Fatal("no sixth timeout")
		}
		at, _ := p.s.NextTimer()
		p.advance(at.Sub(p.now))
		mss[p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo]] = p.view().MSS
	}
	want := map[uint64]int{1: 1460, 2: 1200, 3: 1200, 4: DefaultMSSDflt, 5: DefaultMSSDflt, 6: 1460}
	for k, w := range want {
		if mss[k] != w {
			t.Fatalf("after timeout %d: MSS %d, want %d (%v)", k, mss[k], w, mss)
		}
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDBlackholeActivated: 1,
		StatPMTUDBlackholeActivatedMinMSS: 1, StatPMTUDBlackholeFailed: 1})
}

// Random loss is no black hole: the first segment and every copy of it
// are lost while the receiver SACKs the full segments sent after it, so
// the timeouts that follow (up to the fourth, where FreeBSD's rule would
// have cut the MSS twice) leave the MSS alone. A streak without such SACKs
// is still taken for a black hole (TestPMTUDBlackholeFallback).
func TestPMTUDBlackholeNotOnRandomLoss(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write(make([]byte, 10*1448))
	sent := dataSegs(p.take())
	if len(sent) < 3 {
		t.Fatalf("%d segments sent", len(sent))
	}
	last := sent[len(sent)-1]
	p.advance(rtt)
	p.sackACK(sent[0].Seq, sent[1].Seq, last.Seq.Add(uint32(len(last.Payload))))
	before := *p.s.Stats()
	for i := 0; p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo] < 4; i++ {
		if i > 100 {
			t.Fatal("no fourth timeout")
		}
		at, _ := p.s.NextTimer()
		p.advance(at.Sub(p.now))
		if mss := p.view().MSS; mss != 1460 {
			t.Fatalf("after %d timeouts: MSS %d, want 1460", p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo], mss)
		}
		for _, s := range dataSegs(p.take()) {
			if s.Seq == sent[0].Seq && len(s.Payload) != len(sent[0].Payload) {
				t.Fatalf("the first segment went again at %d bytes, want %d", len(s.Payload), len(sent[0].Payload))
			}
		}
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatPMTUDBlackholeActivated: 0, StatPMTUDBlackholeActivatedMinMSS: 0})
	if c.State() != Established {
		t.Fatalf("state %v", c.State())
	}
}

// A timeout streak while our own receive ring drops frames is no black
// hole: the ACKs may be what was lost, at our ring, so the MSS stays
// through four timeouts. A drop before the expired timer was armed does
// not count: that streak still lowers the MSS.
func TestPMTUDBlackholeNotWhileOurRingDrops(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(p *peer)   // when the link reports drops
		want map[uint64]int  // MSS after each timeout
		acts map[Stat]uint64 // counters
	}{
		{"drops during the streak", func(p *peer) { p.s.RxDropped(p.now) },
			map[uint64]int{1: 1460, 2: 1460, 3: 1460, 4: 1460},
			map[Stat]uint64{StatPMTUDBlackholeActivated: 0, StatPMTUDBlackholeActivatedMinMSS: 0}},
		{"drops long before", nil,
			map[uint64]int{1: 1460, 2: 1200, 3: 1200, 4: DefaultMSSDflt},
			map[Stat]uint64{StatPMTUDBlackholeActivated: 1, StatPMTUDBlackholeActivatedMinMSS: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			p.s.RxDropped(p.now) // before the data: long before the timeouts
			c.Write(make([]byte, 20*1448))
			p.take()
			before := *p.s.Stats()
			mss := map[uint64]int{}
			for i := 0; p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo] < 4; i++ {
				if i > 100 {
					t.Fatal("no fourth timeout")
				}
				at, _ := p.s.NextTimer()
				p.advance(at.Sub(p.now) - 1)
				if tc.drop != nil {
					tc.drop(p) // just before each timer expires
				}
				p.advance(1)
				mss[p.s.Stats()[StatRexmtTimeo]-before[StatRexmtTimeo]] = p.view().MSS
			}
			for k, w := range tc.want {
				if mss[k] != w {
					t.Fatalf("after timeout %d: MSS %d, want %d (%v)", k, mss[k], w, mss)
				}
			}
			statsDelta(t, p.s, before, tc.acts)
		})
	}
}

// The ICMP error path allocates nothing: taken, ignored, and the resend.
func TestPacketTooBigAllocatesNothing(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.open()
	c.Write(make([]byte, 8*1448))
	sent := dataSegs(p.take())
	d := &discardSender{}
	setSender(p.s, d)
	mtu := 1500
	before := *p.s.Stats()
	allocs := testing.AllocsPerRun(200, func() {
		mtu--
		p.s.PacketTooBig(&p.tuple, sent[0].Seq, mtu, p.now)
		p.s.PacketTooBig(&p.tuple, sent[0].Seq-1, mtu, p.now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet too big", allocs)
	}
	if st := p.s.Stats(); st[StatMTUResent]-before[StatMTUResent] != 201 || d.sent < 201 {
		t.Fatalf("mturesent moved by %d, %d segments sent", st[StatMTUResent]-before[StatMTUResent], d.sent)
	}
	if p.view().MSS != mtu-40 {
		t.Fatalf("MSS %d, want %d", p.view().MSS, mtu-40)
	}
}

// IPv6 addresses for the scripted peer (2001:2::1 and 2001:2::2).
var (
	addrA6 = [16]byte{0x20, 0x01, 0, 0x02, 15: 1}
	addrB6 = [16]byte{0x20, 0x01, 0, 0x02, 15: 2}
)

// Whatever a packet too big says — any sequence number, any MTU, any
// 4-tuple — the shard does not panic, the MSS stays within bounds, and
// the connection and its data survive: the peer still gets every byte.
func FuzzPacketTooBig(f *testing.F) {
	f.Add(uint32(0), 1280, uint16(peerPort), false)
	f.Add(uint32(1), 576, uint16(peerPort), true)
	f.Add(uint32(1<<31), -5, uint16(1), false)
	f.Add(uint32(3000), 70000, uint16(peerPort), false)
	f.Fuzz(func(t *testing.T, off uint32, mtu int, port uint16, v6 bool) {
		p := newPeer(t, DefaultConfig())
		if v6 {
			p.tuple.LocalAddr, p.tuple.RemoteAddr = addrA6, addrB6
		}
		c := p.open()
		c.Write(make([]byte, 8000))
		p.take()
		tu := p.tuple
		tu.RemotePort = port
		p.s.PacketTooBig(&tu, p.view().SndUna.Add(off), mtu, p.now)
		if m := p.view().MSS; m < 64 || m > 1460 {
			t.Fatalf("MSS %d", m)
		}
		full := map[bool]int{false: 1460, true: 1440}[v6]
		if least := map[bool]int{false: MinPMTU4, true: MinPMTU6}[v6]; mtu < least && p.view().MSS != full {
			t.Fatalf("MSS %d after an MTU of %d, below the minimum %d", p.view().MSS, mtu, least)
		}
		for i := 0; p.view().SndUna != p.view().SndMax || p.view().SndQueued > 0; i++ {
			if i > 100 {
				t.Fatalf("the data does not get through: %+v", p.view())
			}
			p.take()
			p.advance(rtt)
			p.ack()
		}
		if c.State() != Established {
			t.Fatalf("%v", c.State())
		}
	})
}
