package engine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// Frame layout.
const (
	ethHeaderLen  = 14
	ipv4MinHeader = 20
	ipv6HeaderLen = 40
	arpLen        = 28

	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	ipv4DF = 0x4000 // the IPv4 don't-fragment flag in the flags/offset field

	etherTypeVLAN = 0x8100 // an 802.1Q tag follows the source MAC
	vlanTagLen    = 4
	// MaxVLAN is the highest VLAN ID (4095 is reserved, 0 means priority only).
	MaxVLAN = 4094

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58

	// DefaultTTL is the TTL / hop limit of packets we originate.
	DefaultTTL = 64
	// publishInterval is how often a core copies its counters for readers.
	publishInterval = 10 * time.Millisecond
	// neighScanInterval is how often a core looks for neighbour solicitations due.
	neighScanInterval = 50 * time.Millisecond
)

// CoreConfig is what one core's stack needs to know.
type CoreConfig struct {
	// ID is the core's index in its engine (a label in metrics).
	ID int
	// MAC is the interface's hardware address.
	MAC net.HardwareAddr
	// Addrs are the interface's addresses with their prefixes; at most 8 of each family.
	Addrs []netip.Prefix
	// Sink makes the core count every frame it receives and drop it.
	Sink bool
	// TCP, when not nil, gives the core a TCP shard with this configuration.
	TCP *tcp.Config
	// Routes are the static routes and gateways beside the connected
	// prefixes of Addrs (NewRouteTable).
	Routes []Route
	// AcceptRA makes the core learn IPv6 default routers from router
	// advertisements (ra.go); core 0 also solicits them at start.
	AcceptRA bool
	// Frag4 and Frag6 are the reassembly limits (frag.go); zero fields
	// take the defaults.
	Frag4, Frag6 FragConfig
	// ICMPLim and ICMP6ErrPPSLimit are the port unreachables sent per
	// second (Config's fields of the same names).
	ICMPLim, ICMP6ErrPPSLimit int
	// SolicitRate bounds the ARP requests and neighbour solicitations the
	// core sends a second (NeighSolicitRate when 0; no bound when negative).
	SolicitRate int
	// VLAN, 1..MaxVLAN, makes the core an 802.1Q VLAN's host: it tags
	// every frame it sends with this ID and takes only frames that carry
	// it (vlan.go); 0 means untagged frames.
	VLAN uint16
}

type addr4 struct {
	ip     [4]byte
	prefix netip.Prefix
}

type addr6 struct {
	ip     [16]byte
	prefix netip.Prefix
	snmMAC [6]byte // solicited-node multicast MAC
}

// MaxAddrs bounds the addresses of each family on one interface.
const MaxAddrs = 8

// Core is one core's stack. Owned by its core's loop; not safe for concurrent use.
type Core struct {
	id   int
	sink bool
	link rings.Link
	pool *rings.Pool
	mac  [6]byte
	vlan uint16 // 802.1Q VLAN ID, 0 for none (vlan.go)
	// txRoom is the room the link wants before every transmitted frame
	// (its transmit metadata); txCsum says the link completes TCP
	// checksums that a frame's metadata asks for (rings.TxOffloads).
	txRoom uint64
	txCsum bool
	v4     []addr4
	v6     []addr6
	routes *RouteTable // immutable: read without a lock
	neigh  *neighTable
	pend   pendQueue     // frames waiting for a neighbour's address, at most the budget
	solBud solicitBudget // solicitations this core may still send (CoreConfig.SolicitRate)

	rx    [rings.IdealBatch]rings.Desc
	tx    [rings.IdealBatch]rings.Desc
	ntx   int
	ipID  uint16
	stats Counters
	pub   Published

	lastPublish mono.Time
	nextScan    mono.Time
	onEcho      EchoReplyFunc

	tcp      *tcp.Shard
	tuple    flow.Tuple // scratch for the segment being received
	tcpFrame rings.Desc // the frame the shard is writing a segment into
	rxECN    uint8      // the ECN codepoint of the TCP segment being received
	// The frame being received: its IP source (IPv4-mapped; zero between
	// frames) and Ethernet source. A reply to it that finds no neighbour
	// entry and no solicitation budget goes to that MAC (see output).
	rxFrom [16]byte
	rxMAC  [6]byte
	// senders keeps the Ethernet sources of on-link peers heard from
	// while new neighbours are refused a solicitation (senderCache).
	senders senderCache
	// wq queues the goroutines the core wakes until the end of its turn
	// (wakeq.go); nil before the engine starts, and for cores run alone.
	wq     *wakeQueue
	now    mono.Time // time of the current batch or timer run
	tcpPub tcpPublished

	// Sockets that hold a ring, swept for idle ones (sockring.go).
	ringSocks     []*Socket
	nextRingSweep mono.Time
	ringSweep     time.Duration // < 0: none
	ringsSwept    uint64        // rings the sweeps gave back (tests)

	steer *coreSteer // flow steering between cores; nil with one core
	ports *portTable // the engine's bound ports, kept out of ephemeral picks

	// ICMPv6 errors sent in the second errSec (the engine clock's whole seconds).
	errSec, errCount int64

	// Default routers learned from router advertisements (ra.go).
	acceptRA       bool
	routers        [MaxRouters]defRouter
	nrouters       int
	routersChanged bool
	routersPub     atomic.Pointer[[]LearnedRouter]
	rsSent         int
	nextRS         mono.Time

	// UDP (udp.go) and fragments (frag.go).
	udp        *udpTable // the engine's UDP sockets: read lock-free
	mtu        int       // the link MTU our datagrams are fragmented to
	fragID6    uint32    // identification of the IPv6 fragments we send
	unreachLim rateLimit // port unreachables sent this second
	icmpLim    int       // net.inet.icmp.icmplim
	icmp6Lim   int       // net.inet6.icmp6.errppslimit
	reass4     *reassTable
	reass6     *reassTable
	frag       ipFragment // scratch for the fragment being received
	fragHdr6   [ipv6HeaderLen]byte
}

// NewCore returns the stack for one core, reading and writing through link.
func NewCore(cfg CoreConfig, link rings.Link) (*Core, error) {
	if len(cfg.MAC) != 6 {
		return nil, fmt.Errorf("engine: MAC address %q is not a 6-byte Ethernet address", cfg.MAC)
	}
	if link == nil {
		return nil, errors.New("engine: no link")
	}
	if cfg.VLAN > MaxVLAN {
		return nil, fmt.Errorf("engine: VLAN ID %d: want 1..%d (0: none)", cfg.VLAN, MaxVLAN)
	}
	c := &Core{id: cfg.ID, sink: cfg.Sink, link: link, pool: link.Pool(), neigh: newNeighTable(), acceptRA: cfg.AcceptRA, mtu: 1500, vlan: cfg.VLAN,
		ringSweep: ringSweepInterval}
	off := rings.TxOffloadsOf(link)
	// With a VLAN, send moves the frame to make room for the tag, and
	// its metadata would stay behind: the core computes the checksums.
	c.txRoom, c.txCsum = uint64(off.Room), off.Checksum && cfg.VLAN == 0
	c.solBud.init(cfg.SolicitRate)
	if cfg.TCP != nil {
		c.mtu = cfg.TCP.MTU
	}
	var seed [6]byte
	rand.Read(seed[:])
	c.ipID = uint16(seed[0])<<8 | uint16(seed[1]) // unpredictable first identifications
	c.fragID6 = uint32(seed[2])<<24 | uint32(seed[3])<<16 | uint32(seed[4])<<8 | uint32(seed[5])
	for _, f := range []FragConfig{cfg.Frag4, cfg.Frag6} {
		if f.MaxFragPackets < 0 || f.MaxFragPackets > MaxMaxFragPackets || f.MaxFragsPerPacket < 0 ||
			f.MaxFragsPerPacket > MaxMaxFragsPerPacket || f.TTL < 0 {
			return nil, fmt.Errorf("engine: reassembly limits %+v: want 0 (default) or 1..%d datagrams, 1..%d fragments, a TTL of 0 (default) or more",
				f, MaxMaxFragPackets, MaxMaxFragsPerPacket)
		}
	}
	c.icmpLim, c.icmp6Lim = icmpLimOr(cfg.ICMPLim, DefaultICMPLim), icmpLimOr(cfg.ICMP6ErrPPSLimit, DefaultICMP6ErrPPSLimit)
	c.reass4 = newReassTable(cfg.Frag4, false, &c.stats, reassCounters{IPFragments, IPFragDropped, IPFragTimeout, IPReassembled, IPTooLong})
	c.reass6 = newReassTable(cfg.Frag6, true, &c.stats, reassCounters{IP6Fragments, IP6FragDropped, IP6FragTimeout, IP6Reassembled, IP6TooLong})
	// The pool's reserve (receive refills and control segments only) and the
	// budget of frames waiting for neighbours: docs/tunables.md.
	c.pool.SetReserve(rings.ReserveFrames(c.pool.Frames()))
	c.pend = newPendQueue(rings.PendingFrames(c.pool.Frames()))
	copy(c.mac[:], cfg.MAC)
	for _, p := range cfg.Addrs {
		if !p.IsValid() {
			return nil, fmt.Errorf("engine: invalid address prefix %v", p)
		}
		a := p.Addr()
		switch {
		case a.Is4():
			if len(c.v4) == MaxAddrs {
				return nil, fmt.Errorf("engine: more than %d IPv4 addresses", MaxAddrs)
			}
			c.v4 = append(c.v4, addr4{ip: a.As4(), prefix: p.Masked()})
		case a.Is6() && !a.Is4In6():
			if len(c.v6) == MaxAddrs {
				return nil, fmt.Errorf("engine: more than %d IPv6 addresses", MaxAddrs)
			}
			if a.IsMulticast() {
				return nil, fmt.Errorf("engine: %v is a multicast address", a)
			}
			e := addr6{ip: a.As16(), prefix: p.Masked()}
			e.snmMAC = [6]byte{0x33, 0x33, 0xff, e.ip[13], e.ip[14], e.ip[15]}
			c.v6 = append(c.v6, e)
		default:
			return nil, fmt.Errorf("engine: unsupported address %v", p)
		}
	}
	var err error
	if c.routes, err = NewRouteTable(cfg.Addrs, cfg.Routes); err != nil {
		return nil, err
	}
	if cfg.TCP != nil {
		shard, err := tcp.NewShard(*cfg.TCP, (*tcpSender)(c))
		if err != nil {
			return nil, err
		}
		c.tcp = shard
	}
	if len(c.v6) > 0 && len(c.v6) < MaxAddrs {
		// A link-local address from the MAC (RFC 4291 appendix A), so that
		// peers may reach us on fe80::/64 too.
		ll := [16]byte{0: 0xfe, 1: 0x80, 8: c.mac[0] ^ 0x02, 9: c.mac[1], 10: c.mac[2],
			11: 0xff, 12: 0xfe, 13: c.mac[3], 14: c.mac[4], 15: c.mac[5]}
		if !c.ours6(ll[:]) {
			e := addr6{ip: ll, prefix: netip.PrefixFrom(netip.AddrFrom16(ll), 64).Masked()}
			e.snmMAC = [6]byte{0x33, 0x33, 0xff, ll[13], ll[14], ll[15]}
			c.v6 = append(c.v6, e)
		}
	}
	return c, nil
}

// ID returns the core's index.
func (c *Core) ID() int { return c.id }

// Link returns the core's link.
func (c *Core) Link() rings.Link { return c.link }

// Counters returns the core's live counters. Owner only.
func (c *Core) Counters() *Counters { return &c.stats }

// Published returns the snapshot readers on other goroutines may load.
func (c *Core) Published() *Published { return &c.pub }

// Poll receives one batch, processes it to completion and transmits what it
// produced. It returns the number of frames received.
func (c *Core) Poll(now mono.Time) int {
	c.now = now
	n := c.link.Receive(c.rx[:])
	if n == 0 {
		c.stats[PollIdle]++
	} else {
		c.stats[PollBusy]++
	}
	if c.sink {
		for i := 0; i < n; i++ {
			c.stats[RxBytes] += uint64(c.rx[i].Len)
			c.pool.Put(c.rx[i].Addr)
		}
		c.stats[RxPackets] += uint64(n)
		return n
	}
	if c.tcp != nil {
		c.tcp.BeginBatch()
	}
	for i := 0; i < n; i++ {
		c.input(c.rx[i], now)
	}
	if c.steer != nil {
		n += c.steerPoll(now)
	}
	if c.tcp != nil {
		c.tcp.EndBatch(now) // the ACKs the batch owes, one per connection (tcp/batch.go)
	}
	c.flush()
	return n
}

// Timers runs the core's due timers: neighbour solicitations and the
// publication of counters.
func (c *Core) Timers(now mono.Time) {
	c.now = now
	if c.tcp != nil {
		c.tcp.Tick(now)
		c.flush()
	}
	if len(c.ringSocks) > 0 && now >= c.nextRingSweep && c.ringSweep >= 0 {
		c.sweepRings(now)
	}
	if c.neigh.probing > 0 && now >= c.nextScan {
		c.nextScan = now.Add(neighScanInterval)
		c.neighScan(now)
		c.flush()
	}
	if c.acceptRA && c.id == 0 && len(c.v6) > 0 {
		c.solicitRouters(now)
		c.flush()
	}
	c.reass4.expire(now)
	c.reass6.expire(now)
	if now.Sub(c.lastPublish) >= publishInterval {
		c.Publish(now)
	}
}

// Publish copies the counters into the snapshot now.
func (c *Core) Publish(now mono.Time) {
	c.lastPublish = now
	c.stats[NeighEntries] = uint64(c.neigh.n)
	ls := c.link.Stats()
	c.stats[LinkRxRingEmpty] = ls.RxRingEmpty
	c.stats[LinkTxRingFull] = ls.TxRingFull
	c.stats[LinkFillRingEmpty] = ls.FillRingEmpty
	if ls.KernelRxDropped != c.stats[KernelRxDropped] && c.tcp != nil {
		c.tcp.RxDropped(now) // tcp/pmtu.go: timeouts now may be our own drops
	}
	c.stats[KernelRxDropped] = ls.KernelRxDropped
	c.stats[KernelRxInvalid] = ls.KernelRxInvalid
	c.stats[KernelTxInvalid] = ls.KernelTxInvalid
	c.stats[PoolFree] = uint64(c.pool.Free())
	ps := c.pool.Stats()
	c.stats[PoolReserveUsed], c.stats[PoolReserveDenied], c.stats[PoolEmpty] = ps.ReserveUsed, ps.ReserveDenied, ps.Empty
	if o, ok := c.link.(rings.Occupier); ok {
		occ := o.Occupancy()
		c.stats[RxRingUsed], c.stats[TxRingUsed], c.stats[FillRingUsed] = uint64(occ.Rx), uint64(occ.Tx), uint64(occ.Fill)
	}
	if c.tcp != nil {
		c.tcpPub.store(c.tcp)
	}
	c.publishRouters()
	c.pub.store(&c.stats)
}

// Wait sleeps until frames may be ready or timeout passes.
func (c *Core) Wait(timeout time.Duration) { c.link.Wait(timeout) }

// EndTurn implements cores.TurnEnder: the goroutines the turn woke are
// told, with one write for all of them.
func (c *Core) EndTurn() {
	if c.wq != nil {
		c.wq.flush()
	}
}

// wake wakes the goroutine waiting on ch (a buffered channel of one, as
// poke takes): through the wake queue when the core has one, at the end of
// its turn. On the core only.
func (c *Core) wake(ch chan struct{}) {
	if c.wq != nil {
		c.wq.add(ch)
		return
	}
	poke(ch)
}

// Flush transmits frames queued for sending. Poll and Timers do it themselves.
func (c *Core) Flush() { c.flush() }

// input handles one received frame; the frame is either reused for a reply,
// queued, or returned to the pool.
func (c *Core) input(d rings.Desc, now mono.Time) {
	c.stats[RxPackets]++
	c.stats[RxBytes] += uint64(d.Len)
	b := c.pool.Bytes(d)
	if len(b) < ethHeaderLen {
		c.drop(d, DropMalformed)
		return
	}
	if !c.acceptMAC(b[0:6]) {
		c.drop(d, DropNotForUs)
		return
	}
	if be16(b[12:]) == etherTypeVLAN || c.vlan != 0 {
		var ok bool
		if d, b, ok = c.untag(d, b); !ok {
			return
		}
	}
	c.rxMAC = [6]byte(b[6:12])
	switch be16(b[12:]) {
	case etherTypeIPv4:
		c.inputIPv4(d, b, now)
	case etherTypeARP:
		c.inputARP(d, b, now)
	case etherTypeIPv6:
		c.inputIPv6(d, b, now)
	default:
		c.drop(d, DropUnknownProtocol)
	}
	c.rxFrom = [16]byte{}
}

// acceptMAC reports whether a frame to dst is ours: our address, broadcast,
// IPv6 all-nodes, or the solicited-node group of one of our IPv6 addresses.
func (c *Core) acceptMAC(dst []byte) bool {
	if [6]byte(dst) == c.mac {
		return true
	}
	if dst[0]&1 == 0 {
		return false
	}
	if [6]byte(dst) == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		return true
	}
	if dst[0] == 0x33 && dst[1] == 0x33 {
		if [4]byte(dst[2:]) == [4]byte{0, 0, 0, 1} {
			return true
		}
		for i := range c.v6 {
			if [6]byte(dst) == c.v6[i].snmMAC {
				return true
			}
		}
	}
	return false
}

// drop returns a frame to the pool and counts why.
func (c *Core) drop(d rings.Desc, why Counter) {
	c.stats[why]++
	c.pool.Put(d.Addr)
}

// send queues a complete frame for transmission.
func (c *Core) send(d rings.Desc) {
	if c.vlan != 0 {
		var ok bool
		if d, ok = c.tag(d); !ok {
			return
		}
	}
	if c.txRoom != 0 && d.Addr&uint64(c.pool.FrameSize()-1) < c.txRoom {
		var ok bool
		if d, ok = c.makeTxRoom(d); !ok {
			return
		}
	}
	if c.ntx == len(c.tx) {
		c.flush()
	}
	c.tx[c.ntx] = d
	c.ntx++
}

// makeTxRoom moves the packet in d, which starts too early in its frame
// for the link's transmit metadata (a received frame sent back, which the
// kernel put near the frame's start), to just past that room.
func (c *Core) makeTxRoom(d rings.Desc) (rings.Desc, bool) {
	base := d.Addr &^ uint64(c.pool.FrameSize()-1)
	f := c.pool.Frame(base)
	if c.txRoom+uint64(d.Len) > uint64(len(f)) {
		c.drop(d, DropMalformed)
		return d, false
	}
	off := d.Addr - base
	copy(f[c.txRoom:c.txRoom+uint64(d.Len)], f[off:off+uint64(d.Len)])
	d.Addr = base + c.txRoom
	return d, true
}

// flush hands queued frames to the link; what it refuses is dropped.
func (c *Core) flush() {
	if c.ntx == 0 {
		// Let the link reap its completions.
		c.link.Transmit(c.tx[:0])
		return
	}
	n := c.link.Transmit(c.tx[:c.ntx])
	for i := 0; i < n; i++ {
		c.stats[TxPackets]++
		c.stats[TxBytes] += uint64(c.tx[i].Len)
	}
	for i := n; i < c.ntx; i++ {
		c.drop(c.tx[i], DropRingFull)
	}
	c.ntx = 0
}

// newFrame takes a frame from the pool for a packet we originate; it
// leaves the pool's reserve alone. On a VLAN the packet starts after
// room for the tag, which send inserts without moving the packet.
func (c *Core) newFrame() (rings.Desc, []byte, bool) {
	addr, ok := c.pool.Get()
	if !ok {
		c.stats[DropRingFull]++
		return rings.Desc{}, nil, false
	}
	addr += c.txRoom
	if c.vlan != 0 {
		addr += vlanTagLen
	}
	return rings.Desc{Addr: addr}, c.pool.Frame(addr), true
}

// newControlFrame is newFrame for a TCP segment that carries no data
// (SYN-ACK, ACK, FIN, RST): it may take the pool's reserve.
func (c *Core) newControlFrame() (rings.Desc, []byte, bool) {
	addr, ok := c.pool.GetReserved()
	if !ok {
		c.stats[DropRingFull]++
		return rings.Desc{}, nil, false
	}
	addr += c.txRoom
	if c.vlan != 0 {
		addr += vlanTagLen
	}
	return rings.Desc{Addr: addr}, c.pool.Frame(addr), true
}

// output sends a frame whose Ethernet header is complete but for the
// destination MAC, to the on-link neighbour nexthop (IPv4 as ::ffff:a.b.c.d).
func (c *Core) output(d rings.Desc, nexthop *[16]byte, now mono.Time) {
	e := c.neigh.lookup(nexthop)
	if e != nil && e.state != neighIncomplete {
		if e.state == neighReachable && now >= e.expires {
			e.state = neighStale
			c.solicitStart(e, now)
		}
		copy(c.pool.Bytes(d)[0:6], e.mac[:])
		c.send(d)
		return
	}
	if e == nil {
		if !c.solBud.takeNew(now) {
			c.sendToSender(d, nexthop, now)
			return
		}
		if e = c.neigh.insert(nexthop); e == nil && c.evictIncomplete(nexthop) {
			e = c.neigh.insert(nexthop)
		}
		if e == nil {
			c.drop(d, DropUnresolved)
			return
		}
		e.state = neighIncomplete
		c.probeStart(e, now)
		c.solicit(e) // its token is taken
	}
	c.queuePending(e, d)
}

// sendToSender sends d, for a new neighbour the solicitation budget has
// no room for, to the Ethernet source of the frame being received when d
// answers it (nexthop is that frame's IP source, so it came from the
// neighbour itself, not through a router), or to the one senders learned
// for nexthop; else it drops d. It keeps no entry: a flood of forged
// on-link sources gets its answers where its frames came from, without a
// solicitation or a frame waiting for each, and a real client new to us
// is answered at once instead of after its retransmission. It never
// answers a group address.
func (c *Core) sendToSender(d rings.Desc, nexthop *[16]byte, now mono.Time) {
	c.senders.refusing = now.Add(senderLearnFor)
	mac, ok := c.rxMAC, *nexthop == c.rxFrom && c.rxMAC[0]&1 == 0
	if !ok {
		mac, ok = c.senders.lookup(nexthop)
	}
	if !ok {
		c.drop(d, DropSolicitLimit)
		return
	}
	copy(c.pool.Bytes(d)[0:6], mac[:])
	c.stats[NeighSentToSender]++
	c.send(d)
}

// senderLearnFor is how long after a reply went to its sender's MAC (new
// neighbours being refused a solicitation) the core keeps learning
// senders (senderCache).
const senderLearnFor = 10 * time.Second

// senderCache remembers, while the solicitation budget refuses new
// neighbours, the Ethernet source of on-link peers whose TCP segments
// without SYN arrive (a handshake's last ACK, data): what the core sends
// them outside the frame it answers (a segment sent at the end of the
// receive batch, a retransmission, a response written later) goes there,
// where sendToSender alone could only drop it until the flood ends. A
// SYN flood from forged sources sends no such segments and does not
// displace them. Direct-mapped by the address, a few KiB a core; on the
// core only.
type senderCache struct {
	refusing mono.Time // learn until then (sendToSender sets it)
	slots    [senderSlots]struct {
		ip  [16]byte
		mac [6]byte
		ok  bool
	}
}

const senderSlots = 256

// learn records that ip's frames come from mac, while new neighbours are
// being refused.
func (s *senderCache) learn(ip *[16]byte, mac [6]byte, now mono.Time) {
	if now >= s.refusing || mac[0]&1 != 0 {
		return
	}
	e := &s.slots[senderSlot(ip)]
	e.ip, e.mac, e.ok = *ip, mac, true
}

// lookup returns the MAC learned for ip.
func (s *senderCache) lookup(ip *[16]byte) ([6]byte, bool) {
	e := &s.slots[senderSlot(ip)]
	return e.mac, e.ok && e.ip == *ip
}

// senderSlot hashes ip to a slot: the address's last eight bytes (an
// IPv4 address in its last four) folded.
func senderSlot(ip *[16]byte) int {
	x := uint64(ip[8])<<56 | uint64(ip[9])<<48 | uint64(ip[10])<<40 | uint64(ip[11])<<32 |
		uint64(ip[12])<<24 | uint64(ip[13])<<16 | uint64(ip[14])<<8 | uint64(ip[15])
	x *= 0x9e3779b97f4a7c15
	return int(x >> (64 - 8))
}

// solicitStart sends the first solicitation for e, when the budget allows
// (else the scan sends it when it does), and arms its retry.
func (c *Core) solicitStart(e *neighEntry, now mono.Time) {
	c.probeStart(e, now)
	if c.solBud.take(now) {
		c.solicit(e)
	} else {
		// Not sent: the next scan tries (one of its tries spent).
		e.expires = now
		c.nextScan = now
	}
}

// probeStart counts e's first solicitation and arms its retry.
func (c *Core) probeStart(e *neighEntry, now mono.Time) {
	if e.probes == 0 {
		c.neigh.probing++
	}
	e.probes = 1
	e.expires = now.Add(NeighRetrans)
	if c.nextScan > e.expires || c.nextScan <= now {
		c.nextScan = e.expires
	}
}

// confirm records that ip is at mac, and sends the frames that waited for it.
// create says whether to make an entry when there is none. The other cores
// learn it too: they make an entry when this core would have, or when this
// core had one (it asked, so the answer is one to keep); otherwise they
// only update one they have (an answer to their own solicitation may
// arrive on this core's queue).
func (c *Core) confirm(ip *[16]byte, mac []byte, create bool, now mono.Time) {
	had := c.confirmLocal(ip, mac, create, now)
	if c.steer != nil {
		c.shareNeigh(ip, mac, create || had)
	}
}

// confirmLocal is confirm for this core's cache only. It reports whether
// the core had an entry for ip.
func (c *Core) confirmLocal(ip *[16]byte, mac []byte, create bool, now mono.Time) (had bool) {
	e := c.neigh.lookup(ip)
	had = e != nil
	if e == nil {
		if !create {
			return false
		}
		if e = c.neigh.insert(ip); e == nil && c.evictIncomplete(ip) {
			e = c.neigh.insert(ip)
		}
		if e == nil {
			return false
		}
	}
	copy(e.mac[:], mac)
	e.state = neighReachable
	e.expires = now.Add(NeighReachable)
	if e.probes > 0 {
		c.neigh.probing--
		e.probes = 0
	}
	c.releasePending(e, mac)
	return had
}

// neighScan retries or gives up solicitations that are due.
func (c *Core) neighScan(now mono.Time) {
	t := c.neigh
	for i := 0; i < len(t.slots) && t.probing > 0; i++ {
		e := &t.slots[i]
		if e.state == neighFree || e.probes == 0 || e.expires > now {
			continue
		}
		if e.probes >= NeighMaxProbes {
			c.releasePending(e, nil)
			t.remove(e)
			i-- // a later entry may have shifted into slot i
			continue
		}
		if !c.solBud.take(now) {
			continue // the next scan tries again
		}
		e.probes++
		e.expires = now.Add(NeighRetrans)
		c.solicit(e)
	}
	c.nextScan = now.Add(neighScanInterval)
}

// solicit sends an ARP request or a neighbour solicitation for e.
func (c *Core) solicit(e *neighEntry) {
	if isV4Mapped(&e.ip) {
		c.sendARPRequest([4]byte(e.ip[12:]))
	} else {
		c.sendNS(&e.ip)
	}
}

// onLink4 reports whether dst is on one of our connected IPv4 prefixes.
func (c *Core) onLink4(dst [4]byte) bool {
	a := netip.AddrFrom4(dst)
	for i := range c.v4 {
		if c.v4[i].prefix.Contains(a) {
			return true
		}
	}
	return false
}

// route4 returns the neighbour a packet to dst goes to (IPv4-mapped): dst
// itself on a connected prefix, else the router of the longest route that
// holds it; false when none does (no_route).
func (c *Core) route4(dst [4]byte) ([16]byte, bool) { return c.routes.nexthop4(dst) }

// route6 is route4 for IPv6; where the table has no route, a default
// router learned from router advertisements (ra.go) is one.
func (c *Core) route6(dst *[16]byte) ([16]byte, bool) {
	if nh, ok := c.routes.nexthop6(dst); ok {
		return nh, true
	}
	if c.nrouters == 0 {
		return [16]byte{}, false
	}
	return c.learnedRouter()
}

func isV4Mapped(ip *[16]byte) bool {
	return [12]byte(ip[:12]) == [12]byte{10: 0xff, 11: 0xff}
}

func v4Mapped(ip [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: ip[0], 13: ip[1], 14: ip[2], 15: ip[3]}
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func put16(b []byte, v uint16) { b[0] = byte(v >> 8); b[1] = byte(v) }
