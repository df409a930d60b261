package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/gohttp"
)

// defaultTLSPort is serve's --port when --tls-cert and --tls-key are given
// and --port is not.
const defaultTLSPort = 8443

// loadTLSFlags checks serve's --tls-cert and --tls-key: both or neither,
// only with --app gohttp, both files there, and a pair that loads. It
// returns nil without them.
func loadTLSFlags(cmd, app, cert, key string) (*tls.Certificate, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" {
		return nil, usagef("%s: --tls-key %s without --tls-cert: give both", cmd, key)
	}
	if key == "" {
		return nil, usagef("%s: --tls-cert %s without --tls-key: give both", cmd, cert)
	}
	if app != "gohttp" {
		return nil, usagef("%s: --tls-cert and --tls-key: only --app gohttp serves TLS, not --app %q", cmd, app)
	}
	for _, f := range []struct{ name, path string }{{"tls-cert", cert}, {"tls-key", key}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return nil, usagef("%s: --%s %s: no such file", cmd, f.name, f.path)
		}
		if st.IsDir() {
			return nil, usagef("%s: --%s %s: is a directory", cmd, f.name, f.path)
		}
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		// crypto/tls says which input it could not use; name that file.
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		switch {
		case strings.Contains(msg, "certificate input"):
			return nil, usagef("%s: --tls-cert %s: not a PEM certificate: %s", cmd, cert, msg)
		case strings.Contains(msg, "key input"):
			return nil, usagef("%s: --tls-key %s: not a PEM private key: %s", cmd, key, msg)
		}
		return nil, usagef("%s: --tls-cert %s, --tls-key %s: not a certificate and its key: %s", cmd, cert, key, msg)
	}
	return &pair, nil
}

// startGoHTTP runs the standard library's http.Server on a pollstack
// listener on every core; the returned function shuts it down. With a
// certificate it serves HTTPS through crypto/tls, offering HTTP/2 and
// HTTP/1.1 by ALPN (ServeTLS adds "h2" and "http/1.1" to NextProtos).
func startGoHTTP(e *engine.Engine, port int, cert *tls.Certificate) (func(), error) {
	l, err := e.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	srv := gohttp.Server()
	serve := func() error { return srv.Serve(l) }
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		serve = func() error { return srv.ServeTLS(l, "", "") }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "pollstack: gohttp: %v\n", err)
		}
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}
