package engine

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports an engine's per-core counters to Prometheus at scrape
// time from the cores' published snapshots; the packet path never touches it.
type Collector struct {
	e     *Engine
	descs [numCounters]*prometheus.Desc
	drops *prometheus.Desc
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
	return col
}

var counterHelp = map[Counter]string{
	RxPackets:         "Frames received.",
	RxBytes:           "Bytes received in frames.",
	TxPackets:         "Frames transmitted.",
	TxBytes:           "Bytes transmitted in frames.",
	ICMPIgnored:       "ICMP and ICMPv6 messages that needed no answer.",
	ARPRequestsIn:     "ARP requests received.",
	ARPRepliesIn:      "ARP replies received.",
	ARPRequestsOut:    "ARP requests sent.",
	ARPRepliesOut:     "ARP replies sent.",
	NDSolicitsIn:      "IPv6 neighbour solicitations received.",
	NDAdvertsIn:       "IPv6 neighbour advertisements received.",
	NDSolicitsOut:     "IPv6 neighbour solicitations sent.",
	NDAdvertsOut:      "IPv6 neighbour advertisements sent.",
	EchoRequestsIn:    "ICMP and ICMPv6 echo requests received.",
	EchoRepliesOut:    "ICMP and ICMPv6 echo replies sent.",
	EchoRepliesIn:     "ICMP and ICMPv6 echo replies received.",
	PollBusy:          "Loop turns that received frames.",
	PollIdle:          "Loop turns that received none.",
	NeighEntries:      "Entries in the core's neighbour cache.",
	LinkRxRingEmpty:   "Receive polls that found the rx ring empty.",
	LinkTxRingFull:    "Frames the tx ring had no room for.",
	LinkFillRingEmpty: "Times the frame pool had nothing to give the fill ring.",
	KernelRxDropped:   "Frames the kernel dropped before the AF_XDP rx ring.",
	KernelRxInvalid:   "Invalid descriptors on the AF_XDP rx side.",
	KernelTxInvalid:   "Invalid descriptors on the AF_XDP tx ring.",
}

// metricName returns the Prometheus name and help of a non-drop counter.
func metricName(c Counter) (name, help string) {
	help = counterHelp[c]
	if c == NeighEntries {
		return "pollstack_" + c.String(), help
	}
	return "pollstack_" + c.String() + "_total", help
}

// Describe implements prometheus.Collector.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- col.drops
	for _, d := range col.descs {
		if d != nil {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
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
			if i == NeighEntries {
				kind = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(col.descs[i], kind, float64(v[i]), core)
		}
	}
}
