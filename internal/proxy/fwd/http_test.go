package fwd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/tcp"
)

// httpCfg is one mode http listener on port 80 to the given servers.
func httpCfg(servers ...netip.AddrPort) *config.Config {
	c := proxyCfg(servers...)
	l, g := &c.Listeners[0], &c.Backends[0]
	l.Mode, g.Mode = config.ModeHTTP, config.ModeHTTP
	l.HTTPRequestTimeout, l.KeepAliveTimeout, l.ForwardFor = config.DefaultHTTPRequestTimeout, config.DefaultKeepAliveTimeout, config.ForwardXFF
	l.ClientTimeout, g.ServerTimeout, g.ConnectTimeout = 60*time.Second, 60*time.Second, 5*time.Second
	g.PoolMaxIdle, g.PoolIdleTimeout = config.DefaultPoolMaxIdle, config.DefaultPoolIdleTimeout
	return c
}

// body is n deterministic bytes, different per seed.
func body(n, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// httpBackend is an HTTP/1.1 server on the test network, written against
// tcp.Conn directly. Its answers, by path:
//
//	/len/N     200, Content-Length N
//	/chunk/N   200, chunked, N bytes in chunks of up to 1000
//	/close/N   200, no length: N bytes, then the server closes
//	/echo      200, the request's body (Content-Length)
//	/status/S  status S, no body
//	/upgrade   101 to an echo of raw bytes
//	/hang      nothing, ever
//	/drop      the connection is reset
//
// "Connection: close" in a request makes the server close after its answer.
type httpBackend struct {
	conns    int
	requests int
	heads    []string // request heads received, in order
	bufs     map[*tcp.Conn]*backendConn
	closeAll bool // close every connection after one answer
}

type backendConn struct {
	in      []byte
	out     []byte
	upgrade bool
	closing bool
}

func newHTTPBackend() *httpBackend { return &httpBackend{bufs: map[*tcp.Conn]*backendConn{}} }

func (h *httpBackend) Established(c *tcp.Conn) {
	h.conns++
	h.bufs[c] = &backendConn{}
}
func (h *httpBackend) Closed(c *tcp.Conn, err error) { delete(h.bufs, c) }
func (h *httpBackend) Writable(c *tcp.Conn)          { h.flush(c) }
func (h *httpBackend) Readable(c *tcp.Conn) {
	bc := h.bufs[c]
	if bc == nil {
		return
	}
	for {
		x, _ := c.Peek()
		if len(x) == 0 {
			break
		}
		bc.in = append(bc.in, x...)
		c.Consume(len(x))
	}
	if bc.upgrade {
		bc.out = append(bc.out, bc.in...)
		bc.in = bc.in[:0]
	}
	for !bc.upgrade && !bc.closing && h.serve(c, bc) {
	}
	h.flush(c)
	if c.EOF() && !bc.closing {
		bc.closing = true
		h.flush(c)
	}
}

func (h *httpBackend) flush(c *tcp.Conn) {
	bc := h.bufs[c]
	if bc == nil {
		return
	}
	for len(bc.out) > 0 {
		n, err := c.Write(bc.out)
		if err != nil || n == 0 {
			break
		}
		bc.out = bc.out[n:]
	}
	if len(bc.out) == 0 && bc.closing {
		c.Close()
	}
}

// serve answers one whole request from bc.in, if there is one.
func (h *httpBackend) serve(c *tcp.Conn, bc *backendConn) bool {
	end := bytes.Index(bc.in, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head := string(bc.in[:end+4])
	rest := bc.in[end+4:]
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	if err != nil {
		c.Abort()
		return false
	}
	if req.URL.Path == "/early" {
		// Answer at once, without reading the body, and close.
		h.requests++
		bc.out = append(bc.out, "HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig\n"...)
		bc.in = bc.in[:0]
		bc.closing = true
		return false
	}
	var reqBody []byte
	if len(req.TransferEncoding) > 0 {
		if !bytes.Contains(rest, []byte("0\r\n\r\n")) {
			return false // not whole yet (the test bodies have no trailers but the last chunk's)
		}
		r := bufio.NewReader(bytes.NewReader(rest))
		var b bytes.Buffer
		used := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			used += len(line)
			n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
			if err != nil {
				c.Abort()
				return false
			}
			if n == 0 {
				l2, err := r.ReadString('\n')
				if err != nil {
					return false
				}
				used += len(l2)
				break
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(r, chunk); err != nil {
				return false
			}
			used += len(chunk)
			b.Write(chunk[:n])
		}
		reqBody = b.Bytes()
		rest = rest[used:]
	} else if cl := req.ContentLength; cl > 0 {
		if int64(len(rest)) < cl {
			return false
		}
		reqBody = rest[:cl]
		rest = rest[cl:]
	}
	h.requests++
	h.heads = append(h.heads, head)
	bc.in = append(bc.in[:0], rest...)
	closeAfter := h.closeAll || req.Close
	conn := ""
	if closeAfter {
		conn = "Connection: close\r\n"
	}
	path := req.URL.Path
	arg := 0
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		arg, _ = strconv.Atoi(path[i+1:])
		path = path[:i]
	}
	switch path {
	case "/len":
		bc.out = fmt.Appendf(bc.out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n", arg, conn)
		if req.Method != "HEAD" {
			bc.out = append(bc.out, body(arg, arg)...)
		}
	case "/chunk":
		bc.out = fmt.Appendf(bc.out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n%s\r\n", conn)
		b := body(arg, arg)
		for len(b) > 0 {
			n := min(len(b), 1000)
			bc.out = fmt.Appendf(bc.out, "%x;ext=1\r\n", n)
			bc.out = append(append(bc.out, b[:n]...), "\r\n"...)
			b = b[n:]
		}
		bc.out = append(bc.out, "0\r\nX-Trailer: 1\r\n\r\n"...)
	case "/close":
		bc.out = append(fmt.Appendf(bc.out, "HTTP/1.1 200 OK\r\n\r\n"), body(arg, arg)...)
		closeAfter = true
	case "/echo":
		bc.out = fmt.Appendf(bc.out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n", len(reqBody), conn)
		bc.out = append(bc.out, reqBody...)
	case "/status":
		bc.out = fmt.Appendf(bc.out, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n%s\r\n", arg, conn)
	case "/upgrade":
		bc.out = append(bc.out, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n"...)
		bc.out = append(bc.out, bc.in...)
		bc.in = bc.in[:0]
		bc.upgrade = true
		return false
	case "/hang":
		return false
	case "/drop":
		c.Abort()
		return false
	case "/fin":
		bc.closing = true
		return false
	default:
		bc.out = fmt.Appendf(bc.out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n%s\r\n", conn)
	}
	if closeAfter {
		bc.closing = true
		return false
	}
	return true
}

// responses parses what c got as HTTP/1.1 responses to the methods given,
// in order.
func responses(t *testing.T, got []byte, methods ...string) []response {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(got))
	var out []response
	for _, m := range methods {
		resp, err := http.ReadResponse(r, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d of %d: %v (got %q)", len(out)+1, len(methods), err, trunc(got))
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("response %d body: %v", len(out)+1, err)
		}
		out = append(out, response{StatusCode: resp.StatusCode, Close: resp.Close, TransferEncoding: resp.TransferEncoding, Header: resp.Header, Body: b})
	}
	if rest, _ := io.ReadAll(r); len(rest) > 0 {
		t.Fatalf("%d bytes after %d responses: %q", len(rest), len(methods), trunc(rest))
	}
	return out
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// response is a parsed response with its body read.
type response struct {
	StatusCode       int
	Close            bool
	TransferEncoding []string
	Header           http.Header
	Body             []byte
}

func readBody(r response) []byte { return r.Body }

// httpBed is a client host, a proxy in mode http and n backends.
type httpBed struct {
	n    *testNet
	cl   *tcp.Shard
	app  *App
	back []*httpBackend
}

func newHTTPBed(t *testing.T, backends int, edit func(*config.Config)) *httpBed {
	n := newTestNet(t)
	b := &httpBed{n: n, cl: n.host(addrClient, tcp.DefaultConfig())}
	var addrs []netip.AddrPort
	for _, a := range []netip.Addr{addrBack, addrBack2}[:backends] {
		sh := n.host(a, tcp.DefaultConfig())
		h := newHTTPBackend()
		if _, err := sh.Listen(8080, 0, h); err != nil {
			t.Fatal(err)
		}
		b.back = append(b.back, h)
		addrs = append(addrs, netip.AddrPortFrom(a, 8080))
	}
	cfg := httpCfg(addrs...)
	if edit != nil {
		edit(cfg)
	}
	b.app, _ = n.proxy(cfg)
	return b
}

// do sends raw on a new connection (half-closing after it when shut) and
// runs until the connection ends or limit passes.
func (b *httpBed) do(raw string, shut bool, limit time.Duration) *stream {
	s := &stream{out: []byte(raw), noShut: !shut, closeOnEOF: true}
	b.n.dial(b.cl, s)
	b.n.run(limit, func() bool { return s.done })
	return s
}

// A keep-alive client's pipelined requests are answered in order, all on
// one backend connection from the pool after the first.
func TestHTTPPipelinedKeepAlive(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	var req strings.Builder
	var methods []string
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&req, "GET /len/%d HTTP/1.1\r\nHost: a\r\n\r\n", i*100)
		methods = append(methods, "GET")
	}
	s := &stream{out: []byte(req.String()), noShut: true}
	b.n.dial(b.cl, s)
	b.n.run(10*time.Second, nil)
	rs := responses(t, s.got.Bytes(), methods...)
	for i, r := range rs {
		if r.StatusCode != 200 || !bytes.Equal(readBody(r), body((i+1)*100, (i+1)*100)) {
			t.Fatalf("response %d: %d, body wrong", i+1, r.StatusCode)
		}
		if r.Close {
			t.Fatalf("response %d closes the connection", i+1)
		}
	}
	if s.done {
		t.Fatalf("the proxy closed a keep-alive client: %v", s.err)
	}
	if b.back[0].conns != 1 {
		t.Fatalf("backend saw %d connections, want 1 (pooled)", b.back[0].conns)
	}
	srv := &b.app.groups[0].servers[0].stats
	if srv[SrvHTTPRequests] != 50 || srv[SrvPoolReused] != 49 || srv[SrvHTTP2xx] != 50 {
		t.Fatalf("counters: requests %d reused %d 2xx %d", srv[SrvHTTPRequests], srv[SrvPoolReused], srv[SrvHTTP2xx])
	}
	rt := &b.app.groups[0].servers[0].rt
	var n uint64
	for _, c := range rt.n {
		n += c
	}
	// Each answer takes a round trip on the wire: 2 x 100 us one way.
	if n != 50 || rt.sum < 50*200e3 || rt.n[0] != 0 {
		t.Fatalf("response times: %d recorded, sum %d ns, buckets %v", n, rt.sum, rt.n)
	}
	if h := b.back[0].heads[0]; !strings.Contains(h, "X-Forwarded-For: 198.18.0.3\r\n") || !strings.Contains(h, "X-Forwarded-Proto: http\r\n") ||
		strings.Contains(h, "X-Forwarded-Host") {
		t.Fatalf("forwarded head lacks the forwarding fields (or has X-Forwarded-Host unasked):\n%s", h)
	}
}

// The forwarding fields as configured: X-Forwarded-Host on request, the
// client's X-Forwarded-For replaced, Forwarded, or none.
func TestHTTPForwardingFields(t *testing.T) {
	for _, tc := range []struct {
		kind          string
		host, replace bool
		want, not     []string
	}{
		{config.ForwardXFF, true, false, []string{"X-Forwarded-For: 192.0.2.9, 198.18.0.3\r\n", "X-Forwarded-Host: a.example\r\n", "X-Forwarded-Proto: http\r\n"}, nil},
		{config.ForwardXFF, false, true, []string{"X-Forwarded-For: 198.18.0.3\r\n"}, []string{"192.0.2.9", "X-Forwarded-Host"}},
		{config.ForwardRFC7239, false, false, []string{"X-Forwarded-For: 192.0.2.9\r\n", "Forwarded: for=198.18.0.3;proto=http;host=a.example\r\n"}, nil},
		{config.ForwardNone, false, false, []string{"X-Forwarded-For: 192.0.2.9\r\n"}, []string{"198.18.0.3", "Forwarded:"}},
	} {
		b := newHTTPBed(t, 1, func(c *config.Config) {
			c.Listeners[0].ForwardFor, c.Listeners[0].ForwardHost, c.Listeners[0].ForwardReplace = tc.kind, tc.host, tc.replace
		})
		s := b.do("GET /len/1 HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 192.0.2.9\r\nConnection: close\r\n\r\n", false, 5*time.Second)
		responses(t, s.got.Bytes(), "GET")
		h := b.back[0].heads[0]
		for _, w := range tc.want {
			if !strings.Contains(h, w) {
				t.Errorf("%+v: head lacks %q:\n%s", tc, w, h)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(h, w) {
				t.Errorf("%+v: head has %q:\n%s", tc, w, h)
			}
		}
	}
}

// A request that closes the connection, with another pipelined behind
// it: the first is answered whole and the connection ends in order (a FIN,
// not a reset that could destroy the answer); the second is dropped.
func TestHTTPCloseWithPipelinedRequest(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	s := &stream{out: []byte("GET /len/5000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /len/6 HTTP/1.1\r\nHost: a\r\n\r\n"), noShut: true, closeOnEOF: true}
	b.n.dial(b.cl, s)
	b.n.run(5*time.Second, func() bool { return s.done })
	if !s.done || s.err != nil {
		t.Fatalf("done %v err %v", s.done, s.err)
	}
	rs := responses(t, s.got.Bytes(), "GET")
	if rs[0].StatusCode != 200 || !bytes.Equal(rs[0].Body, body(5000, 5000)) || !rs[0].Close {
		t.Fatalf("status %d, %d bytes, close %v", rs[0].StatusCode, len(rs[0].Body), rs[0].Close)
	}
	if b.back[0].requests != 1 {
		t.Fatalf("the backend got %d requests, want 1", b.back[0].requests)
	}
}

// Many clients one after another share the pooled connections.
func TestHTTPPoolAcrossClients(t *testing.T) {
	b := newHTTPBed(t, 2, nil)
	for i := 0; i < 20; i++ {
		s := b.do("GET /len/10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, 5*time.Second)
		rs := responses(t, s.got.Bytes(), "GET")
		if rs[0].StatusCode != 200 || !rs[0].Close {
			t.Fatalf("client %d: status %d close %v", i, rs[0].StatusCode, rs[0].Close)
		}
	}
	if c := b.back[0].conns + b.back[1].conns; c != 2 {
		t.Fatalf("backends saw %d connections for 20 requests, want 2 (one pooled per server)", c)
	}
	for _, h := range b.back[0].heads {
		if strings.Contains(strings.ToLower(h), "connection: close") {
			t.Fatalf("the client's Connection: close went to the server:\n%s", h)
		}
	}
	b.n.run(time.Second, func() bool { return b.app.Active() == 0 })
	if b.app.Active() != 0 {
		t.Fatalf("%d pairs left", b.app.Active())
	}
}

// Bodies both ways, by length and chunked, pass byte for byte; an
// until-close response is chunked for an HTTP/1.1 client that keeps its
// connection, and ends with the close for an HTTP/1.0 one.
func TestHTTPBodies(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	for _, size := range []int{0, 1, 64 << 10, 1 << 20} {
		payload := body(size, 7)
		// Content-Length request body, echoed.
		s := b.do(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", size, payload), true, 30*time.Second)
		rs := responses(t, s.got.Bytes(), "POST")
		if rs[0].StatusCode != 200 || !bytes.Equal(readBody(rs[0]), payload) {
			t.Fatalf("length %d: status %d, body differs", size, rs[0].StatusCode)
		}
		// Chunked request body, re-framed, echoed.
		var cb bytes.Buffer
		for p := payload; len(p) > 0; {
			n := min(len(p), 777)
			fmt.Fprintf(&cb, "%x\r\n%s\r\n", n, p[:n])
			p = p[n:]
		}
		cb.WriteString("0\r\n\r\n")
		s = b.do("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+cb.String(), true, 30*time.Second)
		rs = responses(t, s.got.Bytes(), "POST")
		if rs[0].StatusCode != 200 || !bytes.Equal(readBody(rs[0]), payload) {
			t.Fatalf("chunked %d: status %d, body differs", size, rs[0].StatusCode)
		}
		// Chunked response (with extensions and a trailer the proxy drops).
		s = b.do(fmt.Sprintf("GET /chunk/%d HTTP/1.1\r\nHost: a\r\n\r\n", size), true, 30*time.Second)
		rs = responses(t, s.got.Bytes(), "GET")
		if got := readBody(rs[0]); !bytes.Equal(got, body(size, size)) || len(rs[0].TransferEncoding) != 1 {
			t.Fatalf("chunked response %d: %d bytes, TE %v", size, len(got), rs[0].TransferEncoding)
		}
		if bytes.Contains(s.got.Bytes(), []byte("ext=1")) || bytes.Contains(s.got.Bytes(), []byte("X-Trailer")) {
			t.Fatalf("chunk extensions or trailers passed through")
		}
		// Until-close response to HTTP/1.1: chunked by the proxy, kept.
		s = b.do(fmt.Sprintf("GET /close/%d HTTP/1.1\r\nHost: a\r\n\r\nGET /len/5 HTTP/1.1\r\nHost: a\r\n\r\n", size), true, 30*time.Second)
		rs = responses(t, s.got.Bytes(), "GET", "GET")
		if got := readBody(rs[0]); !bytes.Equal(got, body(size, size)) || len(rs[0].TransferEncoding) != 1 || rs[0].Close {
			t.Fatalf("until-close response %d to 1.1: %d bytes, TE %v, close %v", size, len(got), rs[0].TransferEncoding, rs[0].Close)
		}
		// Until-close and chunked responses to HTTP/1.0: payload, then close.
		for _, path := range []string{"/close/", "/chunk/"} {
			s = b.do(fmt.Sprintf("GET %s%d HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", path, size), false, 30*time.Second)
			end := bytes.Index(s.got.Bytes(), []byte("\r\n\r\n"))
			if end < 0 || !bytes.Equal(s.got.Bytes()[end+4:], body(size, size)) || !s.done {
				t.Fatalf("%s%d to 1.0: done %v, got %q", path, size, s.done, trunc(s.got.Bytes()))
			}
		}
	}
}

// What the h1 parser refuses is answered, closed and never forwarded.
func TestHTTPRefusedNeverForwarded(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400},
		{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"long line", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"expect other", "GET / HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n", 417},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newHTTPBed(t, 1, nil)
			s := b.do(tc.req, false, 10*time.Second)
			if !s.done {
				t.Fatal("the proxy did not close the connection")
			}
			rs := responses(t, s.got.Bytes(), "GET")
			if rs[0].StatusCode != tc.status || !rs[0].Close {
				t.Fatalf("status %d close %v, want %d and close", rs[0].StatusCode, rs[0].Close, tc.status)
			}
			if b.back[0].requests != 0 || b.back[0].conns != 0 {
				t.Fatalf("the backend saw %d requests on %d connections", b.back[0].requests, b.back[0].conns)
			}
		})
	}
}

// A response that ends before the request's body (a server refusing an
// upload early) reaches the client whole: the rest of the body is read and
// dropped, and the connection closes in order, not with a reset.
func TestHTTPResponseBeforeRequestBody(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	s := &stream{out: []byte(fmt.Sprintf("POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", 1<<20, body(1<<20, 1)))}
	b.n.dial(b.cl, s)
	b.n.run(30*time.Second, func() bool { return s.done })
	if !s.done || s.err != nil {
		t.Fatalf("done %v err %v", s.done, s.err)
	}
	rs := responses(t, s.got.Bytes(), "POST")
	if rs[0].StatusCode != 413 || string(rs[0].Body) != "big\n" {
		t.Fatalf("status %d body %q", rs[0].StatusCode, rs[0].Body)
	}
	if s.sent != len(s.out) {
		t.Fatalf("the client sent %d of %d bytes: the proxy stopped reading", s.sent, len(s.out))
	}
}

// The proxy's own errors: no server listening (502), a server that resets
// (502), one that never answers (504), no server in rotation (503).
func TestHTTPErrorsOfTheProxy(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		n := newTestNet(t)
		cl := n.host(addrClient, tcp.DefaultConfig())
		n.host(addrBack, tcp.DefaultConfig()) // nothing listens
		app, _ := n.proxy(httpCfg(netip.AddrPortFrom(addrBack, 8080)))
		s := &stream{out: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), noShut: true}
		n.dial(cl, s)
		n.run(10*time.Second, func() bool { return s.done })
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 502 {
			t.Fatalf("status %d, want 502", rs[0].StatusCode)
		}
		if c := app.lsts[0].stats[LstHTTP502]; c != 1 {
			t.Fatalf("http_502 = %d", c)
		}
	})
	t.Run("reset", func(t *testing.T) {
		b := newHTTPBed(t, 1, nil)
		s := b.do("GET /drop HTTP/1.1\r\nHost: a\r\n\r\n", false, 10*time.Second)
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 502 {
			t.Fatalf("status %d, want 502", rs[0].StatusCode)
		}
	})
	t.Run("closed without an answer", func(t *testing.T) {
		b := newHTTPBed(t, 1, nil)
		s := b.do("GET /fin HTTP/1.1\r\nHost: a\r\n\r\n", false, 10*time.Second)
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 502 {
			t.Fatalf("status %d, want 502", rs[0].StatusCode)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		b := newHTTPBed(t, 1, func(c *config.Config) { c.Backends[0].ServerTimeout = 2 * time.Second })
		s := b.do("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n", false, 10*time.Second)
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 504 {
			t.Fatalf("status %d, want 504", rs[0].StatusCode)
		}
	})
	t.Run("no server", func(t *testing.T) {
		b := newHTTPBed(t, 1, func(c *config.Config) { c.Backends[0].Servers[0].Weight = 0 })
		s := b.do("GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, 10*time.Second)
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 503 {
			t.Fatalf("status %d, want 503", rs[0].StatusCode)
		}
	})
}

// A slow client's head is cut at timeout http-request with 408; a
// keep-alive client idle past timeout http-keep-alive is closed.
func TestHTTPClientTimeouts(t *testing.T) {
	b := newHTTPBed(t, 1, func(c *config.Config) {
		c.Listeners[0].HTTPRequestTimeout = 3 * time.Second
		c.Listeners[0].KeepAliveTimeout = 2 * time.Second
	})
	s := &stream{out: []byte("GET / HTTP/1.1\r\nHo"), noShut: true, closeOnEOF: true}
	b.n.dial(b.cl, s)
	b.n.run(2500*time.Millisecond, nil)
	if s.done || s.got.Len() != 0 {
		t.Fatalf("answered before the timeout: %q", s.got.String())
	}
	b.n.run(5*time.Second, func() bool { return s.done })
	if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 408 {
		t.Fatalf("status %d, want 408", rs[0].StatusCode)
	}
	start := b.n.now
	s = &stream{out: []byte("GET /len/3 HTTP/1.1\r\nHost: a\r\n\r\n"), noShut: true, closeOnEOF: true}
	b.n.dial(b.cl, s)
	b.n.run(10*time.Second, func() bool { return s.done })
	if !s.done || s.err != nil {
		t.Fatalf("idle keep-alive client: done %v err %v", s.done, s.err)
	}
	if d := b.n.now.Sub(start); d < 2*time.Second || d > 3*time.Second {
		t.Fatalf("closed after %v, want about the 2 s keep-alive timeout", d)
	}
	l := &b.app.lsts[0].stats
	if l[LstHTTPRequestTimeouts] != 1 || l[LstHTTPKeepAliveTimeouts] != 1 {
		t.Fatalf("request timeouts %d, keep-alive timeouts %d", l[LstHTTPRequestTimeouts], l[LstHTTPKeepAliveTimeouts])
	}
}

// A pooled connection the server closed just as a request went out on it:
// the request (a GET, no body) is sent again on a new connection.
func TestHTTPRetryOnPooledConnClosed(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	s := b.do("GET /len/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, 5*time.Second)
	if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != 200 {
		t.Fatal(rs[0].StatusCode)
	}
	// The server drops its idle connection without telling the proxy.
	var srvConn *tcp.Conn
	for c := range b.back[0].bufs {
		srvConn = c
	}
	if srvConn == nil {
		t.Fatal("no backend connection to drop")
	}
	saved := b.n.loss
	b.n.loss = 1 // the RST is lost
	srvConn.Abort()
	b.n.loss = saved
	b.n.left = 0
	s = b.do("GET /len/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, 10*time.Second)
	rs := responses(t, s.got.Bytes(), "GET")
	if rs[0].StatusCode != 200 || string(readBody(rs[0])) != string(body(2, 2)) {
		t.Fatalf("status %d", rs[0].StatusCode)
	}
	srv := &b.app.groups[0].servers[0].stats
	if srv[SrvRetries] != 1 || b.back[0].conns != 2 {
		t.Fatalf("retries %d, backend connections %d; want 1 and 2", srv[SrvRetries], b.back[0].conns)
	}
}

// An upgrade switches the pair to a tunnel: bytes pass both ways as they
// are.
func TestHTTPUpgradeTunnel(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	s := &stream{out: []byte("GET /upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello tunnel"), noShut: true}
	b.n.dial(b.cl, s)
	b.n.run(5*time.Second, func() bool { return bytes.HasSuffix(s.got.Bytes(), []byte("hello tunnel")) })
	if !bytes.HasPrefix(s.got.Bytes(), []byte("HTTP/1.1 101 ")) || !bytes.HasSuffix(s.got.Bytes(), []byte("\r\n\r\nhello tunnel")) {
		t.Fatalf("got %q", s.got.String())
	}
	if !strings.Contains(b.back[0].heads[0], "Upgrade: echo") {
		t.Fatalf("the Upgrade field did not go on:\n%s", b.back[0].heads[0])
	}
}

// cannedBackend answers every request head (no bodies) with one fixed
// response, allocating nothing.
type cannedBackend struct{ resp []byte }

func (b *cannedBackend) Established(*tcp.Conn)   {}
func (b *cannedBackend) Writable(*tcp.Conn)      {}
func (b *cannedBackend) Closed(*tcp.Conn, error) {}
func (b *cannedBackend) Readable(c *tcp.Conn) {
	for {
		x, _ := c.Peek()
		if len(x) == 0 {
			break
		}
		heads := bytes.Count(x, []byte("\r\n\r\n"))
		c.Consume(len(x))
		for ; heads > 0; heads-- {
			c.Write(b.resp)
		}
	}
}

// Steady-state keep-alive forwarding allocates nothing: requests and
// responses through a client connection and a pooled backend connection.
func TestHTTPKeepAliveAllocatesNothing(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + strings.Repeat("x", 500))
	if _, err := bk.Listen(8080, 0, &cannedBackend{resp: resp}); err != nil {
		t.Fatal(err)
	}
	app, _ := n.proxy(httpCfg(netip.AddrPortFrom(addrBack, 8080)))
	s := &stream{noShut: true}
	n.dial(cl, s)
	n.run(time.Second, func() bool { return s.conn != nil })
	req := []byte("GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n")
	round := func() {
		s.got.Reset()
		if w, err := s.conn.Write(req); err != nil || w != len(req) {
			t.Fatalf("Write = %d, %v", w, err)
		}
		n.run(time.Second, func() bool { return s.got.Len() >= len(resp) })
	}
	for i := 0; i < 50; i++ {
		round()
	}
	if !bytes.HasPrefix(s.got.Bytes(), []byte("HTTP/1.1 200 OK\r\n")) {
		t.Fatalf("got %q", s.got.String())
	}
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocations per request", a)
	}
	if r := app.groups[0].servers[0].stats[SrvPoolReused]; r < 249 {
		t.Fatalf("pool reused %d times in 250 requests", r)
	}
}

// statusBackend answers every request head with status code and no body,
// and records the request lines it got.
type statusBackend struct {
	code  int
	lines []string
}

func (b *statusBackend) Established(*tcp.Conn)   {}
func (b *statusBackend) Writable(*tcp.Conn)      {}
func (b *statusBackend) Closed(*tcp.Conn, error) {}
func (b *statusBackend) Readable(c *tcp.Conn) {
	x, _ := c.Peek()
	if i := bytes.Index(x, []byte("\r\n\r\n")); i >= 0 {
		b.lines = append(b.lines, string(x[:bytes.IndexByte(x, '\r')]))
		c.Consume(i + 4)
		c.Write(fmt.Appendf(nil, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", b.code))
	}
}

// An HTTP health check passes on the expected status only: a server that
// answers 500 goes down, and comes back when it answers 200 again; the
// checks leave no TIME_WAIT on the proxy.
func TestHTTPHealthCheck(t *testing.T) {
	n := newTestNet(t)
	bk := n.host(addrBack, tcp.DefaultConfig())
	sb := &statusBackend{code: 200}
	if _, err := bk.Listen(8080, 0, sb); err != nil {
		t.Fatal(err)
	}
	cfg := httpCfg(netip.AddrPortFrom(addrBack, 8080))
	cfg.Backends[0].Health = config.Health{Type: "http", Method: "GET", Path: "/healthz", Expect: 200,
		Inter: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2}
	app, _ := n.proxy(cfg)
	up := func() bool { app.pub.Load().store(app); return app.Published().Groups[0].Servers[0].Up.Load() }
	n.run(2*time.Second, nil)
	if !up() || len(sb.lines) < 3 || sb.lines[0] != "GET /healthz HTTP/1.1" {
		t.Fatalf("up %v after checks %q", up(), sb.lines)
	}
	sb.code = 500
	n.run(2*time.Second, nil)
	if up() {
		t.Fatal("still up 2 s after the server began answering 500")
	}
	sb.code = 200
	n.run(2*time.Second, nil)
	if !up() {
		t.Fatal("not up 2 s after the server answered 200 again")
	}
	if tw := n.hosts[addrProxy.As16()].TimeWaitEntries(); tw != 0 {
		t.Fatalf("checks left %d TIME_WAIT entries", tw)
	}
}

// Requests go to the group their Host and path choose: the longest path
// prefix wins, then a route with a host; the rest go to the default group.
func TestHTTPRoutesByHostAndPath(t *testing.T) {
	n := newTestNet(t)
	cl := n.host(addrClient, tcp.DefaultConfig())
	bk := n.host(addrBack, tcp.DefaultConfig())
	sbs := map[string]*statusBackend{}
	cfg := httpCfg(netip.AddrPortFrom(addrBack, 8000))
	cfg.Backends[0].Name = "web"
	for i, name := range []string{"web", "api", "apiv2", "img", "imgapi"} {
		sb := &statusBackend{code: 200 + i}
		sbs[name] = sb
		if _, err := bk.Listen(uint16(8000+i), 0, sb); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			g := cfg.Backends[0]
			g.Name, g.Servers = name, []config.Server{{Name: "s", Addr: netip.AddrPortFrom(addrBack, uint16(8000+i)), Weight: 1}}
			cfg.Backends = append(cfg.Backends, g)
		}
	}
	cfg.Listeners[0].Backend = "web"
	cfg.Listeners[0].Routes = []config.Route{
		{Backend: "api", PathPrefix: "/api/"},
		{Backend: "apiv2", PathPrefix: "/api/v2/"},
		{Backend: "img", Host: "img.example"},
		{Backend: "imgapi", Host: "img.example", PathPrefix: "/api/"},
	}
	n.proxy(cfg)
	for _, tc := range []struct {
		host, target string
		status       int
	}{
		{"a.example", "/", 200},
		{"a.example", "/api", 200},
		{"a.example", "/api/x?y=/api/v2/", 201},
		{"a.example", "/api/v2/users", 202},
		{"IMG.example:8080", "/logo.png", 203},
		{"img.example", "/api/v2/x", 202}, // the longer prefix beats the host
		{"img.example", "/api/x", 204},    // equal prefixes: the one with a host
		{"a.example", "http://img.example/api/x", 204},
	} {
		host := tc.host
		if strings.HasPrefix(tc.target, "http://") {
			host = "img.example"
		}
		s := &stream{out: []byte("GET " + tc.target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"), noShut: true, closeOnEOF: true}
		n.dial(cl, s)
		n.run(5*time.Second, func() bool { return s.done })
		if rs := responses(t, s.got.Bytes(), "GET"); rs[0].StatusCode != tc.status {
			t.Errorf("Host %s, %s: status %d, want %d", host, tc.target, rs[0].StatusCode, tc.status)
		}
	}
}

// A drain closes keep-alive clients idle between requests at once, and a
// client whose request is in progress after its answer.
func TestHTTPDrainClosesIdleClients(t *testing.T) {
	b := newHTTPBed(t, 1, nil)
	idle := &stream{out: []byte("GET /len/1 HTTP/1.1\r\nHost: a\r\n\r\n"), noShut: true, closeOnEOF: true}
	b.n.dial(b.cl, idle)
	busy := &stream{out: []byte("GET /len/2 HTTP/1.1\r\nHost: a\r\n\r\n"), noShut: true, closeOnEOF: true}
	b.n.run(time.Second, func() bool { return idle.got.Len() > 0 })
	b.n.dial(b.cl, busy)
	b.n.run(time.Millisecond, nil) // busy's request is on its way
	b.app.Drain()
	b.n.run(5*time.Second, func() bool { return idle.done && busy.done })
	if !idle.done || idle.err != nil {
		t.Fatalf("idle client: done %v err %v", idle.done, idle.err)
	}
	if rs := responses(t, busy.got.Bytes(), "GET"); !busy.done || rs[0].StatusCode != 200 {
		t.Fatalf("busy client: done %v status %d", busy.done, rs[0].StatusCode)
	}
	if b.app.Active() != 0 {
		t.Fatalf("%d pairs left after the drain", b.app.Active())
	}
}
