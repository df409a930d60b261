package h1

import (
	"strings"
	"testing"
)

// bodyResult is what a Body makes of a stream: the payload, the stream
// re-framed, the bytes taken, and how it ended.
type bodyResult struct {
	data, reframed string
	n              int
	done           bool
	why            Reason
}

// readBody runs a Body over data cut at the given offsets, each piece
// given to Next until it is taken or the body ends.
func readBody(b *Body, data []byte, cuts ...int) bodyResult {
	var r bodyResult
	var d, o []byte
	prev := 0
	for k := 0; k <= len(cuts); k++ {
		end := len(data)
		if k < len(cuts) {
			end = cuts[k]
		}
		in := data[prev:end]
		for len(in) > 0 && !b.Done() {
			st, why := b.Next(in)
			if why != OK {
				// The framing bytes taken before a refusal depend on
				// the windows; what was forwarded does not.
				return bodyResult{data: string(d), reframed: string(o), why: why}
			}
			if st.Data {
				d = append(d, in[:st.N]...)
				o = append(o, in[:st.N]...)
			} else {
				o = append(o, st.Emit...)
			}
			if st.N == 0 {
				break
			}
			r.n += st.N
			in = in[st.N:]
		}
		prev = end
	}
	r.data, r.reframed, r.done = string(d), string(o), b.Done()
	return r
}

// bodyCase is a chunked body (with whatever follows it) and what Body
// makes of it.
type bodyCase struct {
	name     string
	in       string
	why      Reason
	data     string // the payload
	reframed string // the body re-framed, if not the canonical form of data
	n        int    // bytes taken, if not len(in)
	lim      Limits
}

var bodyCases = []bodyCase{
	{name: "7.1 one chunk", in: "5\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "7.1 two chunks, upper-case hex", in: "5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n", data: "hello0123456789"},
	{name: "7.1 empty body", in: "0\r\n\r\n", data: ""},
	{name: "7.1 last chunk of zeros", in: "000\r\n\r\n", data: ""},
	{name: "7.1 leading zeros", in: "0005\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "7.1 the next message is not taken", in: "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", data: "a", n: 11},
	{name: "7.1 largest size", in: "7fffffffffffffff\r\nabc", data: "abc", reframed: "7fffffffffffffff\r\nabc"},
	{name: "7.1.1 extensions are dropped when re-framed", in: "5;a=b;c=\"x\\\"y\";d\r\nhello\r\n0;e\r\n\r\n", data: "hello"},
	{name: "7.1.1 BWS around ; and =", in: "5 ;\ta = b ; c\r\nhello\r\n0 ; x=\"\"\r\n\r\n", data: "hello"},
	{name: "7.1.1 quoted-pair and obs-text", in: "5;a=\"\\\t\xe9\"\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "7.1.2 trailers are dropped when re-framed", in: "5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-B:\t2 3\r\n\r\n", data: "hello"},

	{name: "7.1 empty size", in: "\r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 leading space", in: " 5\r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 trailing space", in: "5 \r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 inner space", in: "5 5\r\n", why: BadChunkSize},
	{name: "7.1 sign", in: "+5\r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 negative", in: "-5\r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 0x prefix", in: "0x5\r\nhello\r\n", why: BadChunkSize},
	{name: "7.1 not hex", in: "g\r\n", why: BadChunkSize},
	{name: "7.1 overflow", in: "8000000000000000\r\n", why: BadChunkSize},
	{name: "7.1 overflow 2^64", in: "10000000000000000\r\n", why: BadChunkSize},
	{name: "7.1 overflow many digits", in: "ffffffffffffffffffff\r\n", why: BadChunkSize},
	{name: "7.1 bare LF after the size", in: "5\nhello\r\n", why: BadChunkEnd},
	{name: "7.1 bare CR after the size", in: "5\rhello\r\n", why: BadChunkEnd},
	{name: "7.1 data longer than the size", in: "5\r\nhello!\r\n", why: BadChunkEnd},
	{name: "7.1 no CRLF after the data", in: "5\r\nhello0\r\n\r\n", why: BadChunkEnd},
	{name: "7.1 bare LF after the data", in: "5\r\nhello\n0\r\n\r\n", why: BadChunkEnd},
	{name: "7.1 bare LF ending the body", in: "0\r\n\n", why: BadTrailer},
	{name: "7.1 CR without LF ending the body", in: "0\r\n\rX", why: BadChunkEnd},
	{name: "7.1.1 empty extension name", in: "5;\r\nhello\r\n", why: BadChunkExt},
	{name: "7.1.1 empty extension value", in: "5;a=\r\nhello\r\n", why: BadChunkExt},
	{name: "7.1.1 extension name not a token", in: "5;a@b\r\n", why: BadChunkExt},
	{name: "7.1.1 two names", in: "5;a b\r\n", why: BadChunkExt},
	{name: "7.1.1 value then a word", in: "5;a=b c\r\n", why: BadChunkExt},
	{name: "7.1.1 unterminated quote", in: "5;a=\"b\r\nhello\r\n", why: BadChunkExt},
	{name: "7.1.1 space after the extensions", in: "5;a=b \r\n", why: BadChunkExt},
	{name: "7.1.1 NUL in a quoted value", in: "5;a=\"\x00\"\r\n", why: BadChunkExt},
	{name: "7.1.2 obs-fold in trailers", in: "0\r\nX: a\r\n b\r\n\r\n", why: BadTrailer},
	{name: "7.1.2 space before the colon", in: "0\r\nX : a\r\n\r\n", why: BadTrailer},
	{name: "7.1.2 NUL in a trailer", in: "0\r\nX: \x00\r\n\r\n", why: BadTrailer},
	{name: "7.1.2 bare CR in a trailer", in: "0\r\nX: a\rb\r\n\r\n", why: BadTrailer},
	{name: "7.1.2 no colon", in: "0\r\nX\r\n\r\n", why: BadTrailer},
	{name: "chunk-size line over MaxChunkLine", in: "5;a=" + strings.Repeat("b", DefaultMaxChunkLine) + "\r\nhello\r\n", why: ChunkLineTooLong},
	{name: "leading zeros over MaxChunkLine", in: strings.Repeat("0", 100) + "5\r\nhello\r\n", why: ChunkLineTooLong, lim: Limits{MaxChunkLine: 64}},
	{name: "trailers over MaxHeaders", in: "0\r\n" + strings.Repeat("X: y\r\n", 3) + "\r\n", why: TrailerTooLarge, lim: Limits{MaxHeaders: 2}},
	{name: "trailers over MaxHead", in: "0\r\nX: " + strings.Repeat("y", 100) + "\r\n\r\n", why: TrailerTooLarge, lim: Limits{MaxHead: 64}},
}

// canonical returns data framed as Body re-frames it: one chunk per
// chunk received, so this is only its form for one chunk or none.
func canonical(chunks ...string) string {
	var b []byte
	for _, c := range chunks {
		b = AppendChunkHeader(b, len(c))
		b = append(b, c...)
		b = append(b, '\r', '\n')
	}
	return string(b) + LastChunk
}

func TestBodyChunked(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			var b Body
			b.Reset(Chunked, 0, tc.lim)
			r := readBody(&b, []byte(tc.in))
			if r.why != tc.why {
				t.Fatalf("refusal %v, want %v (%+v)", r.why, tc.why, r)
			}
			if r.why != OK {
				if st, why := b.Next([]byte("0\r\n\r\n")); why != tc.why || st.N != 0 {
					t.Errorf("Next after a refusal: %+v %v", st, why)
				}
				if b.EOF() != tc.why {
					t.Errorf("EOF after a refusal: %v", b.EOF())
				}
				return
			}
			if r.data != tc.data {
				t.Errorf("data %q, want %q", r.data, tc.data)
			}
			want := tc.reframed
			if want == "" {
				var chunks []string
				// The cases with several chunks have them in the same sizes.
				switch tc.data {
				case "":
				case "hello0123456789":
					chunks = []string{"hello", "0123456789"}
				default:
					chunks = []string{tc.data}
				}
				want = canonical(chunks...)
			}
			if r.reframed != want {
				t.Errorf("re-framed %q, want %q", r.reframed, want)
			}
			n := tc.n
			if n == 0 {
				n = len(tc.in)
			}
			if tc.reframed == "" && (!r.done || r.n != n) {
				t.Errorf("done %v after %d bytes, want %d", r.done, r.n, n)
			}
		})
	}
}

// TestBodyChunkedSplit checks each case gives the same split anywhere, in
// three pieces, and a byte at a time.
func TestBodyChunkedSplit(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			var b Body
			b.Reset(Chunked, 0, tc.lim)
			whole := readBody(&b, in)
			for i := 0; i <= len(in); i++ {
				b.Reset(Chunked, 0, tc.lim)
				if r := readBody(&b, in, i); r != whole {
					t.Fatalf("split at %d: %+v\nwhole: %+v", i, r, whole)
				}
				j := i + (len(in)-i)/3
				b.Reset(Chunked, 0, tc.lim)
				if r := readBody(&b, in, i, j); r != whole {
					t.Fatalf("split at %d, %d: %+v\nwhole: %+v", i, j, r, whole)
				}
			}
			cuts := make([]int, len(in))
			for i := range cuts {
				cuts[i] = i
			}
			b.Reset(Chunked, 0, tc.lim)
			if r := readBody(&b, in, cuts...); r != whole {
				t.Fatalf("byte at a time: %+v\nwhole: %+v", r, whole)
			}
		})
	}
}

// TestBodyChunkedLarge passes a body of many chunks, larger than any window
// given to Next, and checks the payload comes out whole and the framing
// re-made canonical.
func TestBodyChunkedLarge(t *testing.T) {
	var in, data []byte
	var chunks []string
	for i := range 200 {
		c := strings.Repeat(string(rune('a'+i%26)), 1+i*37%5000)
		chunks = append(chunks, c)
		in = AppendChunkHeader(in, len(c))
		in = append(in, c...)
		in = append(in, "\r\n"...)
		data = append(data, c...)
	}
	in = append(in, "0\r\nX: y\r\n\r\n"...)
	var b Body
	b.Reset(Chunked, 0, Limits{})
	var got, out []byte
	for off := 0; !b.Done(); {
		w := in[off:min(len(in), off+1500)] // a window: a segment's worth
		st, why := b.Next(w)
		if why != OK || st.N == 0 {
			t.Fatalf("at %d: %+v %v", off, st, why)
		}
		if st.Data {
			got = append(got, w[:st.N]...)
			out = append(out, w[:st.N]...)
		} else {
			out = append(out, st.Emit...)
		}
		off += st.N
	}
	if string(got) != string(data) || string(out) != canonical(chunks...) {
		t.Errorf("payload %d bytes, want %d; re-framed %d bytes", len(got), len(data), len(out))
	}
}

func TestBodyLength(t *testing.T) {
	var b Body
	b.Reset(Length, 10, Limits{})
	if b.Done() || b.Remaining() != 10 || b.Framing() != Length {
		t.Fatalf("%+v", b)
	}
	in := []byte("0123456789GET")
	st, why := b.Next(in[:4])
	if why != OK || st.N != 4 || !st.Data || b.Remaining() != 6 {
		t.Fatalf("%+v %v", st, why)
	}
	if why := b.EOF(); why != Truncated {
		t.Errorf("EOF midway: %v", why)
	}
	st, why = b.Next(in[4:])
	if why != OK || st.N != 6 || !st.Data || !b.Done() {
		t.Fatalf("%+v %v done %v", st, why, b.Done())
	}
	if st, why = b.Next(in[10:]); st.N != 0 || why != OK {
		t.Errorf("past the end: %+v %v", st, why)
	}
	if why := b.EOF(); why != OK {
		t.Errorf("EOF at the end: %v", why)
	}
	for _, f := range []Framing{NoBody, Length} {
		b.Reset(f, 0, Limits{})
		if !b.Done() {
			t.Errorf("%v 0 not done", f)
		}
	}
}

func TestBodyUntilClose(t *testing.T) {
	for _, f := range []Framing{UntilClose, Tunnel} {
		var b Body
		b.Reset(f, 0, Limits{})
		st, why := b.Next([]byte("abc"))
		if why != OK || st.N != 3 || !st.Data || b.Done() {
			t.Fatalf("%v: %+v %v", f, st, why)
		}
		if why := b.EOF(); why != OK || !b.Done() {
			t.Errorf("%v: EOF %v done %v", f, why, b.Done())
		}
	}
	var b Body
	b.Reset(Chunked, 0, Limits{})
	b.Next([]byte("5\r\nhel"))
	if why := b.EOF(); why != Truncated {
		t.Errorf("chunked EOF midway: %v", why)
	}
}

func TestAppendChunkHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0\r\n"}, {1, "1\r\n"}, {300, "12c\r\n"}, {1 << 40, "10000000000\r\n"}} {
		if got := string(AppendChunkHeader(nil, tc.n)); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.n, got, tc.want)
		}
	}
}
