package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// openBedEngineWith runs an engine in the test process on the bed's
// pollstack end, one core per queue, with the TCP configuration mod
// changes.
func openBedEngineWith(t *testing.T, bed *testbed.Bed, mod func(*tcp.Config)) *engine.Engine {
	t.Helper()
	return openBedEngineConfig(t, bed, mod, nil)
}

// openBedEngineConfig is openBedEngineWith with emod changing the
// engine's Config too.
func openBedEngineConfig(t *testing.T, bed *testbed.Bed, mod func(*tcp.Config), emod func(*engine.Config)) *engine.Engine {
	t.Helper()
	prog, err := rings.AttachXDP(bed.IfaceA, bed.NsA, bed.Queues)
	if err != nil {
		t.Fatal(err)
	}
	var links []rings.Link
	var cpus []int
	for q := 0; q < bed.Queues; q++ {
		pool, err := rings.NewPool(4096, rings.DefaultFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		l, err := rings.OpenXDP(rings.XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Queue: q, Program: prog, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
		cpus = append(cpus, q)
	}
	cfg := tcp.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	ecfg := engine.Config{MAC: bed.LocalMAC, CPUs: cpus, Pin: true, TCP: &cfg,
		Idle: cores.IdlePolicy{SleepAfter: 64},
		Addrs: []netip.Prefix{netip.PrefixFrom(testbed.LocalIPv4, testbed.PrefixLenIPv4),
			netip.PrefixFrom(testbed.LocalIPv6, testbed.PrefixLenIPv6)}}
	if emod != nil {
		emod(&ecfg)
	}
	e, err := engine.New(ecfg, links)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		e.AddCloser(l)
	}
	e.AddCloser(prog)
	if err := e.Start(); err != nil {
		e.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	return e
}

// The standard library's http.Server on a pollstack listener answers curl
// over both families and wrk with 256 connections, without an error.
func TestGoHTTPAppAgainstKernelClients(t *testing.T) {
	bedtest.NeedTools(t, "curl", "wrk")
	bed := bedtest.ForTest(t, 1)
	s := startServe(t, bed, "--app", "gohttp", "--port", "8080")
	if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "5", "http://198.18.0.1:8080/"); out != "hello\n" {
		t.Fatalf("curl over IPv4: %q", out)
	}
	if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "5", "-g", "http://[2001:2::1]:8080/?size=100000"); len(out) != 100000 {
		t.Fatalf("curl over IPv6: %d bytes, want 100000", len(out))
	}
	d := "10s"
	if raceEnabled {
		d = "3s"
	}
	for _, closeHdr := range []bool{false, true} {
		out := wrkClean(t, bed.NsB, closeHdr, "-t1", "-c256", "-d"+d, "http://198.18.0.1:8080/")
		t.Logf("gohttp, wrk close=%v: %s", closeHdr, lastLines(out, 2))
	}
	s.stop(t)
}

// net/http's client, with pollstack's DialContext as its dialer, fetches
// from a kernel nginx over both families, reusing its connections.
func TestHTTPTransportOverPollstackToNginx(t *testing.T) {
	bedtest.NeedTools(t, "nginx", "curl")
	bed := bedtest.ForTest(t, 1)
	startNginx(t, bed)
	e := openBedEngineWith(t, bed, nil)
	tr := &http.Transport{DialContext: e.DialContext, MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, url := range []string{"http://198.18.0.2/", "http://[2001:2::2]/"} {
		for i := 0; i < 100; i++ {
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("GET %s (#%d): %v", url, i, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(b) != "hello\n" {
				t.Fatalf("GET %s (#%d): %d %q %v", url, i, resp.StatusCode, b, err)
			}
		}
	}
	if c := tcpStat(e, "connattempt"); c < 2 || c > 10 {
		t.Fatalf("%d connections for 200 keep-alive requests", c)
	}
}

// tcpStat sums a tcpstat counter over the engine's cores, as they
// published it (at most 10 ms old: it waits that long first).
func tcpStat(e *engine.Engine, name string) uint64 {
	time.Sleep(20 * time.Millisecond)
	var n uint64
	for _, c := range e.Snapshot().Cores {
		n += c.TCP[name]
	}
	return n
}

// shortRequest opens a connection to nginx, gets "/" with keep-alive and
// closes first, so that the TIME_WAIT entry is pollstack's.
func shortRequest(ctx context.Context, e *engine.Engine, addr string) error {
	c, err := e.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: pollstack\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "hello\n" {
		return fmt.Errorf("body %q, %v", b, err)
	}
	return nil
}

// pollstack as a client of short connections to a kernel nginx, faster than
// 2MSL allows: with tw_reuse off, once every ephemeral port's 4-tuple is in
// TIME_WAIT, Dial fails with EADDRNOTAVAIL at once; with tw_reuse on (set
// at run time) it keeps going, taking TIME_WAIT entries over.
func TestShortConnectionsToNginxTWReuse(t *testing.T) {
	bedtest.NeedTools(t, "nginx", "curl")
	bed := bedtest.ForTest(t, 1)
	startNginx(t, bed)
	const first, last = 50000, 50199 // 200 ephemeral ports
	e := openBedEngineWith(t, bed, func(c *tcp.Config) {
		c.PortFirst, c.PortLast = first, last
		c.MSL = 30e9 // 2MSL = 60 s: longer than the test
		c.MaxTCPTW = 100000
	})
	ok := 0
	var err error
	for i := 0; i < 2*(last-first+1); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = shortRequest(ctx, e, "198.18.0.2:80")
		cancel()
		if err != nil {
			break
		}
		ok++
	}
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("tw_reuse=0: after %d connections: %v, want EADDRNOTAVAIL", ok, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("tw_reuse=0: error %v is not a dial *net.OpError", err)
	}
	if ok != last-first+1 {
		t.Fatalf("tw_reuse=0: %d connections before EADDRNOTAVAIL, want one per port (%d)", ok, last-first+1)
	}
	t.Logf("tw_reuse=0: %d connections, then %v", ok, err)

	if err := e.SetSysctl("net.inet.tcp.tw_reuse", "1"); err != nil {
		t.Fatal(err)
	}
	n := 3 * (last - first + 1)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := shortRequest(ctx, e, "198.18.0.2:80")
		cancel()
		if err != nil {
			t.Fatalf("tw_reuse=1: connection %d: %v", i, err)
		}
	}
	reused := tcpStat(e, "tw_reused")
	if reused < uint64(n) {
		t.Fatalf("tw_reuse=1: tw_reused %d after %d connections on %d ports all in TIME_WAIT", reused, n, last-first+1)
	}
	t.Logf("tw_reuse=1: %d connections on %d ports, tw_reused %d", n, last-first+1, reused)
}
