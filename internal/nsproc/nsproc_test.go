package nsproc

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNginxConf(t *testing.T) {
	c := NginxConf("/tmp/d", netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:2::2"))
	for _, want := range []string{
		"worker_processes 1;", "daemon off;", "pid /tmp/d/nginx.pid;", "access_log off;",
		"    listen 198.18.0.2:80 backlog=4096;\n    listen [2001:2::2]:80 backlog=4096;\n",
		`return 200 "hello\n";`,
	} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Count(c, "{") != strings.Count(c, "}") {
		t.Errorf("unbalanced braces:\n%s", c)
	}
}

func TestProcReadyAndStop(t *testing.T) {
	p, err := Start([]string{"sh", "-c", "echo starting; echo up now >&2; exec sleep 30"}, "up now")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("exited")
	}
	err = p.Stop(syscall.SIGTERM, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "signal: terminated") {
		t.Errorf("stop: %v", err)
	}
	if !strings.Contains(p.Output(), "starting\nup now\n") {
		t.Errorf("output %q", p.Output())
	}

	p, err = Start([]string{"sh", "-c", "echo oops; exit 3"}, "never")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(context.Background(), 10*time.Second); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("ready of an exiting process: %v", err)
	}
}
