package tcptrace

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/pollstack/pollstack/flow"
)

// dumpColumns are the columns of Dump, in order.
var dumpColumns = []string{"time_s", "core", "local", "remote", "event", "state", "cc", "flags",
	"cwnd", "ssthresh", "srtt_us", "rttvar_us", "rto_us", "pipe", "snd_una", "snd_nxt", "snd_max",
	"snd_wnd", "sacked", "lost", "rexmit", "mss"}

// Endpoint formats one end of a tuple as ADDR:PORT ([ADDR]:PORT for IPv6).
func Endpoint(a [16]byte, port uint16) string {
	return netip.AddrPortFrom(netip.AddrFrom16(a).Unmap(), port).String()
}

// ConnName names a connection by its 4-tuple, local end first.
func ConnName(t flow.Tuple) string {
	return Endpoint(t.LocalAddr, t.LocalPort) + " ↔ " + Endpoint(t.RemoteAddr, t.RemotePort)
}

func flagString(f uint8) string {
	var parts []string
	for _, x := range []struct {
		bit  uint8
		name string
	}{{1, "sack"}, {2, "ts"}, {4, "ecn"}} {
		if f&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "+")
}

// Dump prints a trace's records in file order, one a line: columns
// separated by spaces under a header line, or with csv as comma-separated
// values. It returns the records printed.
func Dump(out io.Writer, in io.Reader, csv bool) (int, error) {
	tr, err := NewReader(in)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(out)
	sep := " "
	if csv {
		sep = ","
	}
	fmt.Fprintln(w, strings.Join(dumpColumns, sep))
	n := 0
	for {
		r, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := w.Flush(); ferr != nil {
				return n, ferr
			}
			return n, fmt.Errorf("after %d records: %w", n, err)
		}
		n++
		fields := [...]any{fmt.Sprintf("%.6f", float64(r.Time)/1e9), r.Core,
			Endpoint(r.Tuple.LocalAddr, r.Tuple.LocalPort), Endpoint(r.Tuple.RemoteAddr, r.Tuple.RemotePort),
			r.Event, r.State, r.CC, flagString(r.Flags), r.Cwnd, r.Ssth,
			r.SRTT.Microseconds(), r.RTTVar.Microseconds(), r.RTO.Microseconds(), r.Pipe,
			uint32(r.SndUna), uint32(r.SndNxt), uint32(r.SndMax), r.SndWnd, r.Sacked, r.Lost, r.Rexmit, r.MSS}
		for i, f := range fields {
			if i > 0 {
				_, _ = w.WriteString(sep) // a bufio.Writer's error comes back from Flush
			}
			fmt.Fprint(w, f)
		}
		_ = w.WriteByte('\n')
	}
	return n, w.Flush()
}
