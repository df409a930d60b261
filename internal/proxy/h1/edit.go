package h1

import (
	"net/netip"
	"strconv"
)

// Forwarding selects the forwarding fields a RequestEdit writes.
type Forwarding uint8

const (
	// XForwardedFor: the client's address, appended to the list the
	// client sent (all its X-Forwarded-For lines joined into one, where
	// the first was), or alone with RequestEdit.Replace.
	XForwardedFor Forwarding = 1 << iota
	// XForwardedProto: "http" or "https", replacing any the client sent.
	XForwardedProto
	// XForwardedHost: the request's Authority, replacing any sent.
	XForwardedHost
	// Forwarded: RFC 7239's "for=...;proto=...;host=..." element, appended
	// as X-Forwarded-For is.
	Forwarded
)

// ConnField is the Connection field an edit writes (the received ones are
// always dropped: they are hop-by-hop).
type ConnField uint8

const (
	ConnFieldNone      ConnField = iota // none: persistent in HTTP/1.1
	ConnFieldClose                      // "Connection: close"
	ConnFieldKeepAlive                  // "Connection: keep-alive" (to an HTTP/1.0 peer)
)

// RequestEdit says how RequestParser.AppendHead rewrites a request head for
// the server. Build it on the stack per request; it is only read.
type RequestEdit struct {
	Client netip.Addr // the client's address, for X-Forwarded-For and for=
	HTTPS  bool       // the client came over TLS: proto "https", else "http"
	// Forwarding selects the forwarding fields written.
	Forwarding Forwarding
	// Replace drops the X-Forwarded-For and Forwarded fields the client
	// sent instead of appending to them: for a proxy with no trusted
	// proxy in front of it, whose servers read the list's first element.
	Replace bool
	// Connection is the Connection field written toward the server.
	Connection ConnField
	// Tunnel passes an upgrade on (Flags has Upgrade): the Upgrade field is
	// kept and "Connection: upgrade" written instead of Connection.
	Tunnel bool
	// DropExpect drops Expect: the proxy answers 100-continue itself.
	DropExpect bool
	// DropUnderscores drops fields whose names have '_', as nginx does by
	// default (underscores_in_headers off): a server that maps names to
	// CGI-style variables reads "Content_Length" as Content-Length, which
	// the proxy did not frame the request by.
	DropUnderscores bool
}

// ResponseEdit says how ResponseParser.AppendHead rewrites a response head
// for the client.
type ResponseEdit struct {
	// Connection is the Connection field written toward the client.
	Connection ConnField
	// Tunnel passes a 101 on: the Upgrade field is kept and "Connection:
	// upgrade" written.
	Tunnel bool
	// Chunked: the proxy frames the body as chunked itself (an UntilClose
	// body, to an HTTP/1.1 client whose connection it keeps):
	// Content-Length is dropped and "Transfer-Encoding: chunked" written
	// after the Transfer-Encoding fields received (so "gzip" becomes
	// "gzip, chunked"). Ignored unless Response.CanChunk: chunked may not
	// be applied twice (RFC 9112 6.1), so a body already chunked and then
	// coded ("chunked, gzip") goes until close.
	Chunked bool
}

// hopByHop reports whether f is dropped as hop-by-hop (RFC 9110 7.6.1):
// Connection and the fields it names, Keep-Alive, Proxy-Connection, TE,
// Trailer (the trailers go with re-framing), Upgrade unless tunnelling.
func hopByHop(f *field, tunnel bool) bool {
	switch f.kind {
	case kConnection, kKeepAlive, kProxyConnection, kTE, kTrailer:
		return true
	case kUpgrade:
		return !tunnel
	}
	return f.flags&fNamed != 0
}

// appendLine appends field line f as it came, ending it with CRLF.
func appendLine(dst, b []byte, f *field) []byte {
	dst = append(dst, b[f.line:f.end]...)
	return append(dst, '\r', '\n')
}

// appendVersion appends "HTTP/1.0" or "HTTP/1.1": a minor version above 1
// is sent as ours, 1 (RFC 9110 2.5).
func appendVersion(dst []byte, minor uint8) []byte {
	if minor == 0 {
		return append(dst, "HTTP/1.0"...)
	}
	return append(dst, "HTTP/1.1"...)
}

// AppendHead appends the request head as it goes to the server: the request
// line, the field lines byte for byte and in order but for the hop-by-hop
// ones and those e replaces, every line ended with CRLF, then the fields e
// adds and the empty line. It allocates nothing when dst has OutputBound()
// bytes of room. Before Feed has reported done it appends nothing.
func (p *RequestParser) AppendHead(dst []byte, e *RequestEdit) []byte {
	q := &p.p
	if q.state != stDone {
		return dst
	}
	b := q.data
	r := &p.req
	dst = append(dst, r.MethodName...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, ' ')
	dst = appendVersion(dst, q.minor)
	dst = append(dst, '\r', '\n')
	xff, fwd := false, false // written
	for i := range q.fields {
		f := &q.fields[i]
		if hopByHop(f, e.Tunnel) || e.DropUnderscores && f.flags&fUnderscore != 0 {
			continue
		}
		switch f.kind {
		case kExpect:
			if e.DropExpect {
				continue
			}
		case kXForwardedFor:
			if e.Forwarding&XForwardedFor != 0 {
				if !xff && !e.Replace {
					dst = p.appendList(dst, "X-Forwarded-For: ", kXForwardedFor, i, e)
					xff = true
				}
				continue
			}
		case kForwarded:
			if e.Forwarding&Forwarded != 0 {
				if !fwd && !e.Replace {
					dst = p.appendList(dst, "Forwarded: ", kForwarded, i, e)
					fwd = true
				}
				continue
			}
		case kXForwardedProto:
			if e.Forwarding&XForwardedProto != 0 {
				continue
			}
		case kXForwardedHost:
			if e.Forwarding&XForwardedHost != 0 {
				continue
			}
		}
		dst = appendLine(dst, b, f)
	}
	if e.Forwarding&XForwardedFor != 0 && !xff {
		dst = append(dst, "X-Forwarded-For: "...)
		dst = appendAddr(dst, e.Client, false)
		dst = append(dst, '\r', '\n')
	}
	if e.Forwarding&Forwarded != 0 && !fwd {
		dst = append(dst, "Forwarded: "...)
		dst = p.appendForwarded(dst, e)
		dst = append(dst, '\r', '\n')
	}
	if e.Forwarding&XForwardedProto != 0 {
		dst = append(dst, "X-Forwarded-Proto: "...)
		dst = append(dst, proto(e.HTTPS)...)
		dst = append(dst, '\r', '\n')
	}
	if e.Forwarding&XForwardedHost != 0 && len(r.Authority) > 0 {
		dst = append(dst, "X-Forwarded-Host: "...)
		dst = append(dst, r.Authority...)
		dst = append(dst, '\r', '\n')
	}
	dst = appendConnection(dst, e.Connection, e.Tunnel)
	return append(dst, '\r', '\n')
}

// appendList appends one field line, at the place of the first field of
// the given kind (index first): the values of every such field the client
// sent, in order, then ours, as one comma-separated list.
func (p *RequestParser) appendList(dst []byte, name string, kind uint8, first int, e *RequestEdit) []byte {
	q := &p.p
	dst = append(dst, name...)
	for i := first; i < len(q.fields); i++ {
		f := &q.fields[i]
		if f.kind != kind || f.flags&fNamed != 0 || f.val.end == f.val.off {
			continue
		}
		dst = append(dst, q.data[f.val.off:f.val.end]...)
		dst = append(dst, ',', ' ')
	}
	if kind == kForwarded {
		dst = p.appendForwarded(dst, e)
	} else {
		dst = appendAddr(dst, e.Client, false)
	}
	return append(dst, '\r', '\n')
}

// appendForwarded appends our forwarded-element (RFC 7239 4): for= the
// client (an IPv6 address bracketed and quoted, 6), proto=, and host= the
// request's Authority, quoted unless it is a token.
func (p *RequestParser) appendForwarded(dst []byte, e *RequestEdit) []byte {
	dst = append(dst, "for="...)
	dst = appendAddr(dst, e.Client, true)
	dst = append(dst, ";proto="...)
	dst = append(dst, proto(e.HTTPS)...)
	if a := p.req.Authority; len(a) > 0 {
		dst = append(dst, ";host="...)
		if isToken(a) {
			dst = append(dst, a...)
		} else {
			dst = append(dst, '"')
			for _, c := range a {
				if c == '"' || c == '\\' {
					dst = append(dst, '\\')
				}
				dst = append(dst, c)
			}
			dst = append(dst, '"')
		}
	}
	return dst
}

func proto(https bool) string {
	if https {
		return "https"
	}
	return "http"
}

// appendAddr appends the client's address: IPv4 (mapped ones too) in
// dotted form, IPv6 as text, bracketed and quoted for Forwarded, or
// "unknown" (RFC 7239 6.2) when there is none.
func appendAddr(dst []byte, a netip.Addr, forwarded bool) []byte {
	if !a.IsValid() {
		return append(dst, "unknown"...)
	}
	a = a.Unmap().WithZone("")
	if forwarded && a.Is6() {
		dst = append(dst, '"', '[')
		dst = a.AppendTo(dst)
		return append(dst, ']', '"')
	}
	return a.AppendTo(dst)
}

func appendConnection(dst []byte, c ConnField, tunnel bool) []byte {
	switch {
	case tunnel:
		return append(dst, "Connection: upgrade\r\n"...)
	case c == ConnFieldClose:
		return append(dst, "Connection: close\r\n"...)
	case c == ConnFieldKeepAlive:
		return append(dst, "Connection: keep-alive\r\n"...)
	}
	return dst
}

// OutputBound returns the most bytes AppendHead can append for the current
// head, whatever the edit.
func (p *RequestParser) OutputBound() int {
	return outputBound(&p.p) + 3*len(p.req.Authority)
}

// outputBound: the head, one more byte per line ended by a bare LF, a
// joined list's separators, and the fields an edit adds (addresses of at
// most 45 bytes, the Forwarded element, the Connection field...).
func outputBound(q *parser) int {
	return len(q.data) + 3*len(q.fields) + 2 + 384
}

// AppendHead appends the response head as it goes to the client: the status
// line with our version, HTTP/1.1 (RFC 9110 2.5; the Connection field the
// edit writes says whether the connection persists), and the code and
// reason as they came; the field lines byte for byte and in order but for
// the hop-by-hop ones, a Content-Length repeated (written once) or
// overridden by Transfer-Encoding (dropped), and what e changes; then the
// empty line. It allocates nothing when dst has OutputBound() bytes of
// room.
func (p *ResponseParser) AppendHead(dst []byte, e *ResponseEdit) []byte {
	q := &p.p
	if q.state != stDone {
		return dst
	}
	b := q.data
	chunk := e.Chunked && p.resp.CanChunk()
	// The status line: the code, SP (which some servers leave out before
	// an empty reason) and the reason (4).
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, b[9:12]...)
	dst = append(dst, ' ')
	dst = append(dst, p.resp.Reason...)
	dst = append(dst, '\r', '\n')
	for i := range q.fields {
		f := &q.fields[i]
		if hopByHop(f, e.Tunnel) {
			continue
		}
		switch f.kind {
		case kContentLength:
			switch {
			case chunk || f.flags&fDropCL != 0:
				continue
			case f.flags&fCanonicalCL != 0:
				dst = append(dst, "Content-Length: "...)
				dst = strconv.AppendInt(dst, q.cl, 10)
				dst = append(dst, '\r', '\n')
				continue
			}
		}
		dst = appendLine(dst, b, f)
	}
	if chunk {
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	dst = appendConnection(dst, e.Connection, e.Tunnel)
	return append(dst, '\r', '\n')
}

// OutputBound returns the most bytes AppendHead can append for the current
// head.
func (p *ResponseParser) OutputBound() int { return outputBound(&p.p) }
