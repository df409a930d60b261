package h1

import (
	"bytes"
	"encoding/binary"
)

// Byte classes, one table lookup each.
const (
	cToken  = 1 << iota // tchar (RFC 9110 5.6.2)
	cValue              // field-vchar, SP or HTAB (RFC 9110 5.5): no CTL but HT, no DEL
	cTarget             // a request-target byte: VCHAR, 0x21..0x7e (HAProxy's default)
	cHost               // reg-name: unreserved, pct-encoded's '%', sub-delims but ',' (RFC 3986 3.2.2)
	cHex                // HEXDIG
	cQdtext             // qdtext (RFC 9110 5.6.4): HTAB, SP, VCHAR but '"' and '\', obs-text
	cScheme             // ALPHA, DIGIT, '+', '-', '.' (RFC 3986 3.1)
)

var class = func() (t [256]uint8) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] |= cValue | cTarget | cQdtext
	}
	for c := 0x80; c <= 0xff; c++ {
		t[c] |= cValue | cQdtext
	}
	t[' '] |= cValue | cQdtext
	t['\t'] |= cValue | cQdtext
	t['"'] &^= cQdtext
	t['\\'] &^= cQdtext
	for c := '0'; c <= '9'; c++ {
		t[c] |= cToken | cHost | cHex | cScheme
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cToken | cHost | cScheme
		t[c-'a'+'A'] |= cToken | cHost | cScheme
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] |= cToken
	}
	for _, c := range "-._~%!$&'()*+;=" {
		t[c] |= cHost
	}
	for _, c := range "+-." {
		t[c] |= cScheme
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if class[c]&cToken == 0 {
			return false
		}
	}
	return true
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring ASCII
// case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes reports whether a and b are equal ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i, c := range a {
		d := b[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS trims optional whitespace from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// elems walks a comma-separated list (RFC 9110 5.6.1) element by element,
// each with OWS trimmed; an empty list is one empty element, and "a," is "a"
// then an empty one, so that callers that refuse empty elements see them.
type elems struct {
	rest []byte
	done bool
}

func (e *elems) next() ([]byte, bool) {
	if e.done {
		return nil, false
	}
	i := bytes.IndexByte(e.rest, ',')
	if i < 0 {
		e.done = true
		return trimOWS(e.rest), true
	}
	el := trimOWS(e.rest[:i])
	e.rest = e.rest[i+1:]
	return el, true
}

// parseDecimal parses 1*DIGIT into an int64, refusing overflow.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// Word-at-a-time checks (SWAR): lo8 and hi8 broadcast a byte's low and high
// bits; less(w, n) reports whether a byte of w is below n (n <= 128), and
// zero(w) whether one is 0, both exact for the word as a whole.
const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

func less(w, n uint64) bool { return (w-lo8*n)&^w&hi8 != 0 }

func zero(w uint64) bool { return (w-lo8)&^w&hi8 != 0 }

// validValue reports whether every byte of v may be in a field value: VCHAR,
// obs-text, SP, HTAB (RFC 9110 5.5). Eight bytes at a time while none is a
// control or DEL; a word with one (a tab, most likely) is looked at byte by
// byte.
func validValue(v []byte) bool {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := binary.LittleEndian.Uint64(v[i:])
		if less(w, 0x20) || zero(w^lo8*0x7f) {
			break
		}
	}
	for _, c := range v[i:] {
		if class[c]&cValue == 0 {
			return false
		}
	}
	return true
}

// validTarget reports whether every byte of t is VCHAR (0x21..0x7e).
func validTarget(t []byte) bool {
	i := 0
	for ; i+8 <= len(t); i += 8 {
		w := binary.LittleEndian.Uint64(t[i:])
		if w&hi8 != 0 || less(w, 0x21) || zero(w^lo8*0x7f) {
			return false
		}
	}
	for _, c := range t[i:] {
		if class[c]&cTarget == 0 {
			return false
		}
	}
	return true
}
