package load

import (
	"bytes"
	"strings"
	"testing"
)

func TestRespParserSplitAnywhere(t *testing.T) {
	for _, resp := range []string{
		"HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n",
		"HTTP/1.1 200 OK\r\ncontent-length:  11 \r\nConnection: Close\r\n\r\nhello world",
		"HTTP/1.0 200\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("x", 3000),
	} {
		for cut := 0; cut <= len(resp); cut++ {
			for cut2 := cut; cut2 <= len(resp); cut2 += max(1, len(resp)/7) {
				var p Parser
				p.Reset()
				pieces := [][]byte{[]byte(resp[:cut]), []byte(resp[cut:cut2]), []byte(resp[cut2:])}
				used, last := 0, More
				for _, b := range pieces {
					if len(b) == 0 {
						continue
					}
					n, r := p.Feed(b)
					used += n
					last = r
					if r != More {
						break
					}
				}
				if last != Done || used != len(resp) || p.BodyLen() != p.ContentLength() {
					t.Fatalf("%q cut at %d and %d: %v after %d bytes, body %d of %d", resp, cut, cut2, last, used, p.BodyLen(), p.ContentLength())
				}
				if want := strings.Contains(resp, "Close"); p.ConnClose() != want {
					t.Fatalf("%q: connClose %v", resp, p.ConnClose())
				}
			}
		}
	}
}

func TestRespParserStopsAtTheEndOfTheResponse(t *testing.T) {
	var p Parser
	p.Reset()
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
	n, r := p.Feed(in)
	if r != Done || !bytes.Equal(in[n:], []byte("HTTP/1.1 200 OK\r\n")) {
		t.Fatalf("%v after %d bytes", r, n)
	}
}

func TestRespParserRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ParseResult
	}{
		{"HTTP/1.1 404 Not Found\r\n", BadStatus},
		{"HTTP/1.1 204 No Content\r\n", BadStatus},
		{"HTTP/2 200 OK\r\n", Bad},
		{"HTTP/1.1 20 OK\r\n", Bad},
		{"HTTP/1.1 200OK\r\n", Bad},
		{"HTTP/1.1 200 O\x01K\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\n folded\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\n\r\n", Bad},
		{"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", MaxLine) + "\r\n", Bad},
		{"HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: b\r\n", MaxHead/8+1), Bad},
	} {
		var p Parser
		p.Reset()
		if _, r := p.Feed([]byte(tc.in)); r != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, r, tc.want)
		}
	}
}

func TestRespParserDoesNotAllocate(t *testing.T) {
	in := []byte("HTTP/1.1 200 OK\r\nServer: pollstack\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n")
	var p Parser
	if a := testing.AllocsPerRun(100, func() {
		p.Reset()
		if _, r := p.Feed(in); r != Done {
			t.Fatal(r)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per response", a)
	}
}
