package fwd

import "strconv"

// The answers the proxy makes itself, whole, as HAProxy's and nginx's are:
// a status line, a small text body, and "Connection: close" (the proxy
// closes after every one of them).
var errorResponses = map[int][]byte{}

var errorTexts = map[int]string{
	400: "Bad Request", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
	414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

func init() {
	for code, text := range errorTexts {
		body := strconv.Itoa(code) + " " + text + "\n"
		errorResponses[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n" +
			"Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n" +
			"Cache-Control: no-cache\r\nConnection: close\r\n\r\n" + body)
	}
}

// errorResponse is the proxy's answer with status code (400 for a code it
// has no text for).
func errorResponse(code int) []byte {
	if b, ok := errorResponses[code]; ok {
		return b
	}
	return errorResponses[400]
}
