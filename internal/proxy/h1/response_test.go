package h1

import (
	"strings"
	"testing"
)

// respCase is a response head, the request it answers, and what the parser
// must make of it. Every refusal is answered 502.
type respCase struct {
	name    string
	ctx     respCtx
	in      string
	why     Reason
	framing Framing
	cl      int64
	keep    bool
	flags   Flags
	out     string // the head AppendHead writes with no edit, if not ""
}

var (
	get     = respCtx{m: MethodGET}
	head    = respCtx{m: MethodHEAD}
	connect = respCtx{m: MethodCONNECT}
	upgrade = respCtx{m: MethodGET, upgrade: true}
)

var respCases = []respCase{
	{name: "6.3 Content-Length", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", framing: Length, cl: 5, keep: true, flags: HasContentLength},
	{name: "6.3 chunked", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", framing: Chunked, keep: true},
	{name: "6.3 item 4 gzip alone: until close", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", framing: UntilClose},
	{name: "6.3 item 4 chunked not last: until close", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", framing: UntilClose},
	{name: "6.3 item 4 an unknown coding passes", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n", framing: Chunked, keep: true},
	{name: "6.3 item 8 no length: until close", ctx: get, in: "HTTP/1.1 200 OK\r\n\r\n", framing: UntilClose},
	{name: "6.3 item 3 Transfer-Encoding overrides Content-Length", ctx: get,
		in:      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n",
		framing: Chunked, flags: TEOverridesCL,
		out: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n"},
	{name: "RFC 9110 8.6 Content-Length repeated: written once", ctx: get,
		in:      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\ncontent-length: 5, 5\r\n\r\n",
		framing: Length, cl: 5, keep: true, flags: RepeatedContentLength,
		out: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n"},
	{name: "6.3 item 1 HEAD", ctx: head, in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 1 HEAD with chunked", ctx: head, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 1 204", ctx: get, in: "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 1 304", ctx: get, in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nContent-Length: 200\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 1 100", ctx: get, in: "HTTP/1.1 100 Continue\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 1 103", ctx: get, in: "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n", framing: NoBody, keep: true},
	{name: "6.3 item 2 CONNECT 200", ctx: connect, in: "HTTP/1.1 200 Connection Established\r\nContent-Length: 5\r\n\r\n", framing: Tunnel},
	{name: "6.3 item 2 CONNECT 407", ctx: connect, in: "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 5\r\n\r\n", framing: Length, cl: 5, keep: true, flags: HasContentLength},
	{name: "RFC 9110 15.2.2 101 to an upgrade", ctx: upgrade,
		in:      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n",
		framing: Tunnel, flags: Upgrade,
		out: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\n\r\n"},
	{name: "RFC 9110 15.2.2 101 to no upgrade", ctx: get, in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", why: UnexpectedSwitch},
	{name: "9.3 HTTP/1.0 closes", ctx: get, in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", framing: Length, cl: 1},
	{name: "9.3 HTTP/1.0 keep-alive", ctx: get, in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", framing: Length, cl: 1, keep: true, flags: ConnKeepAlive,
		out: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"},
	{name: "9.3 close", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", framing: Length, cl: 1, flags: ConnClose},
	{name: "4 no reason phrase", ctx: get, in: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", framing: Length, keep: true},
	{name: "4 no space before an empty reason", ctx: get, in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", framing: Length, keep: true,
		out: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"},
	{name: "4 reason with obs-text and tabs", ctx: get, in: "HTTP/1.1 200 \xe7a va\tbien\r\nContent-Length: 0\r\n\r\n", framing: Length, keep: true},
	{name: "2.2 bare LF", ctx: get, in: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", framing: Length, keep: true,
		out: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "7.6.1 hop-by-hop fields dropped", ctx: get,
		in:      "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nKeep-Alive: timeout=5\r\nTrailer: X-T\r\nProxy-Connection: close\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
		framing: Length, keep: true,
		out: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},

	{name: "4 two-digit status", ctx: get, in: "HTTP/1.1 20 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 status below 100", ctx: get, in: "HTTP/1.1 099 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 status not a number", ctx: get, in: "HTTP/1.1 2x0 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 four-digit status", ctx: get, in: "HTTP/1.1 2000 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 two spaces", ctx: get, in: "HTTP/1.1  200 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 control in the reason", ctx: get, in: "HTTP/1.1 200 O\x00K\r\n\r\n", why: BadStatusLine},
	{name: "4 short version", ctx: get, in: "HTTP/1 200 OK\r\n\r\n", why: BadStatusLine},
	{name: "4 HTTP/2.0", ctx: get, in: "HTTP/2.0 200 OK\r\n\r\n", why: VersionNotSupp},
	{name: "4 not HTTP", ctx: get, in: "ICY 200 OK\r\n\r\n", why: BadStatusLine},
	{name: "6.3 item 5 Content-Length differing", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", why: DuplicateContentLength},
	{name: "6.3 item 5 Content-Length list differing", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", why: DuplicateContentLength},
	{name: "6.3 item 5 Content-Length not numeric", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", why: BadContentLength},
	{name: "6.3 item 5 Content-Length overflow", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551621\r\n\r\n", why: BadContentLength},
	{name: "6.1 chunked twice", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding empty element", ctx: get, in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding in HTTP/1.0", ctx: get, in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", why: TransferEncodingHTTP10},
	{name: "5.2 obs-fold", ctx: get, in: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", why: ObsFold},
	{name: "5.1 space before the colon", ctx: get, in: "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", why: SpaceBeforeColon},
	{name: "2.2 bare CR", ctx: get, in: "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", why: BareCR},
	{name: "RFC 9110 5.5 NUL", ctx: get, in: "HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n", why: BadFieldValue},
	{name: "status line over MaxLine", ctx: get, in: "HTTP/1.1 200 " + strings.Repeat("o", DefaultMaxLine) + "\r\n\r\n", why: StatusLineLong},
	{name: "field line over MaxLine", ctx: get, in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("o", DefaultMaxLine) + "\r\n\r\n", why: LineTooLong},
}

func TestResponse(t *testing.T) {
	for _, tc := range respCases {
		t.Run(tc.name, func(t *testing.T) {
			var p ResponseParser
			p.SetRequest(tc.ctx.m, tc.ctx.upgrade)
			n, done, why := p.Feed([]byte(tc.in))
			if why != tc.why {
				t.Fatalf("refusal %v, want %v", why, tc.why)
			}
			if why != OK {
				if done || n != 0 {
					t.Errorf("refused with n %d done %v", n, done)
				}
				return
			}
			if !done {
				t.Fatalf("not done after %d of %d bytes", n, len(tc.in))
			}
			r := p.Response()
			if r.Framing != tc.framing || r.ContentLength != tc.cl || r.KeepAlive != tc.keep || r.Flags&tc.flags != tc.flags {
				t.Errorf("framing %v %d keep %v flags %#x, want %v %d %v %#x",
					r.Framing, r.ContentLength, r.KeepAlive, r.Flags, tc.framing, tc.cl, tc.keep, tc.flags)
			}
			if n != r.HeadLen || string(p.Head()) != tc.in[:n] {
				t.Errorf("n %d, head len %d, head %q", n, r.HeadLen, p.Head())
			}
			if tc.out != "" {
				e := ResponseEdit{Tunnel: r.Framing == Tunnel && r.Status == 101}
				if out := p.AppendHead(nil, &e); string(out) != tc.out {
					t.Errorf("edited head\n%q\nwant\n%q", out, tc.out)
				}
			}
			if r.Interim() != (r.Status < 200 && r.Status != 101) {
				t.Errorf("interim %v for %d", r.Interim(), r.Status)
			}
		})
	}
}

func TestResponseSplit(t *testing.T) {
	var p ResponseParser
	for _, tc := range respCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			whole := feedResp(&p, tc.ctx, in)
			step := 1
			if len(in) > 4096 {
				step = 61
			}
			for i := 0; i <= len(in); i += step {
				if r := feedResp(&p, tc.ctx, in, i); r != whole {
					t.Fatalf("split at %d:\n%+v\nwhole:\n%+v", i, r, whole)
				}
			}
			if len(in) < 4096 {
				cuts := make([]int, len(in))
				for i := range cuts {
					cuts[i] = i
				}
				if r := feedResp(&p, tc.ctx, in, cuts...); r != whole {
					t.Fatalf("byte at a time:\n%+v\nwhole:\n%+v", r, whole)
				}
			}
		})
	}
}

// TestResponseReframe checks the edit for a body the proxy chunks itself.
func TestResponseReframe(t *testing.T) {
	var p ResponseParser
	in := "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Type: text/plain\r\n\r\n"
	if _, done, why := p.Feed([]byte(in)); !done || why != OK || p.Response().Framing != UntilClose {
		t.Fatalf("%v %v %+v", done, why, p.Response())
	}
	out := p.AppendHead(nil, &ResponseEdit{Chunked: true, Connection: ConnFieldClose})
	want := "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	if string(out) != want {
		t.Errorf("%q\nwant\n%q", out, want)
	}

	// Chunked is not applied twice: "chunked, gzip" goes until close.
	p.Reset()
	in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
	if _, done, why := p.Feed([]byte(in)); !done || why != OK || p.Response().Framing != UntilClose || p.Response().CanChunk() {
		t.Fatalf("%v %v %+v", done, why, p.Response())
	}
	out = p.AppendHead(nil, &ResponseEdit{Chunked: true, Connection: ConnFieldClose})
	want = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n"
	if string(out) != want {
		t.Errorf("%q\nwant\n%q", out, want)
	}
}

// A server that ends a body with a stray CRLF leaves an empty line before
// the next status line; the parser skips it as it does before a request
// line (RFC 9112 2.2), counts it in HeadLen and leaves it out of Head.
func TestResponseSkipsEmptyLinesBeforeTheStatusLine(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for _, pre := range []string{"\r\n", "\n", "\r\n\r\n"} {
		in := pre + head
		for _, cut := range []int{len(in), 1, len(pre)} {
			var p ResponseParser
			p.SetRequest(MethodGET, false)
			n, done, why := p.Feed([]byte(in[:cut]))
			if cut < len(in) {
				m, d, w := p.Feed([]byte(in[n:]))
				n, done, why = n+m, d, w
			}
			if why != OK || !done || n != len(in) {
				t.Fatalf("%q cut at %d: n %d done %v %v", in, cut, n, done, why)
			}
			r := p.Response()
			if r.Status != 200 || r.HeadLen != len(in) || string(p.Head()) != head {
				t.Errorf("%q cut at %d: status %d, head len %d, head %q", in, cut, r.Status, r.HeadLen, p.Head())
			}
		}
	}
}
