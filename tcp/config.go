package tcp

import (
	"errors"
	"fmt"
	"time"

	"github.com/pollstack/pollstack/tw"
)

// Config holds a shard's tunables; fields follow FreeBSD's net.inet.tcp
// names. Durations are time.Duration; the sysctl layer keeps FreeBSD's
// units (ms, s) on the outside.
type Config struct {
	MSSDflt   int // mssdflt
	SendSpace int // sendspace, bytes
	RecvSpace int // recvspace, bytes
	// RecvBufAuto is recvbuf_auto: a connection's receive buffer grows
	// from RecvSpace, doubling, up to RecvBufMax while its reader takes
	// more than half of it in a round trip (autosize.go); SO_RCVBUF turns
	// it off for the socket.
	RecvBufAuto bool
	RecvBufMax  int // recvbuf_max, bytes
	// SendBufAuto is sendbuf_auto: a full send buffer grows from
	// SendSpace, doubling, up to SendBufMax while it holds less than two
	// congestion windows (autosize.go); SO_SNDBUF turns it off.
	SendBufAuto bool
	SendBufMax  int // sendbuf_max, bytes
	// AckWarTimeWindow and AckWarCnt are ack_war_timewindow and
	// ack_war_cnt: a connection sends at most AckWarCnt ACKs for dropped
	// segments (out of window, or acknowledging data never sent) per
	// AckWarTimeWindow; 0 in either: no limit.
	AckWarTimeWindow time.Duration
	AckWarCnt        int
	// RxDropWindow is rxdrop_window: while the core's link drops received
	// frames (Shard.RxDropped, and RxDropHold after), the receive windows
	// of its connections promise at most this many bytes in all, shared
	// among the connections that receive (each at least two segments).
	// 0 turns it off.
	RxDropWindow     int
	MSL              time.Duration // msl; TIME_WAIT lasts 2*MSL (a change applies to entries made after it)
	RexmitInitial    time.Duration // rexmit_initial
	RexmitMin        time.Duration // rexmit_min
	RexmitSlop       time.Duration // rexmit_slop
	DelayedAck       bool          // delayed_ack
	DelAckTime       time.Duration // delacktime
	KeepInit         time.Duration // keepinit
	KeepIdle         time.Duration // keepidle
	KeepIntvl        time.Duration // keepintvl
	KeepCnt          int           // keepcnt
	AlwaysKeepalive  bool          // always_keepalive
	FinWait2Timeout  time.Duration // finwait2_timeout
	InitCwndSegments int           // initcwnd_segments
	RFC1323          bool          // rfc1323: window scaling and timestamps
	SACK             bool          // sack.enable
	ReassMaxQueueLen int           // reass.maxqueuelen: out-of-order ranges per connection
	Blackhole        int           // blackhole: 1 no RST for SYNs to closed ports, 2 no RST at all
	InsecureRST      bool          // insecure_rst: RFC 793 RST rules instead of RFC 5961
	InsecureSYN      bool          // insecure_syn: RFC 793 SYN rules instead of RFC 5961
	DropSynFin       bool          // drop_synfin: drop SYN+FIN segments to listeners and TIME_WAIT entries
	SynCookies       bool          // syncookies: answer SYNs with cookies when a listen queue is full
	CCAlgorithm      string        // cc.algorithm: newreno, cubic or dctcp
	ICMPMayRST       bool          // icmp_may_rst: hard ICMP unreachables abort connections in SYN_SENT
	// PathMTUDiscovery is path_mtu_discovery: DF on IPv4 segments, and
	// ICMP "fragmentation needed" and ICMPv6 Packet Too Big lower the
	// path MTU (pmtu.go).
	PathMTUDiscovery bool
	// HostCacheExpire is hostcache.expire: how long a learned path MTU is kept.
	HostCacheExpire time.Duration
	// PMTUDBlackholeDetect is pmtud_blackhole_detection: 0 off, 1 for
	// IPv4 and IPv6, 2 IPv6 only, 3 IPv4 only.
	PMTUDBlackholeDetect int
	// PMTUDBlackholeMSS and V6PMTUDBlackholeMSS are pmtud_blackhole_mss
	// and v6pmtud_blackhole_mss: the MSS black-hole detection lowers to first.
	PMTUDBlackholeMSS, V6PMTUDBlackholeMSS int
	// MaxTCPTW is maxtcptw: the most TIME_WAIT entries, machine-wide;
	// each of the Cores shards keeps its share (see TimeWaitLimit). 0
	// sizes it as FreeBSD does: min(max(half the ephemeral port range,
	// 32), maxsockets/5) = 8191 with DefaultMaxSockets. When a shard's
	// share is full its oldest entry is recycled.
	MaxTCPTW int
	// NoLocalTimeWait is nolocaltimewait: a connection to a local address
	// (one Local reports, or else a loopback address or the connection's
	// own local address) closes without a TIME_WAIT entry.
	NoLocalTimeWait bool
	// Local reports whether an address is one of this host's, for
	// nolocaltimewait; nil means only loopback addresses and the
	// connection's own local address are. It is called on the shard's
	// core when a connection enters TIME_WAIT.
	Local func(addr [16]byte) bool
	// Cores is the number of shards that share the machine-wide limits
	// (maxtcptw): the engine's cores. 0 means 1.
	Cores int
	// MTU is the link MTU; the MSS we advertise is MTU less the IP and
	// TCP headers.
	MTU int
	// ISNKey keys initial sequence numbers (RFC 6528), SYN cookies, and
	// timestamp offsets when TSKey is zero.
	ISNKey [16]byte
	// TSKey keys the per-connection timestamp offsets (RFC 7323 5.4); zero
	// means ISNKey. A key that outlives the process (the engine derives
	// it from the boot's identity) together with TSBase keeps a 4-tuple's
	// timestamps rising across restarts, so that a peer still holding the
	// 4-tuple in TIME_WAIT accepts the new SYN (RFC 6191) instead of
	// refusing it for a second.
	TSKey [16]byte
	// TSBase is added to the shard's clock for the timestamp clock: the
	// engine makes it the offset to the system's monotonic clock, the same
	// in every process.
	TSBase time.Duration
	// FastFinWait2Recycle is fast_finwait2_recycle: a FIN_WAIT_2
	// connection the application has closed ends finwait2_timeout after
	// our FIN was acknowledged. Off (FreeBSD's default), it stays while
	// the peer was heard from within keepcnt*keepintvl (TP_MAXIDLE).
	FastFinWait2Recycle bool
	// ECN is ecn.enable (RFC 3168): 0 off, 1 ask for it on active opens
	// and accept it on passive ones, 2 accept it only (FreeBSD's default).
	ECN int
	// ECNMaxRetries is ecn.maxretries: how many times a SYN or SYN-ACK is
	// sent again with its ECN bits before it goes without them.
	ECNMaxRetries int
	// DCTCPAlpha is cc.dctcp.alpha: DCTCP's first estimate of the marked
	// fraction, of 1024 (1024: the first window with a CE halves cwnd).
	DCTCPAlpha int
	// DCTCPShiftG is cc.dctcp.shift_g: DCTCP's estimation gain is
	// 1/2^shift_g.
	DCTCPShiftG int
	// DCTCPSlowStart is cc.dctcp.slowstart: an ECN echo in slow start
	// halves cwnd whatever alpha says.
	DCTCPSlowStart bool
	// HyStartPlusPlus is cc.hystartplusplus.enable: HyStart++ (RFC 9406,
	// hystart.go) in the first slow start of every algorithm.
	HyStartPlusPlus bool
	// HyStartMinRTTThresh and HyStartMaxRTTThresh are
	// cc.hystartplusplus.minrtt_thresh and maxrtt_thresh (the tunables
	// take µs): the RTT increase that ends slow start is the last round's
	// least RTT / HyStartMinRTTDivisor, clamped to them (RFC 9406's
	// max(MIN_RTT_THRESH, min(x, MAX_RTT_THRESH)): a minimum above the
	// maximum wins, so the two may be set in either order).
	HyStartMinRTTThresh, HyStartMaxRTTThresh time.Duration
	// HyStartMinRTTDivisor is cc.hystartplusplus.minrtt_divisor.
	HyStartMinRTTDivisor int
	// HyStartNRTTSamples is cc.hystartplusplus.n_rttsamples: the RTT
	// samples a round needs before its least RTT is compared.
	HyStartNRTTSamples int
	// HyStartCSSGrowthDiv is cc.hystartplusplus.css_growth_div: slow
	// start's growth is divided by it in Conservative Slow Start.
	HyStartCSSGrowthDiv int
	// HyStartCSSRounds is cc.hystartplusplus.css_rounds: the rounds of
	// Conservative Slow Start before slow start ends (0: at once).
	HyStartCSSRounds int
	// LogInVain is log_in_vain: 1 logs SYNs to closed ports, 2 every
	// segment to a closed port, through Log (a few lines per second).
	LogInVain int
	// TSOffsetPerConn is ts_offset_per_conn: a timestamp offset per
	// connection (RFC 7323 7.1); off, the offset is 0 for every connection.
	TSOffsetPerConn bool
	// ISNReseedInterval is isn_reseed_interval (the tunable takes
	// seconds): the ISN key is replaced this often; 0 never.
	ISNReseedInterval time.Duration
	// TWReuse is tw_reuse (Linux's tcp_tw_reuse): 1 lets connect() take a
	// 4-tuple in TIME_WAIT; 0 (the default) does not.
	TWReuse int
	// PortFirst and PortLast are net.inet.ip.portrange.first and .last:
	// the ephemeral ports active opens (and bind to port 0) choose from;
	// 0 means IANA's dynamic range, PortFirstAuto..PortLastAuto.
	PortFirst, PortLast int
	// Log receives the lines log_in_vain asks for, on the shard's core;
	// nil drops them.
	Log func(line string)
	// MaxSockets is kern.ipc.maxsockets: the most connections (every
	// state but TIME_WAIT, as pcbcount counts them), machine-wide; each of
	// the Cores shards keeps its share (see SocketLimit). Past it a SYN is
	// dropped unanswered and an active open fails with ENOBUFS. 0, the
	// default, sets no limit.
	MaxSockets int
	// BufferMemory is the memory pressure point of a shard's send and
	// receive buffers, in bytes, as Linux's tcp_mem: while the shard's
	// connections hold that much, receive windows open no further than
	// already advertised (see chunkPool). 0 sets no limit.
	BufferMemory int
	// FunctionsDefault is functions_default, the stack that recovers a
	// SACK connection's losses: "rack" (RACK-TLP, RFC 8985, with PRR) or
	// "freebsd" (three duplicate ACKs or SACKed segments, RFC 6675, and a
	// simpler tail loss probe).
	FunctionsDefault string
	// RFC6675Pipe is rfc6675_pipe: the bytes in flight in recovery are RFC
	// 6675's pipe (what was sent less what is SACKed or deemed lost); off,
	// the flight less the SACKed bytes plus what recovery sent again.
	RFC6675Pipe bool
	// DoPRR is do_prr: Proportional Rate Reduction (RFC 6937) sets how
	// much recovery sends on each ACK; off, cwnd is ssthresh throughout.
	DoPRR bool
	// PRRConservative is do_prr_conservative: PRR's conservative bound
	// (PRR-CRB) instead of the slow start bound (PRR-SSRB).
	PRRConservative bool
	// RackReorderThresh is rack.tlp.reorder_thresh: RACK's reordering
	// window is min_RTT >> this (2: a quarter).
	RackReorderThresh int
	// RackTLPMinTO is rack.tlp.tlpminto (the tunable takes µs): the
	// least probe timeout.
	RackTLPMinTO time.Duration
	// RackTLPInRecovery is rack.tlp.tlpinrecovery (the freebsd rack
	// stack's, on there by default too): the probe timeout also runs in
	// fast recovery, so that a retransmission lost with nothing sent
	// after it, or the one ACK a receiver that compresses its SACKs sends
	// for it, costs a probe timeout instead of the RTO.
	RackTLPInRecovery bool
	// RackTLPProbeRexmit is rack.tlp.probe_rexmit (pollstack's own, on by
	// default): the probe sends the last segment again even when new data
	// could go. A receiver answers a duplicate at once, where it may hold
	// its ACK of one new in-order segment for its delayed-ACK time
	// (Linux's about 40 ms), which then stalls the sender after every
	// probe. RFC 8985 7.3 prefers new data (0).
	RackTLPProbeRexmit bool
	// DSACK is sack.dsack: duplicate segments are reported in D-SACK
	// blocks (RFC 2883).
	DSACK bool
	// FRTO is frto: with the rack stack, a retransmission timeout is
	// followed by F-RTO (RFC 5682), which finds a spurious one and takes
	// its reduction back.
	FRTO bool
}

// The stacks functions_default names.
const (
	StackRACK    = "rack"
	StackFreeBSD = "freebsd"
)

// DefaultConfig returns FreeBSD's defaults for a 1500-byte MTU.
func DefaultConfig() Config {
	return Config{
		MSSDflt: DefaultMSSDflt, SendSpace: DefaultSendSpace, RecvSpace: DefaultRecvSpace,
		RecvBufAuto: true, RecvBufMax: DefaultRecvBufMax, SendBufAuto: true, SendBufMax: DefaultSendBufMax,
		AckWarTimeWindow: time.Second, AckWarCnt: 5, RxDropWindow: DefaultRxDropWindow,
		MSL: DefaultMSL, RexmitInitial: DefaultRexmitInitial, RexmitMin: DefaultRexmitMin,
		RexmitSlop: DefaultRexmitSlop, DelayedAck: true, DelAckTime: DefaultDelAckTime,
		KeepInit: DefaultKeepInit, KeepIdle: DefaultKeepIdle, KeepIntvl: DefaultKeepIntvl,
		KeepCnt: DefaultKeepCnt, FinWait2Timeout: DefaultFinWait2Timeout,
		InitCwndSegments: DefaultInitCwndSegments, RFC1323: true, SACK: true, SynCookies: true, CCAlgorithm: "cubic", ICMPMayRST: true,
		DropSynFin:       true,
		ReassMaxQueueLen: DefaultReassMaxQueueLen, MTU: 1500, TSOffsetPerConn: true,
		BufferMemory:     DefaultBufferMemory,
		FunctionsDefault: StackRACK, RFC6675Pipe: true, DoPRR: true, RackReorderThresh: 2,
		RackTLPMinTO: 10 * time.Millisecond, RackTLPInRecovery: true, RackTLPProbeRexmit: true, DSACK: true, FRTO: true,
		PathMTUDiscovery: true, HostCacheExpire: DefaultHostCacheExpire, PMTUDBlackholeDetect: 1,
		PMTUDBlackholeMSS: DefaultPMTUDBlackholeMSS, V6PMTUDBlackholeMSS: DefaultV6PMTUDBlackholeMSS,
		ECN: ECNAccept, ECNMaxRetries: 1, DCTCPAlpha: DCTCPMaxAlpha, DCTCPShiftG: 4,
		HyStartPlusPlus: true, HyStartMinRTTThresh: DefaultHyStartMinRTTThresh, HyStartMaxRTTThresh: DefaultHyStartMaxRTTThresh,
		HyStartMinRTTDivisor: DefaultHyStartMinRTTDivisor, HyStartNRTTSamples: DefaultHyStartNRTTSamples,
		HyStartCSSGrowthDiv: DefaultHyStartCSSGrowthDiv, HyStartCSSRounds: DefaultHyStartCSSRounds,
	}
}

// MaxTCPTWAuto is the maxtcptw FreeBSD's tcptw_auto_size computes: half the
// ephemeral port range, at least 32, at most maxsockets/5.
func MaxTCPTWAuto() int {
	return min(max((PortLastAuto-PortFirstAuto)/2, MinMaxTCPTW), DefaultMaxSockets/5)
}

// TimeWaitLimit is the most TIME_WAIT entries one shard keeps: its share
// of maxtcptw (MaxTCPTW, or MaxTCPTWAuto when 0) among Cores shards,
// rounded up.
func (cfg *Config) TimeWaitLimit() int {
	n := cfg.MaxTCPTW
	if n == 0 {
		n = MaxTCPTWAuto()
	}
	cores := max(cfg.Cores, 1)
	return (n + cores - 1) / cores
}

// SocketLimit is the most connections one shard keeps: its share of
// kern.ipc.maxsockets among Cores shards, rounded up; 0 is no limit.
func (cfg *Config) SocketLimit() int {
	if cfg.MaxSockets <= 0 {
		return 0
	}
	cores := max(cfg.Cores, 1)
	return (cfg.MaxSockets + cores - 1) / cores
}

// Validate checks a configuration's limits.
func (cfg *Config) Validate() error {
	switch {
	case cfg.MSSDflt < 64 || cfg.MSSDflt > 65495:
		return fmt.Errorf("tcp: mssdflt %d: want 64..65495", cfg.MSSDflt)
	case cfg.SendSpace < 1024 || cfg.SendSpace > MaxBufferSpace:
		return fmt.Errorf("tcp: sendspace %d: want 1024..%d", cfg.SendSpace, MaxBufferSpace)
	case cfg.BufferMemory < 0:
		return fmt.Errorf("tcp: buffer memory %d: want 0 or more", cfg.BufferMemory)
	case cfg.RecvSpace < 1024 || cfg.RecvSpace > MaxBufferSpace:
		return fmt.Errorf("tcp: recvspace %d: want 1024..%d", cfg.RecvSpace, MaxBufferSpace)
	case cfg.RecvBufMax < 1024 || cfg.RecvBufMax > MaxBufferSpace:
		return fmt.Errorf("tcp: recvbuf_max %d: want 1024..%d", cfg.RecvBufMax, MaxBufferSpace)
	case cfg.SendBufMax < 1024 || cfg.SendBufMax > MaxBufferSpace:
		return fmt.Errorf("tcp: sendbuf_max %d: want 1024..%d", cfg.SendBufMax, MaxBufferSpace)
	case cfg.AckWarTimeWindow < 0 || cfg.AckWarTimeWindow > time.Hour || cfg.AckWarCnt < 0 || cfg.AckWarCnt > 255:
		return fmt.Errorf("tcp: ack_war_timewindow %v, ack_war_cnt %d: want 0..1h and 0..255", cfg.AckWarTimeWindow, cfg.AckWarCnt)
	case cfg.RxDropWindow < 0 || cfg.RxDropWindow > MaxRxDropWindow:
		return fmt.Errorf("tcp: rxdrop_window %d: want 0..%d", cfg.RxDropWindow, MaxRxDropWindow)
	case cfg.MSL < timerTick || cfg.MSL > MaxMSL:
		return fmt.Errorf("tcp: msl %v: want %v..%v (one day)", cfg.MSL, timerTick, MaxMSL)
	case cfg.MaxTCPTW != 0 && cfg.MaxTCPTW < MinMaxTCPTW:
		return fmt.Errorf("tcp: maxtcptw %d: want 0 (automatic) or at least %d", cfg.MaxTCPTW, MinMaxTCPTW)
	case cfg.Cores < 0:
		return fmt.Errorf("tcp: %d cores", cfg.Cores)
	case cfg.MaxSockets < 0 || cfg.MaxSockets > maxMsec:
		return fmt.Errorf("tcp: maxsockets %d: want 0 (no limit) or 1..%d", cfg.MaxSockets, maxMsec)
	case cfg.TimeWaitLimit() > tw.MaxLimit:
		return fmt.Errorf("tcp: maxtcptw %d: at most %d per core", cfg.MaxTCPTW, tw.MaxLimit)
	case cfg.RexmitInitial < timerTick:
		return fmt.Errorf("tcp: rexmit_initial %v: want at least %v (the timers' tick)", cfg.RexmitInitial, timerTick)
	case cfg.RexmitMin < 0 || cfg.RexmitSlop < 0:
		return fmt.Errorf("tcp: rexmit_min %v, rexmit_slop %v: want neither negative", cfg.RexmitMin, cfg.RexmitSlop)
	case cfg.DelAckTime < timerTick:
		return fmt.Errorf("tcp: delacktime %v: want at least %v (the timers' tick)", cfg.DelAckTime, timerTick)
	case cfg.KeepInit < timerTick || cfg.KeepIdle < timerTick || cfg.KeepIntvl < timerTick:
		return fmt.Errorf("tcp: keepinit %v, keepidle %v, keepintvl %v: want each at least %v (the timers' tick)",
			cfg.KeepInit, cfg.KeepIdle, cfg.KeepIntvl, timerTick)
	case cfg.FinWait2Timeout < timerTick:
		return fmt.Errorf("tcp: finwait2_timeout %v: want at least %v (the timers' tick)", cfg.FinWait2Timeout, timerTick)
	case cfg.KeepCnt < 1:
		return errors.New("tcp: keepcnt must be at least 1")
	case cfg.InitCwndSegments < 1 || cfg.InitCwndSegments > 1000:
		return fmt.Errorf("tcp: initcwnd_segments %d: want 1..1000", cfg.InitCwndSegments)
	case cfg.ReassMaxQueueLen < 1 || cfg.ReassMaxQueueLen > DefaultReassMaxQueueLen:
		return fmt.Errorf("tcp: reass.maxqueuelen %d: want 1..%d", cfg.ReassMaxQueueLen, DefaultReassMaxQueueLen)
	case cfg.MTU < 576 || cfg.MTU > 9216:
		return fmt.Errorf("tcp: MTU %d: want 576..9216", cfg.MTU)
	case cfg.ECN < ECNOff || cfg.ECN > ECNAccept:
		return fmt.Errorf("tcp: ecn.enable %d: want 0 (off), 1 (on) or 2 (accept only)", cfg.ECN)
	case cfg.ECNMaxRetries < 0 || cfg.ECNMaxRetries > MaxSynRexmits:
		return fmt.Errorf("tcp: ecn.maxretries %d: want 0..%d", cfg.ECNMaxRetries, MaxSynRexmits)
	case cfg.DCTCPAlpha < 0 || cfg.DCTCPAlpha > DCTCPMaxAlpha:
		return fmt.Errorf("tcp: cc.dctcp.alpha %d: want 0..%d", cfg.DCTCPAlpha, DCTCPMaxAlpha)
	case cfg.DCTCPShiftG < 0 || cfg.DCTCPShiftG > 10:
		return fmt.Errorf("tcp: cc.dctcp.shift_g %d: want 0..10", cfg.DCTCPShiftG)
	case cfg.HyStartMinRTTThresh < time.Microsecond || cfg.HyStartMinRTTThresh > MaxHyStartRTTThresh ||
		cfg.HyStartMaxRTTThresh < time.Microsecond || cfg.HyStartMaxRTTThresh > MaxHyStartRTTThresh:
		return fmt.Errorf("tcp: cc.hystartplusplus.minrtt_thresh %v, maxrtt_thresh %v: want each 1 µs..%v",
			cfg.HyStartMinRTTThresh, cfg.HyStartMaxRTTThresh, MaxHyStartRTTThresh)
	case cfg.HyStartMinRTTDivisor < 1 || cfg.HyStartMinRTTDivisor > 1024:
		return fmt.Errorf("tcp: cc.hystartplusplus.minrtt_divisor %d: want 1..1024", cfg.HyStartMinRTTDivisor)
	case cfg.HyStartNRTTSamples < 1 || cfg.HyStartNRTTSamples > MaxHyStartNRTTSamples:
		return fmt.Errorf("tcp: cc.hystartplusplus.n_rttsamples %d: want 1..%d", cfg.HyStartNRTTSamples, MaxHyStartNRTTSamples)
	case cfg.HyStartCSSGrowthDiv < 1 || cfg.HyStartCSSGrowthDiv > MaxHyStartCSSGrowthDiv:
		return fmt.Errorf("tcp: cc.hystartplusplus.css_growth_div %d: want 1..%d", cfg.HyStartCSSGrowthDiv, MaxHyStartCSSGrowthDiv)
	case cfg.HyStartCSSRounds < 0 || cfg.HyStartCSSRounds > MaxHyStartCSSRounds:
		return fmt.Errorf("tcp: cc.hystartplusplus.css_rounds %d: want 0..%d", cfg.HyStartCSSRounds, MaxHyStartCSSRounds)
	case cfg.PMTUDBlackholeDetect < 0 || cfg.PMTUDBlackholeDetect > 3:
		return fmt.Errorf("tcp: pmtud_blackhole_detection %d: want 0..3", cfg.PMTUDBlackholeDetect)
	case cfg.PMTUDBlackholeMSS < 64 || cfg.PMTUDBlackholeMSS > 65495 || cfg.V6PMTUDBlackholeMSS < 64 || cfg.V6PMTUDBlackholeMSS > 65495:
		return fmt.Errorf("tcp: pmtud_blackhole_mss %d, v6pmtud_blackhole_mss %d: want 64..65495", cfg.PMTUDBlackholeMSS, cfg.V6PMTUDBlackholeMSS)
	case cfg.HostCacheExpire < time.Second:
		return fmt.Errorf("tcp: hostcache.expire %v: want at least 1 s", cfg.HostCacheExpire)
	case cfg.LogInVain < 0 || cfg.LogInVain > 2:
		return fmt.Errorf("tcp: log_in_vain %d: want 0, 1 or 2", cfg.LogInVain)
	case cfg.ISNReseedInterval < 0:
		return fmt.Errorf("tcp: isn_reseed_interval %v: want 0 (never) or more", cfg.ISNReseedInterval)
	case cfg.TWReuse < 0 || cfg.TWReuse > 1:
		return fmt.Errorf("tcp: tw_reuse %d: want 0 or 1", cfg.TWReuse)
	case cfg.PortFirst != 0 && (cfg.PortFirst < 1024 || cfg.PortFirst > 65535) ||
		cfg.PortLast != 0 && (cfg.PortLast < 1024 || cfg.PortLast > 65535):
		return fmt.Errorf("tcp: portrange %d..%d: want ports 1024..65535 (0: %d..%d)", cfg.PortFirst, cfg.PortLast, PortFirstAuto, PortLastAuto)
	case cfg.FunctionsDefault != StackRACK && cfg.FunctionsDefault != StackFreeBSD:
		return fmt.Errorf("tcp: functions_default %q: want %s or %s", cfg.FunctionsDefault, StackRACK, StackFreeBSD)
	case cfg.RackReorderThresh < 0 || cfg.RackReorderThresh > 16:
		return fmt.Errorf("tcp: rack.tlp.reorder_thresh %d: want 0..16", cfg.RackReorderThresh)
	case cfg.RackTLPMinTO < timerTick:
		return fmt.Errorf("tcp: rack.tlp.tlpminto %v: want at least %v (the timers' tick)", cfg.RackTLPMinTO, timerTick)
	case cfg.portFirst() > cfg.portLast():
		return fmt.Errorf("tcp: portrange.first %d is above portrange.last %d", cfg.portFirst(), cfg.portLast())
	}
	return nil
}

// CongestionControls lists the algorithms by name.
var CongestionControls = map[string]CongestionControl{"newreno": NewReno{}, "cubic": Cubic{}, "dctcp": DCTCP{}}

// LookupCongestionControl returns the algorithm called name.
func LookupCongestionControl(name string) (CongestionControl, error) {
	cc, ok := CongestionControls[name]
	if !ok {
		return nil, fmt.Errorf("tcp: unknown congestion control %q (newreno, cubic, dctcp)", name)
	}
	return cc, nil
}
