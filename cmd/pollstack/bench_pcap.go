package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pollstack/pollstack/rings"
)

// pcapFile is a --pcap capture: the file and the writer that fills it from
// the links it wraps.
type pcapFile struct {
	path string
	f    *os.File
	w    *rings.PcapWriter
	log  io.Writer
}

func createPcap(path string, log io.Writer) (*pcapFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("--pcap: %v", err)
	}
	w, err := rings.NewPcapWriter(f, rings.PcapConfig{})
	if err != nil {
		f.Close()
		return nil, err
	}
	if log == nil {
		log = os.Stderr
	}
	return &pcapFile{path: path, f: f, w: w, log: log}, nil
}

// Close stops the writer once it has written what the links handed over,
// closes the file, and reports the frames written and left out. Call it
// after the links' loops have stopped.
func (p *pcapFile) Close() error {
	err := errors.Join(p.w.Close(), p.f.Close())
	fmt.Fprintf(p.log, "pollstack: pcap %s: %d frames written, %d left out of the capture (writer behind)\n",
		p.path, p.w.Written(), p.w.Dropped())
	return err
}
