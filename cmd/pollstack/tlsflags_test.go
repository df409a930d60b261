package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCert makes a self-signed certificate for ips, valid for a day,
// and writes it and its key as PEM files in dir.
func writeTestCert(t *testing.T, dir string, ips ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pollstack test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serve's --tls-cert and --tls-key: one without the other, a missing file,
// a pair that does not load and an app other than gohttp are one line and
// exit status 2, naming the flag and the file; --help explains both.
func TestServeTLSFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir, "198.18.0.1")
	other := t.TempDir()
	_, otherKey := writeTestCert(t, other, "198.18.0.1")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gohttp := []string{"serve", "--iface", "x", "--app", "gohttp"}
	with := func(more ...string) []string { return append(append([]string(nil), gohttp...), more...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{with("--tls-cert", cert), "serve: --tls-cert " + cert + " without --tls-key: give both"},
		{with("--tls-key", key), "serve: --tls-key " + key + " without --tls-cert: give both"},
		{with("--tls-cert", "/nonexistent/cert.pem", "--tls-key", key), "serve: --tls-cert /nonexistent/cert.pem: no such file"},
		{with("--tls-cert", cert, "--tls-key", "/nonexistent/key.pem"), "serve: --tls-key /nonexistent/key.pem: no such file"},
		{with("--tls-cert", dir, "--tls-key", key), "serve: --tls-cert " + dir + ": is a directory"},
		{with("--tls-cert", junk, "--tls-key", key), "serve: --tls-cert " + junk + ": not a PEM certificate"},
		{with("--tls-cert", cert, "--tls-key", junk), "serve: --tls-key " + junk + ": not a PEM private key"},
		{with("--tls-cert", cert, "--tls-key", otherKey), "serve: --tls-cert " + cert + ", --tls-key " + otherKey + ": not a certificate and its key"},
		{[]string{"serve", "--iface", "x", "--app", "http", "--tls-cert", cert, "--tls-key", key}, `serve: --tls-cert and --tls-key: only --app gohttp serves TLS, not --app "http"`},
		{[]string{"serve", "--iface", "x", "--tls-cert", cert, "--tls-key", key}, `only --app gohttp serves TLS, not --app ""`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, errb.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	run([]string{"serve", "--help"}, &out, &errb)
	help := out.String() + errb.String()
	for _, s := range []string{"-tls-cert FILE", "-tls-key FILE", "HTTP/2 and HTTP/1.1", "8443"} {
		if !strings.Contains(help, s) {
			t.Errorf("serve --help does not say %q", s)
		}
	}
}
