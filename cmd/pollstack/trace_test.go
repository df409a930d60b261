package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/internal/tcptrace"
	"github.com/pollstack/pollstack/tcp"
)

// trace dump and trace plot read a file the writer made: dump prints a
// header and a line per record (CSV with --csv, FILE before or after the
// flag), plot writes FILE.svg with a panel per connection.
func TestTraceDumpAndPlot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.trace")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tcptrace.NewWriter(f, 2, tcptrace.MinRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r := tcp.TraceRecord{Event: tcp.TraceAck, State: tcp.Established, Cwnd: uint32(1000 * i), Time: 1000}
		r.Tuple.LocalAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1}
		r.Tuple.RemoteAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}
		r.Tuple.LocalPort, r.Tuple.RemotePort = 80, uint16(50000+i%3)
		w.Ring(i % 2).Trace(&r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, args := range [][]string{{"trace", "dump", file, "--csv"}, {"trace", "dump", "--csv", file}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 11 || !strings.HasPrefix(lines[0], "time_s,core,local,remote,event,state,cc,flags,cwnd") ||
			!strings.Contains(lines[1], ",198.18.0.1:80,198.18.0.2:5000") {
			t.Fatalf("%q: %d lines:\n%s", args, len(lines), stdout.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"trace", "plot", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("trace plot: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "10 records, 3 connections: "+file+".svg") {
		t.Fatalf("trace plot said %q", stderr.String())
	}
	svg, err := os.ReadFile(file + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(svg, []byte(`<g class="panel"`)); n != 3 {
		t.Fatalf("%d panels", n)
	}
}

// A trace whose writer was killed ends in the middle of a record: dump and
// plot read the whole records before it and say so on stderr.
func TestTraceCutShort(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cut.trace")
	var buf bytes.Buffer
	w, err := tcptrace.NewWriter(&buf, 1, tcptrace.MinRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r := tcp.TraceRecord{Event: tcp.TraceAck, State: tcp.Established, Cwnd: 1000, Time: 1000}
		r.Tuple.LocalPort, r.Tuple.RemotePort = 80, 50000
		w.Ring(0).Trace(&r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes()[:buf.Len()-tcptrace.RecordSize/2], 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"trace", "dump", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("trace dump: exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 5 || !strings.Contains(stderr.String(), "ends in the middle of a record") ||
		!strings.Contains(stderr.String(), "read the 4 before it") {
		t.Fatalf("trace dump: %d lines; stderr %q", n, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"trace", "plot", file}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "4 records, 1 connections") {
		t.Fatalf("trace plot: exit %d: %s", code, stderr.String())
	}
}
