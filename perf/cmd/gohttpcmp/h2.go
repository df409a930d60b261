package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// HTTPS with HTTP/2: both servers serve TLS (net/http's own HTTP/2 by
// ALPN) with a self-signed certificate made for the run, and h2load
// (nghttp2-client) drives them from the peer namespace.

const tlsPort = 8443

// h2Conns and h2Streams are h2load's -c and -m.
const (
	h2Conns   = 10
	h2Streams = 10
)

// writeSelfSigned writes a certificate for ip and its key, PEM, into dir.
func writeSelfSigned(dir string, ip net.IP) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gohttpcmp"},
		IPAddresses:  []net.IP{ip},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

var (
	h2Finished = regexp.MustCompile(`(?m)^finished in ([0-9.]+)(us|ms|s), ([0-9.]+) req/s`)
	h2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's report into wrk's figures: the requests that
// succeeded, the run's length, the rate, the failed requests (h2load's
// "failed", which counts the errored and timed out ones) as socket errors
// and the 4xx and 5xx answers as non-2xx.
func parseH2load(out string) (harness.Wrk, error) {
	var w harness.Wrk
	f := h2Finished.FindStringSubmatch(out)
	r := h2Requests.FindStringSubmatch(out)
	s := h2Status.FindStringSubmatch(out)
	if f == nil || r == nil || s == nil {
		return w, fmt.Errorf("h2load: no report in %q", out)
	}
	num := func(x string) uint64 { n, _ := strconv.ParseUint(x, 10, 64); return n }
	secs, _ := strconv.ParseFloat(f[1], 64)
	switch f[2] {
	case "ms":
		secs /= 1e3
	case "us":
		secs /= 1e6
	}
	w.Seconds = secs
	w.Rate, _ = strconv.ParseFloat(f[3], 64)
	w.Requests = num(r[4])
	w.SockErrs = num(r[5])
	w.Non2xx = num(s[3]) + num(s[4])
	if w.SockErrs > 0 {
		w.ErrLine = r[0]
	}
	return w, nil
}
