package h1

import (
	"strings"
	"testing"
)

// A browser's request and a server's response, as a proxy sees them most.
var (
	typicalRequest = []byte("GET /static/app.js?v=3 HTTP/1.1\r\n" +
		"Host: www.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: */*\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Referer: https://www.example.com/\r\n" +
		"Connection: keep-alive\r\n" +
		"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
		"Sec-Fetch-Dest: script\r\n" +
		"Sec-Fetch-Mode: no-cors\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"If-None-Match: \"5f3a-17c\"\r\n" +
		"\r\n")
	typicalResponse = []byte("HTTP/1.1 200 OK\r\n" +
		"Server: nginx/1.26.0\r\n" +
		"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Content-Type: application/javascript\r\n" +
		"Content-Length: 24012\r\n" +
		"Last-Modified: Sun, 31 Dec 2023 12:00:00 GMT\r\n" +
		"Connection: keep-alive\r\n" +
		"ETag: \"5f3a-17c\"\r\n" +
		"Cache-Control: max-age=3600\r\n" +
		"Accept-Ranges: bytes\r\n" +
		"\r\n")
	chunkedBody = func() []byte {
		var b []byte
		for range 16 {
			b = AppendChunkHeader(b, 4096)
			b = append(b, strings.Repeat("x", 4096)...)
			b = append(b, "\r\n"...)
		}
		return append(b, "0\r\n\r\n"...)
	}()
)

func parseTypical(t testing.TB, p *RequestParser, dst []byte, split int) []byte {
	p.Reset()
	var done bool
	var why Reason
	if split > 0 {
		_, done, why = p.FeedPair(typicalRequest[:split], typicalRequest[split:])
	} else {
		_, done, why = p.Feed(typicalRequest)
	}
	if !done || why != OK {
		t.Fatalf("%v %v", done, why)
	}
	return p.AppendHead(dst[:0], &testEdit)
}

// TestAllocs checks that parsing and editing heads and reading a chunked
// body allocate nothing in steady state: once a parser has its buffers (the
// first use, or a free list's parser), and the caller's output buffer has
// OutputBound bytes of room.
func TestAllocs(t *testing.T) {
	var p RequestParser
	dst := make([]byte, 0, 4096)
	parseTypical(t, &p, dst, 100) // grow the buffers
	if n := testing.AllocsPerRun(100, func() { parseTypical(t, &p, dst, 0) }); n != 0 {
		t.Errorf("request head in place: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { parseTypical(t, &p, dst, 100) }); n != 0 {
		t.Errorf("request head split: %v allocations", n)
	}
	if n := testing.AllocsPerRun(10, func() {
		p.Reset()
		for i := range typicalRequest {
			p.Feed(typicalRequest[i : i+1])
		}
		p.AppendHead(dst[:0], &testEdit)
	}); n != 0 {
		t.Errorf("request head a byte at a time: %v allocations", n)
	}
	if len(parseTypical(t, &p, dst, 0)) > p.OutputBound() {
		t.Errorf("output over its bound")
	}

	var r ResponseParser
	resp := func(split int) {
		r.Reset()
		r.SetRequest(MethodGET, false)
		if _, done, why := r.FeedPair(typicalResponse[:split], typicalResponse[split:]); !done || why != OK {
			t.Fatalf("%v %v", done, why)
		}
		r.AppendHead(dst[:0], &ResponseEdit{})
	}
	resp(50)
	if n := testing.AllocsPerRun(100, func() { resp(len(typicalResponse)) }); n != 0 {
		t.Errorf("response head in place: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { resp(50) }); n != 0 {
		t.Errorf("response head split: %v allocations", n)
	}

	var b Body
	if n := testing.AllocsPerRun(100, func() {
		b.Reset(Chunked, 0, Limits{})
		in := chunkedBody
		for !b.Done() {
			st, why := b.Next(in[:min(len(in), 1448)])
			if why != OK {
				t.Fatal(why)
			}
			in = in[st.N:]
		}
	}); n != 0 {
		t.Errorf("chunked body: %v allocations", n)
	}
}

func BenchmarkRequestHead(b *testing.B) {
	var p RequestParser
	b.SetBytes(int64(len(typicalRequest)))
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, _ := p.Feed(typicalRequest); !done {
			b.Fatal("not done")
		}
	}
}

// BenchmarkRequestHeadSplit: the head in two pieces, as across a receive
// ring's wrap: the copy into the parser's buffer is the difference.
func BenchmarkRequestHeadSplit(b *testing.B) {
	var p RequestParser
	b.SetBytes(int64(len(typicalRequest)))
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, _ := p.FeedPair(typicalRequest[:200], typicalRequest[200:]); !done {
			b.Fatal("not done")
		}
	}
}

// BenchmarkRequestHeadEdit: parse, then write the edited head.
func BenchmarkRequestHeadEdit(b *testing.B) {
	var p RequestParser
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(typicalRequest)))
	b.ReportAllocs()
	for b.Loop() {
		dst = parseTypical(b, &p, dst, 0)
	}
}

func BenchmarkResponseHead(b *testing.B) {
	var p ResponseParser
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(typicalResponse)))
	b.ReportAllocs()
	for b.Loop() {
		p.Reset()
		if _, done, _ := p.Feed(typicalResponse); !done {
			b.Fatal("not done")
		}
		dst = p.AppendHead(dst[:0], &ResponseEdit{})
	}
}

// BenchmarkChunkedBody: 64 KiB in 4 KiB chunks, given in windows of an
// MSS; the payload is not copied (the caller's copy into the send buffer is
// not counted).
func BenchmarkChunkedBody(b *testing.B) {
	var body Body
	b.SetBytes(int64(len(chunkedBody)))
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(Chunked, 0, Limits{})
		in := chunkedBody
		for !body.Done() {
			st, _ := body.Next(in[:min(len(in), 1448)])
			in = in[st.N:]
		}
	}
}
