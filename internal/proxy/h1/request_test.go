package h1

import (
	"strings"
	"testing"
)

// reqCase is a request head and what the parser must make of it: a refusal
// (with the status it asks for), or a done head checked by check.
type reqCase struct {
	name   string
	in     string
	why    Reason
	status int
	lim    Limits
	check  func(t *testing.T, r *Request, p *RequestParser)
}

const host = "Host: example.com\r\n"

var (
	longTarget = "GET /" + strings.Repeat("a", DefaultMaxLine) + " HTTP/1.1\r\n" + host + "\r\n"
	longField  = "GET / HTTP/1.1\r\n" + host + "X-Long: " + strings.Repeat("b", DefaultMaxLine) + "\r\n\r\n"
	manyFields = "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", DefaultMaxHeaders) + "\r\n"
	fullFields = "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", DefaultMaxHeaders-1) + "\r\n"
	bigHead    = "GET / HTTP/1.1\r\n" + host + strings.Repeat("Cookie: "+strings.Repeat("c", 4000)+"\r\n", 9) + "\r\n"
	manyOpts   = "GET / HTTP/1.1\r\n" + host + "Connection: " + strings.Repeat("x,", MaxConnectionOptions) + "y\r\n\r\n"
)

func wantFraming(f Framing, cl int64) func(*testing.T, *Request, *RequestParser) {
	return func(t *testing.T, r *Request, _ *RequestParser) {
		t.Helper()
		if r.Framing != f || r.ContentLength != cl {
			t.Errorf("framing %v %d, want %v %d", r.Framing, r.ContentLength, f, cl)
		}
	}
}

func wantKeep(keep bool, flags Flags) func(*testing.T, *Request, *RequestParser) {
	return func(t *testing.T, r *Request, _ *RequestParser) {
		t.Helper()
		if r.KeepAlive != keep || r.Flags&flags != flags {
			t.Errorf("keep-alive %v flags %#x, want %v and %#x", r.KeepAlive, r.Flags, keep, flags)
		}
	}
}

var reqCases = []reqCase{
	// What is accepted.
	{name: "simple", in: "GET / HTTP/1.1\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, p *RequestParser) {
		if r.Method != MethodGET || string(r.Target) != "/" || r.Form != OriginForm || r.Minor != 1 ||
			string(r.Host) != "example.com" || string(r.Authority) != "example.com" ||
			r.Framing != NoBody || !r.KeepAlive || r.HasBody() || r.HeadLen != 37 {
			t.Errorf("%+v", r)
		}
		if v, ok := p.Get("host"); !ok || string(v) != "example.com" {
			t.Errorf("Get(host) %q %v", v, ok)
		}
		if _, ok := p.Get("cookie"); ok {
			t.Error("Get(cookie) found one")
		}
	}},
	{name: "9.3 HTTP/1.0 closes", in: "GET / HTTP/1.0\r\n\r\n", check: wantKeep(false, 0)},
	{name: "9.3 HTTP/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: wantKeep(true, ConnKeepAlive)},
	{name: "9.3 HTTP/1.1 close", in: "GET / HTTP/1.1\r\n" + host + "Connection: keep-alive, close\r\n\r\n", check: wantKeep(false, ConnClose|ConnKeepAlive)},
	{name: "2.3 HTTP/1.2 read as 1.1", in: "GET / HTTP/1.2\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, p *RequestParser) {
		if r.Minor != 2 || !r.KeepAlive {
			t.Errorf("%+v", r)
		}
		if out := p.AppendHead(nil, &RequestEdit{}); !strings.HasPrefix(string(out), "GET / HTTP/1.1\r\n") {
			t.Errorf("forwarded as %q", out)
		}
	}},
	{name: "2.2 bare LF ends lines", in: "GET / HTTP/1.1\n" + "Host: a\n\n", check: wantKeep(true, 0)},
	{name: "2.2 empty lines before the request line", in: "\r\n\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, p *RequestParser) {
		if r.HeadLen != 42 || !strings.HasPrefix(string(p.Head()), "GET") {
			t.Errorf("head len %d %q", r.HeadLen, p.Head())
		}
	}},
	{name: "HTTP/1.0 without Host", in: "GET / HTTP/1.0\r\n\r\n"},
	{name: "empty Host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Host != nil || r.Authority != nil {
			t.Errorf("%+v", r)
		}
	}},
	{name: "Host with port and IPv6", in: "GET / HTTP/1.1\r\nHost: [2001:2::1]:8080\r\n\r\n"},
	{name: "Host pct-encoded", in: "GET / HTTP/1.1\r\nHost: a%2Db.example\r\n\r\n"},
	{name: "field value OWS and obs-text", in: "GET / HTTP/1.1\r\n" + host + "X-A:\t v\xe9 \"q\" \t\r\n\r\n", check: func(t *testing.T, _ *Request, p *RequestParser) {
		if v, _ := p.Get("x-a"); string(v) != "v\xe9 \"q\"" {
			t.Errorf("value %q", v)
		}
	}},
	{name: "empty field value", in: "GET / HTTP/1.1\r\n" + host + "X-A:\r\n\r\n"},
	{name: "lower-case method is another method", in: "get / HTTP/1.1\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Method != MethodOther || string(r.MethodName) != "get" {
			t.Errorf("%v %q", r.Method, r.MethodName)
		}
	}},
	{name: "6.3 Content-Length", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Framing != Length || r.ContentLength != 5 || !r.HasBody() || r.Flags&HasContentLength == 0 {
			t.Errorf("%+v", r)
		}
	}},
	{name: "6.3 Content-Length 0", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", check: wantFraming(Length, 0)},
	{name: "6.3 Content-Length leading zeros", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 007\r\n\r\n", check: wantFraming(Length, 7)},
	{name: "6.3 Content-Length largest", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775807\r\n\r\n", check: wantFraming(Length, 1<<63-1)},
	{name: "6.3 chunked", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", check: wantFraming(Chunked, 0)},
	{name: "6.1 codings are case-insensitive", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, CHUNKED\r\n\r\n", check: wantFraming(Chunked, 0)},
	{name: "6.1 codings over two lines", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", check: wantFraming(Chunked, 0)},
	{name: "3.2.2 absolute-form", in: "GET http://example.com/a?b HTTP/1.1\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Form != AbsoluteForm || string(r.Authority) != "example.com" {
			t.Errorf("%+v", r)
		}
	}},
	{name: "3.2.2 absolute-form default port", in: "GET HTTPS://example.com:443 HTTP/1.1\r\n" + host + "\r\n"},
	{name: "3.2.2 absolute-form port in Host", in: "GET http://example.com/ HTTP/1.1\r\nHost: EXAMPLE.com:80\r\n\r\n"},
	{name: "3.2.3 CONNECT authority-form", in: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Form != AuthorityForm || string(r.Authority) != "example.com:443" || r.Framing != NoBody {
			t.Errorf("%+v", r)
		}
	}},
	{name: "3.2.3 CONNECT Host without the default port", in: "CONNECT example.com:443 HTTP/1.1\r\n" + host + "\r\n"},
	{name: "3.2.3 CONNECT Content-Length 0", in: "CONNECT [2001:2::1]:443 HTTP/1.1\r\nHost: [2001:2::1]:443\r\nContent-Length: 0\r\n\r\n"},
	{name: "3.2.4 asterisk-form", in: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Form != AsteriskForm {
			t.Errorf("%+v", r)
		}
	}},
	{name: "RFC 9110 10.1.1 100-continue", in: "PUT / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nExpect: 100-Continue\r\n\r\n", check: wantKeep(true, ExpectContinue)},
	{name: "RFC 9110 10.1.1 other expectation", in: "PUT / HTTP/1.1\r\n" + host + "Expect: x\r\n\r\n", check: wantKeep(true, ExpectOther)},
	{name: "RFC 9110 10.1.1 ignored in HTTP/1.0", in: "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Flags&(ExpectContinue|ExpectOther) != 0 {
			t.Errorf("flags %#x", r.Flags)
		}
	}},
	{name: "RFC 9110 7.8 upgrade", in: "GET /ws HTTP/1.1\r\n" + host + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", check: wantKeep(true, Upgrade|ConnUpgrade)},
	{name: "RFC 9110 7.8 Upgrade without the option", in: "GET /ws HTTP/1.1\r\n" + host + "Upgrade: websocket\r\n\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Flags&Upgrade != 0 {
			t.Errorf("flags %#x", r.Flags)
		}
	}},
	{name: "RFC 9110 7.8 upgrade ignored in HTTP/1.0", in: "GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", check: func(t *testing.T, r *Request, _ *RequestParser) {
		if r.Flags&Upgrade != 0 {
			t.Errorf("flags %#x", r.Flags)
		}
	}},
	{name: "limits: MaxHeaders fields", in: fullFields},
	{name: "limits: a 32 KiB head of 4000-byte cookies", in: "GET / HTTP/1.1\r\n" + host + strings.Repeat("Cookie: "+strings.Repeat("c", 4000)+"\r\n", 7) + "\r\n"},
	{name: "limits: MaxConnectionOptions", in: "GET / HTTP/1.1\r\n" + host + "Connection: " + strings.Repeat("x,", MaxConnectionOptions-1) + "y\r\n\r\n"},

	// The request line (3).
	{name: "3 HTTP/0.9 simple request", in: "GET /\r\n\r\n", why: BadRequestLine},
	{name: "3 two spaces", in: "GET  / HTTP/1.1\r\n" + host + "\r\n", why: BadRequestLine},
	{name: "3 leading space", in: " GET / HTTP/1.1\r\n" + host + "\r\n", why: BadRequestLine},
	{name: "3 tab separator", in: "GET\t/ HTTP/1.1\r\n" + host + "\r\n", why: BadMethod},
	{name: "3 trailing space", in: "GET / HTTP/1.1 \r\n" + host + "\r\n", why: BadVersion},
	{name: "3.1 method not a token", in: "G(T / HTTP/1.1\r\n" + host + "\r\n", why: BadMethod},
	{name: "3.2 space in target", in: "GET /a b HTTP/1.1\r\n" + host + "\r\n", why: BadVersion},
	{name: "3.2 DEL in target", in: "GET /\x7f HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2 NUL in target", in: "GET /\x00 HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2 non-ASCII in target", in: "GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2 relative target", in: "GET a/b HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.2 scheme other than http", in: "GET ftp://example.com/ HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.2 no authority", in: "GET http:/a HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.2 empty host", in: "GET http:///a HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "RFC 9110 4.2.4 userinfo", in: "GET http://u:p@example.com/ HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.2 Host differs from the authority", in: "GET http://example.org/ HTTP/1.1\r\n" + host + "\r\n", why: HostMismatch},
	{name: "3.2.2 Host port differs", in: "GET http://example.com:8080/ HTTP/1.1\r\n" + host + "\r\n", why: HostMismatch},
	{name: "3.2.3 CONNECT origin-form", in: "CONNECT / HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.3 CONNECT without port", in: "CONNECT example.com HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.3 CONNECT Host differs", in: "CONNECT example.com:8443 HTTP/1.1\r\n" + host + "\r\n", why: HostMismatch},
	{name: "3.2.3 authority-form without CONNECT", in: "GET example.com:80 HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "3.2.4 asterisk without OPTIONS", in: "GET * HTTP/1.1\r\n" + host + "\r\n", why: BadTarget},
	{name: "2.3 lower-case version", in: "GET / http/1.1\r\n" + host + "\r\n", why: BadVersion},
	{name: "2.3 two-digit minor", in: "GET / HTTP/1.10\r\n" + host + "\r\n", why: BadVersion},
	{name: "2.3 HTTP/2.0", in: "GET / HTTP/2.0\r\n" + host + "\r\n", why: VersionNotSupp, status: 505},
	{name: "2.3 HTTP/0.9", in: "GET / HTTP/0.9\r\n\r\n", why: VersionNotSupp, status: 505},
	{name: "3 request line over MaxLine", in: longTarget, why: URITooLong, status: 414},

	// Field lines (5, 2.2, RFC 9110 5.5).
	{name: "2.2 bare CR in a field value", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", why: BareCR},
	{name: "2.2 bare CR ending a line", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\r\r\n\r\n", why: BareCR},
	{name: "2.2 bare CR in the request line", in: "GET /\r HTTP/1.1\r\n" + host + "\r\n", why: BareCR},
	{name: "2.2 bare CR in a name", in: "GET / HTTP/1.1\r\n" + host + "X\rA: a\r\n\r\n", why: BareCR},
	{name: "2.2 CR CR LF ending the head", in: "GET / HTTP/1.1\r\n" + host + "\r\r\n", why: BareCR},
	{name: "2.2 whitespace after the request line", in: "GET / HTTP/1.1\r\n " + host + "\r\n", why: ObsFold},
	{name: "5.2 obs-fold", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", why: ObsFold},
	{name: "5.2 obs-fold with a tab", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n\tb\r\n\r\n", why: ObsFold},
	{name: "5.1 space before the colon", in: "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", why: SpaceBeforeColon},
	{name: "5.1 tab before the colon", in: "GET / HTTP/1.1\r\n" + host + "Transfer-Encoding\t: chunked\r\n\r\n", why: SpaceBeforeColon},
	{name: "5.1 name not a token", in: "GET / HTTP/1.1\r\n" + host + "X(A): a\r\n\r\n", why: BadFieldName},
	{name: "5.1 empty name", in: "GET / HTTP/1.1\r\n" + host + ": a\r\n\r\n", why: BadFieldName},
	{name: "5.1 no colon", in: "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", why: BadFieldName},
	{name: "5.1 non-ASCII name", in: "GET / HTTP/1.1\r\n" + host + "X-\xe9: a\r\n\r\n", why: BadFieldName},
	{name: "RFC 9110 5.5 NUL in a value", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", why: BadFieldValue},
	{name: "RFC 9110 5.5 control in a value", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\x01b\r\n\r\n", why: BadFieldValue},
	{name: "RFC 9110 5.5 DEL in a value", in: "GET / HTTP/1.1\r\n" + host + "X-A: a\x7f\r\n\r\n", why: BadFieldValue},
	{name: "RFC 9110 5.5 vertical tab in a value", in: "GET / HTTP/1.1\r\n" + host + "X-A: \x0b\r\n\r\n", why: BadFieldValue},
	{name: "RFC 6585 5 field line over MaxLine", in: longField, why: LineTooLong, status: 431},
	{name: "RFC 6585 5 over MaxHeaders fields", in: manyFields, why: TooManyHeaders, status: 431},
	{name: "RFC 6585 5 head over MaxHead", in: bigHead, why: HeadTooLarge, status: 431},
	{name: "RFC 6585 5 empty lines over MaxHead", in: strings.Repeat("\r\n", DefaultMaxHead/2) + "GET / HTTP/1.1\r\n" + host + "\r\n", why: HeadTooLarge, status: 431},
	{name: "limits: small MaxLine", in: "GET /abcdefghij HTTP/1.1\r\n" + host + "X-A: " + strings.Repeat("v", 70) + "\r\n\r\n",
		lim: Limits{MaxLine: 64}, why: LineTooLong, status: 431},
	{name: "limits: small MaxHead", in: "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", 10) + "\r\n",
		lim: Limits{MaxHead: 100}, why: HeadTooLarge, status: 431},
	{name: "limits: small MaxHeaders", in: "GET / HTTP/1.1\r\n" + host + "X-A: b\r\n\r\n",
		lim: Limits{MaxHeaders: 1}, why: TooManyHeaders, status: 431},
	{name: "RFC 9110 7.6.1 too many Connection options", in: manyOpts, why: TooManyConnOptions},

	// Host (3.2).
	{name: "3.2 HTTP/1.1 without Host", in: "GET / HTTP/1.1\r\n\r\n", why: MissingHost},
	{name: "3.2 two Host lines", in: "GET / HTTP/1.1\r\n" + host + host + "\r\n", why: DuplicateHost},
	{name: "3.2 two Host lines in HTTP/1.0", in: "GET / HTTP/1.0\r\n" + host + "Host: b\r\n\r\n", why: DuplicateHost},
	{name: "3.2 Host list", in: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", why: BadHost},
	{name: "3.2 Host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", why: BadHost},
	{name: "3.2 Host with a path", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", why: BadHost},
	{name: "3.2 Host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", why: BadHost},
	{name: "3.2 Host port too big", in: "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", why: BadHost},
	{name: "3.2 Host port not decimal", in: "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", why: BadHost},
	{name: "3.2 Host unclosed bracket", in: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", why: BadHost},
	{name: "3.2 Host bad pct-encoding", in: "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", why: BadHost},
	{name: "3.2 Host only a port", in: "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", why: BadHost},

	// Framing and smuggling (6.1, 6.3, 11.2).
	{name: "6.3 Content-Length and Transfer-Encoding", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", why: ContentLengthAndTE},
	{name: "6.3 Transfer-Encoding and Content-Length", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", why: ContentLengthAndTE},
	{name: "6.3 Content-Length repeated, same value", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", why: DuplicateContentLength},
	{name: "6.3 Content-Length list, same value", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 5\r\n\r\n", why: DuplicateContentLength},
	{name: "6.3 Content-Length differing", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", why: DuplicateContentLength},
	{name: "6.3 Content-Length not numeric", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: five\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length signed", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length negative", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length hex", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x5\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length inner space", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length empty", in: "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length trailing comma", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5,\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length overflow", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775808\r\n\r\n", why: BadContentLength},
	{name: "6.3 Content-Length huge", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999999\r\n\r\n", why: BadContentLength},
	{name: "6.3 Transfer-Encoding not chunked", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", why: BadTransferEncoding},
	{name: "6.3 chunked not last", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n", why: BadTransferEncoding},
	{name: "6.3 chunked not last over lines", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 chunked twice", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, chunked\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding empty", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding empty element", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: ,chunked\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding with a parameter", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked;q=1\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding quoted", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: \"chunked\"\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 Transfer-Encoding chunked-false", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n", why: BadTransferEncoding},
	{name: "6.1 unknown coding", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: foo, chunked\r\n\r\n", why: UnknownTransferCoding, status: 501},
	{name: "6.1 identity is no longer a coding", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity, chunked\r\n\r\n", why: UnknownTransferCoding, status: 501},
	{name: "6.1 Transfer-Encoding in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", why: TransferEncodingHTTP10},
	{name: "6.1 Transfer-Encoding in HTTP/1.0 with Content-Length", in: "POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", why: TransferEncodingHTTP10},
	{name: "RFC 9110 9.3.6 CONNECT with a body", in: "CONNECT example.com:443 HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\n", why: BodyOnConnect},
	{name: "RFC 9110 9.3.6 CONNECT chunked", in: "CONNECT example.com:443 HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", why: BodyOnConnect},
}

func TestRequest(t *testing.T) {
	for _, tc := range reqCases {
		t.Run(tc.name, func(t *testing.T) {
			p := RequestParser{Limits: tc.lim}
			n, done, why := p.Feed([]byte(tc.in))
			if why != tc.why {
				t.Fatalf("refusal %v (%d), want %v", why, why.Status(), tc.why)
			}
			status := tc.status
			if status == 0 && tc.why != OK {
				status = 400
			}
			if why.Status() != status {
				t.Errorf("status %d, want %d", why.Status(), status)
			}
			if why != OK {
				if done || n != 0 {
					t.Errorf("refused with n %d done %v", n, done)
				}
				if n, done, why2 := p.Feed([]byte("GET / HTTP/1.1\r\n")); why2 != why || done || n != 0 {
					t.Errorf("next Feed: %d %v %v", n, done, why2)
				}
				if out := p.AppendHead(nil, &testEdit); len(out) != 0 || p.Fields() != 0 {
					t.Errorf("refused head edited as %q, %d fields", out, p.Fields())
				}
				return
			}
			if !done {
				t.Fatalf("not done after %d of %d bytes", n, len(tc.in))
			}
			r := p.Request()
			if n != r.HeadLen || !strings.HasSuffix(tc.in[:n], string(p.Head())) {
				t.Errorf("n %d, head len %d, head %q", n, r.HeadLen, p.Head())
			}
			if tc.check != nil {
				tc.check(t, r, &p)
			}
			if n2, done2, why2 := p.Feed([]byte("more")); n2 != 0 || !done2 || why2 != OK {
				t.Errorf("Feed after done: %d %v %v", n2, done2, why2)
			}
		})
	}
}

// TestRequestSplit feeds every case split in two at every position, in
// three pieces, and a byte at a time, and checks each gives what the whole
// does.
func TestRequestSplit(t *testing.T) {
	var p RequestParser
	for _, tc := range reqCases {
		t.Run(tc.name, func(t *testing.T) {
			p.Limits = tc.lim
			in := []byte(tc.in)
			whole := feedReq(&p, in)
			for _, i := range splits(len(in)) {
				if r := feedReq(&p, in, i); r != whole {
					t.Fatalf("split at %d:\n%+v\nwhole:\n%+v", i, r, whole)
				}
				j := i + (len(in)-i)/2
				if r := feedReq(&p, in, i, j); r != whole {
					t.Fatalf("split at %d and %d:\n%+v\nwhole:\n%+v", i, j, r, whole)
				}
			}
			if r := feedReq(&p, in, everyByte(len(in))...); r != whole {
				t.Fatalf("byte at a time:\n%+v\nwhole:\n%+v", r, whole)
			}
		})
	}
}

// TestRequestPipelined parses requests one after another from one buffer,
// as a keep-alive connection's pipeline: each Feed stops at its head's end.
func TestRequestPipelined(t *testing.T) {
	in := []byte("GET /1 HTTP/1.1\r\n" + host + "\r\n" +
		"POST /2 HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabc" +
		"\r\nGET /3 HTTP/1.1\r\n" + host + "\r\n")
	var p RequestParser
	var targets []string
	for len(in) > 0 {
		p.Reset()
		n, done, why := p.Feed(in)
		if !done || why != OK {
			t.Fatalf("%q: %d %v %v", in, n, done, why)
		}
		r := p.Request()
		targets = append(targets, string(r.Target))
		in = in[n:]
		if r.Framing == Length {
			in = in[r.ContentLength:]
		}
	}
	if strings.Join(targets, " ") != "/1 /2 /3" {
		t.Errorf("targets %q", targets)
	}
}

// TestRequestCopies checks the copying rule: a head that arrives whole is
// parsed in place; one that arrives in pieces is copied only up to its end.
func TestRequestCopies(t *testing.T) {
	head := "GET / HTTP/1.1\r\n" + host + "\r\n"
	in := []byte(head + "NEXT")
	var p RequestParser
	if n, done, _ := p.Feed(in); !done || &p.Head()[0] != &in[0] || n != len(head) {
		t.Fatalf("not parsed in place: n %d", n)
	}
	p.Reset()
	a, b := in[:10], in[10:]
	n, done, why := p.FeedPair(a, b)
	if !done || why != OK || n != len(head) || string(p.Head()) != head {
		t.Fatalf("FeedPair: %d %v %v %q", n, done, why, p.Head())
	}
	if len(p.p.buf) != len(head) {
		t.Errorf("copied %d bytes, want the head's %d", len(p.p.buf), len(head))
	}
}
