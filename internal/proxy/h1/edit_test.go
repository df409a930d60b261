package h1

import (
	"net/netip"
	"strings"
	"testing"
)

// wsKey is a WebSocket handshake's fields (RFC 6455 4.1).
const wsKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

var (
	v4 = netip.MustParseAddr("198.18.0.2")
	v6 = netip.MustParseAddr("2001:2::2")
)

// editCase is a request head, an edit, and the head the server must get.
type editCase struct {
	name string
	in   string
	e    RequestEdit
	out  string
}

var editCases = []editCase{
	{name: "nothing to do", in: "GET /a?b HTTP/1.1\r\nHost: h\r\nX-Custom:  v  \r\naccept: */*\r\n\r\n",
		out: "GET /a?b HTTP/1.1\r\nHost: h\r\nX-Custom:  v  \r\naccept: */*\r\n\r\n"},
	{name: "2.2 bare LF ends become CRLF", in: "GET / HTTP/1.0\nA: 1\n\n",
		out: "GET / HTTP/1.0\r\nA: 1\r\n\r\n"},
	{name: "RFC 9110 7.6.1 hop-by-hop fields", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 300\r\n" +
		"A: 1\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\nx-secret: s\r\nB: 2\r\n\r\n",
		out: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"},
	{name: "RFC 9110 7.6.1 Connection cannot drop framing or Host", in: "POST / HTTP/1.1\r\nHost: h\r\nConnection: Host, Content-Length, Transfer-Encoding, Connection\r\nContent-Length: 3\r\n\r\n",
		out: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"},
	{name: "chunked requests keep Transfer-Encoding", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		out: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	{name: "RFC 9110 7.8 tunnel keeps Upgrade", in: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" + wsKey + "\r\n",
		e:   RequestEdit{Tunnel: true, Connection: ConnFieldClose},
		out: "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n" + wsKey + "Connection: upgrade\r\n\r\n"},
	{name: "Connection: close written", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
		e: RequestEdit{Connection: ConnFieldClose}, out: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"},
	{name: "Connection: keep-alive written", in: "GET / HTTP/1.0\r\n\r\n",
		e: RequestEdit{Connection: ConnFieldKeepAlive}, out: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
	{name: "Expect dropped", in: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		e: RequestEdit{DropExpect: true}, out: "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n"},
	{name: "Expect kept", in: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		out: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"},

	{name: "underscores dropped", in: "POST / HTTP/1.1\r\nHost: h\r\nContent_Length: 5\r\nX_A: 1\r\nX-B: 2\r\n\r\n",
		e: RequestEdit{DropUnderscores: true}, out: "POST / HTTP/1.1\r\nHost: h\r\nX-B: 2\r\n\r\n"},
	{name: "underscores kept", in: "POST / HTTP/1.1\r\nHost: h\r\nX_A: 1\r\n\r\n",
		out: "POST / HTTP/1.1\r\nHost: h\r\nX_A: 1\r\n\r\n"},
	{name: "X-Forwarded-For added", in: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nX-Forwarded-For: 198.18.0.2\r\n\r\n"},
	{name: "X-Forwarded-For appended in place", in: "GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 192.0.2.1\r\nA: 1\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1, 198.18.0.2\r\nA: 1\r\n\r\n"},
	{name: "X-Forwarded-For lines joined", in: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1, 192.0.2.3\r\nA: 1\r\nX-Forwarded-For:\r\nX-Forwarded-For: 192.0.2.4\r\n\r\n",
		e:   RequestEdit{Client: v6, Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1, 192.0.2.3, 192.0.2.4, 2001:2::2\r\nA: 1\r\n\r\n"},
	{name: "X-Forwarded-For replaced", in: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\nA: 1\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: XForwardedFor, Replace: true},
		out: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nX-Forwarded-For: 198.18.0.2\r\n\r\n"},
	{name: "X-Forwarded-For named by Connection", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.18.0.2\r\n\r\n"},
	{name: "X-Forwarded-For of a mapped address", in: "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		e:   RequestEdit{Client: netip.MustParseAddr("::ffff:198.18.0.9"), Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.18.0.9\r\n\r\n"},
	{name: "X-Forwarded-For unknown", in: "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		e:   RequestEdit{Forwarding: XForwardedFor},
		out: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: unknown\r\n\r\n"},
	{name: "X-Forwarded-Proto and -Host replaced", in: "GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: h:8080\r\nX-Forwarded-Host: evil\r\n\r\n",
		e:   RequestEdit{Forwarding: XForwardedProto | XForwardedHost},
		out: "GET / HTTP/1.1\r\nHost: h:8080\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h:8080\r\n\r\n"},
	{name: "X-Forwarded-Host of an absolute-form target", in: "GET https://h/ HTTP/1.1\r\nHost: h:443\r\n\r\n",
		e:   RequestEdit{HTTPS: true, Forwarding: XForwardedProto | XForwardedHost},
		out: "GET https://h/ HTTP/1.1\r\nHost: h:443\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\r\n"},
	{name: "X-Forwarded-Host without a host", in: "GET / HTTP/1.0\r\nX-Forwarded-Host: evil\r\n\r\n",
		e:   RequestEdit{Forwarding: XForwardedHost},
		out: "GET / HTTP/1.0\r\n\r\n"},
	{name: "RFC 7239 4 Forwarded", in: "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: Forwarded},
		out: "GET / HTTP/1.1\r\nHost: example.com\r\nForwarded: for=198.18.0.2;proto=http;host=example.com\r\n\r\n"},
	{name: "RFC 7239 6 Forwarded IPv6 quoted, host with port quoted", in: "GET / HTTP/1.1\r\nHost: [2001:2::1]:8443\r\n\r\n",
		e:   RequestEdit{Client: v6, HTTPS: true, Forwarding: Forwarded},
		out: "GET / HTTP/1.1\r\nHost: [2001:2::1]:8443\r\nForwarded: for=\"[2001:2::2]\";proto=https;host=\"[2001:2::1]:8443\"\r\n\r\n"},
	{name: "RFC 7239 7.1 Forwarded appended", in: "GET / HTTP/1.1\r\nForwarded: for=192.0.2.1\r\nHost: h\r\nForwarded: for=unknown;by=x\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: Forwarded},
		out: "GET / HTTP/1.1\r\nForwarded: for=192.0.2.1, for=unknown;by=x, for=198.18.0.2;proto=http;host=h\r\nHost: h\r\n\r\n"},
	{name: "RFC 7239 Forwarded replaced", in: "GET / HTTP/1.1\r\nForwarded: for=192.0.2.1\r\nHost: h\r\n\r\n",
		e:   RequestEdit{Client: v4, Forwarding: Forwarded, Replace: true},
		out: "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=198.18.0.2;proto=http;host=h\r\n\r\n"},
	{name: "client's forwarding fields kept when not ours", in: "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=a\r\nX-Forwarded-For: b\r\nX-Forwarded-Proto: c\r\nX-Forwarded-Host: d\r\n\r\n",
		out: "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=a\r\nX-Forwarded-For: b\r\nX-Forwarded-Proto: c\r\nX-Forwarded-Host: d\r\n\r\n"},
	{name: "everything", in: "POST http://h/p HTTP/1.1\nHost: h\nConnection: close, te\nTE: trailers\nX-Forwarded-For: 192.0.2.1\nContent-Length: 2\n\n",
		e: RequestEdit{Client: v4, Forwarding: XForwardedFor | XForwardedProto | XForwardedHost | Forwarded, Connection: ConnFieldClose},
		out: "POST http://h/p HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1, 198.18.0.2\r\nContent-Length: 2\r\n" +
			"Forwarded: for=198.18.0.2;proto=http;host=h\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: close\r\n\r\n"},
}

func TestRequestEdit(t *testing.T) {
	var p RequestParser
	for _, tc := range editCases {
		t.Run(tc.name, func(t *testing.T) {
			p.Reset()
			if _, done, why := p.Feed([]byte(tc.in)); !done || why != OK {
				t.Fatalf("%v %v", done, why)
			}
			out := p.AppendHead(nil, &tc.e)
			if string(out) != tc.out {
				t.Errorf("edited:\n%q\nwant:\n%q", out, tc.out)
			}
			if len(out) > p.OutputBound() {
				t.Errorf("%d bytes, bound %d", len(out), p.OutputBound())
			}
			// The edited head parses, as the same request.
			var q RequestParser
			n, done, why := q.Feed(out)
			if !done || why != OK || n != len(out) {
				t.Fatalf("edited head: %d %v %v", n, done, why)
			}
			r, s := p.Request(), q.Request()
			if r.Method != s.Method || string(r.Target) != string(s.Target) || string(r.Authority) != string(s.Authority) ||
				r.Framing != s.Framing || r.ContentLength != s.ContentLength {
				t.Errorf("edited head parses as %+v, was %+v", s, r)
			}
		})
	}
}

// TestForwardedQuoting checks host= is a token or a quoted-string.
func TestForwardedQuoting(t *testing.T) {
	var p RequestParser
	for host, want := range map[string]string{
		"example.com":           "host=example.com",
		"example.com:8080":      `host="example.com:8080"`,
		"a%2Db":                 "host=a%2Db",
		"[::1]":                 `host="[::1]"`,
		"xn--bcher-kva.example": "host=xn--bcher-kva.example",
	} {
		p.Reset()
		in := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		if _, done, why := p.Feed([]byte(in)); !done || why != OK {
			t.Fatalf("%q: %v %v", host, done, why)
		}
		out := string(p.AppendHead(nil, &RequestEdit{Client: v4, Forwarding: Forwarded}))
		if !strings.Contains(out, ";"+want+"\r\n") {
			t.Errorf("%q: %q, want %s", host, out, want)
		}
	}
}
