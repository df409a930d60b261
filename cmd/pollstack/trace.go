package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pollstack/pollstack/internal/tcptrace"
)

// traceFile is --trace: the file and the writer that drains the cores'
// rings into it.
type traceFile struct {
	path string
	f    *os.File
	w    *tcptrace.Writer
	log  io.Writer
}

func createTrace(path string, cores, records int, log io.Writer) (*traceFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("--trace: %v", err)
	}
	w, err := tcptrace.NewWriter(f, cores, records)
	if err != nil {
		f.Close()
		return nil, err
	}
	if log == nil {
		log = os.Stderr
	}
	return &traceFile{path: path, f: f, w: w, log: log}, nil
}

// Close writes what the rings hold, closes the file and reports the
// records written and dropped. Call it after the loops have stopped.
func (t *traceFile) Close() error {
	err := errors.Join(t.w.Close(), t.f.Close())
	fmt.Fprintf(t.log, "pollstack: trace %s: %d records written, %d dropped (ring full)\n",
		t.path, t.w.Written(), t.w.Dropped())
	return err
}

const traceUsage = `Usage:
  pollstack trace dump FILE [--csv]
  pollstack trace plot FILE [-o OUT.svg]

FILE is what serve, bench or proxy --trace wrote: one record per ACK
processed, state change and retransmission timeout of every TCP connection
(docs/tcptrace.md).

dump prints the records as text, one a line in file order (each core's in
time order), columns under a header line; --csv separates them with commas.

plot draws cwnd and the bytes in flight (left axis) and srtt (right axis)
over time as an SVG, one panel per connection (4-tuple), with the spans in
recovery, loss and ECN's CWR shaded; -o names the file (default FILE.svg).
`

func runTrace(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "dump" && args[0] != "plot") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(stdout, traceUsage)
			return nil
		}
		return usagef("trace: want 'trace dump FILE' or 'trace plot FILE' (see 'pollstack trace --help')")
	}
	verb := args[0]
	synopsis := map[string]string{"dump": "trace dump FILE [--csv]", "plot": "trace plot FILE [-o OUT.svg]"}[verb]
	fs := newFlags("trace "+verb, synopsis, stdout)
	var csv *bool
	var out *string
	if verb == "dump" {
		csv = fs.Bool("csv", false, "comma-separated values instead of columns separated by spaces")
	} else {
		out = fs.String("o", "", "the SVG file to write (default FILE.svg; - for stdout); its directory must exist")
	}
	// FILE may come before or after the flags.
	var files []string
	rest := args[1:]
	for {
		if err := parseQuiet(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usagef("trace %s: %v (see 'pollstack trace %s --help')", verb, err, verb)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		return usagef("trace %s: want one trace FILE (see 'pollstack trace %s --help')", verb, verb)
	}
	in, err := os.Open(files[0])
	if err != nil {
		return usagef("trace %s: %v", verb, err)
	}
	defer in.Close()
	if verb == "dump" {
		n, err := tcptrace.Dump(stdout, in, *csv)
		if errors.Is(err, tcptrace.ErrNotTrace) {
			return usagef("trace dump: %s: %v", files[0], err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			cutShort(stderr, "trace dump", files[0], n)
			return nil
		}
		return err
	}
	dst := *out
	if dst == "" {
		dst = files[0] + ".svg"
	}
	if dst != "-" {
		if err := checkOutputFile("trace plot", "o", dst); err != nil {
			return err
		}
	}
	recs, err := tcptrace.ReadAll(in)
	if errors.Is(err, tcptrace.ErrNotTrace) {
		return usagef("trace plot: %s: %v", files[0], err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		cutShort(stderr, "trace plot", files[0], len(recs))
	} else if err != nil {
		return fmt.Errorf("trace plot: %s: %v", files[0], err)
	}
	if dst == "-" {
		_, err := tcptrace.Plot(stdout, recs)
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	n, err := tcptrace.Plot(f, recs)
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pollstack: trace plot: %d records, %d connections: %s\n", len(recs), n, dst)
	return nil
}

// cutShort says that a trace ends in the middle of a record (its writer
// was killed before it flushed): the n whole records before it were read.
func cutShort(w io.Writer, cmd, file string, n int) {
	fmt.Fprintf(w, "pollstack: %s: %s ends in the middle of a record (its writer stopped short); read the %d before it\n", cmd, file, n)
}
