package h1

// Defaults for Limits fields left zero, and the ranges they are clamped to.
// The defaults follow nginx and HAProxy: nginx's large_client_header_buffers
// (4 8k) bound a request line and each field line to 8 KiB and a head to
// 32 KiB; HAProxy's tune.http.maxhdr bounds a head to 101 fields.
const (
	// DefaultMaxLine bounds the start line and each field line, bytes,
	// line end included.
	DefaultMaxLine = 8 << 10
	// DefaultMaxHead bounds a head, bytes: the start line, the field
	// lines, the empty line ending them and any empty lines before the
	// request line.
	DefaultMaxHead = 32 << 10
	// DefaultMaxHeaders bounds the field lines of a head, and the trailer
	// fields of a chunked body.
	DefaultMaxHeaders = 100
	// DefaultMaxChunkLine bounds a chunk-size line with its extensions,
	// bytes, CRLF included.
	DefaultMaxChunkLine = 4 << 10

	// MinLine .. MaxHeadLimit is the range of MaxLine and MaxHead
	// (MaxLine is also at most MaxHead).
	MinLine      = 64
	MaxHeadLimit = 64 << 10
	// MaxHeadersLimit is the largest MaxHeaders.
	MaxHeadersLimit = 1000
	// MinChunkLine .. MaxChunkLineLimit is the range of MaxChunkLine.
	MinChunkLine      = 32
	MaxChunkLineLimit = 64 << 10
)

// Limits bound what a parser accepts; the zero value is the defaults. A head
// or body beyond them is refused (see Reason): a proxy answers 414 or 431
// and closes, and never buffers more than MaxHead bytes of a head.
type Limits struct {
	MaxLine      int // start line and each field line, bytes with the line end; 0: DefaultMaxLine
	MaxHead      int // whole head, bytes; 0: DefaultMaxHead
	MaxHeaders   int // field lines per head (trailer fields per body); 0: DefaultMaxHeaders
	MaxChunkLine int // chunk-size line with extensions, bytes with CRLF; 0: DefaultMaxChunkLine
}

// resolved returns l with defaults filled in and every value clamped to its
// range.
func (l Limits) resolved() Limits {
	def := func(v, d, lo, hi int) int {
		if v == 0 {
			v = d
		}
		return max(lo, min(v, hi))
	}
	l.MaxHead = def(l.MaxHead, DefaultMaxHead, MinLine, MaxHeadLimit)
	l.MaxLine = def(l.MaxLine, DefaultMaxLine, MinLine, l.MaxHead)
	l.MaxHeaders = def(l.MaxHeaders, DefaultMaxHeaders, 1, MaxHeadersLimit)
	l.MaxChunkLine = def(l.MaxChunkLine, DefaultMaxChunkLine, MinChunkLine, MaxChunkLineLimit)
	return l
}

// MaxEmit is the most canonical framing one body Step emits (a chunk-size
// line of 16 hex digits and its CRLF): the room a caller re-framing a
// chunked body keeps in the receiving send buffer before each Step.
const MaxEmit = 16 + 2
