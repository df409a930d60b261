package tcptrace

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

func sampleRecords() []Record {
	v4 := flow.Tuple{LocalAddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1},
		RemoteAddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}, LocalPort: 80, RemotePort: 49152}
	v6 := flow.Tuple{LocalAddr: [16]byte{0x20, 0x01, 0, 2, 15: 1}, RemoteAddr: [16]byte{0x20, 0x01, 0, 2, 15: 2},
		LocalPort: 65535, RemotePort: 1}
	return []Record{
		{Core: 0, TraceRecord: tcp.TraceRecord{Time: 1, Tuple: v4, Event: tcp.TraceState, State: tcp.Established,
			CC: tcp.CCOpen, Flags: tcp.TraceSACK | tcp.TraceTS, Cwnd: 14600, Ssth: 1 << 30,
			SRTT: 250 * time.Microsecond, RTTVar: 125 * time.Microsecond, RTO: 230 * time.Millisecond,
			SndUna: 1000, SndNxt: 1001, SndMax: 1001, SndWnd: 65535, MSS: 1460}},
		{Core: 3, TraceRecord: tcp.TraceRecord{Time: mono.Time(1<<63 - 1), Tuple: v6, Event: tcp.TraceAck,
			State: tcp.FinWait1, CC: tcp.CCRecovery, Flags: tcp.TraceECN, Cwnd: 1<<32 - 1, Ssth: 2920,
			SRTT: (1<<32 - 1) * time.Microsecond, RTTVar: time.Microsecond, RTO: 64 * time.Second,
			Pipe: 1 << 31, SndUna: 1<<32 - 1, SndNxt: 0, SndMax: 5, SndWnd: 1 << 30,
			Sacked: 7, Lost: 8, Rexmit: 9, MSS: 65535}},
		{Core: 65535, TraceRecord: tcp.TraceRecord{Event: tcp.TraceRTO, CC: tcp.CCLoss}},
	}
}

// Encode and Decode are each other's inverse, field by field, at the
// edges of every field's range.
func TestRecordRoundTrip(t *testing.T) {
	for i, want := range sampleRecords() {
		var b [RecordSize]byte
		Encode(b[:], &want.TraceRecord, want.Core)
		if got := Decode(b[:]); got != want {
			t.Errorf("record %d: decoded\n %+v\nwant\n %+v", i, got, want)
		}
	}
}

// Durations are kept in whole microseconds, saturated at 32 bits.
func TestRecordDurationsInMicroseconds(t *testing.T) {
	r := tcp.TraceRecord{SRTT: 1999 * time.Nanosecond, RTTVar: -5, RTO: 1e6 * time.Hour}
	var b [RecordSize]byte
	Encode(b[:], &r, 0)
	got := Decode(b[:])
	if got.SRTT != time.Microsecond || got.RTTVar != 0 || got.RTO != (1<<32-1)*time.Microsecond {
		t.Fatalf("srtt %v rttvar %v rto %v", got.SRTT, got.RTTVar, got.RTO)
	}
}

// A file written through the rings reads back as the records traced,
// each core's in order.
func TestWriterFileReadsBack(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 4, MinRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	recs := sampleRecords()
	for _, r := range recs {
		if !w.Ring(r.Core % 4).Trace(&r.TraceRecord) {
			t.Fatal("ring full")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != uint64(len(recs)) || buf.Len() != HeaderSize+len(recs)*RecordSize {
		t.Fatalf("written %d, file %d bytes", w.Written(), buf.Len())
	}
	got, err := ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for _, want := range recs {
		found := false
		for _, g := range got {
			want.Core %= 4
			if g == want {
				found = true
			}
		}
		if !found {
			t.Errorf("record %+v not read back", want)
		}
	}
}

// A ring that the writer does not drain takes as many records as it has
// slots, then drops and counts the rest; nothing it took is lost.
func TestRingFullDropsAndCounts(t *testing.T) {
	var buf bytes.Buffer
	w, err := newWriter(&buf, 1, MinRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	r := tcp.TraceRecord{Event: tcp.TraceAck}
	ok := 0
	for i := 0; i < MinRingRecords+10; i++ {
		r.SndUna = flow.Seq(i)
		if w.Ring(0).Trace(&r) {
			ok++
		}
	}
	if ok != MinRingRecords || w.Dropped() != 10 {
		t.Fatalf("took %d, dropped %d; want %d and 10", ok, w.Dropped(), MinRingRecords)
	}
	w.drain()
	if !w.Ring(0).Trace(&r) {
		t.Fatal("a drained ring refused a record")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(&buf)
	if err != nil || len(got) != MinRingRecords+1 {
		t.Fatalf("read %d records, %v", len(got), err)
	}
	for i := 0; i < MinRingRecords; i++ {
		if got[i].SndUna != flow.Seq(i) {
			t.Fatalf("record %d has snd_una %d", i, got[i].SndUna)
		}
	}
}

func TestReaderRefusesOtherFiles(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), append([]byte(Magic), 2, 0, RecordSize, 0, 0, 0, 0, 0)} {
		if _, err := ReadAll(bytes.NewReader(in)); err == nil {
			t.Errorf("%q read as a trace", in)
		}
	}
	h := header()
	cut := append(h[:], make([]byte, RecordSize/2)...)
	if _, err := ReadAll(bytes.NewReader(cut)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a record cut in half: %v", err)
	}
}

func TestDump(t *testing.T) {
	var buf, out bytes.Buffer
	w, _ := newWriter(&buf, 1, MinRingRecords)
	for _, r := range sampleRecords() {
		w.Ring(0).Trace(&r.TraceRecord)
	}
	w.Close()
	n, err := Dump(&out, bytes.NewReader(buf.Bytes()), true)
	if err != nil || n != 3 {
		t.Fatalf("dumped %d, %v", n, err)
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		if c := bytes.Count(l, []byte(",")); c != len(dumpColumns)-1 {
			t.Errorf("%d commas in %q", c, l)
		}
	}
	want := "0.000000,0,198.18.0.1:80,198.18.0.2:49152,state,ESTABLISHED,open,sack+ts,14600,1073741824,250,125,230000,0,1000,1001,1001,65535,0,0,0,1460"
	if string(lines[1]) != want {
		t.Errorf("first record\n %s\nwant\n %s", lines[1], want)
	}
	if !bytes.Contains(lines[2], []byte("[2001:2::1]:65535,[2001:2::2]:1,ack,FIN_WAIT_1,recovery,ecn")) {
		t.Errorf("second record %s", lines[2])
	}
}
