package h1

import "bytes"

// span is a piece of the head, by offsets from its first byte.
type span struct{ off, end uint32 }

func (s span) of(b []byte) []byte {
	if s.end == 0 {
		return nil
	}
	return b[s.off:s.end:s.end]
}

// A field is one field line of the head, by offsets from its first byte.
type field struct {
	line    uint32 // the line's first byte (its name's)
	end     uint32 // the end of the line's content, before CR LF
	nameEnd uint32 // the colon
	val     span   // the value, OWS trimmed
	kind    uint8
	flags   uint8
}

// Field kinds: the fields the parser or the proxy's edits act on.
const (
	kOther = iota
	kHost
	kContentLength
	kTransferEncoding
	kConnection
	kKeepAlive
	kProxyConnection
	kTE
	kTrailer
	kUpgrade
	kExpect
	kXForwardedFor
	kXForwardedProto
	kXForwardedHost
	kForwarded
)

// Field flags, set when the head is done.
const (
	fNamed       = 1 << iota // named by a Connection option: hop-by-hop
	fDropCL                  // a response Content-Length the edit leaves out (repeated, or with Transfer-Encoding)
	fCanonicalCL             // a response Content-Length the edit writes as one decimal value
	fUnderscore              // the name has '_'
)

// kindOf returns the kind of the field named name.
func kindOf(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kTE
		}
	case 4:
		if equalFold(name, "host") {
			return kHost
		}
	case 6:
		if equalFold(name, "expect") {
			return kExpect
		}
	case 7:
		switch {
		case equalFold(name, "upgrade"):
			return kUpgrade
		case equalFold(name, "trailer"):
			return kTrailer
		}
	case 9:
		if equalFold(name, "forwarded") {
			return kForwarded
		}
	case 10:
		switch {
		case equalFold(name, "connection"):
			return kConnection
		case equalFold(name, "keep-alive"):
			return kKeepAlive
		}
	case 14:
		if equalFold(name, "content-length") {
			return kContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return kXForwardedFor
		}
	case 16:
		switch {
		case equalFold(name, "proxy-connection"):
			return kProxyConnection
		case equalFold(name, "x-forwarded-host"):
			return kXForwardedHost
		}
	case 17:
		switch {
		case equalFold(name, "transfer-encoding"):
			return kTransferEncoding
		case equalFold(name, "x-forwarded-proto"):
			return kXForwardedProto
		}
	}
	return kOther
}

// Parser states.
const (
	stStart  = iota // before the start line (empty lines are skipped)
	stFields        // reading field lines
	stDone          // the head is complete
	stFailed        // refused: why says why
)

// MaxConnectionOptions bounds the options a Connection field list may name
// (beyond close, keep-alive and upgrade): each names a field the edit drops,
// and matching them is a loop over the fields per option.
const MaxConnectionOptions = 32

// parser is the head parser behind RequestParser and ResponseParser: it
// splits the bytes fed into lines, checks the limits and the syntax of each
// line as it completes, indexes the field lines, and keeps what the framing
// rules need.
type parser struct {
	lim  Limits
	resp bool

	buf    []byte  // the head so far, when it did not come in one piece
	data   []byte  // the whole head, once done: buf or a piece of the bytes fed
	fields []field // the field lines
	pos    int     // bytes taken since Reset, skipped empty lines included
	base   int     // where the head's first byte is, counted as pos is
	lineOf int     // offset in buf of the line in progress
	state  uint8
	why    Reason

	// The start line.
	minor  uint8
	method Method
	mspan  span // the method
	tspan  span // the target
	form   Form
	auth   span // the target's authority (absolute and authority forms)
	https  bool // the target's scheme is https
	status int
	rspan  span // the reason phrase

	// For a response: the request it answers.
	reqMethod  Method
	reqUpgrade bool

	// What the fields said.
	hosts    int
	host     span
	clCount  int   // Content-Length field lines
	cl       int64 // their value
	clPlain  bool  // one line whose value is 1*DIGIT alone
	te       bool  // a Transfer-Encoding field line
	teChunks int   // chunked codings
	teLast   bool  // chunked is the last coding
	teOther  bool  // a coding other than the known ones
	flags    Flags
	upgrade  bool // an Upgrade field line
	connOpts int  // Connection options other than close, keep-alive, upgrade
	framing  Framing
}

// reset readies p for the next head, keeping its buffers.
func (p *parser) reset(lim Limits, resp bool) {
	*p = parser{
		lim:    lim.resolved(),
		resp:   resp,
		buf:    p.buf[:0],
		fields: p.fields[:0],
	}
}

// feed takes bytes of the head: see RequestParser.Feed.
func (p *parser) feed(in []byte) (int, bool, Reason) {
	switch p.state {
	case stFailed:
		return 0, false, p.why
	case stDone:
		return 0, true, OK
	}
	if len(p.buf) > 0 {
		return p.feedScratch(in)
	}
	return p.feedInPlace(in)
}

func (p *parser) fail(why Reason) (int, bool, Reason) {
	p.state, p.why = stFailed, why
	return 0, false, why
}

// isEmptyLine reports whether l (a line without its LF) is empty.
func isEmptyLine(l []byte) bool { return len(l) == 0 || len(l) == 1 && l[0] == '\r' }

// feedInPlace parses in with nothing of the head buffered: a head that ends
// within in is parsed where it lies, without a copy; one that does not is
// copied to buf, the lines it has so far already checked.
func (p *parser) feedInPlace(in []byte) (int, bool, Reason) {
	start := 0 // where in the head begins (after skipped empty lines)
	i := 0     // where in the line in progress begins
	for {
		j := bytes.IndexByte(in[i:], '\n')
		if j < 0 {
			break
		}
		e := i + j
		if p.state == stStart && isEmptyLine(in[i:e]) {
			// An empty line before the request line is skipped (2.2),
			// counting toward MaxHead.
			if p.pos+e >= p.lim.MaxHead {
				return p.fail(HeadTooLarge)
			}
			i = e + 1
			start = i
			continue
		}
		if why := p.limits(p.pos+i, p.pos+e); why != OK {
			return p.fail(why)
		}
		done, why := p.line(in[start:e+1], i-start)
		if why != OK {
			return p.fail(why)
		}
		if done {
			p.base = p.pos + start
			p.data = in[start : e+1]
			p.pos += e + 1
			return e + 1, true, OK
		}
		i = e + 1
	}
	if start < len(in) {
		if why := p.limits(p.pos+i, p.pos+len(in)); why != OK {
			return p.fail(why)
		}
		p.base = p.pos + start
		p.lineOf = i - start
		p.buf = append(p.buf[:0], in[start:]...)
	}
	p.pos += len(in)
	return len(in), false, OK
}

// feedScratch goes on with a head begun in buf, appending in to it line by
// line, so that nothing past the head's end is copied.
func (p *parser) feedScratch(in []byte) (int, bool, Reason) {
	n := 0
	for n < len(in) {
		j := bytes.IndexByte(in[n:], '\n')
		if j < 0 {
			if why := p.limits(p.base+p.lineOf, p.pos+len(in)); why != OK {
				return p.fail(why)
			}
			p.buf = append(p.buf, in[n:]...)
			n = len(in)
			break
		}
		e := n + j
		if p.state == stStart && isEmptyLine(p.buf[p.lineOf:]) && e == n {
			// The skipped empty line "\r" "\n", split: the head
			// has not begun.
			if p.pos+e >= p.lim.MaxHead {
				return p.fail(HeadTooLarge)
			}
			p.buf = p.buf[:0]
			p.pos += e + 1
			m, done, why := p.feedInPlace(in[e+1:])
			return e + 1 + m, done, why
		}
		if why := p.limits(p.base+p.lineOf, p.pos+e); why != OK {
			return p.fail(why)
		}
		p.buf = append(p.buf, in[n:e+1]...)
		n = e + 1
		done, why := p.line(p.buf, p.lineOf)
		if why != OK {
			return p.fail(why)
		}
		if done {
			p.data = p.buf
			p.pos += n
			return n, true, OK
		}
		p.lineOf = len(p.buf)
	}
	p.pos += n
	return n, false, OK
}

// limits checks the line beginning at stream position ls against MaxLine,
// and the head against MaxHead, with byte x (the line's LF, or the next byte
// to come when the line is incomplete) known not to end the line before
// it. Each limit is crossed at a position; the first one crossed is the one
// reported, so that the answer does not depend on how the bytes were split.
func (p *parser) limits(ls, x int) Reason {
	cl := ls + p.lim.MaxLine
	ct := p.lim.MaxHead
	switch {
	case x >= cl && cl <= ct:
		return p.lineTooLong()
	case x >= ct:
		return HeadTooLarge
	case x >= cl:
		return p.lineTooLong()
	}
	return OK
}

func (p *parser) lineTooLong() Reason {
	switch {
	case p.state != stStart:
		return LineTooLong
	case p.resp:
		return StatusLineLong
	}
	return URITooLong
}

// line checks the complete line b[off:] (its LF last) of the head b.
func (p *parser) line(b []byte, off int) (done bool, why Reason) {
	l := b[off : len(b)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if bytes.IndexByte(l, '\r') >= 0 {
		return false, BareCR
	}
	if p.state == stStart {
		p.state = stFields
		if p.resp {
			return false, p.statusLine(l)
		}
		return false, p.requestLine(l)
	}
	if len(l) == 0 {
		if p.resp {
			why = p.finishResponse(b)
		} else {
			why = p.finishRequest(b)
		}
		if why == OK {
			p.state = stDone
		}
		return why == OK, why
	}
	if isOWS(l[0]) {
		return false, ObsFold
	}
	return false, p.fieldLine(l, off)
}

// fieldLine checks a field line (5) and indexes it.
func (p *parser) fieldLine(l []byte, off int) Reason {
	if len(p.fields) == p.lim.MaxHeaders {
		return TooManyHeaders
	}
	i := 0
	for i < len(l) && class[l[i]]&cToken != 0 {
		i++
	}
	if i == len(l) {
		return BadFieldName // no colon
	}
	switch l[i] {
	case ':':
	case ' ', '\t':
		return SpaceBeforeColon
	default:
		return BadFieldName
	}
	if i == 0 {
		return BadFieldName
	}
	vs, ve := i+1, len(l)
	for vs < ve && isOWS(l[vs]) {
		vs++
	}
	for ve > vs && isOWS(l[ve-1]) {
		ve--
	}
	if !validValue(l[vs:ve]) {
		return BadFieldValue
	}
	f := field{
		line:    uint32(off),
		end:     uint32(off + len(l)),
		nameEnd: uint32(off + i),
		val:     span{uint32(off + vs), uint32(off + ve)},
		kind:    kindOf(l[:i]),
	}
	if bytes.IndexByte(l[:i], '_') >= 0 {
		f.flags |= fUnderscore
	}
	if cap(p.fields) == 0 {
		p.fields = make([]field, 0, p.lim.MaxHeaders)
	}
	p.fields = append(p.fields, f)
	v := l[vs:ve]
	switch f.kind {
	case kHost:
		return p.hostField(v, f.val)
	case kContentLength:
		return p.contentLength(v)
	case kTransferEncoding:
		return p.transferEncoding(v)
	case kConnection:
		return p.connection(v)
	case kUpgrade:
		p.upgrade = true
	case kExpect:
		p.expect(v)
	}
	return OK
}

func (p *parser) hostField(v []byte, s span) Reason {
	if p.resp {
		return OK
	}
	p.hosts++
	if p.hosts > 1 {
		return DuplicateHost
	}
	if !validHost(v, hostField) {
		return BadHost
	}
	p.host = s
	if len(v) == 0 {
		p.host = span{} // present and empty: nil, as absent
	}
	return OK
}

// framingIgnored reports whether a response's Content-Length and
// Transfer-Encoding do not frame it (6.3 items 1 and 2): they are not
// checked then.
func (p *parser) framingIgnored() bool {
	if !p.resp {
		return false
	}
	s := p.status
	return s < 200 || s == 204 || s == 304 || p.reqMethod == MethodHEAD ||
		p.reqMethod == MethodCONNECT && s < 300
}

// contentLength reads a Content-Length field (RFC 9110 8.6, 6.3 item 5): a
// list of 1*DIGIT values. A request may have one value on one line; a
// response may repeat it, every value the same.
func (p *parser) contentLength(v []byte) Reason {
	if p.framingIgnored() {
		return OK
	}
	p.clCount++
	p.flags |= HasContentLength
	it := elems{rest: v}
	k := 0
	for {
		e, ok := it.next()
		if !ok {
			break
		}
		n, ok := parseDecimal(e)
		if !ok {
			return BadContentLength
		}
		if k++; k > 1 || p.clCount > 1 {
			if !p.resp {
				return DuplicateContentLength
			}
			if n != p.cl {
				return DuplicateContentLength
			}
			p.flags |= RepeatedContentLength
		}
		p.cl = n
	}
	p.clPlain = p.clCount == 1 && k == 1
	return OK
}

// transferEncoding reads a Transfer-Encoding field (6.1): a list of codings,
// tokens without parameters (none of the codings a proxy passes on has any),
// no empty element. Several field lines make one list, in order.
func (p *parser) transferEncoding(v []byte) Reason {
	if p.framingIgnored() {
		return OK
	}
	p.te = true
	p.flags |= HasTransferEncoding
	it := elems{rest: v}
	for {
		e, ok := it.next()
		if !ok {
			break
		}
		if !isToken(e) {
			return BadTransferEncoding
		}
		p.teLast = false
		switch {
		case equalFold(e, "chunked"):
			p.teChunks++
			p.teLast = true
		case equalFold(e, "gzip"), equalFold(e, "x-gzip"), equalFold(e, "deflate"),
			equalFold(e, "compress"), equalFold(e, "x-compress"):
		default:
			p.teOther = true
		}
	}
	return OK
}

// connection reads a Connection field (RFC 9110 7.6.1).
func (p *parser) connection(v []byte) Reason {
	it := elems{rest: v}
	for {
		e, ok := it.next()
		if !ok {
			return OK
		}
		switch {
		case len(e) == 0:
		case equalFold(e, "close"):
			p.flags |= ConnClose
		case equalFold(e, "keep-alive"):
			p.flags |= ConnKeepAlive
		case equalFold(e, "upgrade"):
			p.flags |= ConnUpgrade
		default:
			if p.connOpts++; p.connOpts > MaxConnectionOptions {
				return TooManyConnOptions
			}
		}
	}
}

// expect reads an Expect field (RFC 9110 10.1.1).
func (p *parser) expect(v []byte) {
	it := elems{rest: v}
	for {
		e, ok := it.next()
		if !ok {
			return
		}
		switch {
		case len(e) == 0:
		case equalFold(e, "100-continue"):
			p.flags |= ExpectContinue
		default:
			p.flags |= ExpectOther
		}
	}
}

// markNamed flags the fields named by the Connection options as hop-by-hop.
// The fields that frame the message or name its host are never dropped
// that way: "Connection: Content-Length" must not make the proxy forward a
// body without its length, which is how hop-by-hop abuse smuggles.
func (p *parser) markNamed(b []byte) {
	if p.connOpts == 0 {
		return
	}
	for i := range p.fields {
		c := &p.fields[i]
		if c.kind != kConnection {
			continue
		}
		it := elems{rest: c.val.of(b)}
		for {
			e, ok := it.next()
			if !ok {
				break
			}
			if len(e) == 0 || equalFold(e, "close") || equalFold(e, "keep-alive") || equalFold(e, "upgrade") {
				continue // not counted in connOpts; Upgrade is hop-by-hop anyway
			}
			for j := range p.fields {
				f := &p.fields[j]
				switch f.kind {
				case kHost, kContentLength, kTransferEncoding, kConnection:
					continue
				}
				if int(f.nameEnd-f.line) == len(e) && equalFoldBytes(b[f.line:f.nameEnd], e) {
					f.flags |= fNamed
				}
			}
		}
	}
}

// persistence applies 9.3: an HTTP/1.1 connection persists unless "close"
// is among the Connection options; an HTTP/1.0 one only with "keep-alive".
func (p *parser) persistence() bool {
	switch {
	case p.flags&ConnClose != 0:
		return false
	case p.minor >= 1:
		return true
	}
	return p.flags&ConnKeepAlive != 0
}

// parseVersion parses HTTP-version (2.3): "HTTP/" DIGIT "." DIGIT, the name
// case-sensitive.
func parseVersion(v []byte) (major, minor uint8, ok bool) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false
	}
	return v[5] - '0', v[7] - '0', true
}
