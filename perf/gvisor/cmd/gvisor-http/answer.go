package main

import (
	"strconv"
	"strings"
)

// The answers of pollstack's `serve --app http` (internal/apps/httpapp):
// "hello\n" for any target without size=, N bytes of pattern for ?size=N,
// 400 for a bad or too large size=, 405 for methods other than GET and HEAD.
// The module cannot import pollstack's internal packages, so the constants
// are repeated here; answer_test.go pins them.
const (
	defaultBody = "hello\n"
	maxSize     = int64(1) << 30

	// pattern is the alphabet size=N bodies repeat: byte i of such a body
	// is pattern[i%len(pattern)] (httpapp.Pattern).
	pattern = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.\n"

	serverName = "gvisor-netstack"
)

// patternBuf holds pattern repeated; size=N bodies are written out of it.
// Its length is a multiple of len(pattern), so consecutive copies continue
// the pattern.
var patternBuf = func() []byte {
	b := make([]byte, 1024*len(pattern)) // 64 KiB
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b
}()

// Status codes this server answers with.
const (
	status200 = 200
	status400 = 400
	status405 = 405
	status431 = 431
)

var statusLine = map[int]string{
	status200: "HTTP/1.1 200 OK\r\n",
	status400: "HTTP/1.1 400 Bad Request\r\n",
	status405: "HTTP/1.1 405 Method Not Allowed\r\n",
	status431: "HTTP/1.1 431 Request Header Fields Too Large\r\n",
}

var statusBody = map[int]string{
	status400: "Bad Request\n",
	status405: "Method Not Allowed\n",
	status431: "Request Header Fields Too Large\n",
}

// answer is what one request gets: a status, and a body that is either text
// or size bytes of the pattern.
type answer struct {
	status  int
	text    string // body when !pattern
	size    int64  // Content-Length
	pattern bool
}

// decide answers method and target (the request line's second field).
func decide(method, target string) answer {
	if method != "GET" && method != "HEAD" {
		return errorAnswer(status405)
	}
	size, ok := parseTargetSize(target)
	switch {
	case !ok:
		return errorAnswer(status400)
	case size >= 0:
		return answer{status: status200, size: size, pattern: true}
	default:
		return answer{status: status200, text: defaultBody, size: int64(len(defaultBody))}
	}
}

func errorAnswer(status int) answer {
	body := statusBody[status]
	return answer{status: status, text: body, size: int64(len(body))}
}

// parseTargetSize returns the value of the last size= parameter in the query
// of target, -1 if there is none, and false if one is empty, not decimal, or
// larger than maxSize. Other parameters are ignored.
func parseTargetSize(target string) (int64, bool) {
	q := strings.IndexByte(target, '?')
	if q < 0 {
		return -1, true
	}
	size := int64(-1)
	for param := range strings.SplitSeq(target[q+1:], "&") {
		name, value, hasValue := strings.Cut(param, "=")
		if name != "size" {
			continue
		}
		if !hasValue {
			return 0, false
		}
		v, ok := parseDecimal(value, maxSize)
		if !ok {
			return 0, false
		}
		size = v
	}
	return size, true
}

// parseDecimal parses a non-empty run of decimal digits no larger than max.
func parseDecimal(s string, max int64) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > max/10 || v == max/10 && d > max%10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// appendHead appends the response head for a to dst. conn is "close",
// "keep-alive" or "" (no Connection header).
func appendHead(dst []byte, a answer, conn string) []byte {
	dst = append(dst, statusLine[a.status]...)
	dst = append(dst, "Server: "+serverName+"\r\nContent-Type: text/plain\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, a.size, 10)
	dst = append(dst, "\r\n"...)
	if a.status == status405 {
		dst = append(dst, "Allow: GET, HEAD\r\n"...)
	}
	if conn != "" {
		dst = append(dst, "Connection: "...)
		dst = append(dst, conn...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}
