// IP fragment reassembly (RFC 791 3.2, RFC 815; RFC 8200 4.5, RFC 5722),
// one table per core and family, and fragmentation of the datagrams we send.

package engine

import (
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// Reassembly defaults and limits (FreeBSD's names; per core here).
const (
	// DefaultMaxFragPackets is net.inet.ip.maxfragpackets (and
	// net.inet6.ip6.maxfragpackets): the datagrams a core reassembles at
	// once. Each holds a buffer of up to 64 KiB while it waits, so a core's
	// reassembly memory is bounded by this times 64 KiB.
	DefaultMaxFragPackets = 64
	// DefaultMaxFragsPerPacket is net.inet.ip.maxfragsperpacket and
	// net.inet6.ip6.maxfragsperpacket: the fragments one datagram may
	// come in. FreeBSD's IPv4 default, 16, stops datagrams above 23 KiB
	// on a 1500-byte MTU; 64 (FreeBSD's IPv6 default) lets the largest
	// through on any MTU from 1040 bytes.
	DefaultMaxFragsPerPacket = 64
	// DefaultFragTTL is net.inet.ip.fragttl: how long an incomplete IPv4
	// datagram waits for its missing fragments (IPFRAGTTL, 30 s).
	DefaultFragTTL = 30 * time.Second
	// DefaultFragTTL6 is net.inet6.ip6.fragttl (IPV6_FRAGTTL, 60 s).
	DefaultFragTTL6 = 60 * time.Second
	// MaxMaxFragPackets bounds maxfragpackets (64 KiB each).
	MaxMaxFragPackets = 4096
	// MaxMaxFragsPerPacket bounds maxfragsperpacket.
	MaxMaxFragsPerPacket = 1024

	// reassHeadroom is the room before a reassembled payload for the IP
	// header it is delivered behind (an IPv4 header with options is 60
	// bytes at most; IPv6's is 40).
	reassHeadroom = 64
	// maxReassPayload is the largest payload a reassembled datagram may
	// have (an IPv4 total length or IPv6 payload length is 16 bits).
	maxReassPayload = 65535
	// fragScanInterval is how often a core with incomplete datagrams looks
	// for expired ones.
	fragScanInterval = 100 * time.Millisecond
)

// FragConfig is a core's reassembly limits for one family. Zero fields
// take the defaults.
type FragConfig struct {
	MaxFragPackets    int           // maxfragpackets
	MaxFragsPerPacket int           // maxfragsperpacket
	TTL               time.Duration // fragttl
}

func (f FragConfig) withDefaults(v6 bool) FragConfig {
	if f.MaxFragPackets == 0 {
		f.MaxFragPackets = DefaultMaxFragPackets
	}
	if f.MaxFragsPerPacket == 0 {
		f.MaxFragsPerPacket = DefaultMaxFragsPerPacket
	}
	if f.TTL == 0 {
		f.TTL = DefaultFragTTL
		if v6 {
			f.TTL = DefaultFragTTL6
		}
	}
	return f
}

// fragKey identifies the datagram a fragment belongs to: source,
// destination, identification and (IPv4) protocol (RFC 791; RFC 8200 4.5).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

type fragRange struct{ off, end int }

// reassEntry is one datagram being reassembled.
type reassEntry struct {
	key     fragKey
	used    bool
	dead    bool   // dropped for a hostile fragment: the rest of it is dropped too, until it expires
	buf     []byte // reassHeadroom + maxReassPayload, kept for the slot's next datagram
	hdr     [60]byte
	hdrLen  int
	ranges  []fragRange // the fragments held, by offset: none overlap
	got     int         // payload bytes held
	total   int         // payload length, -1 until the last fragment came
	expires mono.Time
}

// reassCounters are the counters a table moves (ipstat or ip6stat).
type reassCounters struct {
	fragments, dropped, timeout, reassembled, toolong Counter
}

// reassTable reassembles one family's datagrams on one core. Owned by its
// core's loop; not safe for concurrent use. Its memory is bounded: at most
// MaxFragPackets entries, each a 64 KiB buffer and MaxFragsPerPacket
// ranges, made the first time the slot is used and kept for the next.
type reassTable struct {
	cfg      FragConfig
	entries  []reassEntry
	n        int // entries in use, dead included
	dead     int
	nextScan mono.Time
	stats    *Counters
	ctr      reassCounters
	hdrMin   int // the header a reassembled payload must fit behind in 65535 bytes: IPv4's 20, IPv6's 0 (its length counts only the payload)
}

func newReassTable(cfg FragConfig, v6 bool, stats *Counters, ctr reassCounters) *reassTable {
	cfg = cfg.withDefaults(v6)
	r := &reassTable{cfg: cfg, entries: make([]reassEntry, cfg.MaxFragPackets), stats: stats, ctr: ctr}
	if !v6 {
		r.hdrMin = ipv4MinHeader
	}
	return r
}

// ipFragment is one fragment as add takes it: its key, the byte offset of
// its data in the datagram's payload, whether more follow, its data, and
// (for the first) the header the reassembled datagram is delivered behind.
type ipFragment struct {
	key  fragKey
	off  int
	more bool
	data []byte
	hdr  []byte // the first fragment's IP header (offset 0 only)
}

// add takes a fragment. It returns the reassembled datagram when this one
// completed it: the first fragment's header (hdrLen bytes) followed by the
// whole payload, in the entry's buffer, valid until the next add or
// expire. Hostile fragments are dropped with their whole datagram, and
// counted: overlaps (RFC 5722; an exact duplicate is dropped alone), more
// than MaxFragsPerPacket, a payload beyond 65535 bytes, a first fragment
// too short to hold an upper-layer header, inconsistent lengths.
func (r *reassTable) add(f *ipFragment, now mono.Time) (pkt []byte, hdrLen int) {
	r.stats[r.ctr.fragments]++
	end := f.off + len(f.data)
	e := r.lookup(&f.key)
	if e != nil && e.dead {
		r.stats[r.ctr.dropped]++
		return nil, 0
	}
	if end > maxReassPayload-r.hdrMin {
		r.stats[r.ctr.toolong]++
		r.discard(e, f, now)
		return nil, 0
	}
	if len(f.data) == 0 || f.more && len(f.data)%8 != 0 || f.off == 0 && len(f.data) < 8 {
		// Nothing, a non-last fragment not a multiple of 8 bytes, or a
		// first fragment too short for the upper-layer header (RFC 7112,
		// RFC 1858): the datagram is not one we reassemble.
		r.discard(e, f, now)
		return nil, 0
	}
	if e == nil {
		e = r.alloc(now)
		e.key = f.key
	}
	// Where the datagram's end is known, nothing may pass it, and a
	// second last fragment must agree.
	if e.total >= 0 && (end > e.total || !f.more && end != e.total) || !f.more && e.got > 0 && e.maxEnd() > end {
		r.discard(e, f, now)
		return nil, 0
	}
	// Keep the ranges sorted; an overlap drops the whole datagram.
	i := 0
	for i < len(e.ranges) && e.ranges[i].end <= f.off {
		i++
	}
	if i < len(e.ranges) && e.ranges[i].off < end {
		if e.ranges[i].off == f.off && e.ranges[i].end == end {
			r.stats[r.ctr.dropped]++ // an exact duplicate: only it goes
			return nil, 0
		}
		r.discard(e, f, now)
		return nil, 0
	}
	if len(e.ranges) == r.cfg.MaxFragsPerPacket {
		r.discard(e, f, now)
		return nil, 0
	}
	e.ranges = e.ranges[:len(e.ranges)+1]
	copy(e.ranges[i+1:], e.ranges[i:])
	e.ranges[i] = fragRange{f.off, end}
	copy(e.buf[reassHeadroom+f.off:], f.data)
	e.got += len(f.data)
	if !f.more {
		e.total = end
	}
	if f.off == 0 {
		e.hdrLen = copy(e.hdr[:], f.hdr)
	}
	if e.total < 0 || e.got != e.total {
		return nil, 0
	}
	// Complete: the ranges do not overlap and add up to the whole.
	r.stats[r.ctr.reassembled]++
	start := reassHeadroom - e.hdrLen
	copy(e.buf[start:], e.hdr[:e.hdrLen])
	pkt, hdrLen = e.buf[start:reassHeadroom+e.total], e.hdrLen
	r.free(e)
	return pkt, hdrLen
}

func (e *reassEntry) maxEnd() int {
	if len(e.ranges) == 0 {
		return 0
	}
	return e.ranges[len(e.ranges)-1].end
}

func (r *reassTable) lookup(k *fragKey) *reassEntry {
	if r.n == 0 {
		return nil
	}
	for i := range r.entries {
		if e := &r.entries[i]; e.used && e.key == *k {
			return e
		}
	}
	return nil
}

// alloc returns a free entry, making room by dropping the datagram that
// would expire first when the table is full (as FreeBSD drops the oldest
// past maxfragpackets).
func (r *reassTable) alloc(now mono.Time) *reassEntry {
	var victim *reassEntry
	for i := range r.entries {
		e := &r.entries[i]
		if !e.used {
			victim = e
			break
		}
		if victim == nil || e.expires < victim.expires {
			victim = e
		}
	}
	if victim.used {
		if !victim.dead {
			r.stats[r.ctr.dropped] += uint64(len(victim.ranges))
		}
		r.free(victim)
	}
	e := victim
	if e.buf == nil {
		e.buf = make([]byte, reassHeadroom+maxReassPayload)
		e.ranges = make([]fragRange, 0, r.cfg.MaxFragsPerPacket)
	}
	e.used, e.dead, e.got, e.total, e.hdrLen = true, false, 0, -1, 0
	e.ranges = e.ranges[:0]
	e.expires = now.Add(r.cfg.TTL)
	if r.n == 0 || e.expires < r.nextScan {
		r.nextScan = e.expires
	}
	r.n++
	return e
}

// discard drops the datagram e (nil: none yet) and the fragment f that
// condemned it, counting them in fragdropped. The datagram's entry stays,
// dead, until it expires: the fragments of it still to come are dropped
// too (RFC 5722: "including those not yet received").
func (r *reassTable) discard(e *reassEntry, f *ipFragment, now mono.Time) {
	if e == nil {
		e = r.alloc(now)
		e.key = f.key
	}
	r.stats[r.ctr.dropped] += uint64(len(e.ranges)) + 1
	e.ranges = e.ranges[:0]
	e.dead = true
	r.dead++
}

func (r *reassTable) free(e *reassEntry) {
	if e.dead {
		r.dead--
	}
	e.used, e.dead = false, false
	e.ranges = e.ranges[:0]
	r.n--
}

// expire drops the datagrams whose time ran out, counting their fragments
// in fragtimeout (FreeBSD's ipq_timeout).
func (r *reassTable) expire(now mono.Time) {
	if r.n == 0 || now < r.nextScan {
		return
	}
	r.nextScan = now.Add(fragScanInterval)
	for i := range r.entries {
		e := &r.entries[i]
		if e.used && e.expires <= now {
			if !e.dead {
				r.stats[r.ctr.timeout] += uint64(len(e.ranges))
			}
			r.free(e)
		}
	}
}

// pending returns the datagrams waiting for fragments (not the dead).
func (r *reassTable) pending() int { return r.n - r.dead }

// inputFragment4 takes an IPv4 fragment (p cut to its total length, ihl
// its header's length) into the core's reassembly, and hands the datagram
// on once it is whole. The frame goes back to the pool either way.
func (c *Core) inputFragment4(d rings.Desc, p []byte, ihl int, now mono.Time) {
	fl := be16(p[6:])
	f := &c.frag
	f.key = fragKey{src: v4Mapped([4]byte(p[12:16])), dst: v4Mapped([4]byte(p[16:20])), id: uint32(be16(p[4:])), proto: p[9]}
	f.off, f.more, f.data, f.hdr = int(fl&0x1fff)*8, fl&0x2000 != 0, p[ihl:], nil
	if f.off == 0 {
		f.hdr = p[:ihl]
	}
	pkt, hl := c.reass4.add(f, now)
	c.pool.Put(d.Addr)
	if pkt == nil {
		return
	}
	// The whole datagram behind the first fragment's header, fixed to say
	// so: its length, no fragment fields, the checksum again.
	put16(pkt[2:], uint16(len(pkt)))
	put16(pkt[6:], 0)
	put16(pkt[10:], 0)
	put16(pkt[10:], Checksum(pkt[:hl], 0))
	switch pkt[9] {
	case protoUDP:
		c.inputUDP(pkt, hl, false, false, now)
	case protoICMP:
		c.stats[ICMPIgnored]++ // fragmented ICMP (a large echo request): not answered
	default:
		c.stats[DropUnknownProtocol]++
	}
}

// inputFragment6 is inputFragment4 for IPv6: p is the packet cut to its
// payload length, off the fragment header's offset. The headers before
// the fragment header (the unfragmentable part) are left out of the
// reassembled packet, which gets the first fragment's IPv6 header with
// the fragment header's next header.
func (c *Core) inputFragment6(d rings.Desc, p []byte, off int, now mono.Time) {
	f := &c.frag
	fl := be16(p[off+2:])
	f.key = fragKey{src: [16]byte(p[8:24]), dst: [16]byte(p[24:40]), id: be32(p[off+4:])}
	f.off, f.more, f.data, f.hdr = int(fl&0xfff8), fl&1 != 0, p[off+8:], nil
	if f.off == 0 {
		copy(c.fragHdr6[:], p[:ipv6HeaderLen])
		c.fragHdr6[6] = p[off]
		f.hdr = c.fragHdr6[:]
	}
	mcast := p[24] == 0xff
	pkt, hl := c.reass6.add(f, now)
	c.pool.Put(d.Addr)
	if pkt == nil {
		return
	}
	put16(pkt[4:], uint16(len(pkt)-hl))
	// Walk what follows: destination options may come before UDP.
	next, o := pkt[6], hl
	for i := 0; i < maxExtHeaders; i++ {
		switch next {
		case protoUDP:
			c.inputUDP(pkt, o, true, mcast, now)
			return
		case 60:
			if o+8 > len(pkt) {
				c.stats[DropMalformed]++
				return
			}
			next, o = pkt[o], o+(int(pkt[o+1])+1)*8
			if o > len(pkt) {
				c.stats[DropMalformed]++
				return
			}
			continue
		case protoICMPv6:
			c.stats[ICMPIgnored]++ // fragmented ICMPv6: not answered
			return
		}
		break
	}
	c.stats[DropUnknownProtocol]++
}
