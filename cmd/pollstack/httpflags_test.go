package main

import (
	"bytes"
	"strings"
	"testing"
)

// serve's HTTP timeouts: a negative or sub-millisecond value is one line
// and exit status 2; --help explains both.
func TestServeHTTPTimeoutFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--iface", "x", "--app", "http", "--http-header-timeout", "-1s"}, "serve: --http-header-timeout -1s: want 0 (none) or at least 1ms"},
		{[]string{"serve", "--iface", "x", "--app", "http", "--http-keepalive-timeout", "-75s"}, "serve: --http-keepalive-timeout -1m15s: want 0 (none) or at least 1ms"},
		{[]string{"serve", "--iface", "x", "--http-header-timeout", "10us"}, "serve: --http-header-timeout 10µs: want 0 (none) or at least 1ms"},
		{[]string{"serve", "--iface", "x", "--http-keepalive-timeout", "soon"}, `invalid value "soon" for flag -http-keepalive-timeout`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, errb.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	run([]string{"serve", "--help"}, &out, &errb)
	help := out.String() + errb.String()
	for _, s := range []string{"-http-header-timeout", "client_header_timeout", "-http-keepalive-timeout", "keepalive_timeout", "(default 1m0s)", "(default 1m15s)"} {
		if !strings.Contains(help, s) {
			t.Errorf("serve --help does not say %q", s)
		}
	}
}
