package h1

// Response is a parsed response head. Its byte slices alias the head (see
// ResponseParser.Head), as a Request's do.
type Response struct {
	Status int    // 100..999
	Reason []byte // the reason phrase as sent, perhaps empty
	Minor  uint8  // HTTP/1.Minor as sent
	// Framing follows RFC 9112 6.3 for the request the parser was told of
	// (SetRequest): NoBody, Length, Chunked, UntilClose or Tunnel.
	Framing       Framing
	ContentLength int64 // with Length
	Flags         Flags
	// KeepAlive: the server connection may carry another request after
	// this response's body (9.3; never with UntilClose or
	// TEOverridesCL).
	KeepAlive bool
	HeadLen   int

	chunked bool // Transfer-Encoding has chunked
}

// CanChunk reports whether the proxy may frame the body as chunked itself
// (ResponseEdit.Chunked): its framing is UntilClose or Length, and chunked
// was not applied already.
func (r *Response) CanChunk() bool {
	return (r.Framing == UntilClose || r.Framing == Length) && !r.chunked
}

// Interim reports whether r is a 1xx other than a switch: the proxy passes
// it on (to an HTTP/1.1 client; RFC 9110 15.2), then reads the next head
// for the same request (Reset, SetRequest again).
func (r *Response) Interim() bool { return r.Status < 200 && r.Framing != Tunnel }

// ResponseParser reads response heads from the bytes a server connection
// receives, as RequestParser reads requests; it must be told, before the
// first Feed of each head, which request the response answers. Refusals are
// answered 502 whatever the Reason.
type ResponseParser struct {
	Limits Limits

	p     parser
	resp  Response
	built bool
}

// Reset readies p for the next head (the request it answers is forgotten:
// call SetRequest again), keeping its buffers.
func (p *ResponseParser) Reset() {
	p.p.reset(p.Limits, true)
	p.resp = Response{}
	p.built = false
}

// SetRequest says what the response answers: its method (HEAD and CONNECT
// change the framing) and whether it asked for an upgrade (Upgrade in its
// Flags: only then is a 101 accepted). Without it, a GET that asked for no
// upgrade.
func (p *ResponseParser) SetRequest(m Method, upgrade bool) {
	if p.p.lim.MaxHead == 0 {
		p.Reset()
	}
	p.p.reqMethod, p.p.reqUpgrade = m, upgrade
}

// Feed consumes bytes received from the server, as RequestParser.Feed.
func (p *ResponseParser) Feed(in []byte) (n int, done bool, why Reason) {
	if p.p.lim.MaxHead == 0 {
		p.Reset()
	}
	n, done, why = p.p.feed(in)
	if done && !p.built {
		p.build()
	}
	return n, done, why
}

// FeedPair feeds a receive ring's two pieces as one, as
// RequestParser.FeedPair.
func (p *ResponseParser) FeedPair(a, b []byte) (n int, done bool, why Reason) {
	n, done, why = p.Feed(a)
	if done || why != OK || len(b) == 0 {
		return n, done, why
	}
	m, done, why := p.Feed(b)
	return n + m, done, why
}

// Response returns the parsed head, once Feed has reported done.
func (p *ResponseParser) Response() *Response { return &p.resp }

// Head returns the head's bytes once Feed has reported done.
func (p *ResponseParser) Head() []byte { return p.p.data }

// Fields returns the number of field lines of a done head.
func (p *ResponseParser) Fields() int { return fieldsOf(&p.p) }

// Field returns the name and value of field line i.
func (p *ResponseParser) Field(i int) (name, value []byte) { return fieldOf(&p.p, i) }

// Get returns the value of the first field named name (in lower case).
func (p *ResponseParser) Get(name string) ([]byte, bool) { return getField(&p.p, name) }

func (p *ResponseParser) build() {
	q, d := &p.p, p.p.data
	keep := q.persistence() && q.framing != UntilClose && q.framing != Tunnel &&
		q.flags&TEOverridesCL == 0
	p.resp = Response{
		Status:        q.status,
		Reason:        q.rspan.of(d),
		Minor:         q.minor,
		Framing:       q.framing,
		ContentLength: q.cl,
		Flags:         q.flags,
		KeepAlive:     keep,
		HeadLen:       q.pos,
		chunked:       q.teChunks > 0,
	}
	if q.framing != Length {
		p.resp.ContentLength = 0
	}
	p.built = true
}

// statusLine checks the status line (4): HTTP-version SP 3DIGIT SP
// reason-phrase. The SP before an empty reason may be left out, as many
// servers do.
func (p *parser) statusLine(l []byte) Reason {
	if len(l) < 12 || l[8] != ' ' {
		return BadStatusLine
	}
	major, minor, ok := parseVersion(l[:8])
	if !ok {
		return BadStatusLine
	}
	if major != 1 {
		return VersionNotSupp
	}
	s := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return BadStatusLine
		}
		s = s*10 + int(c-'0')
	}
	if s < 100 {
		return BadStatusLine
	}
	if len(l) > 12 {
		if l[12] != ' ' {
			return BadStatusLine
		}
		for _, c := range l[13:] {
			if class[c]&cValue == 0 {
				return BadStatusLine
			}
		}
		p.rspan = span{13, uint32(len(l))}
	}
	p.minor, p.status = minor, s
	return OK
}

// finishResponse applies 6.3 in order: the request's method and the status
// first, then Transfer-Encoding (chunked last: chunked; otherwise until
// close; with Content-Length too, Transfer-Encoding wins and the
// Content-Length goes), then Content-Length, then until close.
func (p *parser) finishResponse(b []byte) Reason {
	s := p.status
	switch {
	case s == 101:
		if !p.reqUpgrade {
			return UnexpectedSwitch
		}
		p.framing = Tunnel
		p.flags |= Upgrade
	case p.framingIgnored():
		p.framing = NoBody
		if p.reqMethod == MethodCONNECT && s >= 200 && s < 300 {
			p.framing = Tunnel
		}
	case p.te:
		switch {
		case p.minor == 0:
			return TransferEncodingHTTP10 // 6.1
		case p.teChunks > 1:
			return BadTransferEncoding // 6.1: chunked only once
		}
		if p.clCount > 0 {
			p.flags |= TEOverridesCL
			for i := range p.fields {
				if f := &p.fields[i]; f.kind == kContentLength {
					f.flags |= fDropCL
				}
			}
		}
		p.framing = UntilClose
		if p.teLast {
			p.framing = Chunked
		}
	case p.clCount > 0:
		p.framing = Length
		if !p.clPlain {
			first := true
			for i := range p.fields {
				if f := &p.fields[i]; f.kind == kContentLength {
					if first {
						f.flags |= fCanonicalCL
						first = false
					} else {
						f.flags |= fDropCL
					}
				}
			}
		}
	default:
		p.framing = UntilClose
	}
	p.markNamed(b)
	return OK
}
