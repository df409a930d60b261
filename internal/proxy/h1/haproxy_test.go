package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// haproxyAccepts lists the request cases this package refuses and HAProxy
// (2.6, with its defaults) takes, and why we differ: HAProxy is lenient
// where RFC 9112 lets a recipient be, and where it is not, it trusts the
// server to refuse. The test fails on a case HAProxy takes and we refuse
// that is not listed, and on a listed one that no longer differs.
var haproxyAccepts = map[string]string{
	"3 two spaces":                                          "HAProxy splits the request line on runs of whitespace (RFC 9112 3 allows it); we take single spaces only",
	"3 tab separator":                                       "the same",
	"2.3 HTTP/2.0":                                          "HAProxy takes any HTTP/DIGIT.DIGIT; we answer 505 to a major version other than 1",
	"2.3 HTTP/0.9":                                          "the same",
	"3 request line over MaxLine":                           "HAProxy bounds only the head (16 KiB); we bound a line as nginx does (8 KiB)",
	"RFC 6585 5 field line over MaxLine":                    "the same",
	"3.2.2 scheme other than http":                          "HAProxy takes any scheme",
	"3.2.2 empty host":                                      "HAProxy takes an empty authority (RFC 9110 4.2.1: MUST reject as invalid)",
	"RFC 9110 4.2.4 userinfo":                               "HAProxy takes userinfo (RFC 9110 4.2.4: SHOULD treat it as an error)",
	"3.2.4 asterisk without OPTIONS":                        "HAProxy takes \"*\" with any method",
	"5.2 obs-fold":                                          "HAProxy replaces obs-fold with SP (RFC 9112 5.2 allows either)",
	"5.2 obs-fold with a tab":                               "the same",
	"RFC 9110 5.5 NUL in a value":                           "HAProxy passes NUL in values (RFC 9110 5.5: reject, or replace with SP)",
	"RFC 9110 5.5 control in a value":                       "HAProxy passes controls other than CR and LF",
	"RFC 9110 5.5 DEL in a value":                           "the same",
	"RFC 9110 5.5 vertical tab in a value":                  "the same",
	"3.2 HTTP/1.1 without Host":                             "HAProxy does not require Host (RFC 9112 3.2: MUST answer 400)",
	"3.2 two Host lines":                                    "HAProxy takes several Host lines (RFC 9112 3.2: MUST answer 400)",
	"3.2 Host list":                                         "HAProxy does not check a Host value's syntax (RFC 9112 3.2: MUST answer 400)",
	"3.2 Host with space":                                   "the same",
	"3.2 Host with a path":                                  "the same",
	"3.2 Host with userinfo":                                "the same",
	"3.2 Host port too big":                                 "the same",
	"3.2 Host port not decimal":                             "the same",
	"3.2 Host unclosed bracket":                             "the same",
	"3.2 Host bad pct-encoding":                             "the same",
	"3.2 Host only a port":                                  "the same",
	"6.3 Content-Length and Transfer-Encoding":              "HAProxy drops Content-Length and closes after (RFC 9112 6.3 item 3 allows it); the issue asks for 400",
	"6.3 Transfer-Encoding and Content-Length":              "the same",
	"6.3 Content-Length repeated, same value":               "HAProxy merges identical values (RFC 9110 8.6 allows it); we refuse, as nginx does",
	"6.3 Content-Length list, same value":                   "the same",
	"6.1 Transfer-Encoding in HTTP/1.0":                     "HAProxy reads it as in HTTP/1.1 (RFC 9112 6.1: the framing is faulty)",
	"6.1 Transfer-Encoding in HTTP/1.0 with Content-Length": "the same",
	"RFC 9110 9.3.6 CONNECT with a body":                    "HAProxy passes a CONNECT request's body on",
	"RFC 9110 9.3.6 CONNECT chunked":                        "the same",
	"RFC 9110 7.6.1 too many Connection options":            "a limit of ours",
	"limits: small MaxLine":                                 "limits of the case's own, below HAProxy's",
	"limits: small MaxHead":                                 "the same",
	"limits: small MaxHeaders":                              "the same",
}

// haproxyRefuses lists the cases (and edits) we take and HAProxy refuses.
var haproxyRefuses = map[string]string{
	"6.1 codings are case-insensitive":             "HAProxy 2.6 answers 422 to a request coding other than chunked; gzip before chunked is valid (RFC 9112 6.1) and the server decodes it",
	"6.1 codings over two lines":                   "the same",
	"edit chunked requests keep Transfer-Encoding": "HAProxy 2.6 answers 422 to gzip before chunked",
	"edited limits: MaxHeaders fields":             "the edit adds four fields to the 100, past HAProxy's tune.http.maxhdr (101)",
	"RFC 9110 7.8 upgrade":                         "HAProxy checks a WebSocket handshake (Sec-WebSocket-Key, -Version) and answers 400 without it; here that is the server's business",
	"RFC 9110 7.8 upgrade ignored in HTTP/1.0":     "the same, even in HTTP/1.0, where RFC 9110 7.8 has Upgrade ignored",
	"limits: a 32 KiB head of 4000-byte cookies":   "HAProxy's buffer is 16 KiB (tune.bufsize); our head limit is nginx's 32 KiB",
}

// TestHAProxy sends every request case, and every edited head, to an
// HAProxy on loopback (when installed; CI requires it) that answers 200 to
// whatever it takes, and compares: where HAProxy refuses a request we
// take, or takes one we refuse, the case must be in the lists above, with
// the reason. Every head AppendHead writes must be taken.
func TestHAProxy(t *testing.T) {
	bedtest.NeedTools(t, "haproxy")
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`global
	maxconn 100
defaults
	mode http
	timeout connect 2s
	timeout client 2s
	timeout server 2s
frontend f
	bind %s
	http-request return status 200 content-type text/plain string ok
`, addr)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", log.String())
		}
	}()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 50 {
			t.Fatalf("haproxy does not listen: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// status sends a request and returns the status HAProxy answers, 0
	// for none.
	status := func(req []byte) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(req)
		line, _ := bufio.NewReader(c).ReadString('\n')
		var s int
		if _, err := fmt.Sscanf(line, "HTTP/1.%d %d", new(int), &s); err != nil {
			return 0
		}
		return s
	}
	var p RequestParser
	for _, tc := range reqCases {
		p.Limits = tc.lim
		p.Reset()
		_, done, why := p.Feed([]byte(tc.in))
		ours := why == OK && done
		theirs := status([]byte(tc.in))
		accepts, refuses := haproxyAccepts[tc.name], haproxyRefuses[tc.name]
		switch {
		case ours && theirs != 200 && refuses != "":
			t.Logf("%s: HAProxy answers %d: %s", tc.name, theirs, refuses)
		case ours && theirs != 200:
			t.Errorf("%s: HAProxy answers %d, we take it", tc.name, theirs)
		case !ours && theirs == 200 && accepts != "":
			t.Logf("%s: we answer %d, HAProxy takes it: %s", tc.name, why.Status(), accepts)
		case !ours && theirs == 200:
			t.Errorf("%s: we answer %d (%v), HAProxy takes it", tc.name, why.Status(), why)
		case accepts != "" || refuses != "":
			t.Errorf("%s: listed as a difference, but we answer %d and HAProxy %d", tc.name, why.Status(), theirs)
		}
		if !ours {
			continue
		}
		out := p.AppendHead(nil, &testEdit)
		if s := status(out); s != 200 && refuses == "" && haproxyRefuses["edited "+tc.name] == "" {
			t.Errorf("%s: edited head %q: HAProxy answers %d", tc.name, out, s)
		}
	}
	for _, tc := range editCases {
		p.Limits = Limits{}
		p.Reset()
		if _, done, why := p.Feed([]byte(tc.in)); !done || why != OK {
			t.Fatalf("%s: %v %v", tc.name, done, why)
		}
		out := p.AppendHead(nil, &tc.e)
		s := status(out)
		switch refuses := haproxyRefuses["edit "+tc.name]; {
		case s != 200 && refuses != "":
			t.Logf("edit %s: HAProxy answers %d: %s", tc.name, s, refuses)
		case s != 200:
			t.Errorf("edit %s: %q: HAProxy answers %d", tc.name, out, s)
		case refuses != "":
			t.Errorf("edit %s: listed as refused, but HAProxy answers %d", tc.name, s)
		}
	}
}
