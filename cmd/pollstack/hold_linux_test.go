package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// holderEnv makes the test binary a connection holder (holdConnections):
// "SRC DST:PORT N RATE" opens N idle TCP connections from SRC to DST:PORT
// and closes them at RATE a second.
const holderEnv = "POLLSTACK_TEST_HOLDER"

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h),
// which package syscall does not name.
const ipBindAddressNoPort = 24

// holdConnections opens the connections spec asks for, 16 at a time,
// prints "ready K" (K made) or "failed: ..." on stdout, and holds them until
// stdin closes; then it closes them and exits. A process may hold at most
// its open-file limit, so a bed test that holds many runs several. The
// closes are paced: a kernel that closes more connections at once than
// the peer's receive ring takes loses FINs, and past tcp_max_orphans it
// resets the rest with one RST each, which may be lost too; the peer,
// with no keepalive, then holds those connections for good.
func holdConnections(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 4 {
		fmt.Printf("failed: %s=%q: want SRC DST:PORT N RATE\n", holderEnv, spec)
		return 2
	}
	src, err1 := netip.ParseAddr(f[0])
	dst, err2 := netip.ParseAddrPort(f[1])
	n, err3 := strconv.Atoi(f[2])
	rate, err4 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || rate < 1 {
		fmt.Printf("failed: %s=%q: want SRC DST:PORT N RATE\n", holderEnv, spec)
		return 2
	}
	// KeepAlive -1: Go's dialer would turn TCP keepalive on (a probe
	// every 15 s per connection, 66,000 a second to serve at a million),
	// and these connections are to be idle, as a kernel socket is unless
	// it asks for keepalive.
	//
	// IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect, for the
	// 4-tuple, as a connect without a bind does. A bind to port 0 would
	// take the port for the address alone, as a listener's, and with a
	// million so bound every port of the range is taken that way: another
	// client's connect in the namespace (the test's curl) then walks the
	// whole range for a port, in the kernel, each time.
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 20 * time.Second, KeepAlive: -1,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
	conns := make([]net.Conn, n)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var c net.Conn
				var err error
				for try := 0; try < 3; try++ { // a SYN lost in a burst of them
					if c, err = d.Dial("tcp", dst.String()); err == nil {
						break
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	// "ready HELD FAILED [first error]"
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Printf("ready %d %d %v\n", int64(n)-failed.Load(), failed.Load(), err)
	} else {
		fmt.Printf("ready %d 0\n", n)
	}
	io.Copy(io.Discard, os.Stdin)
	const tick = 10 * time.Millisecond
	per := max(1, rate*int(tick)/int(time.Second))
	at := time.Now()
	for i, c := range conns {
		if c != nil {
			c.Close()
		}
		if (i+1)%per == 0 {
			at = at.Add(tick)
			time.Sleep(time.Until(at))
		}
	}
	fmt.Println("closed")
	return 0
}

// holdSize is how many connections TestIdleConnectionsHeldOnTheBed holds
// and for how long: 20,000 for 2 s, or what POLLSTACK_HOLD says
// ("CONNS,SECONDS", e.g. 1000000,60 for the long run).
func holdSize(t *testing.T) (conns, secs int) {
	conns, secs = 20000, 2
	if raceEnabled {
		conns = 4000
	}
	return envPair(t, "POLLSTACK_HOLD", "CONNS,SECONDS", conns, secs)
}

// Idle connections from kernel clients held against serve --app http: what
// each costs serve (heap and resident memory), that a curl loop is still
// answered quickly while they are held, and that serve's resident memory
// comes back near where it started once they are gone. The clients are
// several processes in the peer namespace (a process may hold only as many
// as its open-file limit), each from an address of its own.
func TestIdleConnectionsHeldOnTheBed(t *testing.T) {
	bedtest.NeedTools(t, "curl")
	n, secs := holdSize(t)
	bed := bedtest.ForTest(t, 1)
	perProc := holdersPerProc(t, n)
	inNetns(t, bed.NsB, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535")
	// The holders are one process per 15,000 connections, and the kernel
	// puts some of them on serve's CPU: at an equal share with them (and
	// with whatever else runs there) serve's loop waited for its CPU most
	// of the time while they closed, and the kernel dropped what arrived
	// meanwhile (docs/benchmarks.md). --loop-rtprio gives it its CPU
	// first, as the kernel's own receive path has it, however many holders
	// are runnable (--loop-nice -20 weighs 87 of them). At a million held
	// it left 0, 0 and 2 curls over 10 ms in three runs (p99 1.7-4.0 ms),
	// against 1 in one run at nice -20 (p99 3.5 ms) and 1 to 9 a run in
	// earlier ones (docs/benchmarks.md).
	// --runtime-rtprio puts the runtime's other threads in SCHED_FIFO
	// too, below the loop: the Go runtime preempts the loop every 10 ms of
	// running, and the thread that hands it its P back then runs at once.
	// At nice -20 that thread waited up to 23 ms behind another cgroup's
	// thread on a minute's trace, with curls over 10 ms at those times;
	// real-time, the loop waited at most 0.96 ms (docs/architecture.md).
	args := []string{"--app", "http", "--port", "8080", "--http-header-timeout", "0", "--http-keepalive-timeout", "0", "--loop-rtprio", "10", "--runtime-rtprio", "1"}
	// POLLSTACK_HOLD_SERVE_FLAGS adds flags to serve's (after the bed's
	// and these, so "--idle-sleep-after 0" busy-polls and "--loop-rtprio 0"
	// leaves the loop at the holders' priority).
	args = append(args, strings.Fields(os.Getenv("POLLSTACK_HOLD_SERVE_FLAGS"))...)
	s := startServe(t, bed, args...)
	stopped := false
	defer func() {
		if !stopped {
			s.stop(t)
		}
	}()
	if out := inNetns(t, bed.NsB, "curl", "-sS", "-m", "5", "http://198.18.0.1:8080/"); out != "hello\n" {
		t.Fatalf("curl before: %q", out)
	}
	for range 3 { // a monitored server at rest: its scrapes are part of its steady state
		scrape(t, s.metrics)
		time.Sleep(300 * time.Millisecond)
	}
	pid := s.cmd.Process.Pid
	fetchPprof(t, s.metrics, "heap?gc=1", "")
	rssStart, slabStart := rssKiB(t, pid), slabKiB(t)
	if os.Getenv("POLLSTACK_HOLD_PROFILE") != "" {
		logMemory(t, scrape(t, s.metrics), pid)
	}
	heapStart := metricValue(scrape(t, s.metrics), "go_memstats_heap_inuse_bytes")

	// The holders, each from its own address on the peer's end.
	start := time.Now()
	hs := startHolders(t, bed, n, perProc, holdCloseRate, netip.AddrPortFrom(testbed.LocalIPv4, 8080))
	defer func() { hs.kill() }() // those close has not ended
	held, failedDials, err := hs.ready(t)
	if err != nil {
		m := scrape(t, s.metrics)
		t.Fatalf("%v; serve: %.0f established, listendrop %.0f, syn cookies sent %.0f, kernel_rx_dropped %.0f", err,
			metricValue(m, `pollstack_tcp_connections{core="0",state="ESTABLISHED"}`), metricValue(m, `pollstack_tcp_listendrop_total{core="0"}`),
			metricValue(m, `pollstack_tcp_sc_sendcookie_total{core="0"}`), metricValue(m, `pollstack_kernel_rx_dropped_total{core="0"}`))
	}
	opened := time.Since(start)
	// A connect that failed three times (its SYNs lost in the bursts of
	// a thousand holders) is counted; at most one in a thousand may.
	if failedDials*1000 > n {
		t.Errorf("%d of %d connects failed", failedDials, n)
	}
	// The last handshakes' ACKs and the counters' publication may lag the
	// clients' connect by a moment.
	var m string
	var est float64
	for wait := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		m = scrape(t, s.metrics)
		if est = metricValue(m, `pollstack_tcp_connections{core="0",state="ESTABLISHED"}`); est >= float64(held) || time.Since(wait) > 5*time.Second {
			break
		}
	}
	// A collection first, so that the heap in use is what lives.
	if fetchPprof(t, s.metrics, "heap?gc=1", "") {
		m = scrape(t, s.metrics)
	}
	rssHeld, slabHeld := rssKiB(t, pid), slabKiB(t)
	heapHeld := metricValue(m, "go_memstats_heap_inuse_bytes")
	if os.Getenv("POLLSTACK_HOLD_PROFILE") != "" {
		fetchPprof(t, s.metrics, "heap", "/tmp/hold-heap-held.prof")
		logMemory(t, m, pid)
	}
	t.Logf("%d connections from %d processes opened in %v (%.0f/s; %d connects failed); serve holds %.0f established", held, len(hs), opened.Round(time.Millisecond), float64(held)/opened.Seconds(), failedDials, est)
	if est < float64(held) {
		t.Errorf("serve holds %.0f established connections, want %d", est, held)
	}
	perConnRSS := float64(rssHeld-rssStart) * 1024 / float64(held)
	perConnHeap := (heapHeld - heapStart) / float64(held)
	t.Logf("serve's memory per idle connection: %.0f B resident, %.0f B of Go heap in use (resident %d -> %d KiB); the kernel's slab, the clients' ends: %.0f B (%d -> %d KiB)",
		perConnRSS, perConnHeap, rssStart, rssHeld, float64(slabHeld-slabStart)*1024/float64(held), slabStart, slabHeld)
	if perConnHeap > 4096 {
		t.Errorf("an idle connection costs serve %.0f B of Go heap, want at most 4096", perConnHeap)
	}
	// Under the race detector resident memory counts its shadow memory.
	if perConnRSS > 4096 && !raceEnabled {
		t.Errorf("an idle connection costs serve %.0f B of resident memory, want at most 4096", perConnRSS)
	}

	phase, stopWatch := watchServe(t, bed, s.metrics)
	defer stopWatch()
	// Held: a curl loop is answered quickly.
	heldAt := time.Now()
	// POLLSTACK_HOLD_HELD_TRACE=PATH writes a Go execution trace of serve
	// while the connections are held (go tool trace PATH).
	heldTraced := traceServe(t, s.metrics, "POLLSTACK_HOLD_HELD_TRACE", secs)
	curlWhileHeld(t, bed, "http://198.18.0.1:8080/", secs, heldAt)
	heldTraced()

	// Gone: the clients close, serve's memory comes back.
	t.Logf("before the close, the clients' kernel: %s", clientAborts(bed.NsB))
	closed := time.Now()
	phase("close")
	// POLLSTACK_HOLD_TRACE=PATH writes a Go execution trace of serve's
	// first 5 s of the close to PATH (go tool trace PATH).
	traced := traceServe(t, s.metrics, "POLLSTACK_HOLD_TRACE", 5)
	hs.close(t)
	t.Logf("the clients closed their connections in %v", time.Since(closed).Round(time.Millisecond))
	rssEnd := rssKiB(t, pid)
	// serve is given 60 s from the last client's close (not from the
	// first's: a million take the clients over a minute to close), and is
	// looked at once at least.
	wait := 60 * time.Second
	if raceEnabled {
		wait = 15 * time.Second // only the connections are checked
	}
	for gone := time.Now(); ; {
		m = scrape(t, s.metrics)
		if metricSum(m, "pollstack_tcp_connections")-metricValue(m, `pollstack_tcp_connections{core="0",state="LISTEN"}`) == 0 &&
			rssEnd <= rssStart*12/10 || time.Since(gone) >= wait {
			break
		}
		time.Sleep(time.Second)
		rssEnd = rssKiB(t, pid)
	}
	traced()
	left := metricSum(m, "pollstack_tcp_connections") - metricValue(m, `pollstack_tcp_connections{core="0",state="LISTEN"}`)
	t.Logf("after the clients closed: %.0f connections left, resident %d KiB (%+.1f%% of the start) %.0f s after they began; memory returns %.0f",
		left, rssEnd, 100*float64(rssEnd-rssStart)/float64(rssStart), time.Since(closed).Seconds(), metricValue(m, "pollstack_memory_returns_total"))
	if left != 0 {
		var states []string
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, "pollstack_tcp_connections{") && !strings.HasSuffix(line, " 0") {
				states = append(states, line)
			}
		}
		t.Errorf("%.0f connections left after every client closed: %s; kernel_rx_dropped %.0f", left, strings.Join(states, ", "),
			metricValue(m, `pollstack_kernel_rx_dropped_total{core="0"}`))
		t.Logf("the clients' sockets: %v", socketStates(bed.NsB))
		t.Logf("the clients' kernel: %s", clientAborts(bed.NsB))
	}
	if os.Getenv("POLLSTACK_HOLD_PROFILE") != "" {
		fetchPprof(t, s.metrics, "heap?gc=1", "/tmp/hold-heap.prof")
		m = scrape(t, s.metrics)
		logMemory(t, m, pid)
	}
	if rssEnd > rssStart*12/10 && !raceEnabled {
		t.Errorf("resident memory %d KiB after the clients closed, more than 20%% over the %d KiB at the start", rssEnd, rssStart)
	}
	sigint := time.Now()
	stopped = true
	s.stop(t)
	t.Logf("serve exited %v after SIGINT", time.Since(sigint).Round(time.Millisecond))
}

// watchServe logs, every second until the returned function is called,
// serve's connections, the state of its rings and pool, and the frames
// dropped on their way to it (by the kernel at its AF_XDP socket, and by
// its veth end): the record of a hold or a close that does not go through.
// phase names the moment logged, its time counted from since.
func watchServe(t *testing.T, bed *testbed.Bed, metrics string) (phase func(name string), stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var mu sync.Mutex
	name, since := "held", time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			resp, err := http.Get("http://" + metrics + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := string(b)
			v := func(name string) float64 { return metricValue(m, name+`{core="0"}`) }
			conns := metricSum(m, "pollstack_tcp_connections") - metricValue(m, `pollstack_tcp_connections{core="0",state="LISTEN"}`)
			veth, _ := exec.Command("ip", "netns", "exec", bed.NsA, "cat", "/sys/class/net/"+bed.IfaceA+"/statistics/rx_dropped").Output()
			mu.Lock()
			n, at := name, time.Since(since).Seconds()
			mu.Unlock()
			t.Logf("%s +%2.0fs: %.0f connections (%.0f ESTABLISHED, %.0f LAST_ACK); pool free %.0f, fill ring %.0f, rx ring %.0f; dropped: kernel_rx %.0f, veth rx %s; fill_ring_empty %.0f, poll busy %.0f idle %.0f; collections %.0f",
				n, at, conns,
				metricValue(m, `pollstack_tcp_connections{core="0",state="ESTABLISHED"}`),
				metricValue(m, `pollstack_tcp_connections{core="0",state="LAST_ACK"}`),
				v("pollstack_pool_free_frames"), v("pollstack_fill_ring_used"), v("pollstack_rx_ring_used"),
				v("pollstack_kernel_rx_dropped_total"), strings.TrimSpace(string(veth)), v("pollstack_fill_ring_empty_total"),
				v("pollstack_poll_busy_total"), v("pollstack_poll_idle_total"), metricValue(m, "go_gc_duration_seconds_count"))
		}
	}()
	phase = func(n string) {
		mu.Lock()
		name, since = n, time.Now()
		mu.Unlock()
	}
	return phase, func() { close(done); <-finished }
}

// clientAborts returns the counters of the namespace ns's kernel that
// say how it ended connections other than in order (nstat).
func clientAborts(ns string) string {
	out, err := exec.Command("ip", "netns", "exec", ns, "nstat", "-az").Output()
	if err != nil {
		return err.Error()
	}
	var abort []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] != "0" && (strings.Contains(f[0], "Abort") ||
			strings.Contains(f[0], "Overflow") || strings.Contains(f[0], "Rsts")) {
			abort = append(abort, f[0]+" "+f[1])
		}
	}
	return strings.Join(abort, ", ")
}

// socketStates counts the TCP sockets of the namespace ns by state.
func socketStates(ns string) map[string]int {
	count := map[string]int{}
	out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-tanH").Output()
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			count[f[0]]++
		}
	}
	return count
}

// fetchPprof gets serve's /debug/pprof/QUERY and writes it to path (""
// reads and drops it: "heap?gc=1" to run a collection); it reports whether
// the request went through.
func fetchPprof(t *testing.T, metrics, query, path string) bool {
	resp, err := http.Get("http://" + metrics + "/debug/pprof/" + query)
	if err != nil {
		t.Logf("pprof %s: %v", query, err)
		return false
	}
	defer resp.Body.Close()
	if path == "" {
		io.Copy(io.Discard, resp.Body)
		return true
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Logf("pprof %s: %v", query, err)
	}
	return true
}

// traceServe writes a Go execution trace of serve's next secs seconds to
// the path the environment variable env names, when it names one; the
// returned function waits for the trace to end.
func traceServe(t *testing.T, metrics, env string, secs int) (wait func()) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fetchPprof(t, metrics, "trace?seconds="+strconv.Itoa(secs), path)
	}()
	return func() { <-done }
}

// logMemory logs serve's Go memory by class (from its metrics m) and the
// resident part of each of its larger mappings.
func logMemory(t *testing.T, m string, pid int) {
	mib := func(name string) float64 { return metricValue(m, name) / (1 << 20) }
	t.Logf("heap alloc %.1f MiB inuse %.1f idle %.1f released %.1f sys %.1f; mspan inuse %.1f sys %.1f; gc sys %.1f; other sys %.1f; stack sys %.1f; mcache sys %.1f; buckhash sys %.1f; threads %.0f",
		mib("go_memstats_heap_alloc_bytes"), mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_idle_bytes"),
		mib("go_memstats_heap_released_bytes"), mib("go_memstats_sys_bytes"), mib("go_memstats_mspan_inuse_bytes"),
		mib("go_memstats_mspan_sys_bytes"), mib("go_memstats_gc_sys_bytes"), mib("go_memstats_other_sys_bytes"),
		mib("go_memstats_stack_sys_bytes"), mib("go_memstats_mcache_sys_bytes"), mib("go_memstats_buck_hash_sys_bytes"), metricValue(m, "go_threads"))
	logSmaps(t, pid)
}

// logSmaps logs serve's mappings with more than 512 kB resident, with the
// part of it in transparent huge pages (the Go runtime puts its heap index
// and page-allocator index on huge pages once the heap goal passes 1 GiB).
func logSmaps(t *testing.T, pid int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	var hdr string
	rss := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			hdr, rss = l, 0
		}
		if len(f) == 3 && f[0] == "Rss:" {
			rss, _ = strconv.Atoi(f[1])
		}
		if len(f) == 3 && f[0] == "AnonHugePages:" && rss > 512 {
			t.Logf("%6d kB (%s kB in huge pages) %s", rss, f[1], hdr)
		}
	}
}

// holdCloseRate is how many connections a second the holders close in
// all (see holdConnections).
const holdCloseRate = 20000

// holdersPerProc returns how many connections each holder process opens
// for n: 15,000, or fewer if the open-file limit is lower.
func holdersPerProc(t *testing.T, n int) int {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	perProc := min(15000, int(lim.Max)-200)
	if procs := (n + perProc - 1) / perProc; procs > 200 {
		t.Fatalf("%d connections need %d holder processes (open-file limit %d)", n, procs, perProc)
	}
	return perProc
}

// holders are the processes of a hold test that hold its idle
// connections (holdConnections).
type holders []holder

type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startHolders starts the processes that open n connections to dst from
// bed's peer namespace, perProc each, each from an address of its own
// (198.18.0.10 on), which close theirs at closeRate a second in all.
func startHolders(t *testing.T, bed *testbed.Bed, n, perProc, closeRate int, dst netip.AddrPort) holders {
	t.Helper()
	procs := (n + perProc - 1) / perProc
	var hs holders
	for i := range procs {
		src := netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)})
		inNetns(t, bed.NsB, "ip", "addr", "add", src.String()+"/24", "dev", bed.IfaceB)
		k := min(perProc, n-i*perProc)
		cmd := exec.Command("ip", "netns", "exec", bed.NsB, os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", holderEnv, src, dst, k, max(1, closeRate/procs)))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			hs.kill()
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			hs.kill()
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			hs.kill()
			t.Fatal(err)
		}
		hs = append(hs, holder{cmd, stdin, bufio.NewScanner(stdout)})
	}
	return hs
}

// ready waits until every holder has opened its connections and returns
// how many are open and how many connects failed; the error names a
// holder that did not open its connections.
func (hs holders) ready(t *testing.T) (held, failed int, err error) {
	t.Helper()
	for i, h := range hs {
		var k, f int
		if h.out.Scan() {
			if _, err := fmt.Sscanf(h.out.Text(), "ready %d %d", &k, &f); err == nil {
				held, failed = held+k, failed+f
				if f > 0 {
					t.Logf("holder %d: %s", i, h.out.Text())
				}
				continue
			}
		}
		return held, failed, fmt.Errorf("holder %d: %q", i, h.out.Text())
	}
	return held, failed, nil
}

// close has every holder close its connections, and waits until they have.
func (hs *holders) close(t *testing.T) {
	t.Helper()
	for _, h := range *hs {
		h.stdin.Close()
	}
	for i, h := range *hs {
		if !h.out.Scan() || h.out.Text() != "closed" {
			t.Errorf("holder %d: %q", i, h.out.Text())
		}
		h.cmd.Wait()
	}
	*hs = nil
}

// kill ends the holders that close has not ended.
func (hs holders) kill() {
	for _, h := range hs {
		h.stdin.Close()
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

// curlWhileHeld runs curl against url in a loop from bed's peer namespace
// for secs seconds and logs how long they took; every curl must get 200.
// Each line: the curl's start (bash's EPOCHREALTIME), its status and its
// times; a slow one is logged with its start from heldAt, to set beside
// watchServe's lines (the runtime's collections among them).
func curlWhileHeld(t *testing.T, bed *testbed.Bed, url string, secs int, heldAt time.Time) {
	t.Helper()
	script := `end=$((SECONDS+` + strconv.Itoa(secs) + `)); while [ $SECONDS -lt $end ]; do printf '%s ' "$EPOCHREALTIME"; curl -s -o /dev/null -m 3 -w '%{http_code} %{time_total} %{time_connect} %{time_starttransfer}\n' ` + url + `; done; true`
	out := inNetns(t, bed.NsB, "bash", "-c", script)
	var times []float64
	var slow []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[1] != "200" {
			t.Errorf("a curl while the connections were held: %q", line)
			continue
		}
		v, _ := strconv.ParseFloat(f[2], 64)
		times = append(times, v*1000)
		if v > 0.010 { // connect and first byte, from the start
			at, _ := strconv.ParseFloat(f[0], 64)
			conn, _ := strconv.ParseFloat(f[3], 64)
			first, _ := strconv.ParseFloat(f[4], 64)
			slow = append(slow, fmt.Sprintf("%.1f at +%.1fs (connect %.1f, first byte %.1f)", v*1000,
				at-float64(heldAt.UnixNano())/1e9, conn*1000, first*1000))
		}
	}
	if len(times) == 0 {
		t.Fatal("no curl answered")
	}
	sort.Float64s(times)
	p99 := times[len(times)*99/100]
	t.Logf("%d curls while held %d s: median %.2f ms, p99 %.2f ms, worst %.2f ms; over 10 ms, in order: %d %v", len(times), secs, times[len(times)/2], p99, times[len(times)-1], len(slow), slow)
}
