package main

import (
	"fmt"
	"net/netip"
)

// In HTTP mode each proxy listens on its cps port and balances over its two
// cps backends, as in TCP mode; the backends are the same nginx. Every
// proxy adds X-Forwarded-For and X-Forwarded-Proto (pollstack's default),
// keeps idle connections to the backends and reuses them for any client's
// requests, and has no limit of requests per connection on either leg.

// poolIdle is how many idle backend connections each proxy may keep per
// server (pollstack's pool-max-idle; nginx's keepalive, per upstream).
const poolIdle = 256

// pollstackHTTPConf is pollstack proxy's --config in HTTP mode.
func pollstackHTTPConf() string {
	p := portsOf(pxPollstack)
	return fmt.Sprintf(`# proxycmp --mode http: pollstack proxy --config
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s

frontend web
    bind :%d
    forward-for x-forwarded-for
    default_backend web

backend web
    balance roundrobin
    pool-max-idle %d
    timeout pool-idle 30s
    server h1 %s
    server h2 %s
`, p.CPS, poolIdle, p.httpAddr(0), p.httpAddr(1))
}

// haproxyHTTPConf is HAProxy in mode http: one thread on cpu, the same
// timeouts, X-Forwarded-For (option forwardfor) and -Proto, and
// http-reuse always, so that an idle backend connection serves any
// client's next request. Requests that end abnormally (httplog with
// dontlog-normal) are logged on stderr, one line each.
func haproxyHTTPConf(cpu int) string {
	p := portsOf(pxHAProxy)
	return fmt.Sprintf(`# proxycmp --mode http: haproxy -db -f
global
    nbthread 1
    cpu-map 1/1 %d
    maxconn 9000
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s

frontend web
    bind %s
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    default_backend web

backend web
    balance roundrobin
    http-reuse always
    server h1 %s
    server h2 %s
`, cpu, netip.AddrPortFrom(proxyAddr, uint16(p.CPS)), p.httpAddr(0), p.httpAddr(1))
}

// nginxHTTPConf is nginx as a reverse proxy: one worker on cpu, an upstream
// of the same two backends with keepalive (HTTP/1.1 to the backends and
// the Connection field cleared, as nginx's documentation says for
// upstream keepalive), X-Forwarded-For and -Proto, no request limit per
// connection on either leg, default buffers and timeouts otherwise.
func nginxHTTPConf(dir string, cpu int) string {
	p := portsOf(pxNginx)
	return fmt.Sprintf(`# proxycmp --mode http: nginx reverse proxy
worker_processes 1;
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
  upstream web {
    server %[3]s;
    server %[4]s;
    keepalive %[6]d;
    keepalive_requests 1000000;
  }
  server {
    listen %[5]s backlog=4096;
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`, dir, affinityMask(cpu), p.httpAddr(0), p.httpAddr(1), netip.AddrPortFrom(proxyAddr, uint16(p.CPS)), poolIdle)
}
