package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/pollstack/pollstack/engine"
)

// maxGoHTTPBody bounds ?size=N in the gohttp app.
const maxGoHTTPBody = 64 << 20

// goHTTPHandler answers like the on-core http app: "hello\n", or N bytes
// with ?size=N.
func goHTTPHandler() http.Handler {
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
		if err != nil || n < 0 || n > maxGoHTTPBody {
			http.Error(w, fmt.Sprintf("size: want 0..%d", maxGoHTTPBody), http.StatusBadRequest)
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

// startGoHTTP runs the standard library's http.Server on a pollstack
// listener on every core; the returned function shuts it down.
func startGoHTTP(e *engine.Engine, port int) (func(), error) {
	l, err := e.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: goHTTPHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "pollstack: gohttp: %v\n", err)
		}
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}
