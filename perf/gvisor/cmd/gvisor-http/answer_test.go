package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wantBody is the body pollstack's serve --app http sends for size=n.
func wantBody(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(pattern[i%len(pattern)])
	}
	return b.String()
}

// TestSameConstantsAsPollstack checks the constants repeated from
// internal/apps/httpapp against its source, when the module sits in
// pollstack's tree.
func TestSameConstantsAsPollstack(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "internal", "apps", "httpapp", "params.go"))
	if err != nil {
		t.Skipf("pollstack's httpapp not found beside this module: %v", err)
	}
	for _, want := range []string{
		"Pattern = " + strconv.Quote(pattern),
		"DefaultBody       = " + strconv.Quote(defaultBody),
		"DefaultMaxSize    = int64(1) << 30",
		"MaxHeadBytes = 8 << 10",
		"MaxHeaderLines = 100",
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("httpapp/params.go has no %q", want)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/", 200, "hello\n"},
		{"GET", "/anything?x=1", 200, "hello\n"},
		{"HEAD", "/", 200, "hello\n"},
		{"GET", "/?size=0", 200, ""},
		{"GET", "/?size=1", 200, "A"},
		{"GET", "/?size=65", 200, wantBody(65)},
		{"GET", "/?a=b&size=3&c", 200, "ABC"},
		{"GET", "/?size=5&size=2", 200, "AB"},
		{"GET", "/?size=", 400, "Bad Request\n"},
		{"GET", "/?size", 400, "Bad Request\n"},
		{"GET", "/?size=-1", 400, "Bad Request\n"},
		{"GET", "/?size=1x", 400, "Bad Request\n"},
		{"GET", "/?size=1073741824", 200, ""}, // body not checked below
		{"GET", "/?size=1073741825", 400, "Bad Request\n"},
		{"POST", "/", 405, "Method Not Allowed\n"},
	} {
		a := decide(tc.method, tc.target)
		if a.status != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, a.status, tc.status)
			continue
		}
		if tc.target == "/?size=1073741824" {
			if !a.pattern || a.size != 1<<30 {
				t.Errorf("%s %s: %+v", tc.method, tc.target, a)
			}
			continue
		}
		var body bytes.Buffer
		if a.pattern {
			writeBody(&body, a.size)
		} else {
			body.WriteString(a.text)
		}
		if body.String() != tc.body || int64(body.Len()) != a.size {
			t.Errorf("%s %s: body %q (Content-Length %d), want %q", tc.method, tc.target, body.String(), a.size, tc.body)
		}
	}
}

func TestWriteBodyLong(t *testing.T) {
	for _, n := range []int{len(patternBuf) - 1, len(patternBuf), len(patternBuf) + 1, 3*len(patternBuf) + 7} {
		var b bytes.Buffer
		if err := writeBody(&b, int64(n)); err != nil {
			t.Fatal(err)
		}
		if b.String() != wantBody(n) {
			t.Errorf("size=%d: body differs from the pattern", n)
		}
	}
}

func TestAppendHead(t *testing.T) {
	got := string(appendHead(nil, decide("GET", "/"), ""))
	want := "HTTP/1.1 200 OK\r\nServer: gvisor-netstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n"
	if got != want {
		t.Errorf("head %q, want %q", got, want)
	}
	got = string(appendHead(nil, decide("PUT", "/"), "close"))
	want = "HTTP/1.1 405 Method Not Allowed\r\nServer: gvisor-netstack\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n"
	if got != want {
		t.Errorf("head %q, want %q", got, want)
	}
}

// exchange writes req to serveConn over an in-memory pipe and reads the
// responses until the server closes the connection or idle passes.
// methods[i] is the method of request i when not GET (HEAD responses have
// no body).
func exchange(t *testing.T, req string, methods ...string) []*http.Response {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		serveConn(server)
		close(done)
	}()
	go func() {
		io.WriteString(client, req)
	}()
	var resps []*http.Response
	br := bufio.NewReader(client)
	for {
		client.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		method := "GET"
		if len(resps) < len(methods) && methods[len(resps)] != "" {
			method = methods[len(resps)]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			break
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body: %v", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resps = append(resps, resp)
	}
	client.Close()
	<-done
	return resps
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestLoopKeepAlivePipelined(t *testing.T) {
	resps := exchange(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /?size=100000 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"HEAD /?size=7 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /?size=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"+
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // after close: not answered
		"", "", "HEAD")
	want := []struct {
		status int
		body   string
		length int64
		close  bool
	}{
		{200, "hello\n", 6, false},
		{200, wantBody(100000), 100000, false},
		{200, "", 7, false},
		{405, "Method Not Allowed\n", 19, false},
		{200, "ABCDE", 5, true},
	}
	if len(resps) != len(want) {
		t.Fatalf("%d responses, want %d", len(resps), len(want))
	}
	for i, w := range want {
		r := resps[i]
		if r.StatusCode != w.status || r.ContentLength != w.length || r.Close != w.close {
			t.Errorf("response %d: status %d length %d close %v, want %d %d %v", i, r.StatusCode, r.ContentLength, r.Close, w.status, w.length, w.close)
		}
		if b := bodyOf(r); b != w.body {
			t.Errorf("response %d: body of %d bytes, want %d", i, len(b), len(w.body))
		}
	}
}

func TestLoopErrors(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"bad size", "GET /?size=x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"bad version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400},
		{"folding", "GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", 400},
		{"long head", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n", 431},
	} {
		resps := exchange(t, tc.req)
		if len(resps) != 1 || resps[0].StatusCode != tc.status || !resps[0].Close {
			t.Errorf("%s: %d responses, want one %d with Connection: close", tc.name, len(resps), tc.status)
			for _, r := range resps {
				t.Logf("  %s", r.Status)
			}
		}
	}
}

func TestLoopHTTP10(t *testing.T) {
	resps := exchange(t, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /?size=2 HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
	if len(resps) != 2 {
		t.Fatalf("%d responses, want 2", len(resps))
	}
	if resps[0].Header.Get("Connection") != "keep-alive" || bodyOf(resps[0]) != "hello\n" {
		t.Errorf("first: %v %q", resps[0].Header, bodyOf(resps[0]))
	}
	if !resps[1].Close || bodyOf(resps[1]) != "AB" {
		t.Errorf("second: close %v body %q", resps[1].Close, bodyOf(resps[1]))
	}
}

func TestLoopRequestBodySkipped(t *testing.T) {
	resps := exchange(t, "GET /?size=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nxxxxxGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if len(resps) != 2 || bodyOf(resps[0]) != "ABC" || bodyOf(resps[1]) != "hello\n" {
		t.Fatalf("got %d responses", len(resps))
	}
}

func TestStdHandler(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/", 200, "hello\n"},
		{"GET", "/?size=70000", 200, wantBody(70000)},
		{"HEAD", "/?size=70000", 200, ""},
		{"GET", "/?size=bad", 400, "Bad Request\n"},
		{"POST", "/", 405, "Method Not Allowed\n"},
	} {
		rec := httptest.NewRecorder()
		stdHandler{}.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s %s: %d with %d bytes, want %d with %d", tc.method, tc.target, rec.Code, rec.Body.Len(), tc.status, len(tc.body))
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.target, ct)
		}
		if _, ok := rec.Header()["Date"]; ok && rec.Header()["Date"] != nil {
			t.Errorf("%s %s: Date header set", tc.method, tc.target)
		}
	}
}
