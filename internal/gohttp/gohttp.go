// Package gohttp is the net/http handler and server settings of `pollstack
// serve --app gohttp`, shared with the benchmark that runs the same server
// on the kernel (perf/cmd/gohttpcmp), so that both serve the same code.
// Any goroutine may use it.
package gohttp

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// MaxBody bounds ?size=N.
const MaxBody = 64 << 20

// Handler answers like the on-core http app: "hello\n", or N bytes with
// ?size=N.
func Handler() http.Handler {
	hello := []byte("hello\n")
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body) // a body cut short changes nothing here
		}
		q := r.URL.Query().Get("size")
		if q == "" {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "6")
			_, _ = w.Write(hello) // the client has gone if this fails
			return
		}
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 || n > MaxBody {
			http.Error(w, fmt.Sprintf("size: want 0..%d", MaxBody), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for n > 0 {
			k, err := w.Write(chunk[:min(n, len(chunk))])
			if err != nil {
				return
			}
			n -= k
		}
	})
}

// Server is the http.Server the app runs: Handler with its timeouts.
func Server() *http.Server {
	return &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
}
