package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// The conformance table: the same inputs go through pollstack, Debian's
// haproxy and nginx (proxies on the bed, each in front of a recording
// backend of its own), and the table says what each answered and what each
// forwarded. pollstack must forward nothing of what both others refuse,
// and what it forwards must be what the others forward (where they
// disagree, what one of them does), unless the case's note says why not.

// conformCase is one input.
type conformCase struct {
	name    string
	group   string
	input   string   // what the table shows of the input
	req     string   // written at once
	later   string   // written 200 ms after req, if set
	methods []string // one per final response to read ("" is GET)
	// continueBody, when set, is sent after a 100 (or after 500 ms
	// without one), as clients do with Expect: 100-continue.
	continueBody string
	upgrade      bool // after a 101, "ping" must echo through
}

func cc(group, name, input, req string, methods ...string) conformCase {
	if len(methods) == 0 {
		methods = []string{""}
	}
	return conformCase{group: group, name: name, input: input, req: req, methods: methods}
}

const crlf = "\r\n"

func cGet(path string, fields ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: h\r\n" + strings.Join(fields, "") + crlf
}

func cPost(fields, body string) string {
	return "POST / HTTP/1.1\r\nHost: h\r\n" + fields + crlf + body
}

func conformCases() []conformCase {
	manyFields := strings.Repeat("X-N: 1\r\n", 120)
	bigHead := ""
	for i := range 40 {
		bigHead += fmt.Sprintf("X-B%d: %s\r\n", i, strings.Repeat("b", 1000))
	}
	return []conformCase{
		// Smuggling and malformed input (RFC 9112 6.3, 11.2).
		cc("smuggling", "cl-te", "Content-Length then Transfer-Encoding: chunked",
			cPost("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
		cc("smuggling", "te-cl", "Transfer-Encoding: chunked then Content-Length",
			cPost("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n")),
		cc("smuggling", "te-not-last", "Transfer-Encoding: chunked, gzip",
			cPost("Transfer-Encoding: chunked, gzip\r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "te-unknown", "Transfer-Encoding: foo, chunked",
			cPost("Transfer-Encoding: foo, chunked\r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "te-identity", "Transfer-Encoding: identity",
			cPost("Transfer-Encoding: identity\r\n", "")),
		cc("smuggling", "te-twice", "Transfer-Encoding: chunked twice",
			cPost("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "te-case-space", "Transfer-Encoding:  CHUNKED (case, OWS)",
			cPost("Transfer-Encoding:  CHUNKED \r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "te-vtab", "Transfer-Encoding:\\vchunked",
			cPost("Transfer-Encoding:\x0bchunked\r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "te-space-colon", "Transfer-Encoding : chunked (space before colon)",
			cPost("Transfer-Encoding : chunked\r\n", "2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "cl-list", "Content-Length: 2, 2",
			cPost("Content-Length: 2, 2\r\n", "ok")),
		cc("smuggling", "cl-repeat-same", "Content-Length: 2 twice",
			cPost("Content-Length: 2\r\nContent-Length: 2\r\n", "ok")),
		cc("smuggling", "cl-repeat-diff", "Content-Length: 2 and 3",
			cPost("Content-Length: 2\r\nContent-Length: 3\r\n", "ok!")),
		cc("smuggling", "cl-nonnum", "Content-Length: 2a",
			cPost("Content-Length: 2a\r\n", "ok")),
		cc("smuggling", "cl-neg", "Content-Length: -2",
			cPost("Content-Length: -2\r\n", "ok")),
		cc("smuggling", "cl-plus", "Content-Length: +2",
			cPost("Content-Length: +2\r\n", "ok")),
		cc("smuggling", "cl-huge", "Content-Length: 2^70",
			cPost("Content-Length: 1180591620717411303424\r\n", "ok")),
		cc("smuggling", "obs-fold", "obs-fold (a line beginning with SP)",
			cGet("/", "X-A: 1\r\n 2\r\n")),
		cc("smuggling", "space-colon", "X-A : 1 (space before colon)",
			cGet("/", "X-A : 1\r\n")),
		cc("smuggling", "bare-cr", "bare CR in a field value",
			cGet("/", "X-A: 1\r2\r\n")),
		cc("smuggling", "bare-lf", "bare LF line ends",
			"GET / HTTP/1.1\nHost: h\nX-A: 1\n\n"),
		cc("smuggling", "nul", "NUL in a field value",
			cGet("/", "X-A: 1\x002\r\n")),
		cc("smuggling", "ctl", "0x01 in a field value",
			cGet("/", "X-A: 1\x012\r\n")),
		cc("smuggling", "chunk-overflow", "chunk size of 17 hex digits",
			cPost("Transfer-Encoding: chunked\r\n", "10000000000000002\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "chunk-0x", "chunk size 0x2",
			cPost("Transfer-Encoding: chunked\r\n", "0x2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "chunk-neg", "chunk size -2",
			cPost("Transfer-Encoding: chunked\r\n", "-2\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "chunk-ext-ctl", "chunk extension with 0x01",
			cPost("Transfer-Encoding: chunked\r\n", "2;a\x01b\r\nok\r\n0\r\n\r\n")),
		cc("smuggling", "chunk-lf", "chunk lines ending in bare LF",
			cPost("Transfer-Encoding: chunked\r\n", "2\nok\n0\n\n")),
		{group: "smuggling", name: "chunk-bad-later", input: "a good chunk, then 200 ms later a bad chunk size",
			req: cPost("Transfer-Encoding: chunked\r\n", "2\r\nok\r\n"), later: "zz\r\n", methods: []string{"POST"}},
		cc("smuggling", "no-host", "HTTP/1.1 without Host",
			"GET / HTTP/1.1\r\n\r\n"),
		cc("smuggling", "two-hosts", "Host twice",
			"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n"),
		cc("smuggling", "abs-mismatch", "absolute-form, Host differs",
			"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n"),
		cc("smuggling", "abs-match", "absolute-form, same Host",
			"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n"),
		cc("smuggling", "http10-te", "HTTP/1.0 with Transfer-Encoding: chunked",
			"POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
		cc("smuggling", "http10", "HTTP/1.0 GET without Host",
			"GET / HTTP/1.0\r\n\r\n"),
		cc("smuggling", "http20", "version HTTP/2.0 in an HTTP/1 request line",
			"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
		// Limits.
		cc("limits", "long-line", "request line of 9 KiB",
			cGet("/"+strings.Repeat("a", 9000))),
		cc("limits", "long-field", "field line of 9 KiB",
			cGet("/", "X-L: "+strings.Repeat("a", 9000)+crlf)),
		cc("limits", "many-fields", "120 fields",
			cGet("/", manyFields)),
		cc("limits", "big-head", "head of 40 KiB (40 fields of 1 KB)",
			cGet("/", bigHead)),
		// Chunked bodies.
		cc("chunked", "chunked", "two chunks",
			cPost("Transfer-Encoding: chunked\r\n", "2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n")),
		cc("chunked", "chunk-ext", "chunk extensions",
			cPost("Transfer-Encoding: chunked\r\n", "2;a=b;c=\"d\"\r\nok\r\n0;e\r\n\r\n")),
		cc("chunked", "trailers", "trailer fields",
			cPost("Transfer-Encoding: chunked\r\n", "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n")),
		cc("chunked", "resp-chunked", "chunked response with extension and trailer, then a GET",
			cGet("/chunked")+cGet("/"), "", ""),
		// Pipelining.
		cc("pipelining", "pipeline-3", "three GETs in one write",
			cGet("/1")+cGet("/2")+cGet("/3"), "", "", ""),
		cc("pipelining", "pipeline-post", "POST with a body, then a GET",
			cPost("Content-Length: 2\r\n", "ok")+cGet("/2"), "POST", ""),
		// Expect.
		{group: "expect", name: "continue", input: "Expect: 100-continue, body after the 100",
			req: "POST /continue HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", methods: []string{"POST"}, continueBody: "ok"},
		cc("expect", "expect-other", "Expect: something",
			cPost("Content-Length: 2\r\nExpect: something\r\n", "ok"), "POST"),
		// Responses without a body.
		cc("no body", "head", "HEAD (answered with Content-Length: 2), then a GET",
			"HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n"+cGet("/"), "HEAD", ""),
		cc("no body", "204", "a 204, then a GET",
			cGet("/204")+cGet("/"), "", ""),
		cc("no body", "304", "a 304 with Content-Length: 2, then a GET",
			cGet("/304")+cGet("/"), "", ""),
		// Hop-by-hop fields.
		cc("hop-by-hop", "conn-close", "Connection: close",
			cGet("/", "Connection: close\r\n")),
		cc("hop-by-hop", "conn-named", "Connection: X-Foo, X-Foo: 1",
			cGet("/", "Connection: X-Foo\r\nX-Foo: 1\r\nX-Keep: 1\r\n")),
		cc("hop-by-hop", "keep-alive", "Connection: keep-alive, Keep-Alive: 300",
			cGet("/", "Connection: keep-alive\r\nKeep-Alive: 300\r\n")),
		cc("hop-by-hop", "te-trailers", "TE: trailers",
			cGet("/", "TE: trailers\r\n")),
		cc("hop-by-hop", "proxy-conn", "Proxy-Connection: keep-alive",
			cGet("/", "Proxy-Connection: keep-alive\r\n")),
		cc("hop-by-hop", "trailer", "Trailer: X-T with a chunked body",
			cPost("Trailer: X-T\r\nTransfer-Encoding: chunked\r\n", "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n")),
		cc("hop-by-hop", "resp-hop", "response with Connection: X-Bar, X-Bar, Keep-Alive",
			cGet("/hop")),
		// Upgrade.
		{group: "upgrade", name: "websocket", input: "Upgrade: websocket answered 101, then bytes both ways",
			req:     "GET /upgrade HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			methods: []string{""}, upgrade: true},
		cc("upgrade", "upgrade-200", "Upgrade: h2c answered 200",
			cGet("/", "Connection: Upgrade\r\nUpgrade: h2c\r\n")),
	}
}

// conformNotes explain the rows where the three differ. A note that begins
// with "*" is a difference by design: pollstack forwards otherwise than
// both others there, and the equality check is waived for it.
var conformNotes = map[string]string{
	"cl-te":           "haproxy drops Content-Length and forwards the body chunked (RFC 9112 6.3 allows either)",
	"te-cl":           "as above",
	"cl-list":         "haproxy merges identical values (RFC 9110 8.6 allows it); pollstack refuses, as nginx",
	"cl-repeat-same":  "as above",
	"obs-fold":        "haproxy unfolds into spaces (RFC 9112 5.2 allows it); pollstack refuses, as nginx",
	"nul":             "haproxy passes the NUL on (RFC 9110 5.5: reject or replace with SP)",
	"ctl":             "other controls are invalid in a value too (RFC 9110 5.5); both others pass them on",
	"chunk-bad-later": "pollstack and haproxy stream the body: the head has gone on when the bad size comes, and the server leg is cut; nginx reads the body whole first",
	"chunk-ext-ctl":   "pollstack checks chunk extensions' grammar; the others skip extensions",
	"chunk-lf":        "parsers disagree on bare LF in chunk framing (a smuggling lever); pollstack refuses it",
	"no-host":         "haproxy forwards it (RFC 9112 3.2: answer 400)",
	"abs-mismatch":    "nginx uses the target's host and forwards Host: b to the server",
	"abs-match":       "nginx rewrites the target to origin-form; pollstack keeps it, as haproxy (servers must accept both, RFC 9112 3.2.2)",
	"http10-te":       "haproxy forwards it (RFC 9112 6.1: the framing is faulty)",
	"http10":          "nginx sends HTTP/1.1 (proxy_http_version); pollstack keeps 1.0, as haproxy",
	"http20":          "haproxy forwards it as HTTP/1.1",
	"long-line":       "haproxy's limit is its 16 KiB buffer; nginx's and pollstack's 8 KiB",
	"long-field":      "as above",
	"many-fields":     "nginx counts no fields; haproxy stops at 101, pollstack at 100",
	"trailers":        "haproxy forwards trailer fields; pollstack drops them, as nginx (RFC 9110 6.5.1 allows it)",
	"continue":        "nginx answers the 100 itself and drops Expect; pollstack passes the server's 100 on, as haproxy",
	"expect-other":    "pollstack answers 417 (RFC 9110 10.1.1); haproxy forwards Expect, nginx drops it",
	"conn-named":      "* both others forward X-Foo; RFC 9110 7.6.1 requires removing the fields Connection names",
	"keep-alive":      "haproxy forwards Keep-Alive; pollstack drops it, as nginx",
	"te-trailers":     "haproxy forwards TE: trailers; pollstack drops it, as nginx",
	"proxy-conn":      "* both others forward it; RFC 9110 7.6.1 says to remove it",
	"trailer":         "* haproxy forwards Trailer and the trailers, nginx Trailer without them; pollstack neither (it drops trailers)",
	"resp-hop":        "on the way back haproxy passes X-Bar and Keep-Alive, nginx X-Bar; pollstack neither",
}

// conformRecord is one request a recording backend read.
type conformRecord struct {
	line     string
	fields   [][2]string
	body     []byte
	trailers [][2]string
	complete bool
	raw      []byte
}

// conformBackend reads requests on its port with a lenient parser of its
// own (so it records whatever a proxy sends), keeps each, and answers by
// path.
type conformBackend struct {
	mu   sync.Mutex
	recs []*conformRecord
}

func (b *conformBackend) take() []conformRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []conformRecord
	for _, r := range b.recs {
		out = append(out, *r)
	}
	b.recs = nil
	return out
}

// rawReader is a connection's buffered reader that keeps what was read
// of the current request.
type rawReader struct {
	br  *bufio.Reader
	raw []byte
}

func (r *rawReader) ReadString(delim byte) (string, error) {
	s, err := r.br.ReadString(delim)
	r.raw = append(r.raw, s...)
	return s, err
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.raw = append(r.raw, p[:n]...)
	return n, err
}

func (b *conformBackend) serve(c net.Conn) {
	br := &rawReader{br: bufio.NewReader(c)}
	readLine := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
	}
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		br.raw = br.raw[:0]
		line, err := readLine()
		if err != nil {
			return
		}
		rec := &conformRecord{line: line}
		for {
			l, err := readLine()
			if err != nil {
				return
			}
			if l == "" {
				break
			}
			k, v, _ := strings.Cut(l, ":")
			rec.fields = append(rec.fields, [2]string{k, v})
		}
		field := func(name string) string {
			var vs []string
			for _, f := range rec.fields {
				if strings.EqualFold(f[0], name) {
					vs = append(vs, strings.TrimSpace(f[1]))
				}
			}
			return strings.Join(vs, ", ")
		}
		b.mu.Lock()
		b.recs = append(b.recs, rec)
		rec.raw = append([]byte(nil), br.raw...)
		b.mu.Unlock()
		method, rest, _ := strings.Cut(line, " ")
		target, version, _ := strings.Cut(rest, " ")
		if i := strings.Index(target, "://"); i >= 0 {
			target = target[i+3:]
			if j := strings.IndexByte(target, '/'); j >= 0 {
				target = target[j:]
			}
		}
		if strings.EqualFold(field("Expect"), "100-continue") {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		var body []byte
		var trailers [][2]string
		ok := true
		if te := field("Transfer-Encoding"); strings.Contains(strings.ToLower(te), "chunked") {
			body, trailers, ok = readChunked(br)
		} else if cl := field("Content-Length"); cl != "" {
			n, err := strconv.Atoi(cl)
			if err != nil || n < 0 {
				ok = false
			} else {
				body = make([]byte, n)
				_, err = io.ReadFull(br, body)
				ok = err == nil
			}
		}
		b.mu.Lock()
		rec.body, rec.trailers, rec.complete = body, trailers, ok
		rec.raw = append(rec.raw[:0], br.raw...)
		b.mu.Unlock()
		if !ok {
			return
		}
		if target == "/upgrade" && field("Upgrade") != "" {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
			// The buffered reader may hold tunnelled bytes already.
			io.Copy(c, io.MultiReader(bytes.NewReader(peekAll(br.br)), c))
			return
		}
		var resp string
		switch target {
		case "/head":
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
			if method != "HEAD" {
				resp += "ok"
			}
		case "/204":
			resp = "HTTP/1.1 204 No Content\r\n\r\n"
		case "/304":
			resp = "HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n"
		case "/chunked":
			resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nok\r\n0\r\nX-T: 1\r\n\r\n"
		case "/hop":
			resp = "HTTP/1.1 200 OK\r\nConnection: X-Bar\r\nX-Bar: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok"
		default:
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		}
		if method == "HEAD" && target != "/head" {
			resp = strings.TrimSuffix(resp, "ok")
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		if strings.EqualFold(field("Connection"), "close") || (version == "HTTP/1.0" && !strings.EqualFold(field("Connection"), "keep-alive")) {
			return
		}
	}
}

func peekAll(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

// readChunked reads a chunked body leniently (a size in hex up to ';' or
// the line end), and its trailer fields.
func readChunked(br *rawReader) (body []byte, trailers [][2]string, ok bool) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return body, nil, false
		}
		line = strings.TrimRight(line, "\r\n")
		sz, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
		if err != nil || n < 0 {
			return body, nil, false
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return body, nil, false
		}
		body = append(body, chunk...)
		if l, err := br.ReadString('\n'); err != nil || strings.TrimRight(l, "\r\n") != "" {
			return body, nil, false
		}
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return body, trailers, false
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return body, trailers, true
		}
		k, v, _ := strings.Cut(line, ":")
		trailers = append(trailers, [2]string{k, v})
	}
}

// normalised is what the table compares of a forwarded request: the
// request line; Host; the other fields in order, names in lower case and
// values without surrounding whitespace, less those each proxy writes of
// its own (the forwarding fields, Via, Connection) or re-frames
// (Content-Length, Transfer-Encoding); the body after de-chunking; the
// trailer fields; and whether the request arrived whole.
func (r conformRecord) normalised() string {
	var b strings.Builder
	b.WriteString(r.line + "\n")
	var host []string
	for _, f := range r.fields {
		if strings.EqualFold(f[0], "Host") {
			host = append(host, strings.TrimSpace(f[1]))
		}
	}
	fmt.Fprintf(&b, "host: %s\n", strings.Join(host, " | "))
	for _, f := range r.fields {
		switch strings.ToLower(f[0]) {
		case "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-real-ip",
			"forwarded", "via", "connection", "content-length", "transfer-encoding":
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", strings.ToLower(f[0]), strings.Trim(f[1], " \t"))
	}
	fmt.Fprintf(&b, "body %q\n", r.body)
	for _, f := range r.trailers {
		fmt.Fprintf(&b, "trailer %s: %s\n", strings.ToLower(f[0]), strings.Trim(f[1], " \t"))
	}
	if !r.complete {
		b.WriteString("(incomplete)\n")
	}
	return b.String()
}

// conformOutcome is what one proxy did with one case.
type conformOutcome struct {
	client string // status codes in order, then what ended the exchange early
	fwd    []conformRecord
}

func (o conformOutcome) forwarded() string {
	var b strings.Builder
	for i, r := range o.fwd {
		if i > 0 {
			b.WriteString("--\n")
		}
		b.WriteString(r.normalised())
	}
	return b.String()
}

// runConformCase sends c to addr from the bed's peer and reads the
// answers.
func runConformCase(addr string, c conformCase) string {
	conn, err := peerDial(addr)
	if err != nil {
		return "connect: " + err.Error()
	}
	defer conn.Close()
	deadline := time.Now().Add(1500 * time.Millisecond)
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, c.req); err != nil {
		return "write: " + err.Error()
	}
	if c.later != "" {
		time.Sleep(200 * time.Millisecond)
		io.WriteString(conn, c.later)
	}
	br := bufio.NewReader(conn)
	var got []string
	end := func(err error) string {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			got = append(got, "closed")
		case errors.Is(err, syscall.ECONNRESET):
			got = append(got, "reset")
		case errors.As(err, &ne) && ne.Timeout():
			got = append(got, "timeout")
		default:
			got = append(got, "error: "+err.Error())
		}
		return strings.Join(got, " ")
	}
	for i, m := range c.methods {
		if m == "" {
			m = "GET"
		}
		for {
			if c.continueBody != "" && i == 0 && len(got) == 0 {
				conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: m})
			var ne net.Error
			if c.continueBody != "" && i == 0 && len(got) == 0 && errors.As(err, &ne) && ne.Timeout() {
				// No 100 in time: send the body anyway.
				got = append(got, "(no 100)")
				conn.SetDeadline(deadline)
				io.WriteString(conn, c.continueBody)
				continue
			}
			if err != nil {
				return end(err)
			}
			got = append(got, strconv.Itoa(resp.StatusCode))
			if resp.StatusCode == 100 && c.continueBody != "" {
				conn.SetDeadline(deadline)
				io.WriteString(conn, c.continueBody)
			}
			if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
				continue
			}
			for _, h := range []string{"X-Bar", "Keep-Alive"} {
				if resp.Header.Get(h) != "" {
					got[len(got)-1] += "+" + h
				}
			}
			if resp.StatusCode == 101 {
				if !c.upgrade {
					return strings.Join(got, " ")
				}
				io.WriteString(conn, "ping")
				b := make([]byte, 4)
				if _, err := io.ReadFull(br, b); err != nil {
					return end(err)
				}
				got[len(got)-1] += " " + string(b)
				return strings.Join(got, " ")
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return end(err)
			}
			if len(body) > 0 && string(body) != "ok" && resp.StatusCode == 200 {
				got[len(got)-1] += fmt.Sprintf("(body %q)", body)
			}
			break
		}
	}
	return strings.Join(got, " ")
}

func TestProxyConformance(t *testing.T) {
	bedtest.NeedTools(t, "nginx", "haproxy")
	bed := bedtest.ForTest(t, 1)
	testbedNs = bed.NsB
	peer := testbed.PeerIPv4.String()
	names := []string{"pollstack", "haproxy", "nginx"}
	backends := make([]*conformBackend, 3)
	for i := range backends {
		backends[i] = &conformBackend{}
		ln := peerListen(t, bed, 9401+i)
		go serveAll(ln, backends[i].serve)
	}
	dir := t.TempDir()

	hcfg := fmt.Sprintf(`global
	nbthread 1
	maxconn 200
defaults
	mode http
	timeout connect 2s
	timeout client 5s
	timeout server 5s
	timeout http-request 5s
frontend in
	bind %[1]s:9302
	default_backend b
backend b
	http-reuse always
	server s %[1]s:9402
`, peer)
	if err := os.WriteFile(dir+"/haproxy.cfg", []byte(hcfg), 0o644); err != nil {
		t.Fatal(err)
	}
	hp, err := nsproc.Start(nsproc.NetnsArgs(bed.NsB, "haproxy", "-db", "-f", dir+"/haproxy.cfg"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Stop(syscall.SIGTERM, 10*time.Second) })

	ncfg := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream b {
    server %[2]s:9403;
    keepalive 8;
  }
  server {
    listen %[2]s:9303;
    location / {
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Upgrade $http_upgrade;
    }
  }
}
`, dir, peer)
	if err := os.WriteFile(dir+"/nginx.conf", []byte(ncfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ng, err := nsproc.Start(nsproc.NetnsArgs(bed.NsB, "nginx", "-c", dir+"/nginx.conf"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ng.Stop(syscall.SIGTERM, 10*time.Second) })

	pcfg := fmt.Sprintf(`global
    iface %s
    netns %s
defaults
    mode http
listen conform
    bind :8300
    forward-for none
    server s %s:9401
`, bed.IfaceA, bed.NsA, peer)
	if err := os.WriteFile(dir+"/pollstack.conf", []byte(pcfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, bed, "--config", dir+"/pollstack.conf")
	waitListening(t, bed.NsB, 9302)
	waitListening(t, bed.NsB, 9303)
	addrs := []string{
		net.JoinHostPort(testbed.LocalIPv4.String(), "8300"),
		net.JoinHostPort(peer, "9302"),
		net.JoinHostPort(peer, "9303"),
	}

	cases := conformCases()
	known := map[string]bool{}
	for _, c := range cases {
		if known[c.name] {
			t.Fatalf("case %s twice", c.name)
		}
		known[c.name] = true
	}
	for name := range conformNotes {
		if !known[name] {
			t.Fatalf("a note for %s, which is no case", name)
		}
	}
	results := make([][3]conformOutcome, len(cases))
	for i, c := range cases {
		var wg sync.WaitGroup
		for j := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i][j].client = runConformCase(addrs[j], c)
			}()
		}
		wg.Wait()
		time.Sleep(100 * time.Millisecond) // a backend records a body cut short when its connection goes
		for j := range 3 {
			results[i][j].fwd = backends[j].take()
		}
	}

	table := conformTable(cases, results)
	t.Logf("\n%s", table)
	if path := os.Getenv("POLLSTACK_CONFORMANCE_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	for i, c := range cases {
		r := results[i]
		ps, ha, ng := r[0].forwarded(), r[1].forwarded(), r[2].forwarded()
		detail := func() string {
			var b strings.Builder
			for j, name := range names {
				fmt.Fprintf(&b, "  %s: client %q, forwarded:\n", name, r[j].client)
				for _, rec := range r[j].fwd {
					fmt.Fprintf(&b, "%s    raw %q\n", indent(rec.normalised(), "    "), rec.raw)
				}
			}
			return b.String()
		}
		switch {
		case ha == "" && ng == "" && ps != "":
			t.Errorf("%s: haproxy and nginx forward nothing, pollstack forwards:\n%s", c.name, detail())
		case ps == "" || strings.HasPrefix(conformNotes[c.name], "*"):
		case ha == "" && ps != ng:
			t.Errorf("%s: pollstack forwards otherwise than nginx (haproxy refuses):\n%s", c.name, detail())
		case ng == "" && ps != ha:
			t.Errorf("%s: pollstack forwards otherwise than haproxy (nginx refuses):\n%s", c.name, detail())
		case ha == "" || ng == "":
		case ha == ng && ps != ha:
			t.Errorf("%s: pollstack forwards otherwise than haproxy and nginx:\n%s", c.name, detail())
		case ps != ha && ps != ng:
			t.Errorf("%s: pollstack forwards otherwise than haproxy and than nginx:\n%s", c.name, detail())
		}
		if testing.Verbose() {
			t.Logf("%s:\n%s", c.name, detail())
		}
	}
	p.stop(t)
}

func indent(s, pre string) string {
	s = strings.TrimSuffix(s, "\n")
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre) + "\n"
}

// conformTable is the markdown table: per proxy, what the client got and
// which forwarded request (a, b, c: the same letter is the same normalised
// request) the backend saw, or "-" for none.
func conformTable(cases []conformCase, results [][3]conformOutcome) string {
	var b strings.Builder
	b.WriteString("| group | case | input | pollstack | haproxy | nginx | note |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for i, c := range cases {
		var letters []string
		cell := func(o conformOutcome) string {
			f := o.forwarded()
			l := "–"
			if f != "" {
				k := -1
				for n, seen := range letters {
					if seen == f {
						k = n
					}
				}
				if k < 0 {
					letters = append(letters, f)
					k = len(letters) - 1
				}
				l = string(rune('a' + k))
				if len(o.fwd) > 1 {
					l += fmt.Sprintf(" (%d)", len(o.fwd))
				}
				if !o.fwd[len(o.fwd)-1].complete {
					l += " (cut)"
				}
			}
			return fmt.Sprintf("%s → %s", o.client, l)
		}
		r := results[i]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.group, c.name,
			strings.ReplaceAll(c.input, "|", "\\|"), cell(r[0]), cell(r[1]), cell(r[2]), conformNotes[c.name])
	}
	return b.String()
}
