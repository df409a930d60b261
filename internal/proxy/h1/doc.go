// Package h1 is the HTTP/1.1 framing layer of the proxy's --mode http: it
// reads request and response heads as their bytes arrive, decides how each
// message's body is delimited, follows bodies through a connection without
// holding them, and writes the heads that go on to the other leg. It owns
// the wire format alone: it does no I/O, reads no clock, starts no
// goroutine, and allocates nothing in steady state (AllocsPerRun tests and
// -benchmem show it).
//
// # Who calls it
//
// The proxy app, on the core that owns both legs of a proxied connection.
// A RequestParser (client leg) or ResponseParser (server leg) is needed only
// while a head is in progress: take one from a per-core free list when the
// first byte of a head arrives, Reset it, and give it back when the head is
// done (an idle keep-alive connection holds none). A Body per direction
// (about a hundred bytes) lives with the connection. None is safe for concurrent
// use.
//
// A head is fed as tcp.Conn.Peek hands out the receive buffer, in one or
// two pieces:
//
//	a, b := c.Peek()
//	n, done, why := p.FeedPair(a, b)
//	switch {
//	case why != h1.OK: // answer why.Status() (502 for a response), close
//	case done: // p.Request(); write p.AppendHead(out, &edit) to the server, then c.Consume(n)
//	default: // c.Consume(n); wait for more
//	}
//
// A head that ends within the first piece (the usual case) is parsed where
// it lies, and the caller consumes it once done with it. A head split
// across segments or across the ring's wrap is copied into the parser's
// buffer line by line, never past its end, at most Limits.MaxHead bytes;
// lines checked once are not looked at again. Either way the result does not
// depend on where the bytes were split: the tests and fuzz targets feed
// every input whole, split at every position and a byte at a time, and
// require the same answer.
//
// After the head, a Body reset for Request.Framing (or Response.Framing)
// says of each window of the receive buffer how many bytes are payload, to
// be written to the other leg as they are, and how many are framing: the
// proxy forwards a body of any size from one leg's receive buffer to the
// other's send buffer, limiting each window to the room there, so flow
// control runs end to end and no body passes through a buffer of the
// proxy's own.
//
// # Limits and refusals
//
// Beyond a limit, or on a malformed or ambiguous message, a parser refuses
// with a Reason (a counter index; Reason.Status is the answer). A refused
// message is never forwarded: the proxy answers and closes the connection,
// since nothing after a message it cannot delimit can be trusted.
//
//	request line over MaxLine (8 KiB)                 414
//	field line over MaxLine, head over MaxHead
//	(32 KiB), over MaxHeaders (100) fields            431 (RFC 6585 5)
//	unknown transfer coding (chunked last)            501 (RFC 9112 6.1)
//	HTTP major version other than 1                   505
//	anything else malformed or ambiguous              400
//	any refused response                              502 (6.3 item 5)
//
// The rules, with RFC 9112's sections unless named, and what they defend:
//
//   - Lines end in CRLF; a bare LF is accepted as a line end (2.2 allows it;
//     nginx, HAProxy and Go do) and the edited head ends every line in
//     CRLF, so the server sees no line ends but CRLF. A CR anywhere else is
//     refused (2.2): CR-only line ends are how a head's lines are split
//     differently by two parsers. Empty lines before the request line are
//     skipped (2.2), counting toward MaxHead.
//   - The request line is method SP target SP version, single spaces
//     (3); the method a token (3.1); the target printable ASCII, 0x21..0x7e
//     (HAProxy's default: raw UTF-8 is refused, browsers percent-encode);
//     the version exactly HTTP/DIGIT.DIGIT, major 1 (2.3), a minor above 1
//     read as 1.1 and sent on as HTTP/1.1.
//   - Target forms (3.2): origin-form; absolute-form with an http or https
//     scheme and a host, no userinfo (RFC 9110 4.2.4), and a Host field
//     naming the same host and port (3.2.2; a default port may be left out
//     on either side, as HAProxy compares them), since a proxy that routes
//     by one and a server that reads the other disagree on the request's
//     host; authority-form host:port for CONNECT and only for it (3.2.3),
//     matching Host likewise; asterisk-form for OPTIONS only (3.2.4).
//   - Host (3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0, valid
//     uri-host [":" port] or empty; a ',' is refused too (a Host list is
//     how servers are made to pick different hosts).
//   - Field lines (5): a token name, no whitespace before the colon (5.1:
//     "Transfer-Encoding : chunked" is ignored by some and read by others),
//     no line beginning with whitespace (obs-fold, 5.2, or whitespace
//     after the start line, 2.2), values of VCHAR, obs-text, SP and HTAB
//     only: NUL, CR, LF, other controls and DEL refused (RFC 9110 5.5).
//   - Content-Length (6.3 item 5, RFC 9110 8.6): 1*DIGIT, fitting int64; no
//     sign, space, hex or empty element. A request may carry it once, on
//     one line, with one value: a repeat is refused even when it agrees.
//     RFC 9110 8.6 allows merging identical values and HAProxy and Go do,
//     but nginx refuses, a client never sends two, and refusing leaves no
//     list for another hop to read differently. A response may repeat one
//     value (servers in the wild do); the edit writes it once. Differing
//     values are refused in both.
//   - Transfer-Encoding (6.1, 6.3): a list of known codings (chunked,
//     gzip, x-gzip, deflate, compress, x-compress), tokens without
//     parameters, no empty element, chunked at most once. In a request,
//     with Content-Length it is refused (6.3 item 3 and 11.2: the
//     smuggling classic, CL.TE and TE.CL); chunked must be last (6.3 item
//     4: 400); an unknown coding before it is 501; in HTTP/1.0 it is
//     refused (6.1). In a response, with Content-Length it wins, the
//     Content-Length is dropped and the server connection not reused (6.3
//     item 3); a final coding other than chunked reads until close (6.3
//     item 4); in HTTP/1.0 it is refused.
//   - CONNECT requests carry no body (RFC 9110 9.3.6): Transfer-Encoding, or
//     a Content-Length above 0, is refused.
//   - Connection options name hop-by-hop fields (RFC 9110 7.6.1), at most
//     MaxConnectionOptions of them; Host, Content-Length and
//     Transfer-Encoding are never dropped that way ("Connection:
//     Content-Length" would forward a body without its length).
//   - A 101 answers only a request that asked for an upgrade (RFC 9110
//     15.2.2).
//
// # Framing (6.3)
//
// A request's body is Chunked, Length or NoBody. A response's follows the
// request it answers (ResponseParser.SetRequest): HEAD, 1xx, 204 and 304
// carry no body whatever their fields say (those fields are then not
// checked); a 2xx to CONNECT and a 101 to an upgrade are Tunnel (the pair
// becomes an L4 tunnel); then Transfer-Encoding, Content-Length, and
// UntilClose without either. Persistence follows 9.3: HTTP/1.1 unless
// "close", HTTP/1.0 only with "keep-alive", never after UntilClose or a
// Transfer-Encoding that overrode a Content-Length; "Expect: 100-continue"
// and upgrades count only in HTTP/1.1 (RFC 9110 10.1.1, 7.8).
//
// # Bodies
//
// Body reads Content-Length bodies by count and chunked ones byte by byte:
// 1*HEXDIG sizes without sign, space or overflow, extensions of the grammar
// (BWS only before ';' and around '='), CRLF after every size line and
// chunk (bare LF refused: chunk line ends are a current smuggling target),
// trailer lines checked like field lines, all within MaxChunkLine,
// MaxHead and MaxHeaders. The proxy re-frames: it writes the payload and
// each Step's Emit (size lines of its own, no extensions), so what the
// other side parses is what this package parsed. Trailer fields are
// dropped (RFC 9110 6.5.1 allows it), and the head's Trailer field with
// them.
//
// # Edits
//
// AppendHead writes a head for the other leg: the start line, every field
// line byte for byte and in order, and the empty line, but for the
// hop-by-hop fields (RFC 9110 7.6.1: Connection and the fields it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, and Upgrade unless the proxy
// tunnels) and the edits: X-Forwarded-For and Forwarded (RFC 7239, IPv6
// quoted and bracketed, host= quoted unless a token) appended to what the
// client sent or replacing it, X-Forwarded-Proto and X-Forwarded-Host
// replaced, a Connection field of the proxy's choosing, Expect and
// underscore names dropped when asked, a response's repeated Content-Length
// written once, and "Transfer-Encoding: chunked" for a body the proxy chunks
// itself. Responses go out as HTTP/1.1 (RFC 9110 2.5), requests with their
// own version (an HTTP/1.0 client's request stays 1.0, so the server does
// not answer it in chunks). Into a buffer of OutputBound bytes nothing is
// allocated.
//
// # Left to the proxy
//
// Everything with a clock or a socket: header and body timeouts (slow
// clients), closing after a refusal, and the answer's bytes; answering
// 100-continue itself or passing the server's on (and 417 for other
// expectations); a body size limit (413); pipelining (answering requests in
// order: a RequestParser reads one head at a time and stops at its end);
// reconciling the two legs' persistence (an UntilClose response to a
// keep-alive HTTP/1.1 client: ResponseEdit.Chunked when Response.CanChunk,
// else close; a chunked response to an HTTP/1.0 client: payload only, then
// close); passing 1xx only to HTTP/1.1 clients (RFC 9110 15.2); switching a
// pair to a tunnel; Via (RFC 9110 7.6.3), routing by Authority or path, and
// rewriting absolute-form targets to origin-form, which this package
// neither requires nor does.
package h1
