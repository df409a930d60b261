package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseConfig: Parse never panics, an error is one line with its
// position, and a Config it returns goes through Format and Parse whole.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"testdata/example.conf", "testdata/minimal.conf"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("frontend f\n bind [::1]:80\n default_backend b\nbackend b\n server s [2001:2::1]:1 weight 0\n")
	f.Add("listen a\n health-check tcp inter 1s rise 1 fall 1 timeout 1s\n default-server maxconn 1 no-check\n queue 5\n bind :1\n server s 1.2.3.4:5\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse("f.conf", strings.NewReader(text))
		if err != nil {
			if s := err.Error(); strings.Contains(s, "\n") || !strings.HasPrefix(s, "f.conf:") {
				t.Fatalf("error %q: want one line starting f.conf:", s)
			}
			return
		}
		out := c.Format()
		c2, err := Parse("f.conf", strings.NewReader(out))
		if err != nil {
			t.Fatalf("Format's output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("Format then Parse differs:\n%s", out)
		}
		if len(Diff(c, c2)) != 0 {
			t.Fatalf("Diff of equal configs: %v", Diff(c, c2))
		}
	})
}
