package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// net/http's server through crypto/tls on a pollstack listener: with a
// certificate and no --port it serves HTTPS on 8443, and curl gets the same
// answer over HTTP/2 and HTTP/1.1 (chosen by ALPN) over both families; h2load,
// where installed (CI installs it), makes 2000 requests on 10 connections,
// 10 streams each, without an error.
func TestGoHTTPTLSAgainstKernelClients(t *testing.T) {
	bedtest.NeedTools(t, "curl")
	withH2load := os.Getenv(testbed.RequirePrivilegedEnv) == "1"
	if _, err := exec.LookPath("h2load"); err == nil {
		withH2load = true
	}
	if withH2load {
		bedtest.NeedTools(t, "h2load")
	}
	bed := bedtest.ForTest(t, 1)
	cert, key := writeTestCert(t, t.TempDir(), "198.18.0.1", "2001:2::1")
	s := startServe(t, bed, "--app", "gohttp", "--tls-cert", cert, "--tls-key", key)
	if !strings.Contains(s.stderr.String(), "app gohttp on TCP port 8443 (HTTPS") {
		t.Fatalf("serve does not say it serves HTTPS on 8443:\n%s", s.stderr.String())
	}
	for _, url := range []string{"https://198.18.0.1:8443/", "https://[2001:2::1]:8443/"} {
		for _, v := range []struct{ flag, want string }{{"--http2", "2"}, {"--http1.1", "1.1"}} {
			out := inNetns(t, bed.NsB, "curl", v.flag, "-k", "-sS", "-g", "-m", "5", "-w", "%{http_version} %{response_code}", url)
			if want := "hello\n" + v.want + " 200"; out != want {
				t.Fatalf("curl %s %s: %q, want %q", v.flag, url, out, want)
			}
			out = inNetns(t, bed.NsB, "curl", v.flag, "-k", "-sS", "-g", "-m", "5", "-o", "/dev/null",
				"-w", "%{http_version} %{response_code} %{size_download}", url+"?size=100000")
			if want := v.want + " 200 100000"; out != want {
				t.Fatalf("curl %s %s?size=100000: %q, want %q", v.flag, url, out, want)
			}
			t.Logf("curl %s %s: HTTP/%s, 200, same body", v.flag, url, v.want)
		}
	}
	// The certificate serve presents is the one given: curl verifies it.
	if out := inNetns(t, bed.NsB, "curl", "--cacert", cert, "-sS", "-m", "5", "https://198.18.0.1:8443/"); out != "hello\n" {
		t.Fatalf("curl --cacert: %q", out)
	}
	if withH2load {
		out := inNetns(t, bed.NsB, "h2load", "-n", "2000", "-c", "10", "-m", "10", "https://198.18.0.1:8443/")
		if !strings.Contains(out, "Application protocol: h2") ||
			!strings.Contains(out, "2000 succeeded, 0 failed, 0 errored, 0 timeout") ||
			!strings.Contains(out, "status codes: 2000 2xx") {
			t.Fatalf("h2load: not 2000 h2 requests without an error:\n%s", out)
		}
		rate := regexp.MustCompile(`finished in [^\n]*`).FindString(out)
		t.Logf("h2load -n 2000 -c 10 -m 10: %s", rate)
	}
	s.stop(t)
}
