package h1

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// ring plays a connection's receive buffer: bytes arrive in segments of
// random size, Peek hands out what has arrived in at most two pieces split
// where a ring of cap bytes wraps, Consume drops bytes from the front.
type ring struct {
	stream  []byte
	off     int // consumed
	arrived int
	cap     int
	rng     *rand.Rand
}

func (r *ring) arrive() {
	room := r.off + r.cap - r.arrived
	if room > 0 {
		r.arrived = min(len(r.stream), r.arrived+1+r.rng.IntN(min(room, 1460)))
	}
}

func (r *ring) peek() (a, b []byte) {
	end := r.arrived
	wrap := r.off + r.cap - r.off%r.cap
	if end <= wrap {
		return r.stream[r.off:end], nil
	}
	return r.stream[r.off:wrap], r.stream[wrap:end]
}

func (r *ring) consume(n int) { r.off += n }

// proxyStream runs a client's byte stream through the parsers as the proxy
// app will: heads parsed from the ring (in place or split) and written
// edited, bodies passed a window at a time with the room of a send buffer
// that drains at random, chunked ones re-framed. It returns what the server
// gets.
func proxyStream(t *testing.T, stream []byte, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	in := &ring{stream: stream, cap: 4096, rng: rng}
	var out []byte
	var p RequestParser
	var body Body
	scratch := make([]byte, 0, 8192)
	inHead := true
	p.Reset()
	for steps := 0; in.off < len(stream); steps++ {
		if steps > 1e6 {
			t.Fatal("no progress")
		}
		in.arrive()
		a, b := in.peek()
		if inHead {
			n, done, why := p.FeedPair(a, b)
			if why != OK {
				t.Fatalf("at %d: %v", in.off, why)
			}
			if !done {
				in.consume(n)
				continue
			}
			scratch = p.AppendHead(scratch[:0], &RequestEdit{Forwarding: XForwardedFor})
			out = append(out, scratch...)
			in.consume(n)
			r := p.Request()
			body.Reset(r.Framing, r.ContentLength, Limits{})
			inHead = body.Done()
			p.Reset()
			continue
		}
		room := 1 + rng.IntN(3000) // what the server leg's send buffer takes now
		if room < MaxEmit {
			continue
		}
		for _, piece := range [][]byte{a, b} {
			w := piece[:min(len(piece), room-MaxEmit)]
			st, why := body.Next(w)
			if why != OK {
				t.Fatalf("body at %d: %v", in.off, why)
			}
			if st.Data {
				out = append(out, w[:st.N]...)
			} else {
				out = append(out, st.Emit...)
			}
			in.consume(st.N)
			room -= st.N + len(st.Emit)
			if st.N < len(piece) || body.Done() || room < MaxEmit {
				break
			}
		}
		if body.Done() {
			inHead = true
		}
	}
	return out
}

// TestProxyStream pipelines requests with bodies far larger than the ring
// (Content-Length and chunked with extensions and trailers) through
// proxyStream under many seeds, and checks the server reads the same
// requests and payloads, the chunked ones re-framed.
func TestProxyStream(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20000) // 320 KB
	var chunked []byte
	for i := 0; i < len(big); {
		n := min(len(big)-i, 1+i%7919)
		chunked = AppendChunkHeader(chunked, n)
		chunked = append(chunked[:len(chunked)-2], ";ext=\"v\"\r\n"...)
		chunked = append(chunked, big[i:i+n]...)
		chunked = append(chunked, "\r\n"...)
		i += n
	}
	chunked = append(chunked, "0\r\nX-Sum: 1\r\n\r\n"...)
	stream := []byte("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 320000\r\n\r\n" + big +
		"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" + string(chunked) +
		"\r\nGET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	for seed := range uint64(20) {
		out := proxyStream(t, stream, seed)
		if bytes.Contains(out, []byte(";ext=")) || bytes.Contains(out, []byte("X-Sum")) {
			t.Errorf("seed %d: chunk extensions or trailers passed on", seed)
		}
		// What the server reads.
		var p RequestParser
		var body Body
		var targets []string
		for len(out) > 0 {
			p.Reset()
			n, done, why := p.Feed(out)
			if !done || why != OK {
				t.Fatalf("seed %d: server reads %v %v at %q", seed, done, why, out[:min(len(out), 80)])
			}
			r := p.Request()
			targets = append(targets, string(r.Target))
			out = out[n:]
			body.Reset(r.Framing, r.ContentLength, Limits{})
			var payload []byte
			for !body.Done() {
				st, why := body.Next(out)
				if why != OK || st.N == 0 {
					t.Fatalf("seed %d: server body %v", seed, why)
				}
				if st.Data {
					payload = append(payload, out[:st.N]...)
				}
				out = out[st.N:]
			}
			if r.HasBody() && !bytes.Equal(payload, []byte(big)) {
				t.Fatalf("seed %d: %s: payload of %d bytes", seed, r.Target, len(payload))
			}
			if _, ok := p.Get("trailer"); ok {
				t.Errorf("seed %d: Trailer passed on", seed)
			}
		}
		if got := strings.Join(targets, " "); got != "/1 /2 /3 /4" {
			t.Fatalf("seed %d: server reads %s", seed, got)
		}
	}
}
