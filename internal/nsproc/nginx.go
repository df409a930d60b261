package nsproc

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// NginxConf returns the configuration of a one-worker nginx answering
// "hello\n" to every request on port 80 of each address in listen, with
// its pid file, error log and temporary files in dir. No access log, keep-
// alive connections live for a million requests, backlog 4096.
func NginxConf(dir string, listen ...netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, `worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
%[2]s  server {
`, dir, NginxTempPaths(dir))
	for _, a := range listen {
		fmt.Fprintf(&b, "    listen %s backlog=4096;\n", netip.AddrPortFrom(a, 80))
	}
	b.WriteString(`    location / { return 200 "hello\n"; }
  }
}
`)
	return b.String()
}

// NginxTempPaths returns the http block's lines that put every
// temporary file of nginx's in dir, not in the system's directories.
func NginxTempPaths(dir string) string {
	var b strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s;\n", k, dir)
	}
	return b.String()
}

// NginxBody is what NginxConf's server answers.
const NginxBody = "hello\n"

// Nginx is an nginx started by StartNginx.
type Nginx struct {
	*Proc
	Conf string // the configuration file
}

// StartNginx writes NginxConf(dir, listen...) to dir/nginx.conf and runs
// nginx with it in network namespace ns, prefixed by wrap (e.g. taskset -c
// 1; may be empty). It returns once nginx answers curl on listen[0] from
// inside ns, or fails after 10 s. Stop it with Stop.
func StartNginx(ctx context.Context, ns, dir string, wrap []string, listen ...netip.Addr) (*Nginx, error) {
	if len(listen) == 0 {
		return nil, fmt.Errorf("nginx: no address to listen on")
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConf(dir, listen...)), 0o644); err != nil {
		return nil, err
	}
	args := NetnsArgs(ns, append(append([]string(nil), wrap...), "nginx", "-c", conf)...)
	p, err := Start(args, "")
	if err != nil {
		return nil, err
	}
	n := &Nginx{Proc: p, Conf: conf}
	url := "http://" + netip.AddrPortFrom(listen[0], 80).String() + "/"
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := Run(ctx, NetnsArgs(ns, "curl", "-sS", "-m", "1", url)...)
		if err == nil && out == NginxBody {
			return n, nil
		}
		if p.Exited() || ctx.Err() != nil || time.Now().After(deadline) {
			_ = n.Stop() // it did not come up; what follows says why
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("nginx in %s not answering on %s: %v\n%s", ns, url, err, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends nginx: ip netns exec became its master, and SIGTERM stops the
// master and its worker.
func (n *Nginx) Stop() error {
	return n.Proc.Stop(syscall.SIGTERM, 10*time.Second)
}
