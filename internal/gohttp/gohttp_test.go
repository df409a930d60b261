package gohttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The answers: hello, N bytes of the alphabet with ?size=N (across the
// 32 KiB chunk), and 400 for a size out of range or not a number.
func TestHandler(t *testing.T) {
	h := Handler()
	get := func(url string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, strings.NewReader("a body is read and dropped")))
		return w
	}
	if w := get("/"); w.Code != 200 || w.Body.String() != "hello\n" || w.Header().Get("Content-Length") != "6" {
		t.Fatalf("/: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	for _, n := range []int{0, 1, 32 << 10, 100_000} {
		w := get("/?size=" + strconv.Itoa(n))
		b, _ := io.ReadAll(w.Body)
		if w.Code != 200 || len(b) != n || w.Header().Get("Content-Length") != strconv.Itoa(n) {
			t.Fatalf("size %d: %d, %d bytes, %v", n, w.Code, len(b), w.Header())
		}
		for i, c := range b {
			if c != 'a'+byte(i%(32<<10)%26) {
				t.Fatalf("size %d: byte %d is %q", n, i, c)
			}
		}
	}
	for _, q := range []string{"-1", "x", strconv.Itoa(MaxBody + 1)} {
		if w := get("/?size=" + q); w.Code != http.StatusBadRequest {
			t.Fatalf("size %s: %d, want 400", q, w.Code)
		}
	}
	if s := Server(); s.ReadHeaderTimeout == 0 || s.IdleTimeout == 0 || s.Handler == nil {
		t.Fatalf("server %+v", s)
	}
}
