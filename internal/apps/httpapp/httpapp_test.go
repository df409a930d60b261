package httpapp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// run feeds the chunks to r in order, reading output in reads of readSize
// bytes whenever Feed pushes back and at the end. It returns the output and,
// for each response, whether it answers a HEAD request (its body is left out).
func run(t testing.TB, r *Responder, chunks [][]byte, readSize int) (out []byte, heads []bool) {
	buf := make([]byte, readSize)
	drain := func() {
		for {
			want := r.Pending()
			n := r.Read(buf)
			if n == 0 {
				if want != 0 {
					t.Fatalf("Read returned 0 with %d bytes pending", want)
				}
				return
			}
			out = append(out, buf[:n]...)
			if got := r.Pending(); got != want-int64(n) {
				t.Fatalf("Pending %d after reading %d of %d", got, n, want)
			}
		}
	}
	for _, c := range chunks {
		for len(c) > 0 {
			k := r.Feed(c)
			if k < 0 || k > len(c) {
				t.Fatalf("Feed returned %d for %d bytes", k, len(c))
			}
			heads = recordHeads(r, heads)
			c = c[k:]
			if len(c) > 0 {
				if r.qLen != len(r.q) {
					t.Fatalf("Feed consumed %d, left %d with the queue not full (%d of %d)", k, len(c), r.qLen, len(r.q))
				}
				drain()
			}
		}
	}
	drain()
	return out, heads
}

// recordHeads appends, for each response queued since the last call, whether
// it leaves its body out.
func recordHeads(r *Responder, heads []bool) []bool {
	first := r.requests - uint64(r.qLen) // number of the queue's front response
	for i := uint64(len(heads)); i < r.requests; i++ {
		e := &r.q[(r.qHead+int(i-first))%len(r.q)]
		heads = append(heads, e.bodyLen != e.contentLength)
	}
	return heads
}

// parsed is one response as net/http read it.
type parsed struct {
	status int
	header http.Header
	close  bool
	body   []byte
}

// parseAll reads out as a sequence of responses with net/http.ReadResponse,
// one per entry of heads, and fails unless that uses up out exactly.
func parseAll(t testing.TB, out []byte, heads []bool) []parsed {
	br := bufio.NewReader(bytes.NewReader(out))
	var ps []parsed
	for i, head := range heads {
		req := &http.Request{Method: "GET"}
		if head {
			req.Method = "HEAD"
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d: %v\noutput: %q", i, err, out)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v\noutput: %q", i, err, out)
		}
		if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
			t.Fatalf("response %d: proto %s", i, resp.Proto)
		}
		if resp.ContentLength < 0 {
			t.Fatalf("response %d: no Content-Length", i)
		}
		if !head && resp.ContentLength != int64(len(body)) {
			t.Fatalf("response %d: Content-Length %d, body %d bytes", i, resp.ContentLength, len(body))
		}
		if head && len(body) != 0 {
			t.Fatalf("response %d to HEAD has a body", i)
		}
		ps = append(ps, parsed{resp.StatusCode, resp.Header, resp.Close, body})
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("%d bytes after %d responses: %q", len(rest), len(heads), rest)
	}
	return ps
}

// patternBody returns the size=n body, computed from the documented rule.
func patternBody(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = Pattern[i%len(Pattern)]
	}
	return string(b)
}

// want describes one expected response.
type want struct {
	status int
	body   string // expected body (ignored for HEAD; then clen is checked)
	clen   int64  // Content-Length for HEAD responses
	head   bool
	conn   string // Connection header value, "" if none
}

func ok(body string) want        { return want{status: 200, body: body} }
func okConn(body, c string) want { return want{status: 200, body: body, conn: c} }
func headOK(clen int64) want     { return want{status: 200, clen: clen, head: true} }

var (
	bad       = want{status: 400, body: "Bad Request\n", conn: "close"}
	tooLarge  = want{status: 431, body: "Request Header Fields Too Large\n", conn: "close"}
	notAllow  = want{status: 405, body: "Method Not Allowed\n"}
	notAllowC = want{status: 405, body: "Method Not Allowed\n", conn: "close"}
)

const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

func getN(n string) string { return "GET /?size=" + n + " HTTP/1.1\r\nHost: x\r\n\r\n" }

var rules = []struct {
	name  string
	in    string
	want  []want
	done  bool
	check func(t *testing.T, out string)
}{
	{name: "GET answers 200 with DefaultBody", in: get, want: []want{ok("hello\n")}},
	{name: "HEAD has Content-Length and no body", in: "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{headOK(6)}},
	{name: "HEAD with size", in: "HEAD /?size=100000 HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{headOK(100000)}},
	{name: "size=0 is an empty body", in: getN("0"), want: []want{ok("")}},
	{name: "size=1", in: getN("1"), want: []want{ok("A")}},
	{name: "size=100000 is the pattern", in: getN("100000"), want: []want{ok(patternBody(100000))}},
	{name: "size beyond the 64 KiB buffer stays continuous", in: getN("200003"), want: []want{ok(patternBody(200003))}},
	{name: "size with leading zeros and other parameters", in: "GET /a/b?x=1&size=007&y HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{ok(patternBody(7))}},
	{name: "last size wins", in: "GET /?size=3&size=2 HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{ok(patternBody(2))}},
	{name: "size=MaxSize is allowed", in: "HEAD /?size=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{headOK(1 << 30)}},
	{name: "absolute-form target", in: "GET http://x/?size=5 HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{ok(patternBody(5))}},

	{name: "HTTP/1.1 keeps the connection by default", in: get + get, want: []want{ok("hello\n"), ok("hello\n")}},
	{name: "Connection: close closes and stops input", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get,
		want: []want{okConn("hello\n", "close")}, done: true},
	{name: "Connection tokens are a case-insensitive list", in: "GET / HTTP/1.1\r\nHost: x\r\nconnection: TE, Close\r\n\r\n" + get,
		want: []want{okConn("hello\n", "close")}, done: true},
	{name: "HTTP/1.0 closes by default", in: "GET / HTTP/1.0\r\n\r\n" + get,
		want: []want{okConn("hello\n", "close")}, done: true},
	{name: "HTTP/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /?size=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		want: []want{okConn("hello\n", "keep-alive"), okConn("ABC", "keep-alive")}},
	{name: "HTTP/1.0 keep-alive then close", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		want: []want{okConn("hello\n", "keep-alive"), okConn("hello\n", "close")}, done: true},
	{name: "HTTP/1.0 close beats keep-alive", in: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		want: []want{okConn("hello\n", "close")}, done: true},
	{name: "HTTP/1.9 is answered as HTTP/1.1", in: "GET / HTTP/1.9\r\nHost: x\r\n\r\n", want: []want{ok("hello\n")}},
	{name: "pipelined requests in one Feed", in: get + getN("3") + "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + getN("0") + get,
		want: []want{ok("hello\n"), ok("ABC"), headOK(6), ok(""), ok("hello\n")}},
	{name: "bare LF line ends", in: "GET /?size=2 HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\r\nHost: x\n\r\n",
		want: []want{ok("AB"), ok("hello\n")}},
	{name: "empty lines before a request line are ignored", in: "\r\n\n" + get + "\r\n" + get,
		want: []want{ok("hello\n"), ok("hello\n")}},
	{name: "header names are case-insensitive", in: "GET / HTTP/1.1\r\nHOST: x\r\nCONNECTION: CLOSE\r\n\r\n",
		want: []want{okConn("hello\n", "close")}, done: true},
	{name: "header values may be empty and padded", in: "GET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n",
		want: []want{ok("hello\n")}},
	{name: "exactly MaxHeaderLines header lines", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", MaxHeaderLines-1) + "\r\n",
		want: []want{ok("hello\n")}},
	{name: "exactly MaxHeadBytes", in: exactHead(MaxHeadBytes), want: []want{ok("hello\n")}},

	{name: "POST body is skipped and answered 405", in: "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nGET / HTTP/" + get,
		want: []want{notAllow, ok("hello\n")}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "\r\nAllow: GET, HEAD\r\n") {
				t.Errorf("405 without Allow: %q", out)
			}
		}},
	{name: "repeated equal Content-Length", in: "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc" + get,
		want: []want{notAllow, ok("hello\n")}},
	{name: "GET body is skipped", in: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET " + get,
		want: []want{ok("hello\n"), ok("hello\n")}},
	{name: "unknown methods get 405", in: "get / HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + get,
		want: []want{notAllow, notAllow, ok("hello\n")}},
	{name: "405 ignores a bad size", in: "DELETE /?size=x HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{notAllow}},
	{name: "405 with Connection: close discards the body", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nabc",
		want: []want{notAllowC}, done: true},
	{name: "body with Expect: 100-continue closes", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n" + get,
		want: []want{notAllowC}, done: true},

	{name: "request line without version", in: "GET /\r\n\r\n", want: []want{bad}, done: true},
	{name: "request line garbage", in: "GARBAGE\r\n\r\n" + get, want: []want{bad}, done: true},
	{name: "request line double space", in: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "request line trailing space", in: "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "request line leading space", in: " GET / HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "method not a token", in: "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "target with a control", in: "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "bare CR in the request line", in: "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "version HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "version lower case", in: "GET / http/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "version HTTP/1.10", in: "GET / HTTP/1.10\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "version HTTP/1.", in: "GET / HTTP/1.\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "HTTP/0.9 request", in: "GET /\n", want: []want{bad}, done: true},
	{name: "header without colon", in: "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", want: []want{bad}, done: true},
	{name: "header with space before colon", in: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", want: []want{bad}, done: true},
	{name: "header with empty name", in: "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", want: []want{bad}, done: true},
	{name: "obsolete line folding", in: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", want: []want{bad}, done: true},
	{name: "control in a header value", in: "GET / HTTP/1.1\r\nHost: x\x00\r\n\r\n", want: []want{bad}, done: true},
	{name: "bare CR in a header value", in: "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", want: []want{bad}, done: true},
	{name: "HTTP/1.1 without Host", in: "GET / HTTP/1.1\r\n\r\n", want: []want{bad}, done: true},
	{name: "two Host headers", in: "GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n", want: []want{bad}, done: true},
	{name: "Transfer-Encoding chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: []want{bad}, done: true},
	{name: "Content-Length not a number", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", want: []want{bad}, done: true},
	{name: "Content-Length negative", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", want: []want{bad}, done: true},
	{name: "Content-Length list", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", want: []want{bad}, done: true},
	{name: "Content-Length overflows", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n", want: []want{bad}, done: true},
	{name: "conflicting Content-Length", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", want: []want{bad}, done: true},
	{name: "size not a number", in: getN("abc"), want: []want{bad}, done: true},
	{name: "size empty", in: getN(""), want: []want{bad}, done: true},
	{name: "size without =", in: "GET /?size HTTP/1.1\r\nHost: x\r\n\r\n", want: []want{bad}, done: true},
	{name: "size negative", in: getN("-1"), want: []want{bad}, done: true},
	{name: "size above MaxSize", in: getN("1073741825"), want: []want{bad}, done: true},
	{name: "size overflows int64", in: getN("99999999999999999999999"), want: []want{bad}, done: true},
	{name: "bad size on HEAD has no body", in: "HEAD /?size=x HTTP/1.1\r\nHost: x\r\n\r\n",
		want: []want{{status: 400, clen: int64(len("Bad Request\n")), head: true, conn: "close"}}, done: true},
	{name: "a good request then a bad one", in: get + "BAD\r\n\r\n" + get, want: []want{ok("hello\n"), bad}, done: true},

	{name: "head over MaxHeadBytes", in: exactHead(MaxHeadBytes + 1), want: []want{tooLarge}, done: true},
	{name: "request line over MaxHeadBytes", in: "GET /" + strings.Repeat("a", MaxHeadBytes) + " HTTP/1.1\r\n\r\n", want: []want{tooLarge}, done: true},
	{name: "unterminated line over MaxHeadBytes", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHeadBytes), want: []want{tooLarge}, done: true},
	{name: "empty lines count against MaxHeadBytes", in: strings.Repeat("\r\n", MaxHeadBytes/2+1), want: []want{tooLarge}, done: true},
	{name: "more than MaxHeaderLines", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", MaxHeaderLines) + "\r\n", want: []want{tooLarge}, done: true},
	{name: "431 to HEAD has no body", in: "HEAD / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: y\r\n", MaxHeaderLines) + "\r\n",
		want: []want{{status: 431, clen: int64(len("Request Header Fields Too Large\n")), head: true, conn: "close"}}, done: true},
}

// exactHead returns a GET request whose head is n bytes long.
func exactHead(n int) string {
	h := "GET / HTTP/1.1\r\nHost: x\r\nX: "
	pad := n - len(h) - len("\r\n\r\n")
	return h + strings.Repeat("a", pad) + "\r\n\r\n"
}

func TestRules(t *testing.T) {
	r := New(Config{})
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			r.Reset()
			out, heads := run(t, r, [][]byte{[]byte(tc.in)}, 64<<10)
			ps := parseAll(t, out, heads)
			if len(ps) != len(tc.want) {
				t.Fatalf("%d responses, want %d\noutput: %q", len(ps), len(tc.want), out)
			}
			for i, w := range tc.want {
				p := ps[i]
				if p.status != w.status {
					t.Errorf("response %d: status %d, want %d", i, p.status, w.status)
				}
				if heads[i] != w.head {
					t.Errorf("response %d: HEAD %v, want %v", i, heads[i], w.head)
				}
				clen := int64(len(w.body))
				if w.head {
					clen = w.clen
				} else if string(p.body) != w.body {
					t.Errorf("response %d: body %.80q (%d bytes), want %.80q (%d bytes)", i, p.body, len(p.body), w.body, len(w.body))
				}
				if got := p.header.Get("Content-Length"); got != strconv.FormatInt(clen, 10) {
					t.Errorf("response %d: Content-Length %q, want %d", i, got, clen)
				}
				// net/http turns Connection: close into resp.Close.
				if got := p.header.Get("Connection"); p.close != (w.conn == "close") || w.conn != "close" && got != w.conn {
					t.Errorf("response %d: Connection %q, Close %v, want %q", i, got, p.close, w.conn)
				}
				if p.header.Get("Server") != DefaultServerName || p.header.Get("Content-Type") != "text/plain" {
					t.Errorf("response %d: header %v", i, p.header)
				}
				if (w.status == 405) != (p.header.Get("Allow") == "GET, HEAD") {
					t.Errorf("response %d: Allow %q", i, p.header.Get("Allow"))
				}
			}
			if r.Done() != tc.done {
				t.Errorf("Done %v, want %v", r.Done(), tc.done)
			}
			if r.Requests() != uint64(len(tc.want)) {
				t.Errorf("Requests %d, want %d", r.Requests(), len(tc.want))
			}
			if tc.check != nil {
				t.Run("check", func(t *testing.T) { tc.check(t, string(out)) })
			}
		})
	}
}

// TestExactOutput pins the bytes of the common responses.
func TestExactOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		in   string
		out  string
	}{
		{"GET", Config{}, get,
			"HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"},
		{"HEAD", Config{}, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n"},
		{"close", Config{}, "GET /?size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nABC"},
		{"HTTP/1.0 keep-alive", Config{}, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n"},
		{"405", Config{}, "POST / HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 405 Method Not Allowed\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nAllow: GET, HEAD\r\n\r\nMethod Not Allowed\n"},
		{"400", Config{}, "BAD\r\n",
			"HTTP/1.1 400 Bad Request\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"},
		{"Config", Config{DefaultBody: "hi", ServerName: "test/1.0", MaxSize: 10}, get + getN("10") + getN("11"),
			"HTTP/1.1 200 OK\r\nServer: test/1.0\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi" +
				"HTTP/1.1 200 OK\r\nServer: test/1.0\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nABCDEFGHIJ" +
				"HTTP/1.1 400 Bad Request\r\nServer: test/1.0\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := run(t, New(tc.cfg), [][]byte{[]byte(tc.in)}, 4096)
			if string(out) != tc.out {
				t.Errorf("output\n%q\nwant\n%q", out, tc.out)
			}
		})
	}
}

func TestNewPanicsOnBadServerName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	New(Config{ServerName: "x\r\nSet-Cookie: a=b"})
}

// streams are inputs for the split and backpressure tests.
var streams = []string{
	get,
	get + getN("100000") + "HEAD /?size=5 HTTP/1.1\r\nHost: x\r\n\r\n" + get,
	"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET /?size=70000 HTTP/1.1\nHost: x\n\n" + get,
	"\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n" + get,
	get + "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeadBytes) + "\r\n\r\n" + get,
	get + "BAD REQUEST LINE\r\n" + get,
	get + get + "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get,
}

func TestSplitAtEveryByte(t *testing.T) {
	for i, s := range streams {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			in := []byte(s)
			r := New(Config{})
			whole, _ := run(t, r, [][]byte{in}, 64<<10)
			for cut := 0; cut <= len(in); cut++ {
				r.Reset()
				out, _ := run(t, r, [][]byte{in[:cut], in[cut:]}, 64<<10)
				if !bytes.Equal(out, whole) {
					t.Fatalf("split at %d: output differs\n got %.300q\nwant %.300q", cut, out, whole)
				}
			}
			var chunks [][]byte
			for j := range in {
				chunks = append(chunks, in[j:j+1])
			}
			r.Reset()
			if out, _ := run(t, r, chunks, 64<<10); !bytes.Equal(out, whole) {
				t.Fatalf("byte at a time: output differs")
			}
		})
	}
}

// TestBackpressure checks that a queue of one response and tiny reads, the
// caller alternating Feed and Read, give the same bytes as one big Feed.
func TestBackpressure(t *testing.T) {
	for i, s := range streams {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			in := []byte(s)
			whole, _ := run(t, New(Config{}), [][]byte{in}, 64<<10)
			for _, depth := range []int{1, 2, 3} {
				for _, readSize := range []int{1, 7, 100} {
					out, _ := run(t, New(Config{QueueDepth: depth}), [][]byte{in}, readSize)
					if !bytes.Equal(out, whole) {
						t.Fatalf("depth %d, reads of %d: output differs", depth, readSize)
					}
				}
			}
		})
	}
	t.Run("Feed stops when the queue is full", func(t *testing.T) {
		r := New(Config{QueueDepth: 2})
		in := []byte(get + get + get)
		if n := r.Feed(in); n != 2*len(get) {
			t.Fatalf("Feed consumed %d, want %d", n, 2*len(get))
		}
		if n := r.Feed(in[2*len(get):]); n != 0 {
			t.Fatalf("Feed consumed %d with a full queue", n)
		}
		buf := make([]byte, 10)
		r.Read(buf) // not the whole first response: still full
		if n := r.Feed(in[2*len(get):]); n != 0 {
			t.Fatalf("Feed consumed %d with a full queue", n)
		}
		for r.Read(buf) > 0 {
		}
		if n := r.Feed(in[2*len(get):]); n != len(get) {
			t.Fatalf("Feed consumed %d after draining, want %d", n, len(get))
		}
		if r.Requests() != 3 {
			t.Fatalf("Requests %d", r.Requests())
		}
	})
	t.Run("closed input is consumed even when the queue is full", func(t *testing.T) {
		r := New(Config{QueueDepth: 1})
		in := []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get + get)
		if n := r.Feed(in); n != len(in) {
			t.Fatalf("Feed consumed %d, want %d", n, len(in))
		}
		if r.Done() {
			t.Fatal("Done before the response was read")
		}
		buf := make([]byte, 1024)
		r.Read(buf)
		if !r.Done() || r.Pending() != 0 || r.Read(buf) != 0 {
			t.Fatalf("Done %v, Pending %d", r.Done(), r.Pending())
		}
	})
}

func TestReset(t *testing.T) {
	r := New(Config{})
	r.Feed([]byte(get + "GET / HTTP/1.1\r\nHo"))
	r.Reset()
	if r.Pending() != 0 || r.Requests() != 0 || r.Done() || r.Read(make([]byte, 10)) != 0 {
		t.Fatal("state survived Reset")
	}
	out, heads := run(t, r, [][]byte{[]byte(get)}, 1024)
	if ps := parseAll(t, out, heads); len(ps) != 1 || string(ps[0].body) != "hello\n" {
		t.Fatalf("after Reset: %q", out)
	}
	r.Feed([]byte("BAD\r\n"))
	r.Read(make([]byte, 1024))
	if !r.Done() {
		t.Fatal("not Done after 400")
	}
	r.Reset()
	if r.Done() {
		t.Fatal("Done after Reset")
	}
}

func TestAllocs(t *testing.T) {
	r := New(Config{})
	buf := make([]byte, 64<<10)
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"keep-alive GET", get},
		{"GET with headers", "GET /index.html?size=1000 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"},
		{"pipelined", get + getN("10") + "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST skipped", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			r.Reset()
			allocs := testing.AllocsPerRun(1000, func() {
				if n := r.Feed(in); n != len(in) {
					t.Fatalf("Feed consumed %d of %d", n, len(in))
				}
				r.Read(buf)
				if r.Pending() != 0 || r.Done() {
					t.Fatal("not drained")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per Feed+Read", allocs)
			}
		})
	}
	t.Run("split request, line buffer grown", func(t *testing.T) {
		in := []byte(get)
		r.Reset()
		allocs := testing.AllocsPerRun(1000, func() {
			r.Feed(in[:5])
			r.Feed(in[5:20])
			r.Feed(in[20:])
			r.Read(buf)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per Feed+Read", allocs)
		}
	})
}

func BenchmarkFeedRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   string
		reqs int
	}{
		{"GET", get, 1},
		{"wrk-GET", "GET / HTTP/1.1\r\nHost: 198.18.0.1:8080\r\n\r\n", 1},
		{"curl-GET", "GET /index.html HTTP/1.1\r\nHost: 198.18.0.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n", 1},
		{"pipelined16", strings.Repeat(get, 16), 16},
		{"size=1KiB", getN("1024"), 1},
		{"size=64KiB", getN("65536"), 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := New(Config{})
			in := []byte(bc.in)
			buf := make([]byte, 64<<10)
			var out int64
			b.ReportAllocs()
			for b.Loop() {
				r.Feed(in)
				for {
					n := r.Read(buf)
					if n == 0 {
						break
					}
					out += int64(n)
				}
			}
			b.SetBytes(out / int64(b.N))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.reqs), "ns/req")
		})
	}
}
