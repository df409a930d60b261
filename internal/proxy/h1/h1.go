package h1

import "strconv"

// Method is a request method the parser knows by name (RFC 9110 9.1);
// methods are case-sensitive, so "get" is MethodOther.
type Method uint8

// Methods. Only HEAD and CONNECT change the framing rules; the others are
// named for the proxy's convenience.
const (
	MethodOther Method = iota
	MethodGET
	MethodHEAD
	MethodPOST
	MethodPUT
	MethodDELETE
	MethodCONNECT
	MethodOPTIONS
	MethodTRACE
	MethodPATCH
)

var methodNames = [...]string{"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func (m Method) String() string {
	if m == MethodOther || int(m) >= len(methodNames) {
		return "Method(" + strconv.Itoa(int(m)) + ")"
	}
	return methodNames[m]
}

func methodOf(b []byte) Method {
	switch string(b) {
	case "GET":
		return MethodGET
	case "HEAD":
		return MethodHEAD
	case "POST":
		return MethodPOST
	case "PUT":
		return MethodPUT
	case "DELETE":
		return MethodDELETE
	case "CONNECT":
		return MethodCONNECT
	case "OPTIONS":
		return MethodOPTIONS
	case "TRACE":
		return MethodTRACE
	case "PATCH":
		return MethodPATCH
	}
	return MethodOther
}

// Form is a request target's form (RFC 9112 3.2).
type Form uint8

const (
	OriginForm    Form = iota + 1 // "/path?query": the usual one
	AbsoluteForm                  // "http://host/path": http and https only
	AuthorityForm                 // "host:port": CONNECT only, and CONNECT only with it
	AsteriskForm                  // "*": OPTIONS only
)

// Framing is how a message's body is delimited (RFC 9112 6.3).
type Framing uint8

const (
	// NoBody: the message ends with its head (a request without
	// Content-Length or Transfer-Encoding; a response to HEAD; 1xx, 204,
	// 304).
	NoBody Framing = iota
	// Length: Content-Length bytes follow (perhaps 0).
	Length
	// Chunked: a chunked body follows (7.1); Body reads it.
	Chunked
	// UntilClose: a response whose body ends when the server closes
	// (6.3 item 8, or item 4: a final coding other than chunked).
	UntilClose
	// Tunnel: the connection is no longer HTTP once this response has
	// passed: a 2xx to CONNECT (6.3 item 2) or 101 Switching Protocols to
	// an Upgrade request. The proxy moves bytes both ways as an L4 proxy.
	Tunnel
)

var framingNames = [...]string{"none", "length", "chunked", "until-close", "tunnel"}

func (f Framing) String() string {
	if int(f) < len(framingNames) {
		return framingNames[f]
	}
	return "Framing(" + strconv.Itoa(int(f)) + ")"
}

// Flags are what a head says beyond its framing, for the proxy to act on.
type Flags uint16

const (
	ConnClose     Flags = 1 << iota // "close" among the Connection options
	ConnKeepAlive                   // "keep-alive" among them
	ConnUpgrade                     // "upgrade" among them
	// Upgrade: a request asks to switch protocols (HTTP/1.1 with an
	// Upgrade field and the "upgrade" Connection option; RFC 9110 7.8),
	// or a 101 response to one switches. The proxy keeps the Upgrade
	// field (RequestEdit.Tunnel) and tunnels after a 101.
	Upgrade
	// ExpectContinue: an HTTP/1.1 request with "Expect: 100-continue"
	// (RFC 9110 10.1.1), waiting for a 100 before it sends its body.
	ExpectContinue
	// ExpectOther: an HTTP/1.1 request expects something else; the proxy
	// may answer 417.
	ExpectOther
	HasContentLength    // a Content-Length field that frames the message
	HasTransferEncoding // a Transfer-Encoding field that frames the message
	// RepeatedContentLength: a response repeats Content-Length with one
	// value throughout (RFC 9110 8.6); the edit writes it once.
	RepeatedContentLength
	// TEOverridesCL: a response has Content-Length and
	// Transfer-Encoding; the latter frames it, the edit drops
	// Content-Length (6.3 item 3) and the server connection is not reused
	// (KeepAlive false).
	TEOverridesCL
)
