package tcptrace

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// The file: a HeaderSize-byte header (Magic, the format's Version and
// RecordSize as little-endian uint16s, four bytes of zero), then records.
const (
	Magic      = "pstrace\x00"
	Version    = 1
	HeaderSize = 16
	// RecordSize is the size of one record; see Encode for its layout.
	RecordSize = 112
)

// Record is one decoded record: the shard's record and the core that
// wrote it.
type Record struct {
	tcp.TraceRecord
	Core int
}

// header returns the file header.
func header() [HeaderSize]byte {
	var h [HeaderSize]byte
	copy(h[:], Magic)
	binary.LittleEndian.PutUint16(h[8:], Version)
	binary.LittleEndian.PutUint16(h[10:], RecordSize)
	return h
}

// usec is d in whole microseconds, saturated to 32 bits.
func usec(d time.Duration) uint32 {
	return uint32(min(max(d/time.Microsecond, 0), 1<<32-1))
}

// Encode writes r, from core, into b (at least RecordSize bytes), little
// endian:
//
//	 0 u64 time, ns of the engine's monotonic clock
//	 8 [16] local address (IPv4 as ::ffff:a.b.c.d)
//	24 [16] remote address
//	40 u16 local port     42 u16 remote port
//	44 u8 event           45 u8 TCP state
//	46 u8 cc state        47 u8 flags (1 SACK, 2 timestamps, 4 ECN)
//	48 u32 cwnd           52 u32 ssthresh (bytes)
//	56 u32 srtt           60 u32 rttvar        64 u32 rto (µs)
//	68 u32 pipe (bytes in flight)
//	72 u32 snd_una        76 u32 snd_nxt       80 u32 snd_max
//	84 u32 snd_wnd        88 u32 sacked bytes  92 u32 lost bytes
//	96 u32 segments retransmitted
//	100 u16 MSS           102 u16 core         104 8 bytes of zero
func Encode(b []byte, r *tcp.TraceRecord, core int) {
	b = b[:RecordSize]
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(r.Time))
	copy(b[8:24], r.Tuple.LocalAddr[:])
	copy(b[24:40], r.Tuple.RemoteAddr[:])
	le.PutUint16(b[40:], r.Tuple.LocalPort)
	le.PutUint16(b[42:], r.Tuple.RemotePort)
	b[44], b[45], b[46], b[47] = uint8(r.Event), uint8(r.State), uint8(r.CC), r.Flags
	le.PutUint32(b[48:], r.Cwnd)
	le.PutUint32(b[52:], r.Ssth)
	le.PutUint32(b[56:], usec(r.SRTT))
	le.PutUint32(b[60:], usec(r.RTTVar))
	le.PutUint32(b[64:], usec(r.RTO))
	le.PutUint32(b[68:], r.Pipe)
	le.PutUint32(b[72:], uint32(r.SndUna))
	le.PutUint32(b[76:], uint32(r.SndNxt))
	le.PutUint32(b[80:], uint32(r.SndMax))
	le.PutUint32(b[84:], r.SndWnd)
	le.PutUint32(b[88:], r.Sacked)
	le.PutUint32(b[92:], r.Lost)
	le.PutUint32(b[96:], r.Rexmit)
	le.PutUint16(b[100:], r.MSS)
	le.PutUint16(b[102:], uint16(core))
	le.PutUint64(b[104:], 0)
}

// Decode reads a record Encode wrote (RecordSize bytes of b). Durations
// come back in whole microseconds.
func Decode(b []byte) Record {
	b = b[:RecordSize]
	le := binary.LittleEndian
	var r Record
	r.Time = mono.Time(le.Uint64(b[0:]))
	r.Tuple = flow.Tuple{LocalAddr: [16]byte(b[8:24]), RemoteAddr: [16]byte(b[24:40]),
		LocalPort: le.Uint16(b[40:]), RemotePort: le.Uint16(b[42:])}
	r.Event, r.State, r.CC, r.Flags = tcp.TraceEvent(b[44]), tcp.State(b[45]), tcp.CCState(b[46]), b[47]
	r.Cwnd = le.Uint32(b[48:])
	r.Ssth = le.Uint32(b[52:])
	r.SRTT = time.Duration(le.Uint32(b[56:])) * time.Microsecond
	r.RTTVar = time.Duration(le.Uint32(b[60:])) * time.Microsecond
	r.RTO = time.Duration(le.Uint32(b[64:])) * time.Microsecond
	r.Pipe = le.Uint32(b[68:])
	r.SndUna = flow.Seq(le.Uint32(b[72:]))
	r.SndNxt = flow.Seq(le.Uint32(b[76:]))
	r.SndMax = flow.Seq(le.Uint32(b[80:]))
	r.SndWnd = le.Uint32(b[84:])
	r.Sacked = le.Uint32(b[88:])
	r.Lost = le.Uint32(b[92:])
	r.Rexmit = le.Uint32(b[96:])
	r.MSS = le.Uint16(b[100:])
	r.Core = int(le.Uint16(b[102:]))
	return r
}

// ErrNotTrace is returned for a file that does not start with the header.
var ErrNotTrace = errors.New("not a pollstack trace (bad header)")

// Reader reads a trace file's records in file order (each core's in the
// order it made them; cores interleave as the writer drained them).
type Reader struct {
	r   *bufio.Reader
	buf [RecordSize]byte
}

// NewReader checks the header and returns a reader of the records after it.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var h [HeaderSize]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrNotTrace
		}
		return nil, err
	}
	le := binary.LittleEndian
	if string(h[:8]) != Magic {
		return nil, ErrNotTrace
	}
	if v, n := le.Uint16(h[8:]), le.Uint16(h[10:]); v != Version || n != RecordSize {
		return nil, fmt.Errorf("trace format version %d with %d-byte records: this pollstack reads version %d, %d bytes", v, n, Version, RecordSize)
	}
	return &Reader{r: br}, nil
}

// Next returns the next record; io.EOF after the last one. A file cut in
// the middle of a record ends with io.ErrUnexpectedEOF.
func (r *Reader) Next() (Record, error) {
	if _, err := io.ReadFull(r.r, r.buf[:]); err != nil {
		return Record{}, err
	}
	return Decode(r.buf[:]), nil
}

// ReadAll reads every record of a trace.
func ReadAll(r io.Reader) ([]Record, error) {
	tr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var out []Record
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
