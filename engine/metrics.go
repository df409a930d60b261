package engine

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollstack/pollstack/tcp"
)

// Collector exports an engine's per-core counters to Prometheus at scrape
// time from the cores' published snapshots; the packet path never touches it.
type Collector struct {
	e      *Engine
	descs  [numCounters]*prometheus.Desc
	drops  *prometheus.Desc
	tcp    [tcp.NumStats]*prometheus.Desc
	states *prometheus.Desc
	memRet *prometheus.Desc
}

// NewCollector returns a collector for e.
func NewCollector(e *Engine) *Collector {
	col := &Collector{e: e}
	col.drops = prometheus.NewDesc("pollstack_drops_total",
		"Frames dropped, by core and reason.", []string{"core", "reason"}, nil)
	for i := Counter(0); i < numCounters; i++ {
		if i.IsDrop() {
			continue
		}
		name, help := metricName(i)
		col.descs[i] = prometheus.NewDesc(name, help, []string{"core"}, nil)
	}
	for i := tcp.Stat(0); i < tcp.Stat(tcp.NumStats); i++ {
		col.tcp[i] = prometheus.NewDesc(tcpMetricName(i), "TCP "+i.String()+" (FreeBSD tcpstat), per core.", []string{"core"}, nil)
	}
	col.states = prometheus.NewDesc("pollstack_tcp_connections", "TCP connections by state (LISTEN counts listeners), per core.", []string{"core", "state"}, nil)
	col.memRet = prometheus.NewDesc("pollstack_memory_returns_total", "Times the engine gave free heap memory back to the system after its connections or its heap shrank.", nil, nil)
	return col
}

// tcpMetricName is the Prometheus name of a tcpstat counter.
func tcpMetricName(s tcp.Stat) string { return "pollstack_tcp_" + s.String() + "_total" }

var counterHelp = map[Counter]string{
	RxPackets:          "Frames received.",
	RxBytes:            "Bytes received in frames.",
	TxPackets:          "Frames transmitted.",
	TxBytes:            "Bytes transmitted in frames.",
	ICMPIgnored:        "ICMP and ICMPv6 messages that needed no answer.",
	ARPRequestsIn:      "ARP requests received.",
	ARPRepliesIn:       "ARP replies received.",
	ARPRequestsOut:     "ARP requests sent.",
	ARPRepliesOut:      "ARP replies sent.",
	NDSolicitsIn:       "IPv6 neighbour solicitations received.",
	NDAdvertsIn:        "IPv6 neighbour advertisements received.",
	NDSolicitsOut:      "IPv6 neighbour solicitations sent.",
	NDAdvertsOut:       "IPv6 neighbour advertisements sent.",
	EchoRequestsIn:     "ICMP and ICMPv6 echo requests received.",
	EchoRepliesOut:     "ICMP and ICMPv6 echo replies sent.",
	ParamProblemsOut:   "ICMPv6 parameter problems sent.",
	RouterAdvIn:        "IPv6 router advertisements received.",
	RouterAdvTaken:     "IPv6 router advertisements taken in (--accept-ra, valid).",
	RouterSolOut:       "IPv6 router solicitations sent.",
	EchoRepliesIn:      "ICMP and ICMPv6 echo replies received.",
	ICMPUnreachIn:      "ICMP and ICMPv6 destination unreachable messages about our TCP segments and UDP datagrams.",
	ICMPTooBigIn:       "ICMP fragmentation needed and ICMPv6 packet too big messages about our TCP segments.",
	ICMPTooBigBelowMin: "ICMP fragmentation needed and ICMPv6 packet too big messages ignored: the MTU offered is below the minimum.",
	TCPSegmentsIn:      "TCP segments with a good checksum handed to the core's TCP shard.",
	TCPSegmentsOut:     "TCP segments the core's TCP shard sent.",
	TCPChecksumOffload: "TCP segments sent whose checksum the link (the kernel, or the NIC) completes: --tx-checksum offload.",
	PollBusy:           "Loop turns that received frames.",
	PollIdle:           "Loop turns that received none.",
	NeighEntries:       "Entries in the core's neighbour cache.",
	NeighSentToSender:  "Frames for an on-link address without a neighbour entry sent to the Ethernet source of the frame they answer, or to the one its TCP segments without SYN came from: the solicitation budget was spent.",
	LinkRxRingEmpty:    "Receive polls that found the rx ring empty.",
	LinkTxRingFull:     "Frames the tx ring had no room for.",
	LinkFillRingEmpty:  "Times the frame pool had nothing to give the fill ring.",
	KernelRxDropped:    "Frames the kernel dropped before the AF_XDP rx ring.",
	KernelRxInvalid:    "Invalid descriptors on the AF_XDP rx side.",
	KernelTxInvalid:    "Invalid descriptors on the AF_XDP tx ring.",
	SteeredOut:         "TCP segments and ICMP errors about TCP flows handed to the flow's owner core.",
	SteeredIn:          "TCP segments and ICMP errors about TCP flows taken from other cores' hand-off rings.",
	HandoffFull:        "Hand-offs to another core dropped because the hand-off ring was full.",
	DialledIn:          "TCP segments received for connections the engine dialled (local port in the ephemeral range), on engines of more than one core.",
	DialledSteered:     "Of dialled_segments_in, those received on a core other than the owner's and handed to it.",
	PoolFree:           "Frames free in the core's frame pool (UMEM).",
	RxRingUsed:         "Descriptors waiting on the core's rx ring.",
	TxRingUsed:         "Descriptors on the core's tx ring the kernel has not taken yet.",
	FillRingUsed:       "Frames the core has lent to the kernel on its fill ring.",
	PoolReserveUsed:    "Frames receive refills and TCP control segments took from the pool's reserve.",
	PoolReserveDenied:  "Frames refused to data and other packets because only the pool's reserve was left.",
	PoolEmpty:          "Frames refused because the pool was empty, reserve and all.",
	UDPIPackets:        "UDP datagrams received (udpstat udps_ipackets).",
	UDPHdrOps:          "UDP datagrams shorter than a UDP header (udps_hdrops).",
	UDPBadSum:          "UDP datagrams with a bad checksum (udps_badsum).",
	UDPNoSum:           "IPv6 UDP datagrams without a checksum, dropped (udps_nosum).",
	UDPBadLen:          "UDP datagrams whose length field disagrees with the packet (udps_badlen).",
	UDPNoPort:          "UDP datagrams to a port no socket holds (udps_noport).",
	UDPNoPortMcast:     "UDP datagrams to a multicast group and a port no socket holds (udps_noportmcast).",
	UDPFullSock:        "UDP datagrams dropped because the socket's receive queue was full (udps_fullsock).",
	UDPOPackets:        "UDP datagrams sent (udps_opackets).",
	ICMPUnreachOut:     "ICMP and ICMPv6 port unreachable messages sent.",
	ICMPLimited:        "ICMP and ICMPv6 port unreachable messages not sent, past the rate limit.",
	IPFragments:        "IPv4 fragments received (ipstat ips_fragments).",
	IPFragDropped:      "IPv4 fragments dropped by reassembly (ips_fragdropped).",
	IPFragTimeout:      "IPv4 fragments dropped when their datagram timed out (ips_fragtimeout).",
	IPReassembled:      "IPv4 datagrams reassembled (ips_reassembled).",
	IPTooLong:          "IPv4 fragments that would have made a datagram over 65535 bytes (ips_toolong).",
	IPFragmented:       "IPv4 datagrams sent in fragments (ips_fragmented).",
	IPOFragments:       "IPv4 fragments sent (ips_ofragments).",
	IP6Fragments:       "IPv6 fragments received (ip6stat ip6s_fragments).",
	IP6FragDropped:     "IPv6 fragments dropped by reassembly (ip6s_fragdropped).",
	IP6FragTimeout:     "IPv6 fragments dropped when their datagram timed out (ip6s_fragtimeout).",
	IP6Reassembled:     "IPv6 datagrams reassembled (ip6s_reassembled).",
	IP6TooLong:         "IPv6 fragments that would have made a payload over 65535 bytes (ip6s_toolong).",
	IP6Fragmented:      "IPv6 datagrams sent in fragments (ip6s_fragmented).",
	IP6OFragments:      "IPv6 fragments sent (ip6s_ofragments).",
}

// metricName returns the Prometheus name and help of a non-drop counter.
func metricName(c Counter) (name, help string) {
	help = counterHelp[c]
	if c.IsGauge() {
		return "pollstack_" + c.String(), help
	}
	return "pollstack_" + c.String() + "_total", help
}

// Describe implements prometheus.Collector.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- col.drops
	ch <- col.states
	ch <- col.memRet
	for _, d := range col.descs {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range col.tcp {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(col.memRet, prometheus.CounterValue, float64(col.e.MemoryReturns()))
	for _, c := range col.e.cores {
		v := c.pub.Load()
		core := strconv.Itoa(c.id)
		for i := Counter(0); i < numCounters; i++ {
			if i.IsDrop() {
				ch <- prometheus.MustNewConstMetric(col.drops, prometheus.CounterValue,
					float64(v[i]), core, i.String())
				continue
			}
			kind := prometheus.CounterValue
			if i.IsGauge() {
				kind = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(col.descs[i], kind, float64(v[i]), core)
		}
		if c.tcp == nil {
			continue
		}
		ts := c.TCPPublished()
		for i, d := range col.tcp {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(ts.Stats[i]), core)
		}
		for st := tcp.State(0); st < tcp.NumStates; st++ {
			ch <- prometheus.MustNewConstMetric(col.states, prometheus.GaugeValue, float64(ts.States[st]), core, st.String())
		}
	}
}
