package fwd

import (
	"testing"
	"time"
)

// A chunked request whose body, already received with its head, is
// malformed is refused with nothing sent to the server (not its head
// either); one whose body is good goes on whole.
func TestHTTPMalformedChunkedBodyNeverForwarded(t *testing.T) {
	const head = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"bad size", "zz\r\nok\r\n0\r\n\r\n", 400},
		{"0x size", "0x2\r\nok\r\n0\r\n\r\n", 400},
		{"size overflow", "10000000000000002\r\nok\r\n0\r\n\r\n", 400},
		{"bare LF", "2\nok\n0\n\n", 400},
		{"control in extension", "2;a\x01b\r\nok\r\n0\r\n\r\n", 400},
		{"bad after a good chunk", "2\r\nok\r\n-1\r\n", 400},
		{"good", "2\r\nok\r\n0\r\n\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newHTTPBed(t, 1, nil)
			s := b.do(head+tc.body, tc.status == 200, 10*time.Second)
			if !s.done {
				t.Fatal("the connection did not end")
			}
			rs := responses(t, s.got.Bytes(), "POST")
			if rs[0].StatusCode != tc.status {
				t.Fatalf("status %d, want %d", rs[0].StatusCode, tc.status)
			}
			if tc.status == 200 {
				if string(rs[0].Body) != "ok" {
					t.Fatalf("body %q", rs[0].Body)
				}
				return
			}
			if !rs[0].Close || b.back[0].conns != 0 || b.back[0].requests != 0 {
				t.Fatalf("close %v; the backend saw %d requests on %d connections", rs[0].Close, b.back[0].requests, b.back[0].conns)
			}
		})
	}
}
