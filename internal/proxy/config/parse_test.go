package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ap(s string) netip.AddrPort       { return netip.MustParseAddrPort(s) }

// exampleConfig is testdata/example.conf, as docs/proxy.md explains it.
func exampleConfig() *Config {
	return &Config{
		Iface: "pst-a", Netns: "pst-a",
		Addrs:   []netip.Prefix{mustPrefix("198.18.0.1/24"), mustPrefix("2001:2::1/64")},
		Cores:   "0,1",
		Metrics: "127.0.0.1:9100",
		Drain:   5 * time.Second,
		Sysctl:  []string{"net.inet.tcp.msl=5000"},
		Listeners: []Listener{{
			Name: "web", Binds: []Bind{{Port: 80}}, Mode: "tcp", MaxConn: 10000, Backend: "web",
			AcceptProxy: true, AcceptProxyTimeout: 3 * time.Second,
			ClientTimeout: 60 * time.Second, ClientFinTimeout: 10 * time.Second,
		}, {
			Name: "api", Mode: "tcp", MaxConn: 2000, Backend: "api",
			Binds:         []Bind{{netip.MustParseAddr("198.18.0.1"), 8443}, {netip.MustParseAddr("2001:2::1"), 8443}},
			ClientTimeout: 60 * time.Second, ClientFinTimeout: 10 * time.Second,
		}},
		Backends: []BackendGroup{{
			Name: "web", Mode: "tcp", Balance: "roundrobin", SmartConnect: true,
			Health:         Health{Type: "tcp", Inter: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3},
			ConnectTimeout: 5 * time.Second, QueueTimeout: 5 * time.Second,
			ServerTimeout: 60 * time.Second, ServerFinTimeout: 10 * time.Second,
			Servers: []Server{
				{Name: "a", Addr: ap("198.18.0.2:8080"), Weight: 3, Check: true},
				{Name: "b", Addr: ap("198.18.0.3:8080"), Weight: 1, SendProxy: ProxyV2, Check: true},
				{Name: "c", Addr: ap("[2001:2::3]:8080"), Weight: 0, Check: true},
			},
		}, {
			Name: "api", Mode: "tcp", Balance: "leastconn", Queue: 100, QueueTimeout: 2 * time.Second,
			SendProxy:      ProxyV1,
			Health:         Health{Type: "tcp", Inter: 5 * time.Second, Timeout: 5 * time.Second, Rise: 2, Fall: 2},
			ConnectTimeout: 5 * time.Second, ServerTimeout: 60 * time.Second, ServerFinTimeout: 10 * time.Second,
			Servers: []Server{
				{Name: "api1", Addr: ap("198.18.0.4:9000"), Weight: 1, MaxConn: 500, SendProxy: ProxyV1, Check: true},
				{Name: "api2", Addr: ap("198.18.0.5:9000"), Weight: 1, MaxConn: 1000, SendProxy: ProxyNone, Check: true},
			},
		}},
	}
}

func parseString(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("t.conf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

func TestParseExample(t *testing.T) {
	c, err := Load("testdata/example.conf")
	if err != nil {
		t.Fatal(err)
	}
	if want := exampleConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("example.conf:\n got %+v\nwant %+v", c, want)
	}
}

// TestRoundTrip: Format writes what Parse reads back to the same Config.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/example.conf", "testdata/minimal.conf"} {
		c, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		text := c.Format()
		c2 := parseString(t, text)
		if !reflect.DeepEqual(c, c2) {
			t.Errorf("%s: Format then Parse differs:\n%s\n got %+v\nwant %+v", f, text, c2, c)
		}
		if text2 := c2.Format(); text2 != text {
			t.Errorf("%s: Format is not stable:\n%s\n%s", f, text, text2)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	c := parseString(t, "listen web\n bind :80\n server a 198.18.0.2:80\n")
	want := &Config{
		Drain: DefaultDrain,
		Listeners: []Listener{{Name: "web", Binds: []Bind{{Port: 80}}, Mode: "tcp", Backend: "web",
			ClientTimeout: 60 * time.Second, ClientFinTimeout: 60 * time.Second}},
		Backends: []BackendGroup{{Name: "web", Mode: "tcp", Balance: "roundrobin",
			ConnectTimeout: 5 * time.Second, QueueTimeout: 5 * time.Second,
			ServerTimeout: 60 * time.Second, ServerFinTimeout: 60 * time.Second,
			Servers: []Server{{Name: "a", Addr: ap("198.18.0.2:80"), Weight: 1}}}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
}

// A mode http section gets the HTTP defaults, and what the file sets of
// them survives Format and Parse again.
func TestParseHTTP(t *testing.T) {
	c := parseString(t, "listen web\n mode http\n bind :80\n server a 198.18.0.2:80\n")
	l, g := c.Listeners[0], c.Backends[0]
	if l.HTTPRequestTimeout != DefaultHTTPRequestTimeout || l.KeepAliveTimeout != DefaultKeepAliveTimeout ||
		l.ForwardFor != ForwardXFF || l.ForwardReplace || g.PoolMaxIdle != DefaultPoolMaxIdle || g.PoolIdleTimeout != DefaultPoolIdleTimeout {
		t.Fatalf("defaults: %+v %+v", l, g)
	}
	c = parseString(t, "defaults\n mode http\n timeout http-request 3s\nlisten web\n bind :80\n timeout http-keep-alive 0\n forward-for forwarded replace\n pool-max-idle 7\n timeout pool-idle 2s\n health-check http HEAD /healthz expect 204 inter 1s\n server a 198.18.0.2:80\n")
	l, g = c.Listeners[0], c.Backends[0]
	if l.HTTPRequestTimeout != 3*time.Second || l.KeepAliveTimeout != 0 || l.ForwardFor != ForwardRFC7239 || !l.ForwardReplace || l.ForwardHost ||
		g.PoolMaxIdle != 7 || g.PoolIdleTimeout != 2*time.Second ||
		g.Health != (Health{Type: "http", Method: "HEAD", Path: "/healthz", Expect: 204, Inter: time.Second, Timeout: time.Second, Rise: DefaultRise, Fall: DefaultFall}) {
		t.Fatalf("set: %+v %+v", l, g)
	}
	again := parseString(t, c.Format())
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("Format and Parse again:\n got %+v\nwant %+v", again, c)
	}
	c = parseString(t, "global\n route 198.19.0.0/24=198.18.0.2\n gateway 2001:2::2\ndefaults\n mode http\nfrontend f\n bind :80\n use_backend api path /api/\n use_backend img host Img.Example\n default_backend web\nbackend web\n server a 198.18.0.2:80\nbackend api\n server a 198.18.0.2:81\nbackend img\n server a 198.18.0.2:82\n")
	want := []Route{{Backend: "api", PathPrefix: "/api/"}, {Backend: "img", Host: "img.example"}}
	if len(c.Routes) != 1 || c.Routes[0] != "198.19.0.0/24=198.18.0.2" || len(c.Gateways) != 1 || c.Gateways[0] != "2001:2::2" {
		t.Fatalf("routes %q gateways %q", c.Routes, c.Gateways)
	}
	if !reflect.DeepEqual(c.Listeners[0].Routes, want) {
		t.Fatalf("routes %+v, want %+v", c.Listeners[0].Routes, want)
	}
	again = parseString(t, c.Format())
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("Format and Parse again:\n got %+v\nwant %+v", again, c)
	}
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		check      func(*Config) bool
	}{
		{"defaults apply to later sections only", "listen a\n bind :1\n server s 198.18.0.2:1\ndefaults\n timeout connect 1s\nlisten b\n bind :2\n server s 198.18.0.2:1\n",
			func(c *Config) bool {
				return c.Backends[0].ConnectTimeout == 5*time.Second && c.Backends[1].ConnectTimeout == time.Second
			}},
		{"a new defaults section starts afresh", "defaults\n balance leastconn\ndefaults\n timeout server 1s\nlisten a\n bind :1\n server s 198.18.0.2:1\n",
			func(c *Config) bool {
				return c.Backends[0].Balance == "roundrobin" && c.Backends[0].ServerTimeout == time.Second
			}},
		{"a section overrides defaults", "defaults\n mode http\nlisten a\n mode tcp\n bind :1\n server s 198.18.0.2:1\n",
			func(c *Config) bool { return c.Listeners[0].Mode == "tcp" }},
		{"zero idle timeouts mean never", "listen a\n timeout client 0\n timeout server 0s\n bind :1\n server s 198.18.0.2:1\n",
			func(c *Config) bool {
				return c.Listeners[0].ClientFinTimeout == 0 && c.Backends[0].ServerFinTimeout == 0
			}},
		{"IPv6 server and bind, wildcard forms", "listen a\n bind [::]:1\n bind 198.18.0.1:2\n server s [2001:2::9]:1\n",
			func(c *Config) bool {
				return c.Listeners[0].Binds[0] == Bind{Port: 1} && c.Backends[0].Servers[0].Addr == ap("[2001:2::9]:1")
			}},
		{"two frontends share a backend; frontend and backend share a name", "frontend x\n bind :1\n default_backend x\nfrontend y\n bind :2\n default_backend x\nbackend x\n server s 198.18.0.2:1\n",
			func(c *Config) bool { return len(c.Listeners) == 2 && c.Listeners[1].Backend == "x" }},
		{"a frontend sends to a listen section", "listen x\n bind :1\n server s 198.18.0.2:1\nfrontend y\n bind :2\n default_backend x\n",
			func(c *Config) bool { return c.Listeners[1].Backend == "x" }},
		{"health-check off overrides defaults; no-check", "defaults\n health-check\nbackend b\n health-check off\n server s 198.18.0.2:1\nbackend c\n server s 198.18.0.2:1 no-check\n server t 198.18.0.3:1\nfrontend f\n bind :1\n default_backend b\n",
			func(c *Config) bool {
				return c.Backends[0].Health.Type == "" && !c.Backends[1].Servers[0].Check && c.Backends[1].Servers[1].Check
			}},
		{"timeout check", "backend b\n timeout check 1s\n health-check inter 3s\n server s 198.18.0.2:1\nfrontend f\n bind :1\n default_backend b\n",
			func(c *Config) bool { return c.Backends[0].Health.Timeout == time.Second }},
		{"CRLF, tabs, comments", "# c\r\nlisten\tweb # trailing\r\n\tbind :80\r\n\tserver a 198.18.0.2:80#not-a-comment-here\r\n",
			nil},
		{"named defaults", "defaults base\nlisten a\n bind :1\n server s 198.18.0.2:1\n", nil},
		{"smart-connect from defaults, off in one backend", "defaults\n smart-connect on\nbackend b\n server s 198.18.0.2:1\nbackend c\n smart-connect off\n server s 198.18.0.2:1\nfrontend f\n bind :1\n default_backend b\n",
			func(c *Config) bool { return c.Backends[0].SmartConnect && !c.Backends[1].SmartConnect }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", strings.NewReader(tc.text))
			if tc.name == "CRLF, tabs, comments" {
				// "198.18.0.2:80#not..." is one word: a '#' inside a word
				// is not a comment.
				if err == nil || !strings.Contains(err.Error(), "t.conf:4:11:") {
					t.Fatalf("got %v, want an error at 4:11", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("%+v", c)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	const srv = " server s 198.18.0.2:80\n"
	for _, tc := range []struct{ text, want string }{
		{"", "t.conf:1:1: no listen or frontend section: nothing to proxy"},
		{"# only a comment\n\n", "t.conf:2:1: no listen or frontend section: nothing to proxy"},
		{"bind :80\n", "t.conf:1:1: bind outside a section (the file begins with global, defaults, listen, frontend or backend)"},
		{"listen web\n  bnid :80\n", "t.conf:2:3: unknown directive bnid (did you mean bind?)"},
		{"listen web\n  servr a 1.2.3.4:80\n", "t.conf:2:3: unknown directive servr (did you mean server?)"},
		{"listen web\n  frobnicate\n", "t.conf:2:3: unknown directive frobnicate"},
		{"listn web\n", "t.conf:1:1: unknown directive listn (did you mean listen?)"},
		{"listen web\n option httpchk\n", "t.conf:2:2: unknown directive option: HAProxy's options are not supported (for option httpchk, write health-check http GET /path expect 200; for option tcp-smart-connect, smart-connect on)"},
		{"listen web\n bind :0\n", `t.conf:2:7: bind ":0": port 0: want 1..65535`},
		{"listen web\n bind :65536\n", `t.conf:2:7: bind ":65536": port 65536: want 1..65535`},
		{"listen web\n bind 80\n", `t.conf:2:7: bind "80": want [ADDR]:PORT, as :80, 198.18.0.1:80 or [2001:2::1]:80`},
		{"listen web\n bind example.com:80\n", `t.conf:2:7: bind "example.com:80": "example.com" is not an IP address`},
		{"listen web\n bind\n", "t.conf:2:2: bind wants [ADDR]:PORT"},
		{"listen web\n bind :80 :81\n", `t.conf:2:11: bind: unexpected ":81" (want bind [ADDR]:PORT)`},
		{"listen web\n bind :80\n server a 198.18.0.2\n", `t.conf:3:11: server address "198.18.0.2": want IP:PORT (IPv6 as [2001:db8::1]:80)`},
		{"listen web\n bind :80\n server a ::1:80\n", `t.conf:3:11: server address "::1:80": want IP:PORT (IPv6 as [2001:db8::1]:80)`},
		{"listen web\n bind :80\n server a backend.local:80\n", `t.conf:3:11: server address "backend.local:80": "backend.local" is not an IP address (the proxy does not resolve names)`},
		{"listen web\n bind :80\n server a 0.0.0.0:80\n", `t.conf:3:11: server address "0.0.0.0:80": 0.0.0.0 cannot be a server's address`},
		{"listen web\n bind :80\n server a [fe80::1%eth0]:80\n", `t.conf:3:11: server address "[fe80::1%eth0]:80": an address with a zone is not supported`},
		{"listen web\n bind :80\n server a 198.18.0.2:0\n", `t.conf:3:11: server address "198.18.0.2:0": port 0: want 1..65535`},
		{"listen web\n bind :80\n server a 198.18.0.2:80 weight 257\n", "t.conf:3:32: weight 257: want 0..256"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 weight -1\n", "t.conf:3:32: weight -1: want 0..256"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 weight x\n", `t.conf:3:32: weight "x": want a whole number in 0..256`},
		{"listen web\n bind :80\n server a 198.18.0.2:80 weight\n", "t.conf:3:25: weight wants a value"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 wieght 2\n", "t.conf:3:25: unknown server option wieght (did you mean weight?)"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 check inter 2s\n", "t.conf:3:25: check: health checks are set for the group: health-check inter 2s rise 2 fall 3 (no-check exempts a server)"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 send-proxy-v2\n", "t.conf:3:25: write send-proxy v2"},
		{"listen web\n bind :80\n server a 198.18.0.2:80 send-proxy v3\n", `t.conf:3:36: send-proxy "v3": want v1, v2 or none`},
		{"listen web\n bind :80\n server a 198.18.0.2:80 weight 1 weight 2\n", "t.conf:3:34: weight given twice in this section (first at line 3)"},
		{"listen web\n bind :80\n server a 198.18.0.2:80\n server a 198.18.0.3:80\n", "t.conf:4:9: a server named a is already at line 3"},
		{"listen web\n bind :80\n server a 198.18.0.2:80\n server b 198.18.0.2:80\n", "t.conf:4:11: server b has the address of server a (line 3)"},
		{"listen web\n bind :80\n server a\n", "t.conf:3:2: server wants NAME IP:PORT [weight W] [maxconn N] [send-proxy v1|v2|none] [no-check]"},
		{"listen web\n bind :80\n server a/b 198.18.0.2:80\n", `t.conf:3:9: server name "a/b": a name holds letters, digits, '-', '_', '.' and ':' only`},
		{"listen web\n bind :80\n", "t.conf:1:8: listen web has no server"},
		{"listen web\n" + srv, "t.conf:1:8: listen web has no bind"},
		{"listen\n", "t.conf:1:1: listen wants a name"},
		{"listen web :80\n", "t.conf:1:12: listen web: one name only (bind goes on a line of its own)"},
		{"listen web\n bind :80\n" + srv + "listen web\n bind :81\n" + srv, "t.conf:4:8: a listener named web is already at line 1"},
		{"listen web\n bind :80\n" + srv + "backend web\n" + srv, "t.conf:4:9: a backend named web is already at line 1"},
		{"listen a\n bind :80\n" + srv + "listen b\n bind 198.18.0.1:80\n" + srv, "t.conf:5:7: bind 198.18.0.1:80 overlaps bind :80 of listen a (line 2)"},
		{"listen a\n bind :80\n bind :80\n" + srv, "t.conf:3:7: bind :80 overlaps bind :80 of listen a (line 2)"},
		{"frontend f\n bind :80\n", "t.conf:1:10: frontend f has no default_backend"},
		{"frontend f\n bind :80\n default_backend app\nbackend ap\n" + srv, "t.conf:3:18: default_backend app: no backend or listen section of that name (did you mean ap?)"},
		{"frontend f\n bind :80\n default_backend b\nbackend b\n", "t.conf:4:9: backend b has no server"},
		{"frontend f\n bind :80\n" + srv, "t.conf:3:2: server is not allowed in a frontend section (it belongs in backend or listen sections)"},
		{"backend b\n bind :80\n", "t.conf:2:2: bind is not allowed in a backend section (it belongs in frontend or listen sections)"},
		{"frontend f\n balance leastconn\n", "t.conf:2:2: balance is not allowed in a frontend section (it belongs in defaults, backend or listen sections)"},
		{"global\n mode tcp\n", "t.conf:2:2: mode is not allowed in a global section (it belongs in defaults, frontend, backend or listen sections)"},
		{"frontend f\n mode http\n bind :80\n default_backend b\nbackend b\n" + srv, "t.conf:2:2: frontend f is mode http but backend b is mode tcp (a listener and its backend have one mode)"},
		{"frontend f\n bind :80\n default_backend b\nbackend b\n mode http\n" + srv, "t.conf:5:2: frontend f is mode tcp but backend b is mode http (a listener and its backend have one mode)"},
		{"defaults\n mode http\nfrontend f\n bind :80\n default_backend b\ndefaults\nbackend b\n" + srv, "t.conf:5:18: frontend f is mode http but backend b is mode tcp (a listener and its backend have one mode)"},
		{"listen a\n mode udp\n", `t.conf:2:7: mode "udp": want tcp or http`},
		{"listen a\n mode tcp\n mode tcp\n", "t.conf:3:2: mode given twice in this section (first at line 2)"},
		{"listen a\n balance rundrobin\n", `t.conf:2:10: balance "rundrobin": want roundrobin, leastconn, random2 or maghash (did you mean roundrobin?)`},
		{"listen a\n balance source\n", `t.conf:2:10: balance "source": want roundrobin, leastconn, random2 or maghash (maghash hashes the client's address, as HAProxy's source does)`},
		{"listen a\n maxconn -5\n", "t.conf:2:10: maxconn -5: want 0..10000000"},
		{"listen a\n timeout connect 5000\n", `t.conf:2:18: timeout connect "5000": want a duration with its unit, as 5000ms or 5000s (HAProxy's bare numbers are milliseconds)`},
		{"listen a\n timeout connect 0\n", "t.conf:2:18: timeout connect 0: want more than 0"},
		{"listen a\n timeout client -1s\n", "t.conf:2:17: timeout client -1s: want 0 (off) or more"},
		{"listen a\n timeout client soon\n", `t.conf:2:17: timeout client "soon": want a duration such as 5s or 100ms`},
		{"listen a\n timeout clinet 5s\n", "t.conf:2:10: unknown timeout clinet (did you mean client?)"},
		{"listen a\n timeout http-reqest 5s\n", "t.conf:2:10: unknown timeout http-reqest (did you mean http-request?)"},
		{"listen a\n timeout bogus 5s\n", "t.conf:2:10: unknown timeout bogus (timeouts: check, client, client-fin, connect, http-keep-alive, http-request, pool-idle, queue, server, server-fin)"},
		{"listen a\n bind :80\n timeout http-request 5s\n server s 198.18.0.2:80\n", "t.conf:3:10: timeout http-request applies to mode http only (listen a is mode tcp)"},
		{"listen a\n bind :80\n pool-max-idle 5\n server s 198.18.0.2:80\n", "t.conf:3:2: pool-max-idle applies to mode http only (listen a is mode tcp)"},
		{"listen a\n mode http\n forward-for forwarded host\n", `t.conf:3:24: forward-for forwarded: unexpected "host" (want forward-for x-forwarded-for [host] [replace], or forwarded [replace])`},
		{"listen a\n mode http\n forward-for xff\n", `t.conf:3:14: forward-for "xff": want x-forwarded-for, forwarded or none`},
		{"listen a\n mode http\n forward-for none replace\n", `t.conf:3:19: forward-for none: unexpected "replace" (want forward-for x-forwarded-for [host] [replace], or forwarded [replace])`},
		{"listen a\n timeout connect\n", "t.conf:2:2: timeout connect wants a duration"},
		{"frontend f\n timeout server 5s\n", "t.conf:2:10: timeout server is not allowed in a frontend section (it belongs in defaults, backend or listen sections)"},
		{"backend b\n timeout client 5s\n", "t.conf:2:10: timeout client is not allowed in a backend section (it belongs in defaults, frontend or listen sections)"},
		{"listen a\n timeout connect 1s\n timeout connect 2s\n", "t.conf:3:10: timeout connect given twice in this section (first at line 2)"},
		{"listen a\n accept-proxy timeout 0s\n", "t.conf:2:23: accept-proxy timeout 0s: want more than 0"},
		{"listen a\n accept-proxy timeout\n", "t.conf:2:15: accept-proxy timeout wants a duration"},
		{"listen a\n accept-proxy v2\n", `t.conf:2:15: accept-proxy: unexpected "v2" (want accept-proxy [timeout DURATION])`},
		{"listen a\n send-proxy\n", "t.conf:2:2: send-proxy wants v1, v2 or none"},
		{"listen a\n smart-connect yes\n", `t.conf:2:16: smart-connect "yes": want on or off`},
		{"listen a\n smart-connect\n", "t.conf:2:2: smart-connect wants on or off"},
		{"listen a\n smart-connect on\n smart-connect off\n", "t.conf:3:2: smart-connect given twice in this section (first at line 2)"},
		{"frontend f\n smart-connect on\n", "t.conf:2:2: smart-connect is not allowed in a frontend section (it belongs in defaults, backend or listen sections)"},
		{"listen a\n health-check inter 50ms\n", "t.conf:2:21: health-check inter 50ms: want at least 100ms"},
		{"listen a\n health-check rise 0\n", "t.conf:2:20: health-check rise 0: want 1..100"},
		{"listen a\n health-check fall\n", "t.conf:2:15: health-check fall wants a value"},
		{"listen a\n health-check intr 2s\n", `t.conf:2:15: health-check: unexpected "intr" (want inter, rise, fall or timeout) (did you mean inter?)`},
		{"listen a\n health-check rise 2 rise 3\n", "t.conf:2:22: health-check: rise given twice"},
		{"listen a\n health-check http GET /h\xc3\xa9 expect 200\n", "t.conf:2:15: health-check http: path \"/h\u00e9\": want printable ASCII without spaces (percent-encode the rest)"},
		{"listen a\n health-check http GET health\n", "t.conf:2:24: health-check http wants [GET|HEAD|OPTIONS] /PATH"},
		{"listen a\n health-check off now\n", `t.conf:2:19: health-check off: unexpected "now"`},
		{"listen a\n queue 10\n bind :80\n" + srv, "t.conf:2:2: queue 10 in listen a, but no server has a maxconn: nothing would ever wait"},
		{"global\n route 198.19.0.0/24\n", `t.conf:2:8: route "198.19.0.0/24": want PREFIX=NEXTHOP, as 198.19.0.0/24=198.18.0.2`},
		{"global\n route 198.19.0.1/24=198.18.0.2\n", `t.conf:2:8: route "198.19.0.1/24=198.18.0.2": want PREFIX=NEXTHOP, as 198.19.0.0/24=198.18.0.2`},
		{"global\n route 198.19.0.0/24=2001:2::2\n", `t.conf:2:8: route "198.19.0.0/24=2001:2::2": the next hop must be an IP address of the prefix's family`},
		{"global\n gateway x\n", `t.conf:2:10: gateway "x": want an IP address`},
		{"global\n gateway 198.18.0.2\n gateway 198.18.0.3\n", "t.conf:3:10: gateway 198.18.0.3: a second gateway of its family (gateway 198.18.0.2 came first)"},
		{"listen a\n use_backend api if host_api\n", "t.conf:2:18: use_backend: HAProxy's ACL conditions are not supported; write use_backend NAME [host HOST] [path /PREFIX] (one of host and path at least)"},
		{"listen a\n use_backend api\n", "t.conf:2:2: want use_backend NAME [host HOST] [path /PREFIX] (one of host and path at least)"},
		{"listen a\n use_backend api path x\n", `t.conf:2:23: use_backend path "x": want a prefix beginning with / in printable ASCII`},
		{"listen a\n use_backend api host a:80\n", `t.conf:2:23: use_backend host "a:80": want a host name or an IP address, without a port`},
		{"listen a\n bind :80\n use_backend b path /x\n server s 198.18.0.2:1\nbackend b\n server s 198.18.0.2:1\n", "t.conf:3:2: use_backend chooses by Host and path: mode http only (listen a is mode tcp)"},
		{"defaults\n mode http\nlisten a\n bind :80\n use_backend bx path /x\n server s 198.18.0.2:1\nbackend b\n server s 198.18.0.2:1\n", "t.conf:5:14: use_backend bx: no backend or listen section of that name (did you mean b?)"},
		{"listen a\n default-server weight 2\n default-server maxconn 3\n", "t.conf:3:2: default-server given twice in this section (write one line)"},
		{"global\n iface a\n iface b\n", "t.conf:3:2: iface given twice (first at line 2)"},
		{"global\n iface eth0:1\n", `t.conf:2:8: iface "eth0:1": not an interface name (1..15 characters, no '/', ':' or spaces)`},
		{"global\n cores 1-0\n", `t.conf:2:8: cores CPU list "1-0": "1-0" is not a range`},
		{"global\n cores 0,0\n", `t.conf:2:8: cores CPU list "0,0": CPU 0 twice`},
		{"global\n metrics 9100\n", `t.conf:2:10: metrics "9100": want HOST:PORT`},
		{"global\n addr 198.18.0.1\n", `t.conf:2:7: addr "198.18.0.1": want an address in CIDR form, as 198.18.0.1/24`},
		{"global\n sysctl msl\n", `t.conf:2:9: sysctl "msl": want NAME=VALUE, as net.inet.tcp.msl=5000`},
		{"global\n drain -1s\n", "t.conf:2:8: drain -1s: want 0 (off) or more"},
		{"global x\n", "t.conf:1:8: global takes no name"},
		{"listen a\n\tbind\t:80 \x01\n", "t.conf:2:11: control character U+0001"},
		{"listen a\n bind :8\xff0\n", "t.conf:2:9: not UTF-8"},
		{"listen é\n", `t.conf:1:8: listen name "é": a name holds letters, digits, '-', '_', '.' and ':' only`},
		{"listen a\n" + strings.Repeat("x", 5000) + "\n", "t.conf:2:1: line longer than 4096 bytes"},
		{"listen a\n" + strings.Repeat("x", 4097), "t.conf:2:1: line longer than 4096 bytes"},
	} {
		_, err := Parse("t.conf", strings.NewReader(tc.text))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.text, err, tc.want)
		}
	}
}
