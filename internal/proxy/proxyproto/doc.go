// Package proxyproto reads and writes HAProxy's PROXY protocol headers,
// versions 1 (a text line) and 2 (binary), which carry a relayed
// connection's original source and destination to the server behind a
// proxy. It owns the wire format alone: it does no I/O, reads no clock,
// starts no goroutine, and allocates nothing per header in steady state.
//
// # Who calls it
//
// The proxy app, on the core that owns the connection. With --send-proxy
// v1|v2 it writes a header for the client connection's addresses (FromTuple)
// at the start of the backend connection's send buffer, with AppendV1 or
// AppendV2. With --accept-proxy it feeds the first bytes a client connection
// receives to a Parser until Feed reports the header done (the bytes after it
// are the client's payload) or an error (the connection is dropped); a
// Parser per connection in the header phase, reset and reused from a
// per-core free list, keeps its buffer. Timing out a header that never
// completes is the caller's job (the protocol suggests at least 3 seconds).
//
// # What it accepts
//
// Feed tells the versions apart by the first bytes and refuses anything else
// as soon as a byte differs from both signatures. A v1 line is checked once
// its CRLF has come (as the specification asks), a v2 header's fixed part
// once its 16 bytes have and the rest once all of it has. It is strict where
// the specification is:
//   - v1: "PROXY " then "TCP4" or "TCP6" with exactly one space between
//     fields, dotted-quad IPv4 addresses without leading zeros for TCP4,
//     IPv6 text addresses (groups of 1-4 hex digits, one "::", a trailing
//     dotted quad allowed, no zone) for TCP6, decimal ports 0..65535 without
//     leading zeros; or "UNKNOWN", optionally followed by a space and
//     anything, which names no address. The line ends in CRLF within its
//     first 107 bytes; a lone CR or LF is an error.
//   - v2: the 12-byte signature, version 2, command LOCAL or PROXY, a
//     defined family and transport (for PROXY; LOCAL ignores them), a total
//     size within the Parser's MaxHeader (DefaultMaxHeader, at most
//     MaxHeaderLimit), a length covering the family's address block, and
//     after it a sequence of whole TLVs; a CRC32C TLV must match the header.
//     TCP over IPv4 and IPv6 yield addresses; AF_UNSPEC, UDP and AF_UNIX
//     are accepted with no address, as the specification allows.
//
// A LOCAL command, UNKNOWN line or address-less family is a done header
// without addresses (Header.HasAddr false): the receiver uses the
// connection's own. TLVs stay raw in Header.TLVs; Header.TLV and
// Header.Authority look them up. Hostile input never panics, which FuzzParse
// checks, along with parse(encode(h)) == h and that feeding the same bytes
// split anywhere gives the same result.
package proxyproto
