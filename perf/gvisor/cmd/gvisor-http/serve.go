package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Limits on a request head, as in pollstack's httpapp.
const (
	maxHeadBytes   = 8 << 10
	maxHeaderLines = 100
)

// writeBody writes n bytes of the pattern to w.
func writeBody(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(patternBuf)))
		if _, err := w.Write(patternBuf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// stdHandler answers through net/http.
type stdHandler struct{}

func (stdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := decide(r.Method, r.RequestURI)
	h := w.Header()
	h["Date"] = nil // net/http adds one unless told not to; pollstack sends none
	h["Server"] = []string{serverName}
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.FormatInt(a.size, 10)}
	if a.status == status405 {
		h["Allow"] = []string{"GET, HEAD"}
	}
	if a.status == status400 {
		h["Connection"] = []string{"close"} // pollstack closes after a bad request
	}
	w.WriteHeader(a.status)
	if r.Method == "HEAD" {
		return
	}
	if a.pattern {
		writeBody(w, a.size)
	} else {
		io.WriteString(w, a.text)
	}
}

// serveStd serves l with net/http until l fails.
func serveStd(l net.Listener) error {
	srv := &http.Server{Handler: stdHandler{}}
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serveLoop serves l with the hand-written HTTP/1.1 loop, one goroutine per
// connection, until Accept fails.
func serveLoop(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go serveConn(c)
	}
}

// request is what serveConn keeps of one request head.
type request struct {
	method, target string
	minor          int
	hosts          int
	contentLength  int64
	connClose      bool
	connKeepAlive  bool
	expect         bool
	chunked        bool
}

// errHead is a request head that gets an error status and a close.
type errHead int

func (e errHead) Error() string { return "bad request head: " + strconv.Itoa(int(e)) }

// readHead reads one request head from br. Empty lines before the request
// line are skipped, as pollstack does.
func readHead(br *bufio.Reader, req *request) error {
	*req = request{contentLength: -1}
	headBytes, nHeaders := 0, 0
	first := true
	for {
		line, err := br.ReadSlice('\n')
		headBytes += len(line)
		if errors.Is(err, bufio.ErrBufferFull) || headBytes > maxHeadBytes {
			return errHead(status431)
		}
		if err != nil {
			return err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if first {
			if len(line) == 0 {
				continue
			}
			if err := parseRequestLine(string(line), req); err != nil {
				return err
			}
			first = false
			continue
		}
		if len(line) == 0 {
			return nil
		}
		nHeaders++
		if nHeaders > maxHeaderLines {
			return errHead(status431)
		}
		if err := parseHeader(line, req); err != nil {
			return err
		}
	}
}

func parseRequestLine(line string, req *request) error {
	method, rest, ok := strings.Cut(line, " ")
	if !ok || method == "" || !isToken(method) {
		return errHead(status400)
	}
	target, version, ok := strings.Cut(rest, " ")
	if !ok || target == "" {
		return errHead(status400)
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return errHead(status400)
		}
	}
	if len(version) != len("HTTP/1.x") || version[:7] != "HTTP/1." || version[7] < '0' || version[7] > '9' {
		return errHead(status400)
	}
	req.method, req.target, req.minor = method, target, int(version[7]-'0')
	return nil
}

func parseHeader(line []byte, req *request) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errHead(status400) // obsolete line folding
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(string(line[:colon])) {
		return errHead(status400)
	}
	name := string(line[:colon])
	value := strings.Trim(string(line[colon+1:]), " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return errHead(status400)
		}
	}
	switch {
	case strings.EqualFold(name, "host"):
		req.hosts++
		if req.hosts > 1 {
			return errHead(status400)
		}
	case strings.EqualFold(name, "content-length"):
		v, ok := parseDecimal(value, 1<<63-1)
		if !ok || req.contentLength >= 0 && v != req.contentLength {
			return errHead(status400)
		}
		req.contentLength = v
	case strings.EqualFold(name, "transfer-encoding"):
		return errHead(status400)
	case strings.EqualFold(name, "connection"):
		for tok := range strings.SplitSeq(value, ",") {
			tok = strings.Trim(tok, " \t")
			switch {
			case strings.EqualFold(tok, "close"):
				req.connClose = true
			case strings.EqualFold(tok, "keep-alive"):
				req.connKeepAlive = true
			}
		}
	case strings.EqualFold(name, "expect"):
		if strings.EqualFold(value, "100-continue") {
			req.expect = true
		}
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return s != ""
}

// respond writes the answer to req on bw and reports whether the connection
// stays open.
func respond(bw *bufio.Writer, req *request, scratch []byte) (keep bool, err error) {
	keep = !req.connClose
	if req.minor == 0 {
		keep = keep && req.connKeepAlive
	}
	if req.contentLength > 0 && req.expect {
		keep = false
	}
	var a answer
	if req.minor >= 1 && req.hosts == 0 {
		a, keep = errorAnswer(status400), false
	} else {
		a = decide(req.method, req.target)
		if a.status != status200 && a.status != status405 {
			keep = false
		}
	}
	conn := ""
	switch {
	case !keep:
		conn = "close"
	case req.minor == 0:
		conn = "keep-alive"
	}
	if _, err := bw.Write(appendHead(scratch[:0], a, conn)); err != nil {
		return false, err
	}
	if req.method != "HEAD" {
		if a.pattern {
			err = writeBody(bw, a.size)
		} else {
			_, err = bw.WriteString(a.text)
		}
	}
	return keep, err
}

// serveConn answers requests on c until the client closes it or a response
// closes it. Responses to pipelined requests are flushed together.
func serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, maxHeadBytes)
	bw := bufio.NewWriterSize(c, 16<<10)
	scratch := make([]byte, 0, 256)
	var req request
	for {
		err := readHead(br, &req)
		var eh errHead
		if errors.As(err, &eh) {
			a := errorAnswer(int(eh))
			bw.Write(appendHead(scratch[:0], a, "close"))
			bw.WriteString(a.text)
			bw.Flush()
			return
		}
		if err != nil {
			return // EOF or a reset between requests
		}
		if req.contentLength > 0 && !req.expect {
			if _, err := io.CopyN(io.Discard, br, req.contentLength); err != nil {
				return
			}
		}
		keep, err := respond(bw, &req, scratch)
		if err != nil {
			return
		}
		if !keep {
			bw.Flush()
			return
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}
