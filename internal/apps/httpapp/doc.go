// Package httpapp is a minimal HTTP/1.1 responder for benchmarks: a pure,
// allocation-free byte-stream state machine, one per TCP connection. It does
// no I/O, reads no clock and starts no goroutine; the TCP stack (or a test)
// feeds it the bytes a connection received and writes out the bytes it
// produces.
//
// # Who calls it
//
// A Responder is owned by the core that owns its connection and is driven
// from that core's loop, run-to-completion: Feed the received bytes, Read the
// response bytes into the send buffer, close the connection when Done. It is
// not safe for concurrent use. Reset readies it for the next connection and
// keeps its buffers, so a per-core free list of Responders serves any number
// of connections without allocating.
//
// It keeps no time. InHead and InBody say where a connection stands (a
// request head or body partly fed), so that its caller can time it out (the
// http app of internal/apps does, with nginx's client_header_timeout and
// keepalive_timeout).
//
// # What it answers
//
// GET and HEAD on any path are answered 200 with a text/plain body: the
// query parameter size=N (decimal, 0..Config.MaxSize) selects a body of
// exactly N bytes of a repeating printable pattern (see Pattern); without it
// the body is Config.DefaultBody. Other methods get 405 with Allow: GET, HEAD.
// No Date header is sent (it would need a clock).
//
// Persistence follows RFC 9112 §9.3: HTTP/1.1 requests keep the connection
// unless they carry Connection: close; HTTP/1.0 requests close it unless
// they carry Connection: keep-alive (the response then says so). Requests may
// be pipelined and split at any byte boundary; responses leave in request
// order. After a response that closes the connection no more input is
// processed: Feed consumes and discards it.
//
// # Parsing rules
//
// The parser is lenient where nginx is and strict where request smuggling
// lives:
//   - lines may end in CRLF or a bare LF; a CR anywhere else is an error;
//     empty lines before a request line are ignored (RFC 9112 §2.2);
//   - the request line is METHOD SP target SP HTTP/1.x with single spaces;
//     the method is a token (unknown tokens get 405), the target has no
//     controls or spaces, and HTTP/1.2..1.9 are answered as HTTP/1.1;
//   - header names are tokens, matched case-insensitively, with no space
//     before the colon; obsolete line folding is an error; values may not
//     hold control characters other than HT;
//   - an HTTP/1.1 request needs exactly one Host header, as nginx enforces
//     (RFC 9112 §3.2); a second Host header is an error in any version;
//   - a request body is allowed only with Content-Length (a decimal number;
//     repeated headers must agree); it is read and discarded, so pipelining
//     stays in step. Transfer-Encoding is not supported: any request that
//     carries it is answered 400 and the connection closed (a responder this
//     small has no use for chunked bodies, and guessing their end is how
//     smuggling starts);
//   - a request with a body and Expect: 100-continue is answered at once and
//     the connection closed, since the client may never send the body;
//   - the request line and headers together are at most MaxHeadBytes, in at
//     most MaxHeaderLines header lines; beyond either limit the answer is 431;
//   - a size parameter that is empty, not decimal or above MaxSize is 400;
//     it is checked for GET and HEAD only, and the last one given wins. The
//     query is not percent-decoded.
//
// Every malformed request is answered 400 (or 431) with Connection: close,
// after which Done reports true once the response has been read out.
// Hostile input never panics, which FuzzFeed checks.
//
// # Backpressure
//
// Responses are queued as descriptors (the body is produced as it is read, so
// a 1 GiB body costs nothing until read). The queue holds Config.QueueDepth
// responses; when it is full, Feed stops before the next request and returns
// how much it consumed, and the caller feeds the rest after reading output.
package httpapp
