package engine

import (
	"encoding/binary"
	"fmt"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// Flow steering defaults.
const (
	// DefaultRSSTableSize is the size of the default indirection table
	// (as many NICs' default: 128 entries, entry i -> core i mod cores).
	DefaultRSSTableSize = 128
	// DefaultHandoffBytes is the size of the hand-off ring from one core to
	// another: 64 full-size segments or about 1000 bare ACKs.
	DefaultHandoffBytes = 128 << 10
	// neighShareSlots is the size of the neighbour-update ring from one
	// core to another.
	neighShareSlots = 256
	// maxSteerInPerRing bounds the records a core takes from one hand-off
	// ring per turn, so that its own queue is not starved.
	maxSteerInPerRing = 256
)

// DefaultRSSTable is the indirection table the engine uses for ncores
// cores when Config.RSSTable is nil: DefaultRSSTableSize entries, entry i
// naming core i mod ncores (nil for no cores). A NIC (or the test bed's
// RSS, testbed.SetRSS) given it and the engine's key puts every flow on its
// owner's queue.
func DefaultRSSTable(ncores int) []int {
	if ncores < 1 {
		return nil
	}
	table := make([]int, DefaultRSSTableSize)
	for i := range table {
		table[i] = i % ncores
	}
	return table
}

// steering maps a flow to the core that owns it: the core its RSS hash,
// through the indirection table, names. Read-only after New; shared by
// every core.
type steering struct {
	rss   *cores.RSS
	table []uint16
	mask  uint32
}

func newSteering(key []byte, table []int, ncores int) (*steering, error) {
	if key == nil {
		key = cores.SymmetricRSSKey[:]
	}
	rss, err := cores.NewRSS(key)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if table == nil {
		table = DefaultRSSTable(ncores)
	}
	if len(table) == 0 || len(table)&(len(table)-1) != 0 {
		return nil, fmt.Errorf("engine: RSS indirection table of %d entries: want a power of two", len(table))
	}
	s := &steering{rss: rss, table: make([]uint16, len(table)), mask: uint32(len(table) - 1)}
	for i, c := range table {
		if c < 0 || c >= ncores {
			return nil, fmt.Errorf("engine: RSS indirection table entry %d names core %d of %d", i, c, ncores)
		}
		s.table[i] = uint16(c)
	}
	return s, nil
}

// owner returns the core that owns the connection t (a shard's view: local
// is ours). The hash is over the 4-tuple as it arrives on the wire: source
// the remote end, destination ours, as a NIC hashes it.
func (s *steering) owner(t *flow.Tuple) int {
	var h uint32
	if t.IsIPv4() {
		h = s.rss.HashTCP4([4]byte(t.RemoteAddr[12:]), [4]byte(t.LocalAddr[12:]), t.RemotePort, t.LocalPort)
	} else {
		h = s.rss.HashTCP6(t.RemoteAddr, t.LocalAddr, t.RemotePort, t.LocalPort)
	}
	return int(s.table[h&s.mask])
}

// coreSteer is one core's ends of the hand-off rings.
type coreSteer struct {
	*steering
	out  []*cores.Handoff // out[i]: to core i; nil for this core
	in   []*cores.Handoff // in[i]: from core i; nil for this core
	nout []*rings.SPSC[neighUpdate]
	nin  []*rings.SPSC[neighUpdate]
	nbuf [16]neighUpdate
	one  [1]neighUpdate
	// peers are the cores' loops, to wake one that sleeps when this core
	// handed it work; sent[i] says core i got something this turn.
	peers []*cores.Loop
	sent  []bool
}

// neighUpdate is what one core learnt about a neighbour, for the others.
type neighUpdate struct {
	ip     [16]byte
	mac    [6]byte
	create bool // make an entry when there is none (else only update one)
	// router: ip is a default router for lifetime seconds (0: no longer
	// one), learned from a router advertisement; mac and create are unused.
	router   bool
	lifetime uint16
}

// wireSteering gives every core its ends of a hand-off ring and a
// neighbour-update ring to every other core.
func wireSteering(cs []*Core, st *steering, ringBytes int) error {
	n := len(cs)
	for _, c := range cs {
		c.steer = &coreSteer{steering: st, out: make([]*cores.Handoff, n), in: make([]*cores.Handoff, n),
			nout: make([]*rings.SPSC[neighUpdate], n), nin: make([]*rings.SPSC[neighUpdate], n),
			sent: make([]bool, n)}
	}
	for i := range cs {
		for j := range cs {
			if i == j {
				continue
			}
			h, err := cores.NewHandoff(ringBytes)
			if err != nil {
				return fmt.Errorf("engine: %w", err)
			}
			nr, err := rings.NewSPSC[neighUpdate](neighShareSlots)
			if err != nil {
				return err
			}
			cs[i].steer.out[j], cs[j].steer.in[i] = h, h
			cs[i].steer.nout[j], cs[j].steer.nin[i] = nr, nr
		}
	}
	return nil
}

// Hand-off record layout: kind, hard flag, the segment's ECN codepoint, an
// unused byte, the sequence
// number of an unreachable, the tuple (local, remote, local port, remote
// port), the MTU of a packet too big, then from steerHdr the TCP segment. With the ring's 8-byte header
// the segment starts on a cache line.
const (
	steerKindSegment = 1
	steerKindUnreach = 2
	steerKindUDP     = 3 // a datagram for a socket of the receiving core
	steerKindTooBig  = 4
	steerHdr         = 56
)

// steerOut copies what t's owner must process into the hand-off ring to
// it: a TCP segment (kind steerKindSegment), an unreachable about one of
// our segments (seq, hard) or a packet too big (seq, mtu). It reports
// whether the ring took it.
func (c *Core) steerOut(owner int, kind byte, t *flow.Tuple, seg []byte, seq flow.Seq, hard bool, mtu uint32) bool {
	r := c.steer.out[owner]
	b := r.Reserve(steerHdr + len(seg))
	if b == nil {
		c.stats[HandoffFull]++
		return false
	}
	b[0] = kind
	b[1], b[2] = 0, 0
	if hard {
		b[1] = 1
	}
	if kind == steerKindSegment {
		b[2] = c.rxECN
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(seq))
	copy(b[8:24], t.LocalAddr[:])
	copy(b[24:40], t.RemoteAddr[:])
	binary.LittleEndian.PutUint16(b[40:], t.LocalPort)
	binary.LittleEndian.PutUint16(b[42:], t.RemotePort)
	binary.LittleEndian.PutUint32(b[44:], mtu)
	copy(b[steerHdr:], seg)
	r.Commit()
	c.steer.sent[owner] = true
	c.stats[SteeredOut]++
	return true
}

// Pending implements cores.Pender: a hand-off ring holds a record this
// core has not taken.
func (c *Core) Pending() bool {
	if c.steer == nil {
		return false
	}
	for _, r := range c.steer.in {
		if r != nil && r.Waiting() {
			return true
		}
	}
	return false
}

// steerPoll publishes what this core handed off during the batch, then
// processes what the other cores handed to it. It returns the number of
// records it processed.
func (c *Core) steerPoll(now mono.Time) int {
	s := c.steer
	for i, r := range s.out {
		if r != nil {
			r.Publish()
		}
		if s.sent[i] {
			// An owner asleep in its idle policy's poll(2) would see the
			// records only when the sleep ends.
			s.sent[i] = false
			if s.peers != nil {
				s.peers[i].Wake()
			}
		}
	}
	n := 0
	for _, r := range s.in {
		if r == nil {
			continue
		}
		for k := 0; k < maxSteerInPerRing; k++ {
			b := r.Peek()
			if b == nil {
				break
			}
			c.steerIn(b, now)
			r.Release()
			n++
		}
		r.Done()
	}
	for _, r := range s.nin {
		if r == nil {
			continue
		}
		for {
			k := r.Dequeue(s.nbuf[:])
			for i := 0; i < k; i++ {
				u := &s.nbuf[i]
				if u.router {
					c.setRouter(&u.ip, u.lifetime, now)
				} else {
					c.confirmLocal(&u.ip, u.mac[:], u.create, now)
				}
			}
			n += k
			if k < len(s.nbuf) {
				break
			}
		}
	}
	return n
}

// steerIn processes one record another core handed to this one.
func (c *Core) steerIn(b []byte, now mono.Time) {
	t := &c.tuple
	t.LocalAddr = [16]byte(b[8:24])
	t.RemoteAddr = [16]byte(b[24:40])
	t.LocalPort = binary.LittleEndian.Uint16(b[40:])
	t.RemotePort = binary.LittleEndian.Uint16(b[42:])
	c.stats[SteeredIn]++
	switch b[0] {
	case steerKindSegment:
		c.tcp.ReceiveECN(t, b[steerHdr:], b[2], now)
		c.stats[TCPSegmentsIn]++
	case steerKindUDP:
		c.steerInUDP(t, b[steerHdr:])
	case steerKindUnreach:
		c.tcp.Unreachable(t, flow.Seq(binary.LittleEndian.Uint32(b[4:])), b[1] != 0)
		c.stats[ICMPUnreachIn]++
	case steerKindTooBig:
		c.tcp.PacketTooBig(t, flow.Seq(binary.LittleEndian.Uint32(b[4:])), int(binary.LittleEndian.Uint32(b[44:])), now)
	}
}

// shareNeigh tells the other cores that ip is at mac.
func (c *Core) shareNeigh(ip *[16]byte, mac []byte, create bool) {
	c.share(neighUpdate{ip: *ip, mac: [6]byte(mac), create: create})
}

// shareRouter tells the other cores that ip is a default router for
// lifetime seconds.
func (c *Core) shareRouter(ip *[16]byte, lifetime uint16) {
	c.share(neighUpdate{ip: *ip, router: true, lifetime: lifetime})
}

// share puts u on the neighbour-update ring to every other core.
func (c *Core) share(u neighUpdate) {
	s := c.steer
	s.one[0] = u
	for i, r := range s.nout {
		if r == nil {
			continue
		}
		if r.Enqueue(s.one[:]) == 0 {
			c.stats[HandoffFull]++
		} else {
			s.sent[i] = true
		}
	}
}

// owns reports whether this core owns t (always, without steering).
func (c *Core) owns(t *flow.Tuple) bool { return c.steer == nil || c.steer.owner(t) == c.id }

// AcceptPort implements tcp.PortFilter: an ephemeral port is good when the
// replies of the connection hash to this core and no socket has bound it.
func (s *tcpSender) AcceptPort(t flow.Tuple) bool {
	c := (*Core)(s)
	return c.owns(&t) && (c.ports == nil || !c.ports.Held(t.LocalPort))
}

// Owns implements tcp.Owner, for the pollstackdebug assertion.
func (s *tcpSender) Owns(t *flow.Tuple) bool { return (*Core)(s).owns(t) }

// steerSegment hands a TCP segment for t that this core does not own to its
// owner, and reports whether it did (or dropped it, the ring being full):
// then the caller only frees the frame.
func (c *Core) steerSegment(t *flow.Tuple, seg []byte) bool {
	o := c.steer.owner(t)
	if o == c.id {
		return false
	}
	c.steerOut(o, steerKindSegment, t, seg, 0, false, 0)
	return true
}
