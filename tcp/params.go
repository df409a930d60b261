package tcp

import (
	"time"

	"github.com/pollstack/pollstack/tw"
)

// Defaults and limits. Names follow FreeBSD's net.inet.tcp MIB (tcp(4));
// units are in the names or comments; times are time.Duration.
const (
	// DefaultMSSDflt is mssdflt: the MSS assumed when the peer sends none.
	DefaultMSSDflt = 536
	// DefaultSendSpace is sendspace: the send buffer in bytes.
	DefaultSendSpace = 32768
	// DefaultRecvSpace is recvspace: the receive buffer in bytes.
	DefaultRecvSpace = 65536
	// DefaultRecvBufMax is recvbuf_max: the most a receive buffer grows to
	// by itself (FreeBSD's default).
	DefaultRecvBufMax = 2 << 20
	// DefaultSendBufMax is sendbuf_max: the most a send buffer grows to by
	// itself (FreeBSD's default).
	DefaultSendBufMax = 2 << 20
	// MaxBufferSpace bounds sendspace and recvspace (window scale 14 allows 1 GiB).
	MaxBufferSpace = 1 << 30
	// DefaultBufferMemory is a shard's buffer memory pressure point.
	DefaultBufferMemory = 256 << 20
	// DefaultRxDropWindow is rxdrop_window: about half the frames of a
	// default receive ring (2048) in full segments, 1 MiB, what a core's
	// receive windows promise in all while its link drops received frames.
	DefaultRxDropWindow = 1 << 20
	// MaxRxDropWindow bounds rxdrop_window.
	MaxRxDropWindow = MaxBufferSpace
	// RxDropHold is how long after the link's last drop the receive
	// windows stay held to rxdrop_window.
	RxDropHold = time.Second
	// DefaultMSL is msl: the maximum segment lifetime (30 s); TIME_WAIT lasts 2*msl.
	DefaultMSL = 30 * time.Second
	// MaxMSL bounds msl (one day; tw.MaxMSL).
	MaxMSL = tw.MaxMSL
	// MinMaxTCPTW is the smallest maxtcptw accepted (FreeBSD refuses less).
	MinMaxTCPTW = 32
	// DefaultMaxSockets is the maxsockets the automatic maxtcptw assumes
	// (FreeBSD's kern.ipc.maxsockets): 1,048,576, of which a fifth may be
	// in TIME_WAIT.
	DefaultMaxSockets = 1 << 20
	// PortFirstAuto and PortLastAuto bound the ephemeral ports
	// (ipport_firstauto, ipport_lastauto: IANA's dynamic range).
	PortFirstAuto = 49152
	PortLastAuto  = 65535
	// DefaultRexmitInitial is rexmit_initial: the RTO before any RTT sample (1 s).
	DefaultRexmitInitial = time.Second
	// DefaultRexmitMin is rexmit_min: the RTO's lower bound before slop (30 ms).
	DefaultRexmitMin = 30 * time.Millisecond
	// DefaultRexmitSlop is rexmit_slop: added to the computed RTO (200 ms).
	DefaultRexmitSlop = 200 * time.Millisecond
	// MaxRTO is the RTO's upper bound (64 s, FreeBSD's TCPTV_REXMTMAX).
	MaxRTO = 64 * time.Second
	// MaxRexmits is the number of retransmissions of one segment before the
	// connection is dropped (FreeBSD's TCP_MAXRXTSHIFT).
	MaxRexmits = 12
	// MaxSynRexmits is the same for SYN and SYN-ACK (FreeBSD's TCP_SYNCNT... 6 tries, ~63 s).
	MaxSynRexmits = 6
	// DefaultDelAckTime is delacktime: the longest an ACK is delayed (40 ms).
	DefaultDelAckTime = 40 * time.Millisecond
	// DefaultKeepInit is keepinit: how long a connection may take to establish (75 s).
	DefaultKeepInit = 75 * time.Second
	// DefaultKeepIdle is keepidle: idle time before keepalive probes (2 h).
	DefaultKeepIdle = 2 * time.Hour
	// DefaultKeepIntvl is keepintvl: time between unanswered probes (75 s).
	DefaultKeepIntvl = 75 * time.Second
	// DefaultKeepCnt is keepcnt: unanswered probes before the connection is dropped.
	DefaultKeepCnt = 8
	// DefaultFinWait2Timeout is finwait2_timeout (60 s).
	DefaultFinWait2Timeout = 60 * time.Second
	// DefaultInitCwndSegments is initcwnd_segments (RFC 6928).
	DefaultInitCwndSegments = 10
	// DefaultReassMaxQueueLen is reass.maxqueuelen: out-of-order ranges kept per connection.
	DefaultReassMaxQueueLen = 16
	// MinPersist and MaxPersist bound the persist timer (FreeBSD TCPTV_PERSMIN/MAX).
	MinPersist = 5 * time.Second
	MaxPersist = 60 * time.Second
	// maxWScale is the largest window scale (RFC 7323).
	maxWScale = 14
	// challengeACKLimit is how many challenge ACKs a shard sends per second (RFC 5961 7).
	challengeACKLimit = 1000
	// tsTick is the timestamp clock's period: 1 ms per tick.
	tsTick = time.Millisecond
	// twReserve is how many TIME_WAIT entries per address family a shard's
	// table makes room for with its first (at most its limit): room for the
	// default limit at once, 1.5 MB of IPv4 entries at most. A table that
	// grows past it rebuilds its index, stalling the core for about 100 ns
	// per entry once it outgrows the caches.
	twReserve = 1 << 16
	// DefaultBacklog is the listen backlog when none is given (Linux's somaxconn).
	DefaultBacklog = 4096
)
