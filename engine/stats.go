package engine

import (
	"sync/atomic"

	"github.com/pollstack/pollstack/tcp"
)

// Counter indexes a Core's counters. Counters are plain integers written only
// by the owning core; Publish copies them for readers on other goroutines.
type Counter int

// Counters. The Drop* group are frames dropped, by reason.
const (
	RxPackets Counter = iota
	RxBytes
	TxPackets
	TxBytes
	DropMalformed       // truncated or inconsistent headers
	DropChecksum        // bad IPv4 header, ICMP or ICMPv6 checksum
	DropNoRoute         // no route to the destination: no connected prefix, static route or gateway holds it
	DropRingFull        // no frame in the pool or no room on the tx ring
	DropUnknownProtocol // unknown EtherType or IP next header
	DropNotForUs        // another host's MAC or IP address, ARP for another host
	DropFragment        // IPv6 fragment headers cut short (fragments go to reassembly, frag.go)
	DropUnresolved      // waited for a neighbour that did not answer, or the wait queue was full
	DropNeighBudget     // waited for a neighbour, dropped oldest first: the core's budget of waiting frames was full
	DropSolicitLimit    // for a new neighbour, when the core's solicitation budget (NeighSolicitRate) was spent and the frame was no reply to its sender's frame
	DropVLANMismatch    // 802.1Q frames of another VLAN than ours (or tagged frames without --vlan)
	DropVLANUntagged    // untagged frames on a core that is on a VLAN
	ICMPIgnored         // ICMP/ICMPv6 messages that need no answer
	ARPRequestsIn
	ARPRepliesIn
	ARPRequestsOut
	ARPRepliesOut
	NDSolicitsIn
	NDAdvertsIn
	NDSolicitsOut
	NDAdvertsOut
	EchoRequestsIn
	EchoRepliesOut
	EchoRepliesIn
	ParamProblemsOut   // ICMPv6 parameter problems sent
	ICMPUnreachIn      // destination unreachable messages about our TCP segments
	ICMPTooBigIn       // fragmentation needed (ICMP) and packet too big (ICMPv6) about our TCP segments, handed to TCP
	ICMPTooBigBelowMin // fragmentation needed and packet too big dropped before TCP (not in ICMPTooBigIn): the MTU offered is below the minimum (576, IPv6 1280)
	TCPSegmentsIn      // TCP segments handed to the shard (checksum good)
	TCPSegmentsOut     // TCP segments the shard sent
	TCPChecksumOffload // of those, segments whose checksum the link completes (--tx-checksum offload)
	PollBusy           // loop turns that found work
	PollIdle           // loop turns that found none
	NeighEntries       // gauge
	NeighSentToSender  // frames for a new neighbour sent to the Ethernet source of the frame they answer, or of its TCP segments without SYN: the solicitation budget was spent
	LinkRxRingEmpty    // link: receive polls that found nothing
	LinkTxRingFull     // link: frames refused for lack of room on the tx ring
	LinkFillRingEmpty  // link: times the pool had no frame for the fill ring
	KernelRxDropped    // AF_XDP: frames the kernel dropped (no fill frame, rx ring full)
	KernelRxInvalid    // AF_XDP: invalid rx descriptors
	KernelTxInvalid    // AF_XDP: invalid tx descriptors
	SteeredOut         // TCP segments and unreachables handed to the flow's owner core
	SteeredIn          // TCP segments and unreachables taken from other cores' hand-off rings
	HandoffFull        // hand-offs (segments, unreachables, neighbour updates) dropped: the ring to the other core was full
	DialledIn          // TCP segments received for flows whose local port is in the ephemeral range (connections the engine dialled), on engines of more than one core
	DialledSteered     // of DialledIn, those that arrived on another core than their owner and were handed to it
	PoolFree           // gauge: frames free in the core's pool
	RxRingUsed         // gauge: descriptors waiting on the rx ring
	TxRingUsed         // gauge: descriptors on the tx ring the kernel has not taken
	FillRingUsed       // gauge: frames lent to the kernel on the fill ring
	PoolReserveUsed    // frames receive refills and control segments took from the pool's reserve
	PoolReserveDenied  // frames refused to data and other packets: only the reserve was left
	PoolEmpty          // frames refused with the pool empty, reserve and all
	RouterAdvIn        // IPv6 router advertisements received
	RouterAdvTaken     // of those, the ones taken in (--accept-ra, valid)
	RouterSolOut       // IPv6 router solicitations sent (--accept-ra)
	// udpstat (FreeBSD's names).
	UDPIPackets    // UDP datagrams received (udps_ipackets)
	UDPHdrOps      // shorter than a UDP header (udps_hdrops)
	UDPBadSum      // bad UDP checksum (udps_badsum)
	UDPNoSum       // IPv6 UDP datagrams without a checksum, dropped (udps_nosum, RFC 8200 8.1)
	UDPBadLen      // UDP length beyond the packet or below 8 (udps_badlen)
	UDPNoPort      // no socket on the port (udps_noport): answered with a port unreachable
	UDPNoPortMcast // no socket on the port, to a multicast group: no answer (udps_noportmcast)
	UDPFullSock    // the socket's receive queue (SO_RCVBUF) was full (udps_fullsock)
	UDPOPackets    // UDP datagrams sent (udps_opackets)
	ICMPUnreachOut // ICMP/ICMPv6 port unreachables sent
	ICMPLimited    // port unreachables not sent: past icmplim (IPv4) or errppslimit (IPv6)
	// ipstat and ip6stat: fragments and reassembly.
	IPFragments    // IPv4 fragments received (ips_fragments)
	IPFragDropped  // IPv4 fragments dropped: overlaps, limits, bad lengths (ips_fragdropped)
	IPFragTimeout  // IPv4 fragments dropped when their datagram timed out (ips_fragtimeout)
	IPReassembled  // IPv4 datagrams reassembled (ips_reassembled)
	IPTooLong      // IPv4 fragments that would make a datagram over 65535 bytes (ips_toolong)
	IPFragmented   // IPv4 datagrams we sent in fragments (ips_fragmented)
	IPOFragments   // IPv4 fragments we sent (ips_ofragments)
	IP6Fragments   // IPv6 fragments received (ip6s_fragments)
	IP6FragDropped // IPv6 fragments dropped (ip6s_fragdropped)
	IP6FragTimeout // IPv6 fragments dropped when their datagram timed out (ip6s_fragtimeout)
	IP6Reassembled // IPv6 datagrams reassembled (ip6s_reassembled)
	IP6TooLong     // IPv6 fragments that would make a payload over 65535 bytes (ip6s_toolong)
	IP6Fragmented  // IPv6 datagrams we sent in fragments (ip6s_fragmented)
	IP6OFragments  // IPv6 fragments we sent (ip6s_ofragments)
	numCounters
)

var counterNames = [numCounters]string{
	RxPackets: "rx_packets", RxBytes: "rx_bytes", TxPackets: "tx_packets", TxBytes: "tx_bytes",
	DropMalformed: "malformed", DropChecksum: "checksum", DropNoRoute: "no_route",
	DropRingFull: "ring_full", DropUnknownProtocol: "unknown_protocol",
	DropNotForUs: "not_for_us", DropFragment: "fragment", DropUnresolved: "unresolved", DropNeighBudget: "neigh_budget",
	DropSolicitLimit: "solicit_limit", DropVLANMismatch: "vlan_mismatch", DropVLANUntagged: "vlan_untagged",
	ICMPIgnored:   "icmp_ignored",
	ARPRequestsIn: "arp_requests_in", ARPRepliesIn: "arp_replies_in",
	ARPRequestsOut: "arp_requests_out", ARPRepliesOut: "arp_replies_out",
	NDSolicitsIn: "nd_solicits_in", NDAdvertsIn: "nd_adverts_in",
	NDSolicitsOut: "nd_solicits_out", NDAdvertsOut: "nd_adverts_out",
	EchoRequestsIn: "echo_requests_in", EchoRepliesOut: "echo_replies_out", EchoRepliesIn: "echo_replies_in",
	ICMPUnreachIn: "icmp_unreach_in", ICMPTooBigIn: "icmp_too_big_in", ICMPTooBigBelowMin: "icmp_too_big_below_min", TCPSegmentsIn: "tcp_segments_in", TCPSegmentsOut: "tcp_segments_out", TCPChecksumOffload: "tcp_checksum_offloaded",
	PollBusy: "poll_busy", PollIdle: "poll_idle", NeighEntries: "neighbour_entries", NeighSentToSender: "neigh_sent_to_sender",
	LinkRxRingEmpty: "rx_ring_empty", LinkTxRingFull: "tx_ring_full", LinkFillRingEmpty: "fill_ring_empty",
	KernelRxDropped: "kernel_rx_dropped", KernelRxInvalid: "kernel_rx_invalid", KernelTxInvalid: "kernel_tx_invalid",
	SteeredOut: "steered_out", SteeredIn: "steered_in", HandoffFull: "handoff_full",
	DialledIn: "dialled_segments_in", DialledSteered: "dialled_segments_steered",
	PoolFree: "pool_free_frames", RxRingUsed: "rx_ring_used", TxRingUsed: "tx_ring_used", FillRingUsed: "fill_ring_used",
	PoolReserveUsed: "pool_reserve_used", PoolReserveDenied: "pool_reserve_denied", PoolEmpty: "pool_empty",
	ParamProblemsOut: "icmp6_param_problems_out",
	RouterAdvIn:      "nd_router_adverts_in", RouterAdvTaken: "nd_router_adverts_accepted", RouterSolOut: "nd_router_solicits_out",
	UDPIPackets: "udp_ipackets", UDPHdrOps: "udp_hdrops", UDPBadSum: "udp_badsum", UDPNoSum: "udp_nosum",
	UDPBadLen: "udp_badlen", UDPNoPort: "udp_noport", UDPNoPortMcast: "udp_noportmcast", UDPFullSock: "udp_fullsock",
	UDPOPackets: "udp_opackets", ICMPUnreachOut: "icmp_unreach_out", ICMPLimited: "icmp_unreach_limited",
	IPFragments: "ip_fragments", IPFragDropped: "ip_fragdropped", IPFragTimeout: "ip_fragtimeout",
	IPReassembled: "ip_reassembled", IPTooLong: "ip_toolong", IPFragmented: "ip_fragmented", IPOFragments: "ip_ofragments",
	IP6Fragments: "ip6_fragments", IP6FragDropped: "ip6_fragdropped", IP6FragTimeout: "ip6_fragtimeout",
	IP6Reassembled: "ip6_reassembled", IP6TooLong: "ip6_toolong", IP6Fragmented: "ip6_fragmented", IP6OFragments: "ip6_ofragments",
}

// lastDrop is the last of the Drop* counters.
const lastDrop = DropVLANUntagged

// IsGauge reports whether the counter is a level, not a running total.
func (c Counter) IsGauge() bool {
	switch c {
	case NeighEntries, PoolFree, RxRingUsed, TxRingUsed, FillRingUsed:
		return true
	}
	return false
}

// String returns the counter's metric name.
func (c Counter) String() string {
	if c < 0 || c >= numCounters {
		return "unknown"
	}
	return counterNames[c]
}

// IsDrop reports whether c counts dropped frames.
func (c Counter) IsDrop() bool { return c >= DropMalformed && c <= lastDrop }

// NumCounters is the number of counters.
const NumCounters = int(numCounters)

// Counters is one core's set of counters.
type Counters [numCounters]uint64

// Drops returns the number of frames dropped, all reasons together.
func (c *Counters) Drops() uint64 {
	var n uint64
	for i := DropMalformed; i <= lastDrop; i++ {
		n += c[i]
	}
	return n
}

// Published is a core's counter snapshot, safe to read from any goroutine.
type Published struct {
	v [numCounters]atomic.Uint64
}

// Load returns a copy of the snapshot.
func (p *Published) Load() (c Counters) {
	for i := range c {
		c[i] = p.v[i].Load()
	}
	return c
}

func (p *Published) store(c *Counters) {
	for i := range c {
		p.v[i].Store(c[i])
	}
}

// tcpPublished is a core's TCP counter and state snapshot.
type tcpPublished struct {
	stats  [tcp.NumStats]atomic.Uint64
	states [tcp.NumStates]atomic.Int64
}

func (p *tcpPublished) store(s *tcp.Shard) {
	st := s.Stats()
	for i := range st {
		p.stats[i].Store(st[i])
	}
	sc := s.StateCounts()
	for i := range sc {
		p.states[i].Store(int64(sc[i]))
	}
}

// TCPSnapshot is a copy of a core's published TCP counters.
type TCPSnapshot struct {
	Stats  tcp.Stats
	States [tcp.NumStates]int64
}

// TCPPublished returns the core's published TCP counters.
func (c *Core) TCPPublished() (s TCPSnapshot) {
	for i := range s.Stats {
		s.Stats[i] = c.tcpPub.stats[i].Load()
	}
	for i := range s.States {
		s.States[i] = c.tcpPub.states[i].Load()
	}
	return s
}
