package tcp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/tw"
)

// SysctlPrefix is the MIB branch of the TCP tunables.
const SysctlPrefix = "net.inet.tcp."

// TCBHashSize is what the read-only tcbhashsize reports: the connections a
// shard's table is sized for when it starts. The table is a Go map that
// grows past it as needed; it is not a fixed array of hash chains as
// FreeBSD's is (whose compiled-in TCBHASHSIZE is also 512).
const TCBHashSize = 512

// maxMsec bounds the tunables in milliseconds, as FreeBSD's int sysctls
// are bounded (about 24.8 days).
const maxMsec = 1<<31 - 1

// Sysctl describes one tunable of the net.inet.tcp branch.
type Sysctl struct {
	// Name is the full name, like net.inet.tcp.msl.
	Name string
	// Unit is the unit of its value: us, ms, s, bytes, segments, entries,
	// sockets, probes, boolean (0 or 1), mode (a number from a list),
	// shift (a power of two), port or name.
	Unit string
	// Default is the value of DefaultConfig, as Get shows it.
	Default string
	// Min and Max bound a numeric value (in Unit).
	Min, Max int64
	// ReadOnly tunables refuse Set.
	ReadOnly bool
	// Description says what it does in one line.
	Description string

	get   func(cfg *Config) string
	set   func(cfg *Config, v int64) // numeric tunables
	setS  func(cfg *Config, v string) error
	check func(cfg *Config, v int64) error // beyond Min..Max
}

var sysctls []*Sysctl

func init() {
	ms := func(name, desc string, min int64, max int64, f func(*Config) *time.Duration) {
		addSysctl(&Sysctl{Name: name, Unit: "ms", Min: min, Max: max, Description: desc,
			get: func(c *Config) string { return strconv.FormatInt(f(c).Milliseconds(), 10) },
			set: func(c *Config, v int64) { *f(c) = time.Duration(v) * time.Millisecond }})
	}
	num := func(name, unit, desc string, min, max int64, f func(*Config) *int) {
		addSysctl(&Sysctl{Name: name, Unit: unit, Min: min, Max: max, Description: desc,
			get: func(c *Config) string { return strconv.Itoa(*f(c)) },
			set: func(c *Config, v int64) { *f(c) = int(v) }})
	}
	flag := func(name, desc string, f func(*Config) *bool) {
		addSysctl(&Sysctl{Name: name, Unit: "boolean", Min: 0, Max: 1, Description: desc,
			get: func(c *Config) string {
				if *f(c) {
					return "1"
				}
				return "0"
			},
			set: func(c *Config, v int64) { *f(c) = v != 0 }})
	}

	ms("msl", "maximum segment lifetime; TIME_WAIT lasts 2*msl", 1, MaxMSL.Milliseconds(), func(c *Config) *time.Duration { return &c.MSL })
	addSysctl(&Sysctl{Name: "maxtcptw", Unit: "entries", Min: MinMaxTCPTW, Max: int64(tw.MaxLimit),
		Description: "most TIME_WAIT entries, split across the cores (0: automatic)",
		get: func(c *Config) string {
			if c.MaxTCPTW == 0 {
				return strconv.Itoa(MaxTCPTWAuto())
			}
			return strconv.Itoa(c.MaxTCPTW)
		},
		set: func(c *Config, v int64) { c.MaxTCPTW = int(v) },
		check: func(c *Config, v int64) error {
			switch cores := int64(max(c.Cores, 1)); {
			case v == 0:
			case v < MinMaxTCPTW:
				return fmt.Errorf("%d is below the minimum %d (0 means automatic)", v, MinMaxTCPTW)
			case v > int64(tw.MaxLimit)*cores:
				return fmt.Errorf("%d is above the maximum %d (%d per core)", v, int64(tw.MaxLimit)*cores, tw.MaxLimit)
			}
			return nil
		}})
	flag("nolocaltimewait", "no TIME_WAIT entry for connections to a local address", func(c *Config) *bool { return &c.NoLocalTimeWait })
	ms("finwait2_timeout", "FIN_WAIT_2 lifetime after close with fast_finwait2_recycle", 1, maxMsec, func(c *Config) *time.Duration { return &c.FinWait2Timeout })
	flag("fast_finwait2_recycle", "end closed FIN_WAIT_2 connections after finwait2_timeout", func(c *Config) *bool { return &c.FastFinWait2Recycle })
	num("mssdflt", "bytes", "MSS assumed when the peer's SYN carries none", 64, 65495, func(c *Config) *int { return &c.MSSDflt })
	num("sendspace", "bytes", "send buffer of a connection", 1024, MaxBufferSpace, func(c *Config) *int { return &c.SendSpace })
	num("recvspace", "bytes", "receive buffer of a connection; sets the window scale offered", 1024, MaxBufferSpace, func(c *Config) *int { return &c.RecvSpace })
	flag("recvbuf_auto", "receive buffers grow, doubling from recvspace up to recvbuf_max, while the reader takes more than half of one in a round trip", func(c *Config) *bool { return &c.RecvBufAuto })
	num("recvbuf_max", "bytes", "the most a receive buffer grows to by itself; with recvbuf_auto it sets the window scale offered", 1024, MaxBufferSpace, func(c *Config) *int { return &c.RecvBufMax })
	flag("sendbuf_auto", "a full send buffer grows, doubling from sendspace up to sendbuf_max, while it holds less than two congestion windows", func(c *Config) *bool { return &c.SendBufAuto })
	num("sendbuf_max", "bytes", "the most a send buffer grows to by itself", 1024, MaxBufferSpace, func(c *Config) *int { return &c.SendBufMax })
	ms("ack_war_timewindow", "the period over which ack_war_cnt counts (0: no limit)", 0, 3600000, func(c *Config) *time.Duration { return &c.AckWarTimeWindow })
	num("rxdrop_window", "bytes", "while the link drops received frames, the most the receive windows of a core promise in all, shared among its receiving connections (0: off)", 0, MaxRxDropWindow, func(c *Config) *int { return &c.RxDropWindow })
	num("ack_war_cnt", "ACKs", "most ACKs a connection sends per ack_war_timewindow for segments it drops as out of window or acknowledging unsent data (0: no limit)", 0, 255, func(c *Config) *int { return &c.AckWarCnt })
	num("buffer_memory", "bytes", "a core's connection buffers past which receive windows stop opening and writes queue at most 4 KiB a connection (0: no limit)", 0, 1<<40, func(c *Config) *int { return &c.BufferMemory })
	flag("rfc1323", "window scaling and timestamps (RFC 7323)", func(c *Config) *bool { return &c.RFC1323 })
	flag("sack.enable", "selective acknowledgements (RFC 2018, RFC 6675)", func(c *Config) *bool { return &c.SACK })
	flag("sack.dsack", "report duplicate segments in D-SACK blocks (RFC 2883)", func(c *Config) *bool { return &c.DSACK })
	addSysctl(&Sysctl{Name: "functions_default", Unit: "name",
		Description: "loss recovery of SACK connections: rack (RACK-TLP and PRR) or freebsd (RFC 6675)",
		get:         func(c *Config) string { return c.FunctionsDefault },
		setS: func(c *Config, v string) error {
			if v != StackRACK && v != StackFreeBSD {
				return fmt.Errorf("%q is not one of %s, %s", v, StackFreeBSD, StackRACK)
			}
			c.FunctionsDefault = v
			return nil
		}})
	flag("frto", "after a retransmission timeout, F-RTO (RFC 5682) finds a spurious one and takes its reduction back", func(c *Config) *bool { return &c.FRTO })
	flag("rfc6675_pipe", "in recovery, the pipe is RFC 6675's (less what is SACKed or lost)", func(c *Config) *bool { return &c.RFC6675Pipe })
	flag("do_prr", "Proportional Rate Reduction in recovery (RFC 6937)", func(c *Config) *bool { return &c.DoPRR })
	flag("do_prr_conservative", "PRR's conservative bound instead of the slow start bound", func(c *Config) *bool { return &c.PRRConservative })
	num("rack.tlp.reorder_thresh", "shift", "RACK's reordering window is min_RTT shifted right by this", 0, 16, func(c *Config) *int { return &c.RackReorderThresh })
	addSysctl(&Sysctl{Name: "rack.tlp.tlpminto", Unit: "us", Min: 1000, Max: maxMsec,
		Description: "least tail loss probe timeout",
		get:         func(c *Config) string { return strconv.FormatInt(c.RackTLPMinTO.Microseconds(), 10) },
		set:         func(c *Config, v int64) { c.RackTLPMinTO = time.Duration(v) * time.Microsecond }})
	flag("rack.tlp.tlpinrecovery", "with RACK, a tail loss probe may also go in fast recovery (a lost retransmission with nothing sent after it costs a probe timeout, not the RTO)", func(c *Config) *bool { return &c.RackTLPInRecovery })
	flag("rack.tlp.probe_rexmit", "with RACK, a tail loss probe sends the last segment again even when new data could go (a receiver acknowledges a duplicate at once, one new in-order segment perhaps after its delayed-ACK time)", func(c *Config) *bool { return &c.RackTLPProbeRexmit })
	num("ecn.enable", "mode", "explicit congestion notification (RFC 3168): 0 off, 1 ask and accept, 2 accept only", 0, 2, func(c *Config) *int { return &c.ECN })
	num("ecn.maxretries", "segments", "SYNs and SYN-ACKs sent again with their ECN bits before they go without", 0, MaxSynRexmits, func(c *Config) *int { return &c.ECNMaxRetries })
	num("cc.dctcp.alpha", "mode", "DCTCP's first estimate of the fraction of bytes marked CE, of 1024", 0, DCTCPMaxAlpha, func(c *Config) *int { return &c.DCTCPAlpha })
	num("cc.dctcp.shift_g", "shift", "DCTCP's estimation gain is 1/2^shift_g", 0, 10, func(c *Config) *int { return &c.DCTCPShiftG })
	flag("cc.dctcp.slowstart", "DCTCP: an ECN echo in slow start halves cwnd whatever alpha says", func(c *Config) *bool { return &c.DCTCPSlowStart })
	flag("cc.hystartplusplus.enable", "HyStart++ (RFC 9406) ends the first slow start on a rise of the RTT, before a loss", func(c *Config) *bool { return &c.HyStartPlusPlus })
	us := func(name, desc string, f func(*Config) *time.Duration) {
		addSysctl(&Sysctl{Name: name, Unit: "us", Min: 1, Max: MaxHyStartRTTThresh.Microseconds(), Description: desc,
			get: func(c *Config) string { return strconv.FormatInt(f(c).Microseconds(), 10) },
			set: func(c *Config, v int64) { *f(c) = time.Duration(v) * time.Microsecond }})
	}
	us("cc.hystartplusplus.minrtt_thresh", "HyStart++: the least RTT rise that ends slow start (MIN_RTT_THRESH)", func(c *Config) *time.Duration { return &c.HyStartMinRTTThresh })
	us("cc.hystartplusplus.maxrtt_thresh", "HyStart++: the most RTT rise needed to end slow start (MAX_RTT_THRESH)", func(c *Config) *time.Duration { return &c.HyStartMaxRTTThresh })
	num("cc.hystartplusplus.minrtt_divisor", "mode", "HyStart++: the RTT rise that ends slow start is the last round's least RTT over this, clamped (MIN_RTT_DIVISOR)", 1, 1024, func(c *Config) *int { return &c.HyStartMinRTTDivisor })
	num("cc.hystartplusplus.n_rttsamples", "mode", "HyStart++: RTT samples a round needs before its least RTT counts (N_RTT_SAMPLE)", 1, MaxHyStartNRTTSamples, func(c *Config) *int { return &c.HyStartNRTTSamples })
	num("cc.hystartplusplus.css_growth_div", "mode", "HyStart++: slow start's growth is divided by this in Conservative Slow Start (CSS_GROWTH_DIVISOR)", 1, MaxHyStartCSSGrowthDiv, func(c *Config) *int { return &c.HyStartCSSGrowthDiv })
	num("cc.hystartplusplus.css_rounds", "mode", "HyStart++: rounds of Conservative Slow Start before slow start ends (CSS_ROUNDS)", 0, MaxHyStartCSSRounds, func(c *Config) *int { return &c.HyStartCSSRounds })
	num("log_in_vain", "mode", "log segments to closed ports: 1 SYNs, 2 all", 0, 2, func(c *Config) *int { return &c.LogInVain })
	flag("ts_offset_per_conn", "a random timestamp offset per connection (0: offset 0)", func(c *Config) *bool { return &c.TSOffsetPerConn })
	addSysctl(&Sysctl{Name: "isn_reseed_interval", Unit: "s", Min: 0, Max: maxMsec,
		Description: "how often the ISN key is replaced (0: never)",
		get:         func(c *Config) string { return strconv.FormatInt(int64(c.ISNReseedInterval/time.Second), 10) },
		set:         func(c *Config, v int64) { c.ISNReseedInterval = time.Duration(v) * time.Second }})
	addSysctl(&Sysctl{Name: "hostcache.expire", Unit: "s", Min: 1, Max: maxMsec,
		Description: "how long a path MTU learned from ICMP is kept",
		get:         func(c *Config) string { return strconv.FormatInt(int64(c.HostCacheExpire/time.Second), 10) },
		set:         func(c *Config, v int64) { c.HostCacheExpire = time.Duration(v) * time.Second }})
	addSysctl(&Sysctl{Name: "cc.algorithm", Unit: "name", Description: "congestion control of new connections: newreno, cubic or dctcp",
		get: func(c *Config) string { return c.CCAlgorithm },
		setS: func(c *Config, v string) error {
			if _, err := LookupCongestionControl(v); err != nil {
				names := make([]string, 0, len(CongestionControls))
				for n := range CongestionControls {
					names = append(names, n)
				}
				slices.Sort(names)
				return fmt.Errorf("%q is not one of %s", v, strings.Join(names, ", "))
			}
			c.CCAlgorithm = v
			return nil
		}})
	flag("delayed_ack", "delay ACKs to piggyback them on data", func(c *Config) *bool { return &c.DelayedAck })
	ms("delacktime", "longest an ACK is delayed", 1, maxMsec, func(c *Config) *time.Duration { return &c.DelAckTime })
	ms("keepinit", "time allowed for a connection to establish", 1, maxMsec, func(c *Config) *time.Duration { return &c.KeepInit })
	ms("keepidle", "idle time before keepalive probes", 1, maxMsec, func(c *Config) *time.Duration { return &c.KeepIdle })
	ms("keepintvl", "time between unanswered keepalive probes", 1, maxMsec, func(c *Config) *time.Duration { return &c.KeepIntvl })
	num("keepcnt", "probes", "unanswered keepalive probes before the connection is dropped", 1, maxMsec, func(c *Config) *int { return &c.KeepCnt })
	flag("always_keepalive", "keepalive on every connection", func(c *Config) *bool { return &c.AlwaysKeepalive })
	ms("rexmit_initial", "retransmission timeout before the first RTT sample", 1, maxMsec, func(c *Config) *time.Duration { return &c.RexmitInitial })
	ms("rexmit_min", "lower bound of the computed retransmission timeout", 0, maxMsec, func(c *Config) *time.Duration { return &c.RexmitMin })
	ms("rexmit_slop", "added to the computed retransmission timeout", 0, maxMsec, func(c *Config) *time.Duration { return &c.RexmitSlop })
	num("initcwnd_segments", "segments", "initial congestion window (RFC 6928)", 1, 1000, func(c *Config) *int { return &c.InitCwndSegments })
	flag("syncookies", "answer SYNs with cookies when a listen queue is full", func(c *Config) *bool { return &c.SynCookies })
	num("blackhole", "mode", "no RST to closed ports: 1 for SYNs, 2 for any segment", 0, 2, func(c *Config) *int { return &c.Blackhole })
	flag("insecure_rst", "RFC 793 RST rules instead of RFC 5961", func(c *Config) *bool { return &c.InsecureRST })
	flag("insecure_syn", "RFC 793 SYN rules instead of RFC 5961", func(c *Config) *bool { return &c.InsecureSYN })
	flag("drop_synfin", "drop SYN+FIN segments to listeners and TIME_WAIT entries", func(c *Config) *bool { return &c.DropSynFin })
	flag("path_mtu_discovery", "DF on IPv4 segments; ICMP fragmentation needed and ICMPv6 packet too big lower the path MTU", func(c *Config) *bool { return &c.PathMTUDiscovery })
	num("pmtud_blackhole_detection", "mode", "lower the MSS when full-sized segments keep timing out: 1 IPv4 and IPv6, 2 IPv6, 3 IPv4", 0, 3, func(c *Config) *int { return &c.PMTUDBlackholeDetect })
	num("pmtud_blackhole_mss", "bytes", "the IPv4 MSS black-hole detection lowers to first", 64, 65495, func(c *Config) *int { return &c.PMTUDBlackholeMSS })
	num("v6pmtud_blackhole_mss", "bytes", "the IPv6 MSS black-hole detection lowers to first", 64, 65495, func(c *Config) *int { return &c.V6PMTUDBlackholeMSS })
	flag("icmp_may_rst", "a hard ICMP unreachable aborts a connection in SYN_SENT", func(c *Config) *bool { return &c.ICMPMayRST })
	num("reass.maxqueuelen", "segments", "out-of-order ranges kept per connection", 1, DefaultReassMaxQueueLen, func(c *Config) *int { return &c.ReassMaxQueueLen })
	num("tw_reuse", "boolean", "connect() may take a 4-tuple in TIME_WAIT (Linux's tcp_tw_reuse)", 0, 1, func(c *Config) *int { return &c.TWReuse })
	addSysctl(&Sysctl{Name: "net.inet.ip.portrange.first", Unit: "port", Min: 1024, Max: 65535,
		Description: "lowest ephemeral port active opens and bind to port 0 choose",
		get:         func(c *Config) string { f, _ := c.PortRange(); return strconv.Itoa(int(f)) },
		set:         func(c *Config, v int64) { c.PortFirst = int(v) }})
	addSysctl(&Sysctl{Name: "net.inet.ip.portrange.last", Unit: "port", Min: 1024, Max: 65535,
		Description: "highest ephemeral port",
		get:         func(c *Config) string { _, l := c.PortRange(); return strconv.Itoa(int(l)) },
		set:         func(c *Config, v int64) { c.PortLast = int(v) }})
	addSysctl(&Sysctl{Name: "kern.ipc.maxsockets", Unit: "sockets", Min: 0, Max: maxMsec,
		Description: "most connections (TIME_WAIT not counted), split across the cores (0: no limit)",
		get:         func(c *Config) string { return strconv.Itoa(c.MaxSockets) },
		set:         func(c *Config, v int64) { c.MaxSockets = int(v) }})
	addSysctl(&Sysctl{Name: "tcbhashsize", Unit: "entries", ReadOnly: true,
		Description: "connections a shard's table is sized for at start (it grows)",
		get:         func(*Config) string { return strconv.Itoa(TCBHashSize) }})
	addSysctl(&Sysctl{Name: "pcbcount", Unit: "entries", ReadOnly: true,
		Description: "live connections (TIME_WAIT entries and listeners not counted)",
		get:         func(*Config) string { return "0" }}) // a Config has none; see Shard.Sysctl

	def := DefaultConfig()
	for _, s := range sysctls {
		s.Default = s.get(&def)
	}
}

func addSysctl(s *Sysctl) {
	s.Name = fullSysctlName(s.Name)
	sysctls = append(sysctls, s)
}

// fullSysctlName puts net.inet.tcp. before a name that is not already a
// full MIB name (net.* or kern.*).
func fullSysctlName(name string) string {
	if strings.HasPrefix(name, "net.") || strings.HasPrefix(name, "kern.") {
		return name
	}
	return SysctlPrefix + name
}

// Sysctls returns every tunable, in a fixed order. The result is shared:
// do not modify it.
func Sysctls() []*Sysctl { return sysctls }

// LookupSysctl finds a tunable by its full name (net.inet.tcp.msl) or by
// the part after net.inet.tcp. (msl).
func LookupSysctl(name string) (*Sysctl, error) {
	full := fullSysctlName(name)
	for _, s := range sysctls {
		if s.Name == full {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s: no such tunable", name)
}

// Get returns a tunable's value in cfg, in its unit, as sysctl(8) shows
// it. pcbcount reads 0 from a Config: live values come from Shard.Sysctl.
func Get(cfg *Config, name string) (string, error) {
	s, err := LookupSysctl(name)
	if err != nil {
		return "", err
	}
	return s.get(cfg), nil
}

// Set parses value in the tunable's unit and stores it in cfg. A name
// that does not exist, a read-only tunable, a value that is not a number
// or is out of its limits is refused with one line that names the limit,
// and cfg is left as it was.
func Set(cfg *Config, name, value string) error {
	s, err := LookupSysctl(name)
	if err != nil {
		return err
	}
	if s.ReadOnly {
		return fmt.Errorf("%s: read-only", s.Name)
	}
	next := *cfg
	value = strings.TrimSpace(value)
	if s.setS != nil {
		if err := s.setS(&next, value); err != nil {
			return fmt.Errorf("%s: %v", s.Name, err)
		}
	} else {
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not a whole number (%s)", s.Name, value, s.Unit)
		}
		if s.check != nil {
			if err := s.check(cfg, v); err != nil {
				return fmt.Errorf("%s: %v", s.Name, err)
			}
		} else if v < s.Min {
			return fmt.Errorf("%s: %d is below the minimum %d%s", s.Name, v, s.Min, unitSuffix(s.Unit))
		} else if v > s.Max {
			return fmt.Errorf("%s: %d is above the maximum %d%s", s.Name, v, s.Max, unitSuffix(s.Unit))
		}
		s.set(&next, v)
	}
	if err := next.Validate(); err != nil {
		return fmt.Errorf("%s: %v", s.Name, err)
	}
	*cfg = next
	return nil
}

func unitSuffix(u string) string {
	switch u {
	case "us", "ms", "s":
		return " " + u
	}
	return ""
}

// Sysctl returns a tunable's value on this shard: its configuration's,
// and for pcbcount the connections in its table. Owner only.
func (s *Shard) Sysctl(name string) (string, error) {
	t, err := LookupSysctl(name)
	if err != nil {
		return "", err
	}
	if t.Name == SysctlPrefix+"pcbcount" {
		return strconv.Itoa(len(s.conns)), nil
	}
	return t.get(&s.cfg), nil
}

// vainLimit bounds the lines log_in_vain writes per second.
type vainLimit struct {
	sec        int64
	n          int
	suppressed int
}

// vainPerSecond is how many lines log_in_vain writes per second per shard.
const vainPerSecond = 5

// logInVain logs a segment to a closed port (log_in_vain), in FreeBSD's
// words, at most vainPerSecond lines a second; the next line says how many
// were left out.
func (s *Shard) logInVain(t *flow.Tuple, seg *Segment) {
	if s.cfg.Log == nil {
		return
	}
	v := &s.vain
	if sec := s.now.Div(time.Second); sec != v.sec {
		v.sec, v.n = sec, 0
	}
	if v.n >= vainPerSecond {
		v.suppressed++
		return
	}
	v.n++
	line := fmt.Sprintf("Connection attempt to TCP %v from %v flags:0x%02x",
		netip.AddrPortFrom(netip.AddrFrom16(t.LocalAddr).Unmap(), t.LocalPort),
		netip.AddrPortFrom(netip.AddrFrom16(t.RemoteAddr).Unmap(), t.RemotePort), uint8(seg.Flags))
	if v.suppressed > 0 {
		line += fmt.Sprintf(" (%d more not logged)", v.suppressed)
		v.suppressed = 0
	}
	s.cfg.Log(line)
}
