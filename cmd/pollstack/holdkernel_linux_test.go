package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// The reference for TestIdleConnectionsHeldOnTheBed: the same holders and
// the same curl loop against nginx on the kernel's TCP in the bed's first
// namespace, its workers on CPU 0 (serve's loop's) in SCHED_FIFO at
// serve's priority. A process may have 20,000 files open here (the hard
// limit, which root cannot raise without CAP_SYS_RESOURCE), so nginx has
// as many workers as hold the connections at 14,000 each (room for up to
// 16,000, as the kernel's spread is not even), each with a
// listening socket of its own (reuseport: the kernel spreads the
// connections over them by their hash). It shows how fast this machine answers a curl while
// that many idle connections are held by the kernel, and what they cost
// nginx and the kernel. POLLSTACK_HOLD_KERNEL=CONNS,SECONDS sizes it as
// POLLSTACK_HOLD does the other (20,000 for 2 s by default).
//
// The kernel's slab grows by both ends' sockets here and by the clients'
// alone in the other test: the difference is the kernel's own cost of the
// server's end, which the test logs beside nginx's.
func TestIdleConnectionsHeldByNginx(t *testing.T) {
	bedtest.NeedTools(t, "curl", "nginx", "chrt")
	n, secs := envPair(t, "POLLSTACK_HOLD_KERNEL", "CONNS,SECONDS", 20000, 2)
	if raceEnabled {
		n = 4000
	}
	bed := bedtest.ForTest(t, 1)
	perProc := holdersPerProc(t, n)
	inNetns(t, bed.NsB, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535")
	inNetns(t, bed.NsA, "ip", "addr", "add", testbed.LocalIPv4.String()+"/24", "dev", bed.IfaceA)
	inNetns(t, bed.NsA, "sysctl", "-qw", "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	workers := (n + holdNginxConns*7/8 - 1) / (holdNginxConns * 7 / 8)
	if err := os.WriteFile(conf, []byte(holdNginxConf(dir, workers)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := nsproc.Start(nsproc.NetnsArgs(bed.NsA, "chrt", "-f", "10", "nginx", "-c", conf), "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Errorf("nginx: %v", err)
		}
	}()
	url := "http://" + netip.AddrPortFrom(testbed.LocalIPv4, 8080).String() + "/"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := nsproc.Run(t.Context(), nsproc.NetnsArgs(bed.NsB, "curl", "-sS", "-m", "1", url)...)
		if err == nil && out == nsproc.NginxBody {
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("nginx not answering on %s: %v\n%s", url, err, p.Output())
		}
	}
	pids := nginxPIDs(t, p.PID())
	rss := func() (kib int) {
		for _, pid := range pids {
			kib += rssKiB(t, pid)
		}
		return kib
	}
	rssStart, slabStart := rss(), slabKiB(t)

	start := time.Now()
	hs := startHolders(t, bed, n, perProc, holdCloseRate, netip.AddrPortFrom(testbed.LocalIPv4, 8080))
	defer func() { hs.kill() }() // those close has not ended
	held, failed, err := hs.ready(t)
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	if failed*1000 > n {
		t.Errorf("%d of %d connects failed", failed, n)
	}
	// The last handshakes' ACKs may lag the clients' connect by a moment.
	est := kernelEstablished(t, bed.NsA)
	for wait := time.Now(); est < held && time.Since(wait) < 5*time.Second; est = kernelEstablished(t, bed.NsA) {
		time.Sleep(100 * time.Millisecond)
	}
	rssHeld, slabHeld := rss(), slabKiB(t)
	t.Logf("%d connections opened in %v (%.0f/s; %d connects failed); the kernel holds %d established in %s", held, opened.Round(time.Millisecond),
		float64(held)/opened.Seconds(), failed, est, bed.NsA)
	if est < held {
		t.Errorf("the kernel holds %d established connections, want %d; its counters: %s; its sockets: %v; nginx's log: %s", est, held, clientAborts(bed.NsA), socketStates(bed.NsA), lastLines(readFile(filepath.Join(dir, "error.log")), 5))
	}
	t.Logf("per idle connection: nginx %.0f B resident (master and %d workers %d -> %d KiB, their connection tables made at the start for %d each); the kernel's slab, both ends: %.0f B (%d -> %d KiB)",
		float64(rssHeld-rssStart)*1024/float64(held), workers, rssStart, rssHeld, holdNginxConns, float64(slabHeld-slabStart)*1024/float64(held), slabStart, slabHeld)

	curlWhileHeld(t, bed, url, secs, time.Now())

	closed := time.Now()
	hs.close(t)
	for time.Since(closed) < 60*time.Second && kernelEstablished(t, bed.NsA) > 0 {
		time.Sleep(time.Second)
	}
	t.Logf("after the clients closed (%v): %d established left, nginx %d KiB resident (%+.1f%% of the start)", time.Since(closed).Round(time.Second),
		kernelEstablished(t, bed.NsA), rss(), 100*float64(rss()-rssStart)/float64(rssStart))
}

// holdNginxConns is how many connections each of the reference's nginx
// workers takes.
const holdNginxConns = 16000

// holdNginxConf is the configuration of the reference's nginx: workers
// on CPU 0 for holdNginxConns connections each, "hello\n" on
// 198.18.0.1:8080, idle connections kept an hour.
func holdNginxConf(dir string, workers int) string {
	return fmt.Sprintf(`worker_processes %[2]d;
worker_cpu_affinity 01;
worker_rlimit_nofile %[4]d;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections %[5]d; multi_accept on; }
http {
  access_log off;
  client_header_timeout 1h;
  keepalive_timeout 1h;
  keepalive_requests 1000000;
%[6]s  server {
    listen %[3]s backlog=65535 reuseport;
    location / { return 200 "hello\n"; }
  }
}
`, dir, workers, netip.AddrPortFrom(testbed.LocalIPv4, 8080), holdNginxConns+100, holdNginxConns, nsproc.NginxTempPaths(dir))
}

// nginxPIDs returns nginx's master pid and its children's (the worker).
func nginxPIDs(t *testing.T, master int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{master}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("children of nginx %d: %q", master, b)
		}
		pids = append(pids, pid)
	}
	if len(pids) < 2 {
		t.Fatalf("nginx %d has no worker", master)
	}
	return pids
}

// kernelEstablished counts the established TCP sockets of namespace ns's
// kernel (/proc/net/snmp's CurrEstab).
func kernelEstablished(t *testing.T, ns string) int {
	t.Helper()
	out := inNetns(t, ns, "cat", "/proc/net/snmp")
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "CurrEstab" && i < len(f) {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatalf("CurrEstab %q", f[i])
				}
				return v
			}
		}
	}
	t.Fatalf("no CurrEstab in %s's /proc/net/snmp", ns)
	return 0
}

// slabKiB returns the kernel's slab memory (/proc/meminfo's Slab).
func slabKiB(t *testing.T) int { return procKiB(t, "/proc/meminfo", "Slab:") }

// readFile returns the file's content, or the error reading it.
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
