package h1

// Body follows one message body through the bytes after its head, in
// windows of any size, and says of each window's first bytes what they are:
// payload to forward as it is, or framing. It holds no bytes: a body of any
// size passes through it, from one leg's receive buffer into the other's
// send buffer, without a buffer of its own. It is owned by its connection's
// core; the zero value is a done NoBody body. Reset it per message.
//
// A chunked body is checked as it passes (7.1): chunk sizes of 1*HEXDIG
// that fit an int64, extensions of the grammar (BWS only around ';' and
// '='), CRLF after each size line and after each chunk's data (a bare LF is
// refused there), trailer field lines as field lines are checked in a head,
// within MaxHead bytes and MaxHeaders lines.
//
// There are two ways to forward a chunked body:
//   - re-framed (what the proxy should do): write Data steps' bytes and
//     each Step's Emit, never the framing bytes received. The peer then
//     sees chunk-size lines of the parser's own making ("%x\r\n", no
//     extensions), and whatever it reads is what this parser read. Trailer
//     fields are dropped (RFC 9110 6.5.1 allows it), and the head's
//     Trailer field with them (AppendHead drops it).
//   - as received: write every Step's bytes, framing too. Chunk extensions
//     and trailers pass; but the bytes of a framing line go out before the
//     line is known good, so a refusal comes after some of it was sent (the
//     proxy then resets the other leg).
type Body struct {
	framing Framing
	left    int64 // Length: bytes to come; Chunked: the chunk's data bytes to come
	state   uint8
	done    bool
	why     Reason
	size    int64 // the chunk size being read
	ext     bool  // the size line has an extension
	line    int   // bytes of the chunk-size line so far
	tbytes  int   // bytes of trailer fields so far
	tlines  int   // trailer field lines so far
	lim     Limits
	emit    [MaxEmit]byte
}

// Step says what the first N bytes of a window given to Body.Next are.
type Step struct {
	N int
	// Data: in[:N] is payload, forwarded as it is. Otherwise in[:N] is
	// framing (chunk-size lines, the CRLF after chunk data, the last
	// chunk, trailers, the final CRLF).
	Data bool
	// Emit is the canonical framing for the framing element this step
	// completed, if any, for a proxy that re-frames (written in place of in[:N]):
	// "\r\n" after a chunk's data, "%x\r\n" for a size line, "0\r\n" for
	// the last chunk, "\r\n" for the end. At most MaxEmit bytes, valid
	// until the next Next.
	Emit []byte
}

// Chunked body states.
const (
	csSize         = iota // the first hex digit of a chunk size
	csSizeMore            // more hex digits, or what follows them
	csBWS                 // BWS before ';' (after the size or an extension)
	csExtName0            // BWS, then an extension's name
	csExtName             // the name
	csExtAfterName        // BWS after a name: '=' or ';' follows
	csExtVal0             // BWS, then a value
	csExtTok              // a token value
	csQuoted              // a quoted-string value
	csQuotedPair          // after '\' in it
	csExtAfterVal         // after a quoted-string: BWS ';', or CR
	csSizeLF              // the LF ending a size line
	csData                // chunk data
	csDataCR              // the CR after chunk data
	csDataLF              // the LF after it
	csTrailer             // the start of a trailer line, or the final CR
	csTName               // a trailer field's name
	csTValue              // its value
	csTLF                 // the LF ending a trailer line
	csEndLF               // the LF ending the body
)

// Reset readies b for a body of the given framing: length is the
// Content-Length for Length (ignored otherwise), lim bounds chunk-size lines
// and trailers (the zero value: the defaults). NoBody, and Length with 0,
// are done at once; UntilClose and Tunnel never are (the caller ends them
// when the peer closes).
func (b *Body) Reset(f Framing, length int64, lim Limits) {
	*b = Body{framing: f, lim: lim.resolved()}
	switch f {
	case NoBody:
		b.done = true
	case Length:
		b.left = length
		b.done = length <= 0
	}
}

// Done reports whether the body has ended; the bytes after it are the
// next message's.
func (b *Body) Done() bool { return b.done }

// Remaining returns the bytes a Length body still has to come, or the
// current chunk's data bytes still to come in a chunked one.
func (b *Body) Remaining() int64 { return b.left }

// Framing returns the framing b was reset for.
func (b *Body) Framing() Framing { return b.framing }

// Next reads the first bytes of in, which follow what earlier calls took,
// and returns what they are, stopping where their kind changes and, in
// framing, after each element that emits something (so that a refusal
// never comes in a step that emitted). It takes nothing past the body's end: a Step with
// N == 0 and Done is the end. A refusal (why != OK: the body is malformed,
// the connection must close) repeats on every later call.
//
// A caller forwarding with flow control passes in no more than the
// receiving send buffer can take (less MaxEmit when re-framing): every Step
// is then written whole, and it consumes N bytes from the receive buffer.
func (b *Body) Next(in []byte) (Step, Reason) {
	if b.why != OK {
		return Step{}, b.why
	}
	if b.done || len(in) == 0 {
		return Step{}, OK
	}
	switch b.framing {
	case Length:
		n := int(min(int64(len(in)), b.left))
		b.left -= int64(n)
		b.done = b.left == 0
		return Step{N: n, Data: true}, OK
	case UntilClose, Tunnel:
		return Step{N: len(in), Data: true}, OK
	case Chunked:
		if b.state == csData {
			n := int(min(int64(len(in)), b.left))
			b.left -= int64(n)
			if b.left == 0 {
				b.state = csDataCR
			}
			return Step{N: n, Data: true}, OK
		}
		return b.framingStep(in)
	}
	b.done = true
	return Step{}, OK
}

// EOF tells b the peer closed its side with no more bytes to come, and
// reports whether the body was cut short: OK for a done body, or one that
// ends at close (which is then done); Truncated otherwise.
func (b *Body) EOF() Reason {
	switch {
	case b.why != OK:
		return b.why
	case b.done:
		return OK
	case b.framing == UntilClose || b.framing == Tunnel:
		b.done = true
		return OK
	}
	return Truncated
}

func (b *Body) refuse(why Reason) (Step, Reason) {
	b.why = why
	return Step{}, why
}

// framingStep reads chunk framing from the start of in.
func (b *Body) framingStep(in []byte) (Step, Reason) {
	emit := b.emit[:0]
	i := 0
	for ; i < len(in); i++ {
		c := in[i]
		switch b.state {
		case csDataCR:
			if c != '\r' {
				return b.refuse(BadChunkEnd)
			}
			b.state = csDataLF
			continue
		case csDataLF:
			if c != '\n' {
				return b.refuse(BadChunkEnd)
			}
			b.state, b.size, b.line, b.ext = csSize, 0, 0, false
			emit = append(emit, '\r', '\n')
			return Step{N: i + 1, Emit: emit}, OK
		case csTrailer, csTName, csTValue, csTLF, csEndLF:
			if why := b.trailerByte(c); why != OK {
				return b.refuse(why)
			}
			if b.done {
				emit = append(emit, '\r', '\n')
				return Step{N: i + 1, Emit: emit}, OK
			}
			continue
		}
		// A chunk-size line.
		if b.line++; b.line > b.lim.MaxChunkLine {
			return b.refuse(ChunkLineTooLong)
		}
		if why := b.sizeByte(c); why != OK {
			return b.refuse(why)
		}
		if b.state != csData && b.state != csTrailer {
			continue
		}
		// The size line is complete.
		if b.state == csTrailer {
			emit = append(emit, '0', '\r', '\n')
		} else {
			b.left = b.size
			emit = appendHex(emit, uint64(b.size))
			emit = append(emit, '\r', '\n')
		}
		return Step{N: i + 1, Emit: emit}, OK
	}
	return Step{N: i}, OK
}

// sizeByte reads one byte of a chunk-size line (7.1, 7.1.1):
//
//	chunk-size [ chunk-ext ] CRLF
//	chunk-ext  = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
//	ext-val    = token / quoted-string
func (b *Body) sizeByte(c byte) Reason {
	if c == '\n' && b.state != csSizeLF {
		return BadChunkEnd // a bare LF ending the line
	}
	switch b.state {
	case csSize, csSizeMore:
		if class[c]&cHex != 0 {
			if b.size > (1<<63-1)>>4 {
				return BadChunkSize // overflow
			}
			b.size = b.size<<4 | int64(hexVal(c))
			b.state = csSizeMore
			return OK
		}
		if b.state == csSize {
			return BadChunkSize // empty, or a leading space or sign
		}
		switch c {
		case '\r':
			b.state = csSizeLF
		case ';':
			b.state = csExtName0
		case ' ', '\t':
			b.state = csBWS
		default:
			return BadChunkSize
		}
	case csBWS:
		switch c {
		case ' ', '\t':
		case ';':
			b.state = csExtName0
		default:
			// Whitespace not followed by an extension ("1a \r\n")
			// is refused, as the grammar does.
			if !b.ext {
				return BadChunkSize
			}
			return BadChunkExt
		}
	case csExtName0:
		b.ext = true
		switch {
		case c == ' ' || c == '\t':
		case class[c]&cToken != 0:
			b.state = csExtName
		default:
			return BadChunkExt
		}
	case csExtName:
		switch {
		case class[c]&cToken != 0:
		case c == ' ' || c == '\t':
			b.state = csExtAfterName
		case c == '=':
			b.state = csExtVal0
		case c == ';':
			b.state = csExtName0
		case c == '\r':
			b.state = csSizeLF
		default:
			return BadChunkExt
		}
	case csExtAfterName:
		switch c {
		case ' ', '\t':
		case '=':
			b.state = csExtVal0
		case ';':
			b.state = csExtName0
		default:
			return BadChunkExt
		}
	case csExtVal0:
		switch {
		case c == ' ' || c == '\t':
		case c == '"':
			b.state = csQuoted
		case class[c]&cToken != 0:
			b.state = csExtTok
		default:
			return BadChunkExt
		}
	case csExtTok:
		switch {
		case class[c]&cToken != 0:
		case c == ' ' || c == '\t':
			b.state = csBWS
		case c == ';':
			b.state = csExtName0
		case c == '\r':
			b.state = csSizeLF
		default:
			return BadChunkExt
		}
	case csQuoted:
		switch {
		case c == '"':
			b.state = csExtAfterVal
		case c == '\\':
			b.state = csQuotedPair
		case class[c]&cQdtext == 0:
			return BadChunkExt
		}
	case csQuotedPair:
		if class[c]&cValue == 0 {
			return BadChunkExt // HTAB, SP, VCHAR, obs-text
		}
		b.state = csQuoted
	case csExtAfterVal:
		switch c {
		case ' ', '\t':
			b.state = csBWS
		case ';':
			b.state = csExtName0
		case '\r':
			b.state = csSizeLF
		default:
			return BadChunkExt
		}
	case csSizeLF:
		if c != '\n' {
			return BadChunkEnd
		}
		if b.size == 0 {
			b.state = csTrailer // the last chunk
		} else {
			b.state = csData
		}
	}
	return OK
}

// trailerByte reads one byte of the trailer section (7.1.2): field lines
// as in a head, then CRLF.
func (b *Body) trailerByte(c byte) Reason {
	if b.state != csEndLF {
		if b.tbytes++; b.tbytes > b.lim.MaxHead {
			return TrailerTooLarge
		}
	}
	switch b.state {
	case csTrailer:
		switch {
		case c == '\r':
			b.state = csEndLF
		case class[c]&cToken != 0:
			if b.tlines++; b.tlines > b.lim.MaxHeaders {
				return TrailerTooLarge
			}
			b.state = csTName
		default:
			return BadTrailer // obs-fold, an empty name, a bare LF
		}
	case csTName:
		switch {
		case class[c]&cToken != 0:
		case c == ':':
			b.state = csTValue
		default:
			return BadTrailer
		}
	case csTValue:
		switch {
		case c == '\r':
			b.state = csTLF
		case class[c]&cValue == 0:
			return BadTrailer
		}
	case csTLF:
		if c != '\n' {
			return BadTrailer
		}
		b.state = csTrailer
	case csEndLF:
		if c != '\n' {
			return BadChunkEnd
		}
		b.done = true
	}
	return OK
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// appendHex appends v in lower-case hex.
func appendHex(b []byte, v uint64) []byte {
	var t [16]byte
	i := len(t)
	for {
		i--
		t[i] = "0123456789abcdef"[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(b, t[i:]...)
}

// AppendChunkHeader appends a chunk-size line for n bytes of data, for a
// proxy that frames a body as chunked itself (ResponseEdit.Chunked): the
// data follows it, then "\r\n"; LastChunk ends the body.
func AppendChunkHeader(b []byte, n int) []byte {
	b = appendHex(b, uint64(n))
	return append(b, '\r', '\n')
}

// LastChunk ends a chunked body the proxy frames itself: the last chunk and
// an empty trailer section.
const LastChunk = "0\r\n\r\n"
