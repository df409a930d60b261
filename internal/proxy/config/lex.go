package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Error is a configuration error: the file, the line and column (both from
// 1; a column counts characters, a tab as one) and what is wrong.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// token is a word of the file and where it starts.
type token struct {
	s         string
	line, col int
}

// maxLine is the longest line the lexer takes, in bytes.
const maxLine = 4096

// lex splits r into lines of words: words are separated by spaces and tabs,
// a '#' that begins a word begins a comment to the end of the line, and
// empty lines are dropped. It returns the lines that hold words and the
// number of lines read.
func lex(name string, r io.Reader) ([][]token, int, error) {
	br := bufio.NewReaderSize(r, maxLine+2)
	var lines [][]token
	n := 0
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 || err == nil {
			n++
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, n, &Error{name, n, 1, fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		if err != nil && err != io.EOF {
			return nil, n, fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > 0 {
			toks, lerr := lexLine(name, n, b)
			if lerr != nil {
				return nil, n, lerr
			}
			if len(toks) > 0 {
				lines = append(lines, toks)
			}
		}
		if err == io.EOF {
			return lines, n, nil
		}
	}
}

func lexLine(name string, n int, b []byte) ([]token, error) {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > maxLine {
		return nil, &Error{name, n, 1, fmt.Sprintf("line longer than %d bytes", maxLine)}
	}
	var toks []token
	col, start, startCol := 0, -1, 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		col++
		if r == utf8.RuneError && size == 1 {
			return nil, &Error{name, n, col, "not UTF-8"}
		}
		space := r == ' ' || r == '\t'
		if !space && (r < 0x20 || r == 0x7f) {
			return nil, &Error{name, n, col, fmt.Sprintf("control character %U", r)}
		}
		switch {
		case space && start >= 0:
			toks = append(toks, token{string(b[start:i]), n, startCol})
			start = -1
		case !space && start < 0:
			if r == '#' {
				// A comment: the rest of the line is not read, but it
				// must still be text.
				if !utf8.Valid(b[i:]) {
					return nil, &Error{name, n, col, "not UTF-8"}
				}
				return toks, nil
			}
			start, startCol = i, col
		}
		i += size
	}
	if start >= 0 {
		toks = append(toks, token{string(b[start:]), n, startCol})
	}
	return toks, nil
}
