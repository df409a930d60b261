package load

import "github.com/pollstack/pollstack/internal/httpwire"

// ParseResult is what Parser.Feed found.
type ParseResult uint8

const (
	More      ParseResult = iota // the response is not whole yet
	Done                         // a whole 200 response
	Bad                          // malformed
	BadStatus                    // a status other than 200
)

// Limits of a response the Parser accepts.
const (
	MaxLine = 1024     // bytes in one status or header line
	MaxHead = 16 << 10 // bytes in a response head
)

// parser states.
const (
	psStatus = iota
	psHeader
	psBody
	psDone
)

// Parser reads one HTTP/1.1 response: the status line, the header
// fields it needs (Content-Length, Connection, Transfer-Encoding) and a
// Content-Length body, whose bytes it counts. It never allocates.
type Parser struct {
	state     uint8
	line      [MaxLine]byte
	nline     int
	headBytes int
	status    int
	clen      int64 // Content-Length, -1 when absent
	bodyLeft  int64
	bodyLen   int64 // body bytes read
	connClose bool
}

// Reset readies the parser for the next response.
func (p *Parser) Reset() {
	p.state = psStatus
	p.nline = 0
	p.headBytes = 0
	p.status = 0
	p.clen = -1
	p.bodyLeft = 0
	p.bodyLen = 0
	p.connClose = false
}

// Feed consumes bytes of the response from b, never past its end, and
// returns how many and what it found.
func (p *Parser) Feed(b []byte) (int, ParseResult) {
	i := 0
	for i < len(b) {
		switch p.state {
		case psBody:
			k := int(min(int64(len(b)-i), p.bodyLeft))
			p.bodyLeft -= int64(k)
			p.bodyLen += int64(k)
			i += k
			if p.bodyLeft == 0 {
				p.state = psDone
				return i, Done
			}
		case psDone:
			return i, Done
		default:
			c := b[i]
			i++
			p.headBytes++
			if p.headBytes > MaxHead {
				return i, Bad
			}
			if c != '\n' {
				if p.nline == len(p.line) {
					return i, Bad
				}
				p.line[p.nline] = c
				p.nline++
				continue
			}
			line := p.line[:p.nline]
			p.nline = 0
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if r := p.processLine(line); r != More {
				return i, r
			}
			if p.state == psDone {
				return i, Done
			}
		}
	}
	return i, More
}

// processLine handles one line of the head.
func (p *Parser) processLine(line []byte) ParseResult {
	if p.state == psStatus {
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || !httpwire.IsDigit(line[7]) || line[8] != ' ' ||
			!httpwire.IsDigit(line[9]) || !httpwire.IsDigit(line[10]) || !httpwire.IsDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
			return Bad
		}
		for _, c := range line {
			if c < ' ' && c != '\t' || c == 0x7f {
				return Bad
			}
		}
		p.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		if p.status != 200 {
			return BadStatus
		}
		p.state = psHeader
		return More
	}
	if len(line) == 0 {
		// End of the head: a 200 to a GET needs a length to be framed
		// without closing.
		if p.clen < 0 {
			return Bad
		}
		if p.clen == 0 {
			p.state = psDone
			return More
		}
		p.state = psBody
		p.bodyLeft = p.clen
		return More
	}
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if c <= ' ' || c >= 0x7f {
			return Bad // not a token (and no obs-fold)
		}
	}
	if colon <= 0 {
		return Bad
	}
	name, value := line[:colon], httpwire.TrimOWS(line[colon+1:])
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return Bad
		}
	}
	switch {
	case httpwire.EqualFold(name, "content-length"):
		v, ok := parseDecimal(value)
		if !ok || (p.clen >= 0 && p.clen != v) {
			return Bad
		}
		p.clen = v
	case httpwire.EqualFold(name, "transfer-encoding"):
		return Bad // our server never chunks; we do not guess
	case httpwire.EqualFold(name, "connection"):
		if httpwire.EqualFold(value, "close") {
			p.connClose = true
		}
	}
	return More
}

// parseDecimal parses a non-empty decimal number of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !httpwire.IsDigit(c) {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// ConnClose reports whether the response carried Connection: close.
func (p *Parser) ConnClose() bool { return p.connClose }

// Status returns the response's status code (0 before the status line).
func (p *Parser) Status() int { return p.status }

// ContentLength returns the response's Content-Length, -1 when absent.
func (p *Parser) ContentLength() int64 { return p.clen }

// BodyLen returns the body bytes read so far.
func (p *Parser) BodyLen() int64 { return p.bodyLen }
