package h1

import "strconv"

// Reason is why a parser refused its input; OK (0) is no refusal. A proxy
// counts refusals by Reason (an index, not an error value: nothing
// allocates) and answers a refused request with Reason.Status and
// "Connection: close", then closes; it answers a refused response with 502
// (StatusBadGateway) whatever the Reason. A refused message is never
// forwarded, nor is anything after it on the connection.
type Reason uint8

// Refusals. The status each one asks for is in the comments; RFC sections
// are RFC 9112's unless named.
const (
	OK Reason = iota

	// The start line.
	BadRequestLine   // 400: not METHOD SP target SP version, single spaces (3)
	BadMethod        // 400: the method is not a token (3.1)
	BadTarget        // 400: a byte other than VCHAR, a malformed or misplaced form (3.2)
	BadVersion       // 400: not HTTP/DIGIT.DIGIT (2.3)
	VersionNotSupp   // 505: a major version other than 1 (RFC 9110 15.6.6)
	URITooLong       // 414: the request line over MaxLine (RFC 9110 15.5.15)
	BadStatusLine    // 502: not version SP 3DIGIT [SP reason] (4)
	StatusLineLong   // 502: the status line over MaxLine
	UnexpectedSwitch // 502: 101 to a request that asked for no upgrade (RFC 9110 15.2.2)

	// Field lines.
	BareCR             // 400: a CR not followed by LF (2.2)
	ObsFold            // 400: a line beginning with whitespace: obs-fold or whitespace after the start line (5.2, 2.2)
	SpaceBeforeColon   // 400: whitespace between a field name and its colon (5.1)
	BadFieldName       // 400: a field name that is empty or not a token, or a line without a colon (5.1)
	BadFieldValue      // 400: NUL, another control other than HT, or DEL in a field value (RFC 9110 5.5)
	LineTooLong        // 431: a field line over MaxLine (RFC 6585 5)
	HeadTooLarge       // 431: the head over MaxHead
	TooManyHeaders     // 431: more than MaxHeaders field lines
	TooManyConnOptions // 400: Connection naming more than MaxConnectionOptions fields

	// Semantics of the head.
	MissingHost            // 400: an HTTP/1.1 request without Host (3.2)
	DuplicateHost          // 400: more than one Host field line (3.2)
	BadHost                // 400: a Host value that is not uri-host [":" port] (3.2)
	HostMismatch           // 400: an absolute-form target whose authority is not Host (3.2.2)
	BadContentLength       // 400: a Content-Length that is not 1*DIGIT or overflows int64 (6.3 item 5)
	DuplicateContentLength // 400: Content-Length repeated in a request, or differing in a response (6.3 item 5)
	ContentLengthAndTE     // 400: Content-Length with Transfer-Encoding in a request (6.3 item 3, 11.2)
	BadTransferEncoding    // 400: an empty or malformed Transfer-Encoding, chunked twice, or not last in a request (6.1, 6.3 item 4)
	TransferEncodingHTTP10 // 400: Transfer-Encoding in an HTTP/1.0 message (6.1)
	UnknownTransferCoding  // 501: a request coding other than chunked, gzip, deflate, compress (6.1)
	BodyOnConnect          // 400: a CONNECT request with Transfer-Encoding or a Content-Length above 0 (RFC 9110 9.3.6)

	// Chunked bodies (7.1).
	BadChunkSize     // 400: a chunk size that is empty, not hex, has spaces, or overflows int64 (7.1)
	BadChunkExt      // 400: a malformed chunk extension (7.1.1)
	BadChunkEnd      // 400: chunk data not followed by CRLF, or a bare LF in chunk framing (7.1)
	ChunkLineTooLong // 400: a chunk-size line over MaxChunkLine
	BadTrailer       // 400: a malformed trailer field line (7.1.2)
	TrailerTooLarge  // 400: trailer fields over MaxHead bytes or MaxHeaders lines
	Truncated        // the peer closed before the body's end (6.3 item 7: incomplete)

	numReasons
)

var reasonNames = [numReasons]string{
	OK:                     "ok",
	BadRequestLine:         "bad_request_line",
	BadMethod:              "bad_method",
	BadTarget:              "bad_target",
	BadVersion:             "bad_version",
	VersionNotSupp:         "version_not_supported",
	URITooLong:             "uri_too_long",
	BadStatusLine:          "bad_status_line",
	StatusLineLong:         "status_line_too_long",
	UnexpectedSwitch:       "unexpected_101",
	BareCR:                 "bare_cr",
	ObsFold:                "obs_fold",
	SpaceBeforeColon:       "space_before_colon",
	BadFieldName:           "bad_field_name",
	BadFieldValue:          "bad_field_value",
	LineTooLong:            "line_too_long",
	HeadTooLarge:           "head_too_large",
	TooManyHeaders:         "too_many_headers",
	TooManyConnOptions:     "too_many_connection_options",
	MissingHost:            "missing_host",
	DuplicateHost:          "duplicate_host",
	BadHost:                "bad_host",
	HostMismatch:           "host_mismatch",
	BadContentLength:       "bad_content_length",
	DuplicateContentLength: "duplicate_content_length",
	ContentLengthAndTE:     "content_length_and_transfer_encoding",
	BadTransferEncoding:    "bad_transfer_encoding",
	TransferEncodingHTTP10: "transfer_encoding_http10",
	UnknownTransferCoding:  "unknown_transfer_coding",
	BodyOnConnect:          "body_on_connect",
	BadChunkSize:           "bad_chunk_size",
	BadChunkExt:            "bad_chunk_extension",
	BadChunkEnd:            "bad_chunk_end",
	ChunkLineTooLong:       "chunk_line_too_long",
	BadTrailer:             "bad_trailer",
	TrailerTooLarge:        "trailer_too_large",
	Truncated:              "truncated",
}

// NumReasons is the number of Reasons, for arrays of counters indexed by
// them.
const NumReasons = int(numReasons)

// String returns r's name, in the form of a metric label value.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Status is the status code to answer a request refused for r: 400, 414,
// 431, 501 or 505; 502 for the reasons only a response has; 0 for OK.
// Truncated asks for 400 (a request body cut short; the client has gone, so
// nobody reads it).
func (r Reason) Status() int {
	switch r {
	case OK:
		return 0
	case URITooLong:
		return 414
	case LineTooLong, HeadTooLarge, TooManyHeaders:
		return 431
	case UnknownTransferCoding:
		return 501
	case VersionNotSupp:
		return 505
	case BadStatusLine, StatusLineLong, UnexpectedSwitch:
		return StatusBadGateway
	}
	return 400
}

// StatusBadGateway is the answer to a refused response (RFC 9112 6.3 item 5,
// RFC 9110 15.6.3).
const StatusBadGateway = 502
