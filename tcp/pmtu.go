package tcp

import (
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Path MTU discovery (RFC 1191, RFC 8201) and its black-hole detection
// (RFC 4821's idea, FreeBSD's pmtud_blackhole_detection).
//
// The engine sets DF on every TCP segment it sends over IPv4 while
// path_mtu_discovery is on, parses ICMP "fragmentation needed" and ICMPv6
// Packet Too Big, refuses MTUs below the minimum (MinPMTU4, MinPMTU6) and
// hands the rest to PacketTooBig on the connection's core. The shard checks
// the message against the connection (RFC 5927 5.2: the quoted segment must
// belong to a connection and its sequence number lie in snd_una..snd_max),
// keeps the path MTU of the destination in its host cache (FreeBSD's
// tcp_hostcache, per core here, entries expire after hostcache.expire) and
// lowers the connection's MSS: what is in flight is sent again at the new
// size, as FreeBSD's tcp_mtudisc does. Connections made later to the same
// destination on this core start with the cached MTU.
//
// When no ICMP comes (a black hole: a router or firewall drops both the
// large segments and the errors about them), full-sized segments keep
// timing out. With pmtud_blackhole_detection on, the second and the fourth
// consecutive retransmission timeouts of a full-sized segment lower the MSS,
// to pmtud_blackhole_mss (v6pmtud_blackhole_mss) and then to mssdflt (for
// IPv6 the MSS of the minimum MTU, 1280); if the sixth timeout comes too,
// the path is not a black hole after all and the MSS the connection had is
// restored (FreeBSD's tcp_timer_rexmt).
//
// Unlike FreeBSD, a streak of timeouts is taken for a black hole only if
// nothing says full-sized segments pass: when, at any timeout of the
// streak, the receiver has SACKed a full segment's worth of contiguous
// data above snd_una (data sent after the segment that keeps timing out
// got through), the losses are not the path's MTU and the MSS stays. On a
// path with random loss a lost segment whose retransmission is lost too
// makes two timeouts in a row often enough (at 5% loss, a few times per
// 16 MiB), and FreeBSD's rule then cut the MSS to 1200 and to 536 for the
// rest of the connection, doubling the segments and the losses.

// Path MTU bounds and defaults.
const (
	// MinPMTU4 is the smallest IPv4 path MTU taken from an ICMP
	// "fragmentation needed": 576, what every IPv4 host must accept (RFC
	// 791, RFC 1122 3.3.3); a message offering less is ignored, so a forged
	// one cannot shrink segments to nothing.
	MinPMTU4 = 576
	// MinPMTU6 is the IPv6 minimum link MTU (RFC 8200 5): a Packet Too Big
	// offering less is ignored (RFC 8201 4 allows it since atomic
	// fragments are gone, RFC 8021).
	MinPMTU6 = 1280
	// DefaultHostCacheExpire is hostcache.expire: how long a learned path
	// MTU is kept (FreeBSD's 3600 s; RFC 1191 asks for at least 10 minutes
	// before an estimate is raised again).
	DefaultHostCacheExpire = time.Hour
	// DefaultPMTUDBlackholeMSS is pmtud_blackhole_mss: the IPv4 MSS black-hole
	// detection falls back to first (FreeBSD's 1200).
	DefaultPMTUDBlackholeMSS = 1200
	// DefaultV6PMTUDBlackholeMSS is v6pmtud_blackhole_mss (FreeBSD's 1220:
	// the IPv6 minimum MTU less 60 bytes of headers).
	DefaultV6PMTUDBlackholeMSS = 1220
	// minMSS6 is the MSS of the IPv6 minimum MTU, the black-hole floor.
	minMSS6 = MinPMTU6 - 60
	// hostCacheSize is the host cache's slots per shard (hostCacheWays per
	// bucket, the oldest entry of a full bucket replaced).
	hostCacheSize = 512
	hostCacheWays = 4
)

// hostEntry is the path MTU of one destination.
type hostEntry struct {
	addr    [16]byte
	mtu     uint32
	expires mono.Time // 0: the slot is free
}

// hostCache is a shard's path MTUs by destination: set-associative, a
// fixed array that never allocates. Owned by its shard.
type hostCache struct {
	e [hostCacheSize]hostEntry
	n int // live entries (expired ones included until reused)
}

// bucket returns the first slot of addr's bucket.
func (h *hostCache) bucket(addr *[16]byte) int {
	// FNV-1a over the address; the ways of a bucket are consecutive.
	x := uint32(2166136261)
	for _, b := range addr {
		x = (x ^ uint32(b)) * 16777619
	}
	return int(x%(hostCacheSize/hostCacheWays)) * hostCacheWays
}

// lookup returns the path MTU cached for addr, 0 when none is (or it
// expired at now).
func (h *hostCache) lookup(addr *[16]byte, now mono.Time) int {
	if h.n == 0 {
		return 0
	}
	b := h.bucket(addr)
	for i := b; i < b+hostCacheWays; i++ {
		e := &h.e[i]
		if e.expires != 0 && e.addr == *addr {
			if now >= e.expires {
				e.expires = 0
				h.n--
				return 0
			}
			return int(e.mtu)
		}
	}
	return 0
}

// update records mtu for addr until expires; a lower MTU replaces a higher
// one at once, a higher one (the old entry expired) only through lookup.
func (h *hostCache) update(addr *[16]byte, mtu int, now, expires mono.Time) {
	b := h.bucket(addr)
	victim := -1
	for i := b; i < b+hostCacheWays; i++ {
		e := &h.e[i]
		if e.expires != 0 && e.addr == *addr {
			if now < e.expires && int(e.mtu) <= mtu {
				return // what we know is as low already
			}
			e.mtu, e.expires = uint32(mtu), expires
			return
		}
		switch {
		case e.expires == 0 || now >= e.expires:
			if victim < 0 || h.e[victim].expires != 0 {
				victim = i
			}
		case victim < 0 || h.e[victim].expires != 0 && e.expires < h.e[victim].expires:
			victim = i
		}
	}
	e := &h.e[victim]
	if e.expires == 0 {
		h.n++
	}
	*e = hostEntry{addr: *addr, mtu: uint32(mtu), expires: expires}
}

// PMTUD reports whether path MTU discovery is on (path_mtu_discovery): the
// engine sets DF on IPv4 segments then.
func (s *Shard) PMTUD() bool { return s.cfg.PathMTUDiscovery }

// PathMTU returns the path MTU this shard has learned for the destination
// addr (IPv4 as ::ffff:a.b.c.d), 0 when it knows none; for tests and stat.
func (s *Shard) PathMTU(addr [16]byte, now mono.Time) int {
	return s.hc.lookup(&addr, now)
}

// headerLen is the IP and TCP header bytes of t's segments without options.
func headerLen(t *flow.Tuple) int {
	if t.IsIPv4() {
		return 40
	}
	return 60
}

// pathMSS caps c's send MSS by the path MTU cached for its destination.
func (c *Conn) pathMSS() {
	if !c.shard.cfg.PathMTUDiscovery {
		return
	}
	if mtu := c.shard.hc.lookup(&c.tuple.RemoteAddr, c.shard.now); mtu > 0 {
		c.mss = max(min(c.mss, mtu-headerLen(&c.tuple)), 64)
	}
}

// PacketTooBig handles an ICMP "fragmentation needed" (type 3 code 4) or an
// ICMPv6 Packet Too Big about the segment with sequence number seq that we
// sent on t, offering mtu (an MTU below MinPMTU4 or MinPMTU6 is ignored;
// the engine drops such messages before they get here). It reports whether the message was taken: a connection on
// t has seq in flight (RFC 5927 5.2); anything else is ignored and counted
// (pmtud_icmp_ignored), so that an off-path attacker who does not know the
// window cannot shrink segments. A message taken lowers the path MTU of
// the destination in the host cache and, when it is below what the
// connection uses, its MSS; what is in flight is sent again at the new
// size (mturesent). It never ends a connection.
func (s *Shard) PacketTooBig(t *flow.Tuple, seq flow.Seq, mtu int, now mono.Time) bool {
	s.now = now
	if !s.cfg.PathMTUDiscovery {
		return false
	}
	least := MinPMTU4
	if !t.IsIPv4() {
		least = MinPMTU6
	}
	c := s.conns[*t]
	if mtu < least || c == nil || c.state == Closed || !seq.InRange(c.sndUna, c.sndMax) {
		s.stats[StatPMTUDICMPIgnored]++
		return false
	}
	s.stats[StatPMTUDICMPAccepted]++
	s.hc.update(&t.RemoteAddr, mtu, now, now.Add(s.cfg.HostCacheExpire))
	mss := mtu - headerLen(t)
	if c.maxSeg > 0 {
		mss = min(mss, c.maxSeg)
	}
	if mss >= c.mss {
		return true
	}
	c.mss = max(mss, 64)
	if c.bhActive {
		// The path answered: what black-hole detection would restore
		// is no better than what the path says.
		c.bhSavedMSS = min(c.bhSavedMSS, int32(c.mss))
	}
	if c.state.synchronized() && c.sndUna != c.sndMax {
		s.stats[StatMTUResent]++
		c.resendAll()
		c.output()
	}
	return true
}

// resendAll makes output send again everything from snd_una, as a
// retransmission timeout does but without its congestion response: the
// segments were too big for the path, not lost to congestion (RFC 1191 6.4,
// FreeBSD's tcp_mtudisc).
func (c *Conn) resendAll() {
	c.inRecovery = false
	c.dupAcks = 0
	c.sb.reset()
	if c.rackOK {
		c.rackRTO()
	}
	c.highRxt = c.sndUna
	c.recover = c.sndMax
	c.rtTime = 0
	c.sndNxt = c.sndUna
}

// fullSegmentSACKed reports whether the receiver holds a SACKed range of at
// least one segment above snd_una.
func (c *Conn) fullSegmentSACKed() bool {
	seg := uint32(c.segSize())
	for i := 0; i < c.sb.n; i++ {
		if r := c.sb.ranges[i]; r.end.Sub(r.start) >= seg {
			return true
		}
	}
	return false
}

// blackholeDetect is run by a retransmission timeout of data (c.rexmits
// counted already): on the second and fourth consecutive timeouts of a
// full-sized segment it lowers the MSS, on the sixth it gives the old one
// back (FreeBSD's tcp_timer_rexmt).
func (c *Conn) blackholeDetect() {
	s := c.shard
	v4 := c.tuple.IsIPv4()
	switch mode := s.cfg.PMTUDBlackholeDetect; {
	case !s.cfg.PathMTUDiscovery, mode == 0, mode == 2 && v4, mode == 3 && !v4:
		return
	}
	switch c.state {
	case Established, CloseWait, FinWait1, LastAck, Closing:
	default:
		return
	}
	if c.rexmits == 1 {
		c.bhPassed = false // a new streak
	}
	// A streak is no black hole when full segments sent after the stuck one
	// got through (random loss), or when our own receive ring dropped frames
	// since the timer that just expired was armed: the ACKs may have been
	// among them.
	c.bhPassed = c.bhPassed || c.fullSegmentSACKed() || s.lastRxDrop != 0 && s.now.Sub(s.lastRxDrop) <= c.rto
	if c.bhPassed {
		return
	}
	if c.rexmits >= 2 && c.rexmits < 6 && c.rexmits%2 == 0 && c.sndMax.Sub(c.sndUna) > uint32(c.segSize()) {
		bh, floor := s.cfg.PMTUDBlackholeMSS, s.cfg.MSSDflt
		if !v4 {
			bh, floor = s.cfg.V6PMTUDBlackholeMSS, minMSS6
		}
		var next int
		switch {
		case c.mss > bh:
			next = bh
			s.stats[StatPMTUDBlackholeActivated]++
		case c.mss > floor:
			next = floor
			s.stats[StatPMTUDBlackholeActivatedMinMSS]++
		default:
			return
		}
		if !c.bhActive {
			c.bhActive, c.bhSavedMSS = true, int32(c.mss)
		}
		c.mss = next
		return
	}
	if c.bhActive && c.rexmits >= 6 {
		c.bhActive = false
		c.mss = int(c.bhSavedMSS)
		s.stats[StatPMTUDBlackholeFailed]++
	}
}
