package httpapp

import (
	"bytes"
	"strconv"

	"github.com/pollstack/pollstack/internal/httpwire"
)

// Config shapes a Responder. Zero fields take defaults.
type Config struct {
	DefaultBody string // body when no ?size= is given (DefaultBody)
	MaxSize     int64  // largest ?size= allowed, bytes; larger is 400 (DefaultMaxSize; ≤ 0 means default)
	ServerName  string // Server header value (DefaultServerName); must be printable
	QueueDepth  int    // responses queued before Feed pushes back (DefaultQueueDepth; ≤ 0 means default)
}

// Parser states.
const (
	stRequestLine = iota // before or inside a request line
	stHeaders            // inside the header lines
	stBody               // skipping a Content-Length body
	stClosed             // a closing response is queued; input is discarded
)

// Methods.
const (
	mNone = iota // request line not parsed yet
	mGet
	mHead
	mOther
)

// Status codes and their status lines and bodies.
const (
	status200 = iota
	status400
	status405
	status431
	numStatus
)

var statusLine = [numStatus]string{
	status200: "HTTP/1.1 200 OK\r\n",
	status400: "HTTP/1.1 400 Bad Request\r\n",
	status405: "HTTP/1.1 405 Method Not Allowed\r\n",
	status431: "HTTP/1.1 431 Request Header Fields Too Large\r\n",
}

var statusBody = [numStatus]string{
	status400: "Bad Request\n",
	status405: "Method Not Allowed\n",
	status431: "Request Header Fields Too Large\n",
}

// Header lines.
const (
	hdrAllow     = "Allow: GET, HEAD\r\n"
	hdrClose     = "Connection: close\r\n"
	hdrKeepAlive = "Connection: keep-alive\r\n"
	crlf         = "\r\n"
)

// Connection header in a response.
const (
	connNone = iota
	connClose
	connKeepAlive
)

// patternBuf holds Pattern repeated; size=N bodies are copied out of it.
var patternBuf [64 << 10]byte

func init() {
	for i := range patternBuf {
		patternBuf[i] = Pattern[i%len(Pattern)]
	}
}

// response is a queued response: its head is rendered when Read reaches it,
// its body is a string or a slice of the pattern.
type response struct {
	contentLength int64  // Content-Length value
	bodyLen       int64  // body bytes to send: contentLength, or 0 for HEAD
	bodyOff       int64  // body bytes already read out
	body          string // the body when !pattern
	headLen       int32  // rendered head length
	headOff       int32  // head bytes already read out
	status        uint8
	conn          uint8
	pattern       bool
}

// Responder answers HTTP/1.1 requests on one connection. It is owned by its
// connection's core and not safe for concurrent use. The zero value is not
// usable: get one from New.
type Responder struct {
	defaultBody string
	maxSize     int64
	prefix      string // "Server: ...\r\nContent-Type: text/plain\r\nContent-Length: "

	// Parser.
	state     uint8
	line      []byte // a line split across Feeds, without its LF
	headBytes int    // bytes of the current head consumed, line ends included
	nHeaders  int    // header lines of the current request
	bodyLeft  int64  // body bytes still to discard in stBody

	// The request being parsed.
	method        uint8
	minor         uint8 // HTTP/1.minor
	size          int64 // ?size=, or -1
	contentLength int64 // Content-Length, or -1
	hosts         int
	connClose     bool // Connection: close seen
	connKeepAlive bool // Connection: keep-alive seen
	expect        bool // Expect: 100-continue seen

	// Output.
	q        []response // ring
	qHead    int
	qLen     int
	scratch  []byte // the head of q[qHead], rendered
	pending  int64
	requests uint64
	done     bool
}

// New returns a Responder for cfg. It panics if cfg.ServerName holds a
// control character (other than HT), which would break the response head.
func New(cfg Config) *Responder {
	if cfg.DefaultBody == "" {
		cfg.DefaultBody = DefaultBody
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultServerName
	}
	for i := 0; i < len(cfg.ServerName); i++ {
		if !fieldValueByte(cfg.ServerName[i]) {
			panic("httpapp: Config.ServerName holds a control character")
		}
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = DefaultQueueDepth
	}
	cfg.QueueDepth = min(cfg.QueueDepth, maxQueueDepth)
	prefix := "Server: " + cfg.ServerName + "\r\nContent-Type: text/plain\r\nContent-Length: "
	// The longest head: the longest status line, the prefix, 19 digits,
	// Allow and Connection: keep-alive.
	headCap := len(statusLine[status431]) + len(prefix) + 19 + len(crlf) + len(hdrAllow) + len(hdrKeepAlive) + len(crlf)
	r := &Responder{
		defaultBody: cfg.DefaultBody,
		maxSize:     cfg.MaxSize,
		prefix:      prefix,
		q:           make([]response, cfg.QueueDepth),
		scratch:     make([]byte, 0, headCap),
	}
	r.Reset()
	return r
}

// Reset readies r for a new connection, keeping its buffers and Config.
func (r *Responder) Reset() {
	r.state = stRequestLine
	r.line = r.line[:0]
	r.bodyLeft = 0
	r.resetRequest()
	clear(r.q)
	r.qHead, r.qLen = 0, 0
	r.scratch = r.scratch[:0]
	r.pending = 0
	r.requests = 0
	r.done = false
}

// resetRequest forgets the request being parsed.
func (r *Responder) resetRequest() {
	r.headBytes = 0
	r.nHeaders = 0
	r.method = mNone
	r.minor = 0
	r.size = -1
	r.contentLength = -1
	r.hosts = 0
	r.connClose = false
	r.connKeepAlive = false
	r.expect = false
}

// Pending returns the number of response bytes not yet read out.
func (r *Responder) Pending() int64 { return r.pending }

// Done reports whether the connection should be closed now: a response that
// closes it has been read out completely, and no more input will be processed.
func (r *Responder) Done() bool { return r.done }

// InHead reports whether part of a request head has been fed and not yet
// its end: a request line or header lines (or empty lines before a request
// line) the caller may time out, as nginx's client_header_timeout does.
func (r *Responder) InHead() bool {
	return r.state == stHeaders || r.state == stRequestLine && r.headBytes > 0
}

// InBody reports whether the body of a request is being read (and
// discarded).
func (r *Responder) InBody() bool { return r.state == stBody }

// Requests returns the number of requests answered on this connection,
// error responses included.
func (r *Responder) Requests() uint64 { return r.requests }

// Feed consumes received bytes and returns how many it consumed. It consumes
// less than len(in) only when its response queue is full; the caller then
// reads output and feeds the rest. Once a closing response is queued, Feed
// consumes and discards everything.
func (r *Responder) Feed(in []byte) int {
	n := 0
	for n < len(in) {
		switch r.state {
		case stClosed:
			return len(in)
		case stBody:
			k := min(int64(len(in)-n), r.bodyLeft)
			n += int(k)
			r.bodyLeft -= k
			if r.bodyLeft == 0 {
				r.state = stRequestLine
				r.resetRequest()
			}
		default:
			if r.state == stRequestLine && r.headBytes == 0 && r.qLen == len(r.q) {
				return n // backpressure: no room for this request's response
			}
			rest := in[n:]
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if r.headBytes+len(rest) > MaxHeadBytes {
					r.fail(status431)
					return len(in)
				}
				r.line = append(r.line, rest...)
				r.headBytes += len(rest)
				return len(in)
			}
			if r.headBytes+i+1 > MaxHeadBytes {
				r.fail(status431)
				return len(in)
			}
			r.headBytes += i + 1
			n += i + 1
			line := rest[:i]
			if len(r.line) > 0 {
				r.line = append(r.line, line...)
				line = r.line
			}
			r.processLine(line)
			r.line = r.line[:0]
		}
	}
	return n
}

// processLine handles one head line without its LF.
func (r *Responder) processLine(line []byte) {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if r.state == stRequestLine {
		if len(line) > 0 {
			r.requestLine(line)
		}
		return
	}
	if len(line) == 0 {
		r.endOfHead()
		return
	}
	r.nHeaders++
	if r.nHeaders > MaxHeaderLines {
		r.fail(status431)
		return
	}
	r.header(line)
}

// requestLine parses METHOD SP target SP HTTP/1.x.
func (r *Responder) requestLine(line []byte) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		r.fail(status400)
		return
	}
	method := line[:sp]
	switch string(method) {
	case "GET":
		r.method = mGet
	case "HEAD":
		r.method = mHead
	default:
		r.method = mOther
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		r.fail(status400)
		return
	}
	target, version := line[:sp], line[sp+1:]
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			r.fail(status400)
			return
		}
	}
	if len(version) != len("HTTP/1.x") || string(version[:7]) != "HTTP/1." || !httpwire.IsDigit(version[7]) {
		r.fail(status400)
		return
	}
	r.minor = version[7] - '0'
	r.state = stHeaders
	if r.method != mOther && !r.parseTarget(target) {
		r.fail(status400)
	}
}

// parseTarget reads size=N from the query of target into r.size.
func (r *Responder) parseTarget(target []byte) bool {
	q := bytes.IndexByte(target, '?')
	if q < 0 {
		return true
	}
	query := target[q+1:]
	for len(query) > 0 {
		param := query
		if amp := bytes.IndexByte(query, '&'); amp >= 0 {
			param, query = query[:amp], query[amp+1:]
		} else {
			query = nil
		}
		eq := bytes.IndexByte(param, '=')
		if eq < 0 {
			eq = len(param)
		}
		if string(param[:eq]) != "size" {
			continue
		}
		if eq == len(param) {
			return false
		}
		v, ok := parseDecimal(param[eq+1:], r.maxSize)
		if !ok {
			return false
		}
		r.size = v
	}
	return true
}

// header parses one header line.
func (r *Responder) header(line []byte) {
	if line[0] == ' ' || line[0] == '\t' {
		r.fail(status400) // obsolete line folding (RFC 9112 §5.2)
		return
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		r.fail(status400)
		return
	}
	name, value := line[:colon], httpwire.TrimOWS(line[colon+1:])
	for _, c := range value {
		if !fieldValueByte(c) {
			r.fail(status400)
			return
		}
	}
	switch {
	case httpwire.EqualFold(name, "host"):
		r.hosts++
		if r.hosts > 1 {
			r.fail(status400)
		}
	case httpwire.EqualFold(name, "content-length"):
		v, ok := parseDecimal(value, 1<<63-1)
		if !ok || (r.contentLength >= 0 && v != r.contentLength) {
			r.fail(status400)
			return
		}
		r.contentLength = v
	case httpwire.EqualFold(name, "transfer-encoding"):
		r.fail(status400)
	case httpwire.EqualFold(name, "connection"):
		for len(value) > 0 {
			tok := value
			if comma := bytes.IndexByte(value, ','); comma >= 0 {
				tok, value = value[:comma], value[comma+1:]
			} else {
				value = nil
			}
			tok = httpwire.TrimOWS(tok)
			switch {
			case httpwire.EqualFold(tok, "close"):
				r.connClose = true
			case httpwire.EqualFold(tok, "keep-alive"):
				r.connKeepAlive = true
			}
		}
	case httpwire.EqualFold(name, "expect"):
		if httpwire.EqualFold(value, "100-continue") {
			r.expect = true
		}
	}
}

// endOfHead answers the request whose head just ended.
func (r *Responder) endOfHead() {
	if r.minor >= 1 && r.hosts == 0 {
		r.fail(status400)
		return
	}
	keep := !r.connClose
	if r.minor == 0 {
		keep = keep && r.connKeepAlive
	}
	if r.contentLength > 0 && r.expect {
		keep = false
	}
	conn := uint8(connNone)
	switch {
	case !keep:
		conn = connClose
	case r.minor == 0:
		conn = connKeepAlive
	}
	switch {
	case r.method == mOther:
		r.enqueueStatus(status405, conn)
	case r.size >= 0:
		r.enqueue(response{status: status200, conn: conn, contentLength: r.size, pattern: true})
	default:
		r.enqueue(response{status: status200, conn: conn, contentLength: int64(len(r.defaultBody)), body: r.defaultBody})
	}
	switch {
	case !keep:
		r.state = stClosed
	case r.contentLength > 0:
		r.state = stBody
		r.bodyLeft = r.contentLength
	default:
		r.state = stRequestLine
		r.resetRequest()
	}
}

// fail answers the current request with an error status and closes.
func (r *Responder) fail(status uint8) {
	r.enqueueStatus(status, connClose)
	r.state = stClosed
	r.line = r.line[:0]
}

// enqueueStatus queues an error response with its short text body.
func (r *Responder) enqueueStatus(status, conn uint8) {
	body := statusBody[status]
	r.enqueue(response{status: status, conn: conn, contentLength: int64(len(body)), body: body})
}

// enqueue queues e. Feed admits a request only when the queue has room, and
// a request gets one response, so there is always room here.
func (r *Responder) enqueue(e response) {
	if r.method != mHead {
		e.bodyLen = e.contentLength
	}
	e.headLen = int32(len(statusLine[e.status]) + len(r.prefix) + decimalLen(e.contentLength) + len(crlf) + len(crlf))
	if e.status == status405 {
		e.headLen += int32(len(hdrAllow))
	}
	switch e.conn {
	case connClose:
		e.headLen += int32(len(hdrClose))
	case connKeepAlive:
		e.headLen += int32(len(hdrKeepAlive))
	}
	r.q[(r.qHead+r.qLen)%len(r.q)] = e
	r.qLen++
	r.pending += int64(e.headLen) + e.bodyLen
	r.requests++
}

// renderHead appends e's head to dst.
func (r *Responder) renderHead(dst []byte, e *response) []byte {
	dst = append(dst, statusLine[e.status]...)
	dst = append(dst, r.prefix...)
	dst = strconv.AppendInt(dst, e.contentLength, 10)
	dst = append(dst, crlf...)
	if e.status == status405 {
		dst = append(dst, hdrAllow...)
	}
	switch e.conn {
	case connClose:
		dst = append(dst, hdrClose...)
	case connKeepAlive:
		dst = append(dst, hdrKeepAlive...)
	}
	return append(dst, crlf...)
}

// Read copies up to len(dst) bytes of pending response output into dst and
// returns how many; 0 means nothing is pending.
func (r *Responder) Read(dst []byte) int {
	n := 0
	for r.qLen > 0 && n < len(dst) {
		e := &r.q[r.qHead]
		if e.headOff < e.headLen {
			if e.headOff == 0 {
				r.scratch = r.renderHead(r.scratch[:0], e)
			}
			k := copy(dst[n:], r.scratch[e.headOff:e.headLen])
			e.headOff += int32(k)
			n += k
		}
		if left := e.bodyLen - e.bodyOff; left > 0 && n < len(dst) {
			var k int
			if e.pattern {
				off := int(e.bodyOff % int64(len(patternBuf)))
				end := len(patternBuf)
				if left < int64(end-off) {
					end = off + int(left)
				}
				k = copy(dst[n:], patternBuf[off:end])
			} else {
				k = copy(dst[n:], e.body[e.bodyOff:])
			}
			e.bodyOff += int64(k)
			n += k
		}
		if e.headOff < e.headLen || e.bodyOff < e.bodyLen {
			break // dst is full
		}
		if e.conn == connClose {
			r.done = true
		}
		*e = response{}
		r.qHead = (r.qHead + 1) % len(r.q)
		r.qLen--
	}
	r.pending -= int64(n)
	return n
}

// isToken reports whether b is a non-empty token (RFC 9110 §5.6.2).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// fieldValueByte reports whether c may appear in a header field value:
// anything but the controls other than HT (RFC 9110 §5.5).
func fieldValueByte(c byte) bool {
	return c >= ' ' && c != 0x7f || c == '\t'
}

// parseDecimal parses a non-empty string of ASCII digits no greater than max.
func parseDecimal(b []byte, max int64) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !httpwire.IsDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if v > max/10 || v == max/10 && d > max%10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// decimalLen returns the number of decimal digits of v ≥ 0.
func decimalLen(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
