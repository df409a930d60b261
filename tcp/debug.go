package tcp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

var timerNames = [numTimers]string{"rexmt", "persist", "keep", "delack", "2msl"}

// DebugString describes the control block for a person reading a failure:
// the state, the sequence spaces relative to the ISNs, the windows, the
// retransmission state and every armed timer (relative to the shard's
// clock). It allocates; it is for tests and diagnostics, not the packet path.
func (c *Conn) DebugString() string {
	if c.shard == nil {
		return fmt.Sprintf("%v (freed)", c.state)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%v snd_una=%d snd_nxt=%d snd_max=%d (iss+) snd_wnd=%d cwnd=%d ssthresh=%d",
		c.state, c.sndUna.Sub(c.iss), c.sndNxt.Sub(c.iss), c.sndMax.Sub(c.iss), c.sndWnd, c.cwnd, c.ssthresh)
	fmt.Fprintf(&b, " rcv_nxt=%d rcv_adv=%d (irs+) rcv_wnd=%d unsent=%d unread=%d reas=%d",
		c.rcvNxt.Sub(c.irs), c.rcvAdv.Sub(c.irs), c.rcvWindow(), c.snd.n, c.rcv.n, c.reas.n)
	fmt.Fprintf(&b, " rto=%v srtt=%v rexmits=%d recovery=%v dupacks=%d sacked=%d rexmt_mode=%d tlp=%v ackNow=%v fin=%v/%v",
		c.rto, c.srtt, c.rexmits, c.inRecovery, c.dupAcks, c.sb.bytes, c.rexmtMode, c.tlpDone || c.tlpOut(), c.ackNow,
		c.finQueued, c.finRcvd)
	now := c.shard.now
	for k, t := range c.timers {
		if t != 0 {
			fmt.Fprintf(&b, " %s+%v", timerNames[k], t.Sub(now))
		}
	}
	if c.tlist == nil && c.deadline == 0 {
		b.WriteString(" (not in the wheel)")
	}
	return b.String()
}

// DebugConns returns the DebugString of every connection of the shard, for
// tests and diagnostics (it allocates).
func (s *Shard) DebugConns() []string {
	var out []string
	for t, c := range s.conns {
		out = append(out, fmt.Sprintf("%v:%d <-> %v:%d %s", netip.AddrFrom16(t.LocalAddr).Unmap(), t.LocalPort,
			netip.AddrFrom16(t.RemoteAddr).Unmap(), t.RemotePort, c.DebugString()))
	}
	slices.Sort(out)
	return out
}
