package tw

// Stat indexes a table's counters. The names follow FreeBSD's tcpstat style
// with a tw_ prefix; the number of entries now is Table.Len.
type Stat int

// Counters.
const (
	Created     Stat = iota // entries made (connections that entered TIME_WAIT)
	Expired                 // entries whose 2MSL ran out
	Recycled                // entries ended early because the table was full (tcp_tw_2msl_scan(reuse))
	Reopened                // entries ended by a SYN that opened a new connection (rule 3, RFC 6191)
	RSTIgnored              // RSTs ignored (rule 1, RFC 1337)
	PAWSDropped             // segments with an old timestamp dropped (rule 2, RFC 7323)
	FINRearmed              // retransmitted FINs acknowledged, 2MSL restarted (rule 5)
	Responds                // ACKs the table asked its caller to send (rules 2, 3, 5, 6)
	Overflow                // connections that got no entry: the table could not make one
	RateLimited             // ACKs not sent because the per-second limit was reached
	NumStats
)

var statNames = [NumStats]string{
	Created: "tw_created", Expired: "tw_expired", Recycled: "tw_recycled", Reopened: "tw_reopened",
	RSTIgnored: "tw_rst_ignored", PAWSDropped: "tw_paws_dropped", FINRearmed: "tw_fin_rearmed",
	Responds: "tw_responds", Overflow: "tw_overflow", RateLimited: "tw_ratelimited",
}

// String returns the counter's name.
func (s Stat) String() string {
	if s < 0 || s >= NumStats {
		return "unknown"
	}
	return statNames[s]
}

// Stats is a table's counter set, written by the owning core only.
type Stats [NumStats]uint64
