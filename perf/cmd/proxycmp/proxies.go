package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pollstack/pollstack/internal/testbed"
)

// streamModule is where Debian's libnginx-mod-stream puts the stream module.
const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// Each proxy has ports of its own, so that no proxy's connection meets a
// 4-tuple another left in TIME_WAIT on the backends' kernel (its SYN
// would carry timestamps from another clock; see docs/benchmarks.md on
// perf/compare). The proxy listens on 198.18.0.1, the backends on
// 198.18.0.2.
type ports struct {
	CPS, Bulk int    // the proxy's listeners
	HTTP      [2]int // the nginx backends of cps
	Sink      int    // the bulk sink
}

func portsOf(proxy string) ports {
	i := slices.Index(allProxies, proxy)
	return ports{CPS: 8080 + i, Bulk: 9080 + i, HTTP: [2]int{8180 + 2*i, 8181 + 2*i}, Sink: 9180 + i}
}

var (
	proxyAddr   = testbed.LocalIPv4 // the proxies' address, on NAME-a
	backendAddr = testbed.PeerIPv4  // the backends' and the generator's, on NAME-b
)

func (p ports) cpsURL() string {
	return fmt.Sprintf("http://%s/", netip.AddrPortFrom(proxyAddr, uint16(p.CPS)))
}

func (p ports) cpsAddr() netip.AddrPort  { return netip.AddrPortFrom(proxyAddr, uint16(p.CPS)) }
func (p ports) bulkAddr() netip.AddrPort { return netip.AddrPortFrom(proxyAddr, uint16(p.Bulk)) }
func (p ports) sinkAddr() netip.AddrPort { return netip.AddrPortFrom(backendAddr, uint16(p.Sink)) }
func (p ports) httpAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(backendAddr, uint16(p.HTTP[i]))
}

// backendConf is the nginx that serves every proxy's cps backends in
// NAME-b: one worker on the generator's CPU, "hello\n" to every request,
// as internal/nsproc.NginxConf's server answers.
func backendConf(dir string, genCPU int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `worker_processes 1;
worker_cpu_affinity %[2]s;
worker_rlimit_nofile 20000;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 9000; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  server {
`, dir, affinityMask(genCPU))
	for _, px := range allProxies {
		p := portsOf(px)
		for i := range p.HTTP {
			fmt.Fprintf(&b, "    listen %s backlog=4096;\n", p.httpAddr(i))
		}
	}
	b.WriteString(`    location / { return 200 "hello\n"; }
  }
}
`)
	return b.String()
}

// affinityMask writes cpu as nginx's worker_cpu_affinity wants it: a
// binary mask, CPU 0 rightmost.
func affinityMask(cpu int) string {
	return "1" + strings.Repeat("0", cpu)
}

// pollstackConf is pollstack proxy's --config: the engine's settings are
// on its command line, the file has the two listeners and their backends.
func pollstackConf(smart bool) string {
	p := portsOf(pxPollstack)
	return fmt.Sprintf(`# proxycmp: pollstack proxy --config
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    smart-connect %s

frontend cps
    bind :%d
    default_backend cps

frontend bulk
    bind :%d
    default_backend bulk

backend cps
    balance roundrobin
    server h1 %s
    server h2 %s

backend bulk
    server sink %s
`, map[bool]string{true: "on", false: "off"}[smart], p.CPS, p.Bulk, p.httpAddr(0), p.httpAddr(1), p.sinkAddr())
}

// haproxyConf is HAProxy's configuration: the same listeners, backends and
// timeouts as pollstack's, one thread on cpu. Sessions that end abnormally
// (tcplog with dontlog-normal) are logged on stderr, one line each.
func haproxyConf(cpu int, smart bool) string {
	p := portsOf(pxHAProxy)
	opt := "no option tcp-smart-connect"
	if smart {
		opt = "option tcp-smart-connect"
	}
	return fmt.Sprintf(`# proxycmp: haproxy -db -f
global
    nbthread 1
    cpu-map 1/1 %d
    maxconn 9000
    log stderr format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    option dontlog-normal
    %s
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend cps
    bind %s
    default_backend cps

frontend bulk
    bind %s
    default_backend bulk

backend cps
    balance roundrobin
    server h1 %s
    server h2 %s

backend bulk
    server sink %s
`, cpu, opt, netip.AddrPortFrom(proxyAddr, uint16(p.CPS)), p.bulkAddr(), p.httpAddr(0), p.httpAddr(1), p.sinkAddr())
}

// nginxStreamConf is nginx's stream proxy: one worker on cpu, round robin
// over the same two backends, default buffers and timeouts.
func nginxStreamConf(dir string, cpu int) string {
	p := portsOf(pxNginx)
	return fmt.Sprintf(`# proxycmp: nginx stream proxy
load_module %[1]s;
worker_processes 1;
worker_cpu_affinity %[3]s;
worker_rlimit_nofile 20000;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 9000; }
stream {
  upstream cps {
    server %[4]s;
    server %[5]s;
  }
  upstream bulk {
    server %[6]s;
  }
  server {
    listen %[7]s backlog=4096;
    proxy_pass cps;
  }
  server {
    listen %[8]s backlog=4096;
    proxy_pass bulk;
  }
}
`, streamModule, dir, affinityMask(cpu), p.httpAddr(0), p.httpAddr(1), p.sinkAddr(),
		netip.AddrPortFrom(proxyAddr, uint16(p.CPS)), p.bulkAddr())
}

// confPath is where a proxy's configuration is written in the run's
// directory.
func (b *bench) confPath(proxy string) string {
	switch proxy {
	case pxPollstack:
		return filepath.Join(b.dir, "pollstack-proxy.conf")
	case pxHAProxy:
		return filepath.Join(b.dir, "haproxy.cfg")
	}
	if b.o.Mode == modeHTTP {
		return filepath.Join(b.dir, "nginx-http", "nginx.conf")
	}
	return filepath.Join(b.dir, "nginx-stream", "nginx.conf")
}
