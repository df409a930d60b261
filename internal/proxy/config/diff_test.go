package config

import (
	"strings"
	"testing"
)

func diffStrings(old, new *Config) string {
	var s []string
	for _, c := range Diff(old, new) {
		s = append(s, c.String())
	}
	return strings.Join(s, "\n")
}

func TestDiffSame(t *testing.T) {
	a, b := exampleConfig(), exampleConfig()
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("a config against itself: %v", d)
	}
}

func TestDiff(t *testing.T) {
	old := parseString(t, `global
    iface pst-a
    drain 2s
listen web
    bind :80
    server a 198.18.0.2:80 weight 3
    server b 198.18.0.3:80
    server c 198.18.0.4:80
listen old
    bind :81
    server a 198.18.0.2:81
`)
	new := parseString(t, `global
    iface pst-b
    drain 5s
listen web
    bind :80
    maxconn 100
    balance leastconn
    server d 198.18.0.5:80
    server a 198.18.0.2:80 weight 0
    server b 198.18.0.3:8080 send-proxy v2
listen api
    bind :82
    server a 198.18.0.2:82
`)
	want := `changed global iface: pst-a -> pst-b (needs a restart)
changed global drain: 2s -> 5s
changed listener web maxconn: 0 -> 100
added listener api
removed listener old
changed backend web balance: roundrobin -> leastconn
added server web/d
changed server web/a weight: 3 -> 0
changed server web/b address: 198.18.0.3:80 -> 198.18.0.3:8080
changed server web/b send-proxy: none -> v2
removed server web/c
added backend api
removed backend old`
	if got := diffStrings(old, new); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Back again is the mirror image.
	back := diffStrings(new, old)
	for _, s := range []string{"changed server web/a weight: 0 -> 3", "removed server web/d", "added server web/c", "added listener old"} {
		if !strings.Contains(back, s) {
			t.Errorf("new to old lacks %q:\n%s", s, back)
		}
	}
}

func TestDiffFields(t *testing.T) {
	c := exampleConfig()
	n := exampleConfig()
	n.Listeners[1].AcceptProxy = true
	n.Listeners[1].AcceptProxyTimeout = DefaultAcceptProxyTimeout
	n.Backends[1].Health.Type = ""
	n.Backends[1].Servers[0].Check = false
	n.Addrs = n.Addrs[:1]
	want := `changed global addr: 198.18.0.1/24,2001:2::1/64 -> 198.18.0.1/24 (needs a restart)
changed listener api accept-proxy: off -> timeout 3s
changed backend api health-check: tcp inter 5s rise 2 fall 2 timeout 5s -> off
changed server api/api1 check: true -> false`
	if got := diffStrings(c, n); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
