package h1

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzLimits are the limits each input is parsed with: the defaults, and
// small ones so that the limits are reached.
var fuzzLimits = []Limits{{}, {MaxLine: 64, MaxHead: 200, MaxHeaders: 3, MaxChunkLine: 40}}

// splits returns the split positions to try for an input of n bytes: every
// one for a small input, a spread for a large one (a thinner one under the
// race detector).
func splits(n int) []int {
	most := 512
	if raceEnabled {
		most = 64
	}
	step := 1
	if n > 2*most {
		step = n/most + 1
	}
	var s []int
	for i := 0; i <= n; i += step {
		s = append(s, i)
	}
	return s
}

// everyByte returns the cuts that feed n bytes one at a time (none, so the
// input goes whole, for a long input under the race detector).
func everyByte(n int) []int {
	if raceEnabled && n > 1024 {
		return nil
	}
	cuts := make([]int, n)
	for i := range cuts {
		cuts[i] = i
	}
	return cuts
}

// FuzzRequest parses arbitrary bytes as a request head whole, split at
// every position, in three pieces and a byte at a time, with default and
// small limits, and checks that the results agree; that a refusal asks for
// one of the statuses a request may get; that a done head is the bytes it
// says; that its edited head is within OutputBound, parses as the same
// request, holds no hop-by-hop field and keeps every other field as it
// was; and that where net/http also reads the request, both frame it the
// same way.
func FuzzRequest(f *testing.F) {
	for _, tc := range reqCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range editCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p RequestParser
		for _, lim := range fuzzLimits {
			p.Limits = lim
			whole := feedReq(&p, data)
			for _, i := range splits(len(data)) {
				if r := feedReq(&p, data, i); r != whole {
					t.Fatalf("limits %+v: split at %d:\n%+v\nwhole:\n%+v", lim, i, r, whole)
				}
				if j := i + (len(data)-i)/3; j > i {
					if r := feedReq(&p, data, i, j); r != whole {
						t.Fatalf("limits %+v: split at %d, %d:\n%+v\nwhole:\n%+v", lim, i, j, r, whole)
					}
				}
			}
			if r := feedReq(&p, data, everyByte(len(data))...); r != whole {
				t.Fatalf("limits %+v: byte at a time:\n%+v\nwhole:\n%+v", lim, r, whole)
			}
			feedReq(&p, data)
			checkRequest(t, &p, data, whole)
		}
	})
}

func checkRequest(t *testing.T, p *RequestParser, data []byte, whole reqResult) {
	t.Helper()
	if whole.why != OK {
		switch s := whole.why.Status(); {
		case whole.why >= numReasons:
			t.Fatalf("refusal %v", whole.why)
		case s != 400 && s != 414 && s != 431 && s != 501 && s != 505:
			t.Fatalf("refusal %v asks for %d", whole.why, s)
		}
	}
	if !whole.done {
		if out := p.AppendHead(nil, &testEdit); len(out) != 0 {
			t.Fatalf("head not done, edited as %q", out)
		}
		return
	}
	r := p.Request()
	h := p.Head()
	if r.HeadLen != whole.n || !headAt(data, whole.n, h) {
		t.Fatalf("head %q, n %d of %d", h, whole.n, len(data))
	}
	out := p.AppendHead(nil, &testEdit)
	if len(out) > p.OutputBound() {
		t.Fatalf("edited head of %d bytes, bound %d", len(out), p.OutputBound())
	}
	q := RequestParser{Limits: Limits{MaxLine: MaxHeadLimit, MaxHead: MaxHeadLimit, MaxHeaders: MaxHeadersLimit}}
	if n, done, why := q.Feed(out); !done || why != OK || n != len(out) {
		t.Fatalf("edited head %q: %d %v %v", out, n, done, why)
	}
	s := q.Request()
	if r.Method != s.Method || string(r.MethodName) != string(s.MethodName) || string(r.Target) != string(s.Target) ||
		r.Form != s.Form || min(r.Minor, 1) != s.Minor || string(r.Host) != string(s.Host) ||
		string(r.Authority) != string(s.Authority) || r.Framing != s.Framing || r.ContentLength != s.ContentLength ||
		s.Flags&(ConnClose|ConnKeepAlive|ConnUpgrade|Upgrade) != 0 {
		t.Fatalf("edited head %q parses as\n%+v\nwas\n%+v", out, s, r)
	}
	// The fields edits do not touch pass as they were, in order.
	var kept, got []string
	for i := range p.p.fields {
		f := &p.p.fields[i]
		if f.kind == kOther && f.flags&fNamed == 0 || f.kind == kHost || f.kind == kContentLength || f.kind == kTransferEncoding {
			kept = append(kept, string(h[f.line:f.end]))
		}
	}
	counts := map[uint8]int{}
	for i := range q.p.fields {
		f := &q.p.fields[i]
		counts[f.kind]++
		switch f.kind {
		case kOther, kHost, kContentLength, kTransferEncoding:
			got = append(got, string(out[f.line:f.end]))
		case kConnection, kKeepAlive, kProxyConnection, kTE, kTrailer, kUpgrade:
			t.Fatalf("edited head %q has hop-by-hop field %q", out, out[f.line:f.nameEnd])
		}
	}
	if strings.Join(kept, "\n") != strings.Join(got, "\n") {
		t.Fatalf("fields\n%q\nbecame\n%q", kept, got)
	}
	if counts[kXForwardedFor] != 1 || counts[kXForwardedProto] != 1 || counts[kForwarded] != 1 ||
		counts[kXForwardedHost] != min(1, len(r.Authority)) {
		t.Fatalf("edited head %q: forwarding fields %v", out, counts)
	}
	differRequest(t, data, r)
}

// differRequest reads data with net/http too: where both accept the
// request, they must agree on its method, target, host and framing.
func differRequest(t *testing.T, data []byte, r *Request) {
	t.Helper()
	g, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return
	}
	if g.Method != string(r.MethodName) || g.RequestURI != string(r.Target) {
		t.Fatalf("net/http reads %s %s, we %s %s", g.Method, g.RequestURI, r.MethodName, r.Target)
	}
	if g.Host != string(r.Authority) {
		t.Fatalf("net/http reads host %q, we %q", g.Host, r.Authority)
	}
	chunked := len(g.TransferEncoding) > 0 && g.TransferEncoding[len(g.TransferEncoding)-1] == "chunked"
	switch {
	case chunked != (r.Framing == Chunked):
		t.Fatalf("net/http reads transfer-encoding %q, we %v", g.TransferEncoding, r.Framing)
	case r.Framing == Length && g.ContentLength != r.ContentLength:
		t.Fatalf("net/http reads content-length %d, we %d", g.ContentLength, r.ContentLength)
	case r.Framing == NoBody && g.ContentLength != 0:
		t.Fatalf("net/http reads content-length %d, we none", g.ContentLength)
	}
}

// headAt reports whether h, the head a parser kept, is data[:n] less the
// empty lines the parser skipped before the start line (RFC 9112 2.2; the
// parsers skip them before a status line too, as HAProxy's does, for a
// server that ends a body with a stray CRLF).
func headAt(data []byte, n int, h []byte) bool {
	if n > len(data) || !bytes.HasSuffix(data[:n], h) {
		return false
	}
	return len(bytes.Trim(data[:n-len(h)], "\r\n")) == 0
}

// respContexts are the requests a fuzzed response may answer, chosen by its
// first byte.
var respContexts = []respCtx{get, head, connect, upgrade}

// FuzzResponse is FuzzRequest for response heads; the first byte chooses
// the request answered (GET, HEAD, CONNECT, an upgrade).
func FuzzResponse(f *testing.F) {
	for _, tc := range respCases {
		for i, c := range respContexts {
			if c == tc.ctx {
				f.Add(append([]byte{byte(i)}, tc.in...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ctx := respContexts[int(data[0])%len(respContexts)]
		data = data[1:]
		var p ResponseParser
		for _, lim := range fuzzLimits {
			p.Limits = lim
			whole := feedResp(&p, ctx, data)
			for _, i := range splits(len(data)) {
				if r := feedResp(&p, ctx, data, i); r != whole {
					t.Fatalf("limits %+v: split at %d:\n%+v\nwhole:\n%+v", lim, i, r, whole)
				}
			}
			if r := feedResp(&p, ctx, data, everyByte(len(data))...); r != whole {
				t.Fatalf("limits %+v: byte at a time:\n%+v\nwhole:\n%+v", lim, r, whole)
			}
			feedResp(&p, ctx, data)
			checkResponse(t, &p, ctx, data, whole)
		}
	})
}

func checkResponse(t *testing.T, p *ResponseParser, ctx respCtx, data []byte, whole reqResult) {
	t.Helper()
	if whole.why >= numReasons {
		t.Fatalf("refusal %v", whole.why)
	}
	if !whole.done {
		return
	}
	r := p.Response()
	h := p.Head()
	if r.HeadLen != whole.n || !headAt(data, whole.n, h) {
		t.Fatalf("head %q, n %d of %d", h, whole.n, len(data))
	}
	switch {
	case r.Framing == Tunnel && !(r.Status == 101 && ctx.upgrade || ctx.m == MethodCONNECT && r.Status/100 == 2):
		t.Fatalf("tunnel on %d to %+v", r.Status, ctx)
	case r.Framing != NoBody && r.Framing != Tunnel && (r.Status < 200 || r.Status == 204 || r.Status == 304 || ctx.m == MethodHEAD):
		t.Fatalf("%v body on %d to %+v", r.Framing, r.Status, ctx)
	case r.KeepAlive && (r.Framing == UntilClose || r.Framing == Tunnel):
		t.Fatalf("keep-alive with %v", r.Framing)
	}
	for _, e := range []ResponseEdit{{}, {Chunked: true, Connection: ConnFieldClose}, {Tunnel: true}} {
		out := p.AppendHead(nil, &e)
		if len(out) > p.OutputBound() {
			t.Fatalf("edited head of %d bytes, bound %d", len(out), p.OutputBound())
		}
		var q ResponseParser
		q.Limits = Limits{MaxLine: MaxHeadLimit, MaxHead: MaxHeadLimit, MaxHeaders: MaxHeadersLimit}
		q.SetRequest(ctx.m, ctx.upgrade && e.Tunnel)
		n, done, why := q.Feed(out)
		if r.Status == 101 && !e.Tunnel {
			continue // a 101 passed on without its upgrade: nobody does
		}
		if !done || why != OK || n != len(out) {
			t.Fatalf("edited head %q (%+v): %d %v %v", out, e, n, done, why)
		}
		s := q.Response()
		want := r.Framing
		if e.Chunked && r.CanChunk() {
			want = Chunked
		}
		if s.Status != r.Status || string(s.Reason) != string(r.Reason) || s.Framing != want ||
			want == Length && s.ContentLength != r.ContentLength {
			t.Fatalf("edited head %q (%+v) parses as\n%+v\nwas\n%+v", out, e, s, r)
		}
	}
	differResponse(t, ctx, data, r)
}

// differResponse reads data with net/http too: where both accept the
// response and it has a body, they must agree on its framing.
func differResponse(t *testing.T, ctx respCtx, data []byte, r *Response) {
	t.Helper()
	req := &http.Request{Method: ctx.m.String()}
	if ctx.m == MethodOther {
		req.Method = "GET"
	}
	g, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if err != nil {
		return
	}
	g.Body.Close()
	if r.Framing == NoBody || r.Framing == Tunnel {
		return
	}
	chunked := len(g.TransferEncoding) > 0 && g.TransferEncoding[len(g.TransferEncoding)-1] == "chunked"
	switch {
	case chunked != (r.Framing == Chunked):
		t.Fatalf("net/http reads transfer-encoding %q, we %v", g.TransferEncoding, r.Framing)
	case r.Framing == Length && g.ContentLength != r.ContentLength:
		t.Fatalf("net/http reads content-length %d, we %d", g.ContentLength, r.ContentLength)
	case r.Framing == UntilClose && g.ContentLength != -1:
		t.Fatalf("net/http reads content-length %d, we until close", g.ContentLength)
	}
}

// FuzzChunked reads arbitrary bytes as a chunked body (the first byte
// chooses the limits) whole, split anywhere and a byte at a time, and checks
// the results agree; that a body read whole, re-framed, reads back as the
// same payload to the same end; and that net/http's chunked reader, where
// it reads the body too, reads the same payload.
func FuzzChunked(f *testing.F) {
	for _, tc := range bodyCases {
		f.Add(append([]byte{0}, tc.in...))
	}
	f.Add(append([]byte{0}, chunkedBody[:200]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		lim := fuzzLimits[int(data[0])%len(fuzzLimits)]
		data = data[1:]
		var b Body
		b.Reset(Chunked, 0, lim)
		whole := readBody(&b, data)
		for _, i := range splits(len(data)) {
			b.Reset(Chunked, 0, lim)
			if r := readBody(&b, data, i); r != whole {
				t.Fatalf("split at %d: %+v\nwhole: %+v", i, r, whole)
			}
		}
		b.Reset(Chunked, 0, lim)
		if r := readBody(&b, data, everyByte(len(data))...); r != whole {
			t.Fatalf("byte at a time: %+v\nwhole: %+v", r, whole)
		}
		if whole.why >= numReasons || whole.why != OK && whole.why.Status() != 400 {
			t.Fatalf("refusal %v", whole.why)
		}
		if !whole.done {
			return
		}
		b.Reset(Chunked, 0, Limits{})
		again := readBody(&b, []byte(whole.reframed))
		if again.why != OK || !again.done || again.data != whole.data || again.reframed != whole.reframed ||
			again.n != len(whole.reframed) {
			t.Fatalf("re-framed %q reads as %+v", whole.reframed, again)
		}
		g, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:whole.n])))
		if err == nil && string(g) != whole.data {
			t.Fatalf("net/http reads %q, we %q", g, whole.data)
		}
	})
}

var writeSeeds = flag.Bool("seeds", false, "write the table cases to the fuzz seed corpora in testdata/fuzz")

// TestWriteSeeds writes the table tests' inputs to the seed corpora of the
// fuzz targets when run with -seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -seeds to write the corpora")
	}
	write := func(target, name string, in []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name = strings.Map(func(c rune) rune {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				return c
			}
			return '-'
		}, name)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range reqCases {
		if len(tc.in) < 4096 {
			write("FuzzRequest", tc.name, []byte(tc.in))
		}
	}
	for _, tc := range editCases {
		write("FuzzRequest", "edit-"+tc.name, []byte(tc.in))
	}
	write("FuzzRequest", "typical", typicalRequest)
	write("FuzzRequest", "pipelined", []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"))
	for _, tc := range respCases {
		if len(tc.in) >= 4096 {
			continue
		}
		for i, c := range respContexts {
			if c == tc.ctx {
				write("FuzzResponse", tc.name, append([]byte{byte(i)}, tc.in...))
			}
		}
	}
	write("FuzzResponse", "typical", append([]byte{0}, typicalResponse...))
	for _, tc := range bodyCases {
		if len(tc.in) < 4096 {
			write("FuzzChunked", tc.name, append([]byte{0}, tc.in...))
		}
	}
	write("FuzzChunked", "small-limits", append([]byte{1}, "5;a=b\r\nhello\r\n0\r\nX: y\r\nZ: w\r\n\r\n"...))
}
