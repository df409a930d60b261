package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFromFlags(t *testing.T) {
	c, err := FromFlags(Flags{
		Iface: "pst-a", Addrs: []string{"198.18.0.1/24"}, Cores: "0-1",
		Listen: 80, Backends: []string{"198.18.0.2:8080,weight=3", "[2001:2::3]:8080"},
		Balance: "leastconn", HealthCheck: time.Second, SendProxy: "v2", AcceptProxy: true, MaxConn: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Iface: "pst-a", Addrs: []netip.Prefix{mustPrefix("198.18.0.1/24")}, Cores: "0-1", Drain: DefaultDrain,
		Listeners: []Listener{{
			Name: "proxy", Binds: []Bind{{Port: 80}}, Mode: "tcp", MaxConn: 100, Backend: "proxy",
			AcceptProxy: true, AcceptProxyTimeout: 3 * time.Second,
			ClientTimeout: 60 * time.Second, ClientFinTimeout: 60 * time.Second,
		}},
		Backends: []BackendGroup{{
			Name: "proxy", Mode: "tcp", Balance: "leastconn", SendProxy: ProxyV2,
			Health:         Health{Type: "tcp", Inter: time.Second, Timeout: time.Second, Rise: 2, Fall: 3},
			ConnectTimeout: 5 * time.Second, QueueTimeout: 5 * time.Second,
			ServerTimeout: 60 * time.Second, ServerFinTimeout: 60 * time.Second,
			Servers: []Server{
				{Name: "198.18.0.2:8080", Addr: ap("198.18.0.2:8080"), Weight: 3, SendProxy: ProxyV2, Check: true},
				{Name: "2001:2::3:8080", Addr: ap("[2001:2::3]:8080"), Weight: 1, SendProxy: ProxyV2, Check: true},
			},
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
	// The flags' Config is one a file can say: Format and Parse keep it.
	if c2 := parseString(t, c.Format()); !reflect.DeepEqual(c, c2) {
		t.Errorf("flags' Config through Format and Parse:\n got %+v\nwant %+v", c2, c)
	}
}

// TestFlagsAndFile: the same proxy from flags and from a file is one Config.
func TestFlagsAndFile(t *testing.T) {
	fromFlags, err := FromFlags(Flags{Iface: "pst-a", Listen: 80, Backends: []string{"198.18.0.2:8080,weight=2"}})
	if err != nil {
		t.Fatal(err)
	}
	fromFile := parseString(t, "global\n iface pst-a\nlisten proxy\n bind :80\n server 198.18.0.2:8080 198.18.0.2:8080 weight 2\n")
	if !reflect.DeepEqual(fromFlags, fromFile) {
		t.Errorf("\nflags %+v\n file %+v", fromFlags, fromFile)
	}
}

func TestFromFlagsConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.conf")
	if err := os.WriteFile(path, []byte("global\n iface pst-a\n cores 0\nlisten web\n bind :80\n server a 198.18.0.2:80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The engine's flags override the file's global section.
	c, err := FromFlags(Flags{Config: path, Iface: "pst-b", Cores: "1", Netns: "ns", Metrics: ":9100", Addrs: []string{"198.18.0.9/24"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Iface != "pst-b" || c.Cores != "1" || c.Netns != "ns" || c.Metrics != ":9100" || len(c.Addrs) != 1 || c.Listeners[0].Name != "web" {
		t.Errorf("%+v", c)
	}
	// A file error keeps its position.
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("listen web\n bind :80\n server a 198.18.0.2:80 weight 300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromFlags(Flags{Config: bad, Iface: "a"}); err == nil || err.Error() != bad+":3:32: weight 300: want 0..256" {
		t.Errorf("got %v", err)
	}
}

func TestFromFlagsBad(t *testing.T) {
	ok := Flags{Iface: "a", Listen: 80, Backends: []string{"198.18.0.2:80"}}
	for _, tc := range []struct {
		edit func(*Flags)
		want string
	}{
		{func(f *Flags) { f.Iface = "" }, "--iface is required"},
		{func(f *Flags) { f.Iface = ""; f.Listen = 0; f.Backends = nil; f.Config = "x.conf" }, "open x.conf: no such file or directory"},
		{func(f *Flags) { f.Config = "p.conf" }, "--config p.conf and --listen, --backend: the file says what to proxy; give one or the other (the engine's flags --iface, --netns, --addr, --route, --gateway, --cores and --metrics may go with --config)"},
		{func(f *Flags) { f.Listen = 0 }, "--listen PORT is required (or --config FILE)"},
		{func(f *Flags) { f.Listen = 70000 }, "--listen 70000: want a port in 1..65535"},
		{func(f *Flags) { f.Backends = nil }, "--backend IP:PORT[,weight=W] is required, once per server"},
		{func(f *Flags) { f.Backends = []string{"198.18.0.2"} }, `--backend "198.18.0.2": want IP:PORT (IPv6 as [2001:db8::1]:80)`},
		{func(f *Flags) { f.Backends = []string{"198.18.0.2:80,weight=300"} }, `--backend "198.18.0.2:80,weight=300": weight 300: want 0..256`},
		{func(f *Flags) { f.Backends = []string{"198.18.0.2:80,w=3"} }, `--backend "198.18.0.2:80,w=3": want IP:PORT[,weight=W]`},
		{func(f *Flags) { f.Backends = []string{"198.18.0.2:80", "198.18.0.2:80,weight=2"} }, "--backend 198.18.0.2:80 given twice"},
		{func(f *Flags) { f.Mode = "udp" }, `--mode "udp": want tcp or http`},
		{func(f *Flags) { f.Balance = "leastcon" }, `--balance "leastcon": want roundrobin, leastconn, random2 or maghash (did you mean leastconn?)`},
		{func(f *Flags) { f.HealthCheck = time.Millisecond }, "--health-check 1ms: want 0 (off) or at least 100ms"},
		{func(f *Flags) { f.SendProxy = "none" }, `--send-proxy "none": want v1 or v2`},
		{func(f *Flags) { f.MaxConn = -1 }, "--maxconn -1: want 0 (no limit) .. 10000000"},
		{func(f *Flags) { f.Cores = "a" }, `--cores: CPU list "a": "a" is not a CPU number (0..4095)`},
		{func(f *Flags) { f.Addrs = []string{"x"} }, `--addr "x": want an address in CIDR form, as 198.18.0.1/24`},
		{func(f *Flags) { f.Metrics = "x" }, `--metrics "x": want HOST:PORT`},
		{func(f *Flags) { f.Metrics = "a b:1" }, `--metrics "a b:1": want HOST:PORT`},
		{func(f *Flags) { f.Iface = "a b" }, `--iface "a b": not an interface name (1..15 characters, no '/', ':' or spaces)`},
		{func(f *Flags) { f.Netns = "a/b" }, `--netns "a/b": not a network namespace name (a name in /run/netns: no '/' or '@')`},
	} {
		f := ok
		tc.edit(&f)
		_, err := FromFlags(f)
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v:\n got %v\nwant %s", f, err, tc.want)
		}
	}
}
