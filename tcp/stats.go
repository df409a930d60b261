package tcp

import "github.com/pollstack/pollstack/tw"

// Stat indexes a shard's counters. Names are FreeBSD's struct tcpstat fields
// without the tcps_ prefix. Counters are plain integers written by the
// owning core only.
type Stat int

// Counters.
const (
	StatConnAttempt     Stat = iota // connections initiated (SYN sent)
	StatAccepts                     // connections accepted (passive open completed)
	StatConnects                    // connections established (either side)
	StatDrops                       // established connections dropped (RST sent or received, timeouts)
	StatConnDrops                   // embryonic connections dropped
	StatClosed                      // connections closed (including drops)
	StatSndTotal                    // segments sent
	StatSndPack                     // data segments sent
	StatSndByte                     // data bytes sent
	StatSndRexmitPack               // data segments retransmitted
	StatSndRexmitByte               // data bytes retransmitted
	StatSndAcks                     // pure ACKs sent
	StatSndCtrl                     // control segments sent (SYN, FIN, RST)
	StatSndProbe                    // window probes sent
	StatSndWinUp                    // window updates sent
	StatRcvTotal                    // segments received
	StatRcvPack                     // in-order data segments received
	StatRcvByte                     // in-order data bytes received
	StatRcvBadSum                   // segments with a bad checksum
	StatRcvBadOff                   // segments with a bad data offset
	StatRcvDupPack                  // completely duplicate data segments
	StatRcvPartDupPack              // partly duplicate data segments
	StatRcvOOPack                   // out-of-order data segments
	StatRcvPackAfterWin             // segments (partly) beyond the window
	StatRcvAfterClose               // segments after the application closed
	StatRcvAckTotal                 // ACKs received
	StatRcvDupAck                   // duplicate ACKs
	StatRcvAckTooMuch               // ACKs for unsent data
	StatRexmtTimeo                  // retransmission timeouts
	StatPersistTimeo                // persist timeouts
	StatKeepTimeo                   // keepalive timeouts (and keepinit)
	StatKeepProbe                   // keepalive probes sent
	StatKeepDrops                   // connections dropped by keepalive or keepinit
	StatDelAck                      // delayed ACKs sent
	StatPAWSDrop                    // segments dropped by PAWS
	StatPredAck                     // header prediction: pure ACKs
	StatPredDat                     // header prediction: in-order data
	StatSCSendCookie                // SYN cookies sent
	StatSCRecvCookie                // SYN cookies received and valid
	StatBadSyn                      // bad SYNs (and SYN cookies that did not validate)
	StatListenDrop                  // SYNs dropped: listen queue full
	StatChallengeAck                // challenge ACKs sent (RFC 5961)
	StatRSTSent                     // RSTs sent for segments without a connection
	StatNoPort                      // segments for closed ports
	StatTWReopened                  // TIME_WAIT entries ended by a new SYN (RFC 6191)
	StatTLP                         // tail loss probes sent (RFC 8985)
	StatPersistDrops                // connections dropped while persisting (the peer went silent)
	StatTimeoutDrop                 // connections dropped when their retransmissions ran out (MaxRexmits, MaxSynRexmits)
	StatWinUpResent                 // window updates sent again: the peer, shut out before them, was not heard from (winup.go)
	StatConnAckDeferred             // handshakes whose last ACK waited for the first data (SetDeferHandshakeACK)
	StatICMPUnreach                 // ICMP unreachables matched to a connection
	// The shard's TIME_WAIT table's counters (tw.Stats), copied in by
	// Shard.Stats; tw_reopened above is the table's too.
	StatTWCreated        // TIME_WAIT entries made
	StatTWExpired        // TIME_WAIT entries whose 2MSL ran out
	StatTWRecycled       // TIME_WAIT entries ended early to make room (maxtcptw)
	StatTWRSTIgnored     // RSTs ignored in TIME_WAIT (RFC 1337)
	StatTWPAWSDropped    // segments with an old timestamp dropped in TIME_WAIT
	StatTWFINRearmed     // retransmitted FINs acknowledged in TIME_WAIT, 2MSL restarted
	StatTWResponds       // ACKs sent from TIME_WAIT
	StatTWOverflow       // connections closed without TIME_WAIT: no entry could be made
	StatTWRateLimited    // TIME_WAIT ACKs not sent: over the per-second limit
	StatTWNoLocal        // connections closed without TIME_WAIT: nolocaltimewait
	StatTWReused         // TIME_WAIT entries taken over by an active open (tw_reuse)
	StatPortsExhausted   // active opens refused: no ephemeral port was free (EADDRNOTAVAIL)
	StatSocketsExhausted // SYNs dropped and active opens refused (ENOBUFS): kern.ipc.maxsockets reached
	StatSndNoFrame       // segments that found no frame, sent later (a timer, the RST queue, the next event)
	StatNoFrameDrop      // segments dropped for want of a frame: answers to stray segments the peer sends again
	StatLingerUnread     // connections that ended in order with bytes unread, kept for the application to read
	// Loss recovery (RACK-TLP, PRR, D-SACK).
	StatSACKRecoveryEpisode // recovery episodes begun (a congestion event found by SACK: RACK or three duplicates)
	StatSACKRexmits         // segments retransmitted in SACK recovery
	StatSACKRexmitBytes     // bytes retransmitted in SACK recovery
	StatSACKLostRexmt       // retransmissions found lost again (RACK)
	StatDSACKCount          // D-SACK blocks received
	StatDSACKBytes          // bytes D-SACK blocks reported
	StatDSACKTLPBytes       // bytes of tail loss probes D-SACK blocks reported
	StatSndRexmitBad        // D-SACK blocks for bytes retransmitted lately: spurious retransmissions
	StatDSACKSent           // D-SACK blocks sent
	StatRackReorder         // connections that saw reordering (RACK widens its window)
	StatRackReoTimeo        // RACK reordering timer expiries
	StatTLPRecovered        // tail loss probes that repaired a loss (congestion control heard of it)
	StatCwndUndo            // congestion window reductions taken back: every retransmission they led to was spurious
	StatRexmtTimeoSpurious  // retransmission timeouts F-RTO found spurious
	// Path MTU discovery (pmtu.go).
	StatPMTUDICMPAccepted             // ICMP fragmentation needed / ICMPv6 packet too big matched to a segment in flight
	StatPMTUDICMPIgnored              // of those, ignored: no connection, the quoted sequence outside snd_una..snd_max (RFC 5927), or an MTU below the minimum
	StatMTUResent                     // times a connection sent what was in flight again at a smaller MSS
	StatPMTUDBlackholeActivated       // black-hole detection lowered an MSS to pmtud_blackhole_mss
	StatPMTUDBlackholeActivatedMinMSS // black-hole detection lowered an MSS to mssdflt (IPv6: 1220)
	StatPMTUDBlackholeFailed          // black-hole detection gave the old MSS back: the timeouts went on
	// ECN (RFC 3168): FreeBSD counts the codepoints of segments received.
	StatECNCE            // segments received with CE on connections that agreed on ECN
	StatECNECT0          // segments received ECT(0) on connections that agreed on ECN
	StatECNECT1          // segments received ECT(1) on connections that agreed on ECN
	StatECNShs           // handshakes that agreed on ECN
	StatECNRcwnd         // window reductions for an ECN echo
	StatECNSndECT0       // segments sent ECT(0)
	StatAckWarSuppressed // ACKs for dropped segments not sent: over ack_war_cnt in ack_war_timewindow
	StatRxDropWindow     // times the link's drops began to hold the receive windows to rxdrop_window
	// Buffer autosizing (autosize.go).
	StatRcvBufAutoGrow // receive buffers grown: the reader took more than half of one in a round trip (recvbuf_auto)
	StatSndBufAutoGrow // send buffers grown: a full one held less than two windows (sendbuf_auto)
	// HyStart++ (RFC 9406, hystart.go).
	StatHyStartCSSEntries  // slow starts turned conservative: a round's least RTT rose by the threshold
	StatHyStartCSSSpurious // of those, back to slow start: the RTT fell below CSS's baseline
	StatHyStartCSSExits    // slow starts ended by CSS running its rounds (ssthresh = cwnd, no loss)
	StatHyStartCSSLoss     // slow starts ended by a loss or ECN echo in CSS
	StatHyStartSSLoss      // slow starts ended by a loss or ECN echo before CSS
	// Per-connection tracing (SetTracer).
	StatTraceRecords // trace records handed to the tracer
	StatTraceDropped // trace records the tracer could not keep (its ring was full)
	numStats
)

var statNames = [numStats]string{
	StatConnAttempt: "connattempt", StatAccepts: "accepts", StatConnects: "connects",
	StatDrops: "drops", StatConnDrops: "conndrops", StatClosed: "closed",
	StatSndTotal: "sndtotal", StatSndPack: "sndpack", StatSndByte: "sndbyte",
	StatSndRexmitPack: "sndrexmitpack", StatSndRexmitByte: "sndrexmitbyte",
	StatSndAcks: "sndacks", StatSndCtrl: "sndctrl", StatSndProbe: "sndprobe", StatSndWinUp: "sndwinup",
	StatRcvTotal: "rcvtotal", StatRcvPack: "rcvpack", StatRcvByte: "rcvbyte",
	StatRcvBadSum: "rcvbadsum", StatRcvBadOff: "rcvbadoff", StatRcvDupPack: "rcvduppack",
	StatRcvPartDupPack: "rcvpartduppack", StatRcvOOPack: "rcvoopack",
	StatRcvPackAfterWin: "rcvpackafterwin", StatRcvAfterClose: "rcvafterclose",
	StatRcvAckTotal: "rcvacktotal", StatRcvDupAck: "rcvdupack", StatRcvAckTooMuch: "rcvacktoomuch",
	StatRexmtTimeo: "rexmttimeo", StatPersistTimeo: "persisttimeo", StatKeepTimeo: "keeptimeo",
	StatKeepProbe: "keepprobe", StatKeepDrops: "keepdrops", StatDelAck: "delack",
	StatPAWSDrop: "pawsdrop", StatPredAck: "predack", StatPredDat: "preddat",
	StatSCSendCookie: "sc_sendcookie", StatSCRecvCookie: "sc_recvcookie", StatBadSyn: "badsyn",
	StatListenDrop: "listendrop", StatChallengeAck: "challengeack", StatRSTSent: "rstsent",
	StatNoPort: "noport", StatTWReopened: "tw_reopened", StatTLP: "tlp", StatPersistDrops: "persistdrop", StatTimeoutDrop: "timeoutdrop", StatWinUpResent: "winup_resent", StatConnAckDeferred: "connack_deferred", StatICMPUnreach: "icmp_unreach",
	StatTWCreated: "tw_created", StatTWExpired: "tw_expired", StatTWRecycled: "tw_recycled",
	StatTWRSTIgnored: "tw_rst_ignored", StatTWPAWSDropped: "tw_paws_dropped", StatTWFINRearmed: "tw_fin_rearmed",
	StatTWResponds: "tw_responds", StatTWOverflow: "tw_overflow", StatTWRateLimited: "tw_ratelimited",
	StatTWNoLocal: "tw_nolocal", StatTWReused: "tw_reused", StatPortsExhausted: "ports_exhausted",
	StatSocketsExhausted: "sockets_exhausted", StatSndNoFrame: "sndnoframe", StatNoFrameDrop: "noframedrop",
	StatLingerUnread:     "linger_unread",
	StatAckWarSuppressed: "ack_war_suppressed", StatRxDropWindow: "rxdrop_window",
	StatRcvBufAutoGrow: "rcvbuf_autogrow", StatSndBufAutoGrow: "sndbuf_autogrow",
	StatSACKRecoveryEpisode: "sack_recovery_episode", StatSACKRexmits: "sack_rexmits",
	StatSACKRexmitBytes: "sack_rexmit_bytes", StatSACKLostRexmt: "sack_lostrexmt",
	StatDSACKCount: "dsack_count", StatDSACKBytes: "dsack_bytes", StatDSACKTLPBytes: "dsack_tlp_bytes",
	StatSndRexmitBad: "sndrexmitbad", StatDSACKSent: "dsack_sent", StatRackReorder: "rack_reorder",
	StatRackReoTimeo: "rack_reotimeo", StatTLPRecovered: "tlp_recovered", StatCwndUndo: "cwnd_undo",
	StatRexmtTimeoSpurious: "rexmttimeo_spurious",
	StatPMTUDICMPAccepted:  "pmtud_icmp_accepted", StatPMTUDICMPIgnored: "pmtud_icmp_ignored", StatMTUResent: "mturesent",
	StatPMTUDBlackholeActivated: "pmtud_blackhole_activated", StatPMTUDBlackholeActivatedMinMSS: "pmtud_blackhole_activated_min_mss",
	StatPMTUDBlackholeFailed: "pmtud_blackhole_failed",
	StatECNCE:                "ecn_ce", StatECNECT0: "ecn_ect0", StatECNECT1: "ecn_ect1", StatECNShs: "ecn_shs",
	StatECNRcwnd: "ecn_rcwnd", StatECNSndECT0: "ecn_sndect0",
	StatHyStartCSSEntries: "hystart_css_entries", StatHyStartCSSSpurious: "hystart_css_spurious",
	StatHyStartCSSExits: "hystart_css_exits", StatHyStartCSSLoss: "hystart_css_loss", StatHyStartSSLoss: "hystart_ss_loss",
	StatTraceRecords: "trace_records", StatTraceDropped: "trace_dropped",
}

// twStats maps the tw table's counters to the shard's.
var twStats = [tw.NumStats]Stat{
	tw.Created: StatTWCreated, tw.Expired: StatTWExpired, tw.Recycled: StatTWRecycled,
	tw.Reopened: StatTWReopened, tw.RSTIgnored: StatTWRSTIgnored, tw.PAWSDropped: StatTWPAWSDropped,
	tw.FINRearmed: StatTWFINRearmed, tw.Responds: StatTWResponds, tw.Overflow: StatTWOverflow,
	tw.RateLimited: StatTWRateLimited,
}

// String returns the tcpstat name.
func (s Stat) String() string {
	if s < 0 || s >= numStats {
		return "unknown"
	}
	return statNames[s]
}

// NumStats is the number of counters.
const NumStats = int(numStats)

// Stats is a shard's counter set.
type Stats [numStats]uint64
