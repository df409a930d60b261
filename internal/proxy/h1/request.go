package h1

import "bytes"

// Request is a parsed request head. Its byte slices alias the head (see
// RequestParser.Head): valid until the parser's next Feed or Reset, and,
// when the head was parsed where it lay, while the bytes fed are.
type Request struct {
	Method     Method
	MethodName []byte // the method as sent
	Target     []byte // the request-target as sent
	Form       Form
	Minor      uint8 // HTTP/1.Minor as sent, 0..9; 1 and above read as 1.1
	// Host is the Host field's value, OWS trimmed; nil without one (or
	// with an empty one).
	Host []byte
	// Authority is what the request is for: the target's authority in
	// absolute and authority forms (which Host must match), else Host.
	Authority []byte
	// Framing is NoBody, Length or Chunked.
	Framing       Framing
	ContentLength int64 // with Length
	Flags         Flags
	// KeepAlive: the client means to send another request on the
	// connection after this one (RFC 9112 9.3).
	KeepAlive bool
	// HeadLen is the bytes the head took, the empty lines skipped before
	// it included: Feed's n, summed, when it reported done.
	HeadLen int
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool {
	return r.Framing == Chunked || r.Framing == Length && r.ContentLength > 0
}

// RequestParser reads request heads from the bytes a client connection
// receives, one head at a time. It is owned by the connection's core and
// not safe for concurrent use; the zero value is ready with default limits.
// Keep them on a per-core free list: Reset keeps the buffers, so a parser
// that has grown to the largest head allocates no more.
type RequestParser struct {
	// Limits are read when a head begins (at Reset, or the first Feed).
	Limits Limits

	p     parser
	req   Request
	built bool
}

// Reset readies p for the next head, keeping its buffers.
func (p *RequestParser) Reset() {
	p.p.reset(p.Limits, false)
	p.req = Request{}
	p.built = false
}

// Feed consumes bytes received on the connection and returns how many
// belong to the head:
//   - why != OK: the head is refused; answer why.Status(), close. Every
//     later Feed returns the same.
//   - done: the head is complete (see Request); in[n:] is what follows
//     it (a body, or the next request). Later Feeds consume nothing and
//     report done again until Reset.
//   - otherwise the head needs more bytes: all of in was taken (n ==
//     len(in)) and the parser keeps what it needs.
//
// A head that ends within in is parsed where it lies: the caller keeps the
// bytes (does not consume them from the receive buffer) until it has done
// with the Request, and consumes n. A head that comes in pieces, across
// segments or across the receive ring's wrap, is copied, line by line and
// never beyond its end, into the parser's buffer (at most Limits.MaxHead
// bytes); the caller may consume each piece once fed.
func (p *RequestParser) Feed(in []byte) (n int, done bool, why Reason) {
	if p.p.lim.MaxHead == 0 {
		p.Reset()
	}
	n, done, why = p.p.feed(in)
	if done && !p.built {
		p.build()
	}
	return n, done, why
}

// FeedPair feeds the two pieces a receive ring hands out (tcp.Conn.Peek's
// a and b) as one: a, then b unless the head ended in a or was refused.
func (p *RequestParser) FeedPair(a, b []byte) (n int, done bool, why Reason) {
	n, done, why = p.Feed(a)
	if done || why != OK || len(b) == 0 {
		return n, done, why
	}
	m, done, why := p.Feed(b)
	return n + m, done, why
}

// Request returns the parsed head, once Feed has reported done.
func (p *RequestParser) Request() *Request { return &p.req }

// Head returns the head's bytes once Feed has reported done: the request
// line, the field lines and the empty line, as they came (skipped empty
// lines before the request line left out).
func (p *RequestParser) Head() []byte { return p.p.data }

// Fields returns the number of field lines of a done head.
func (p *RequestParser) Fields() int { return fieldsOf(&p.p) }

// Field returns the name and value (OWS trimmed) of field line i, in the
// order received, aliasing the head.
func (p *RequestParser) Field(i int) (name, value []byte) { return fieldOf(&p.p, i) }

// Get returns the value of the first field named name (ASCII
// case-insensitive; name given in lower case), and whether there is one.
func (p *RequestParser) Get(name string) ([]byte, bool) { return getField(&p.p, name) }

func fieldsOf(p *parser) int {
	if p.state != stDone {
		return 0
	}
	return len(p.fields)
}

func fieldOf(p *parser, i int) (name, value []byte) {
	f := &p.fields[i]
	return p.data[f.line:f.nameEnd:f.nameEnd], p.data[f.val.off:f.val.end:f.val.end]
}

func getField(p *parser, name string) ([]byte, bool) {
	for i := range fieldsOf(p) {
		f := &p.fields[i]
		if equalFold(p.data[f.line:f.nameEnd], name) {
			return p.data[f.val.off:f.val.end:f.val.end], true
		}
	}
	return nil, false
}

func (p *RequestParser) build() {
	q, d := &p.p, p.p.data
	r := &p.req
	*r = Request{
		Method:        q.method,
		MethodName:    q.mspan.of(d),
		Target:        q.tspan.of(d),
		Form:          q.form,
		Minor:         q.minor,
		Host:          q.host.of(d),
		Framing:       q.framing,
		ContentLength: q.cl,
		Flags:         q.flags,
		KeepAlive:     q.persistence(),
		HeadLen:       q.pos,
	}
	r.Authority = r.Host
	if q.form == AbsoluteForm || q.form == AuthorityForm {
		r.Authority = q.auth.of(d)
	}
	p.built = true
}

// requestLine checks the request line (3): method SP request-target SP
// HTTP-version, one space each, nothing else.
func (p *parser) requestLine(l []byte) Reason {
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return BadRequestLine
	}
	if !isToken(l[:sp1]) {
		return BadMethod
	}
	rest := l[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return BadRequestLine
	}
	target := rest[:sp2]
	major, minor, ok := parseVersion(rest[sp2+1:])
	if !ok {
		return BadVersion
	}
	if major != 1 {
		return VersionNotSupp
	}
	p.minor = minor
	p.method = methodOf(l[:sp1])
	p.mspan = span{0, uint32(sp1)}
	ts := uint32(sp1 + 1)
	p.tspan = span{ts, ts + uint32(sp2)}
	if !validTarget(target) {
		return BadTarget
	}
	return p.targetForm(target, ts)
}

// Host syntax modes for validHost.
const (
	hostField     = iota // a Host field: empty allowed, port optional
	hostAbsolute         // an absolute-form authority: a host, port optional
	hostAuthority        // an authority-form target: a host and a port
)

// targetForm tells the target's form (3.2) and checks that it fits the
// method: authority-form for CONNECT and only for it, asterisk-form for
// OPTIONS only, absolute-form with an http or https scheme, an authority and
// no userinfo (RFC 9110 4.2.4).
func (p *parser) targetForm(t []byte, off uint32) Reason {
	switch {
	case p.method == MethodCONNECT:
		if !validHost(t, hostAuthority) {
			return BadTarget
		}
		p.form = AuthorityForm
		p.auth = span{off, off + uint32(len(t))}
		return OK
	case t[0] == '/':
		p.form = OriginForm
		return OK
	case len(t) == 1 && t[0] == '*':
		if p.method != MethodOPTIONS {
			return BadTarget
		}
		p.form = AsteriskForm
		return OK
	}
	i := bytes.IndexByte(t, ':')
	if i <= 0 {
		return BadTarget
	}
	switch {
	case equalFold(t[:i], "http"):
	case equalFold(t[:i], "https"):
		p.https = true
	default:
		return BadTarget
	}
	rest := t[i+1:]
	if len(rest) < 2 || rest[0] != '/' || rest[1] != '/' {
		return BadTarget
	}
	a := rest[2:]
	end := len(a)
	for j, c := range a {
		if c == '/' || c == '?' || c == '#' {
			end = j
			break
		}
	}
	a = a[:end]
	if bytes.IndexByte(a, '@') >= 0 || !validHost(a, hostAbsolute) {
		return BadTarget
	}
	s := off + uint32(i+3)
	p.auth = span{s, s + uint32(len(a))}
	p.form = AbsoluteForm
	return OK
}

// validHost checks uri-host [":" port] (RFC 3986 3.2.2, 3.2.3): an IP
// literal in brackets, or a reg-name or IPv4 address (unreserved,
// pct-encoded and sub-delims but ',', which only lists have), then an
// optional decimal port up to 65535.
func validHost(v []byte, mode int) bool {
	if len(v) == 0 {
		return mode == hostField
	}
	i := 0
	if v[0] == '[' {
		j := bytes.IndexByte(v, ']')
		if j < 2 {
			return false
		}
		for _, c := range v[1:j] {
			if class[c]&cHost == 0 && c != ':' {
				return false
			}
		}
		i = j + 1
	} else {
		for i < len(v) && v[i] != ':' {
			c := v[i]
			if class[c]&cHost == 0 {
				return false
			}
			if c == '%' {
				if i+2 >= len(v) || class[v[i+1]]&cHex == 0 || class[v[i+2]]&cHex == 0 {
					return false
				}
				i += 2
			}
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(v) {
		return mode != hostAuthority
	}
	if v[i] != ':' {
		return false
	}
	port := v[i+1:]
	if len(port) == 0 {
		return mode != hostAuthority
	}
	if len(port) > 5 {
		return false
	}
	n, ok := parseDecimal(port)
	return ok && n <= 65535
}

// splitHostPort splits a valid uri-host [":" port].
func splitHostPort(v []byte) (host, port []byte) {
	i := 0
	if len(v) > 0 && v[0] == '[' {
		i = bytes.IndexByte(v, ']') + 1
	}
	if j := bytes.IndexByte(v[i:], ':'); j >= 0 {
		return v[:i+j], v[i+j+1:]
	}
	return v, nil
}

// sameAuthority reports whether a target's authority and a Host value name
// the same host and port: hosts equal ignoring case, ports equal or one
// left out where the other is the default (80 for http, 443 for https,
// either for CONNECT), as HAProxy compares them.
func sameAuthority(a, h []byte, https, connect bool) bool {
	if equalFoldBytes(a, h) {
		return true
	}
	ah, ap := splitHostPort(a)
	hh, hp := splitHostPort(h)
	if !equalFoldBytes(ah, hh) {
		return false
	}
	isDefault := func(p []byte) bool {
		switch {
		case len(p) == 0:
			return true
		case connect:
			return string(p) == "80" || string(p) == "443"
		case https:
			return string(p) == "443"
		}
		return string(p) == "80"
	}
	if len(ap) > 0 && len(hp) > 0 {
		return string(ap) == string(hp)
	}
	return isDefault(ap) && isDefault(hp)
}

// finishRequest applies the rules that need the whole head.
func (p *parser) finishRequest(b []byte) Reason {
	if p.minor >= 1 && p.hosts == 0 {
		return MissingHost // 3.2
	}
	if (p.form == AbsoluteForm || p.form == AuthorityForm) && p.hosts > 0 &&
		!sameAuthority(p.auth.of(b), p.host.of(b), p.https, p.form == AuthorityForm) {
		return HostMismatch // 3.2.2
	}
	switch {
	case p.te:
		switch {
		case p.minor == 0:
			return TransferEncodingHTTP10 // 6.1
		case p.clCount > 0:
			return ContentLengthAndTE // 6.3 item 3, 11.2
		case p.method == MethodCONNECT:
			return BodyOnConnect
		case !p.teLast || p.teChunks > 1:
			return BadTransferEncoding // 6.3 item 4, 6.1
		case p.teOther:
			return UnknownTransferCoding // 6.1
		}
		p.framing = Chunked
	case p.clCount > 0:
		if p.method == MethodCONNECT && p.cl > 0 {
			return BodyOnConnect
		}
		p.framing = Length
	}
	if p.minor >= 1 && p.flags&ConnUpgrade != 0 && p.upgrade {
		p.flags |= Upgrade
	}
	if p.minor == 0 {
		// An HTTP/1.0 request's expectation is ignored (RFC 9110 10.1.1).
		p.flags &^= ExpectContinue | ExpectOther
	}
	p.markNamed(b)
	return OK
}
