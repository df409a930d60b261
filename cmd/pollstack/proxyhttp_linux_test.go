package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// patterned is n bytes of a pattern that depends on n, written as they
// are asked for.
type patterned struct{ n, off int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := int(min(int64(len(b)), p.n-p.off))
	for i := range k {
		x := uint64(p.off+int64(i)) * 0x9e3779b97f4a7c15
		b[i] = byte(x>>56) ^ byte(p.n)
	}
	p.off += int64(k)
	return k, nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, &patterned{n: n})
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// wsAccept is Sec-WebSocket-Accept for key (RFC 6455 4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// peerHTTPBackend serves, on the bed's peer at port:
//
//	/bytes/N    N patterned bytes with Content-Length
//	/chunked/N  the same, chunked (no length given)
//	/echo       the request's body back (its length if it had one)
//	/ws         a WebSocket echo of whole frames (RFC 6455)
//	/           "ok\n"
func peerHTTPBackend(t *testing.T, bed *testbed.Bed, port int) {
	t.Helper()
	ln := peerListen(t, bed, port)
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, &patterned{n: n})
	})
	mux.HandleFunc("/chunked/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		w.(http.Flusher).Flush() // no length: chunked
		io.Copy(w, &patterned{n: n})
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// Both ways at once: the answer streams while the body arrives.
		http.NewResponseController(w).EnableFullDuplex()
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not a websocket request", 400)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		rw.Flush()
		for {
			op, payload, err := wsRead(rw.Reader)
			if err != nil || op == 8 {
				return
			}
			rw.Write(wsFrame(op, payload, nil))
			rw.Flush()
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// wsFrame is one final WebSocket frame (masked when mask is given).
func wsFrame(op byte, payload, mask []byte) []byte {
	b := []byte{0x80 | op}
	m := byte(0)
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if mask == nil {
		return append(b, payload...)
	}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// wsRead reads one frame (unmasking it).
func wsRead(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err = io.ReadFull(r, x[:]); err != nil {
			return
		}
		n = int(x[0])<<8 | int(x[1])
	case 127:
		var x [8]byte
		if _, err = io.ReadFull(r, x[:]); err != nil {
			return
		}
		n = int(x[4])<<24 | int(x[5])<<16 | int(x[6])<<8 | int(x[7])
	}
	var mask []byte
	if h[1]&0x80 != 0 {
		mask = make([]byte, 4)
		if _, err = io.ReadFull(r, mask); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	for i := range payload {
		if mask != nil {
			payload[i] ^= mask[i%4]
		}
	}
	return
}

// peerClient is an HTTP client on the bed's peer.
func peerClient(keepAlive bool) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DisableKeepAlives: !keepAlive, DisableCompression: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return peerDial(addr) },
	}}
}

// The HTTP proxy against kernel clients and a Go backend on the peer:
// bodies of 64 KiB and 64 MiB (16 MiB under the race detector) both ways,
// by length and chunked, byte for byte; curl and wrk keep-alive and
// Connection: close runs without an error; a WebSocket upgrade echoes
// through; the counters show the pool reused for nearly every request.
func TestProxyHTTPAgainstKernelPeers(t *testing.T) {
	bedtest.NeedTools(t, "curl", "wrk")
	bed := bedtest.ForTest(t, 1)
	testbedNs = bed.NsB
	peerHTTPBackend(t, bed, 9101)
	p := startProxy(t, bed, "--mode", "http", "--listen", "8080", "--backend", fmt.Sprintf("%s:9101", testbed.PeerIPv4))
	base := "http://" + net.JoinHostPort(testbed.LocalIPv4.String(), "8080")

	big := int64(64 << 20)
	if raceEnabled {
		big = 16 << 20
	}
	cl := peerClient(true)
	for _, n := range []int64{64 << 10, big} {
		for _, path := range []string{"/bytes/", "/chunked/"} {
			resp, err := cl.Get(base + path + strconv.FormatInt(n, 10))
			if err != nil {
				t.Fatalf("GET %s%d: %v\n%s", path, n, err, lastLines(p.output(), 5))
			}
			h := sha256.New()
			got, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil || got != n || !bytes.Equal(h.Sum(nil), sumSlice(patternSum(n))) {
				t.Fatalf("GET %s%d: %d bytes, %v, equal %v", path, n, got, err, bytes.Equal(h.Sum(nil), sumSlice(patternSum(n))))
			}
			if path == "/chunked/" && len(resp.TransferEncoding) == 0 {
				t.Fatalf("GET %s%d: not chunked", path, n)
			}
		}
		for _, chunked := range []bool{false, true} {
			var body io.Reader = &patterned{n: n}
			if chunked {
				body = io.MultiReader(body) // no length: the client chunks it
			}
			req, _ := http.NewRequest("POST", base+"/echo", body)
			if !chunked {
				req.ContentLength = n
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("POST %d chunked=%v: %v\n%s", n, chunked, err, lastLines(p.output(), 5))
			}
			h := sha256.New()
			got, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil || got != n || !bytes.Equal(h.Sum(nil), sumSlice(patternSum(n))) {
				t.Fatalf("POST %d chunked=%v: %d bytes back, %v", n, chunked, got, err)
			}
		}
	}

	// curl: three requests on one connection, then one with Connection: close.
	out, err := nsproc.Run(context.Background(), nsproc.NetnsArgs(bed.NsB, "curl", "-sS", "-m", "10", base+"/", base+"/", base+"/")...)
	if err != nil || out != "ok\nok\nok\n" {
		t.Fatalf("curl keep-alive: %q, %v", out, err)
	}
	out, err = nsproc.Run(context.Background(), nsproc.NetnsArgs(bed.NsB, "curl", "-sS", "-m", "10", "-H", "Connection: close", base+"/")...)
	if err != nil || out != "ok\n" {
		t.Fatalf("curl close: %q, %v", out, err)
	}

	// WebSocket: the upgrade goes through and frames echo.
	c, err := peerDial(net.JoinHostPort(testbed.LocalIPv4.String(), "8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("pollstack-ws-key"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("websocket upgrade: %v %v", resp, err)
	}
	resp.Body.Close() // a 101 has no body: the connection is the tunnel now
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		c.Write(wsFrame(1, []byte(msg), []byte{1, 2, 3, 4}))
		op, got, err := wsRead(br)
		if err != nil || op != 1 || string(got) != msg {
			t.Fatalf("websocket echo of %d bytes: op %d, %d bytes, %v", len(msg), op, len(got), err)
		}
	}
	c.Write(wsFrame(8, nil, []byte{1, 2, 3, 4}))

	// wrk, keep-alive and Connection: close, without an error.
	before := scrape(t, p.metrics)
	wrkClean(t, bed.NsB, false, "-t1", "-c16", "-d3s", base+"/")
	m := scrape(t, p.metrics)
	reqs := metricSum(m, "pollstack_proxy_server_http_requests_total") - metricSum(before, "pollstack_proxy_server_http_requests_total")
	reused := metricSum(m, "pollstack_proxy_server_pool_reused_total") - metricSum(before, "pollstack_proxy_server_pool_reused_total")
	segs := metricSum(m, "pollstack_tcp_sndpack_total") - metricSum(before, "pollstack_tcp_sndpack_total")
	t.Logf("wrk keep-alive: %.0f requests, %.0f on pooled connections (%.2f%%); %.2f data segments sent per request", reqs, reused, 100*reused/reqs, segs/reqs)
	if reqs < 1000 || reused < 0.99*reqs {
		t.Errorf("pool reuse %.0f of %.0f requests, want at least 99%%", reused, reqs)
	}
	// Every request has its response timed but those wrk left in flight
	// when it stopped (at most one per connection).
	if n := metricSum(m, "pollstack_proxy_server_response_seconds_count"); n < reqs-16 {
		t.Errorf("the response time histogram counted %v responses for %v requests", n, reqs)
	}
	wrkClean(t, bed.NsB, true, "-t1", "-c16", "-d2s", base+"/")
	m = scrape(t, p.metrics)
	for _, bad := range []string{"http_502", "http_503", "http_504", "http_refused", "client_resets"} {
		if v := metricSum(m, "pollstack_proxy_listener_"+bad+"_total"); v != 0 {
			t.Errorf("%s = %v", bad, v)
		}
	}
	out = p.stop(t)
	if !strings.Contains(out, "on pooled connections") {
		t.Errorf("the totals at exit lack the requests:\n%s", lastLines(out, 4))
	}
}

func sumSlice(s [32]byte) []byte { return s[:] }

// A backend stopped during a keep-alive run of GETs and POSTs: at most one
// request per client fails, the one it had in flight (in the handler or
// still on the wire) when the server closed its connections; a GET dropped
// unanswered on a reused connection is sent again elsewhere, a POST is never
// sent twice and is answered 502. Every failure the clients see is one the
// proxy counts (a 5xx it sent, or a server's reset), and once the health
// checks take the server down no request fails.
func TestProxyHTTPBackendStopped(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	testbedNs = bed.NsB
	var inflight [2]atomic.Int64
	srvs := make([]*http.Server, 2)
	for i := range srvs {
		ln := peerListen(t, bed, 9201+i)
		srvs[i] = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight[i].Add(1)
			defer inflight[i].Add(-1)
			time.Sleep(2 * time.Millisecond)
			io.WriteString(w, "ok\n")
		})}
		go srvs[i].Serve(ln)
		t.Cleanup(func() { srvs[i].Close() })
	}
	p := startProxy(t, bed, "--mode", "http", "--listen", "8080", "--health-check", "300ms",
		"--backend", fmt.Sprintf("%s:9201", testbed.PeerIPv4), "--backend", fmt.Sprintf("%s:9202", testbed.PeerIPv4))
	url := "http://" + net.JoinHostPort(testbed.LocalIPv4.String(), "8080") + "/"
	type failure struct {
		at     time.Time
		client int
	}
	var (
		mu       sync.Mutex
		failures []failure
		ok       atomic.Int64
	)
	const clients = 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := peerClient(true)
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Half the clients POST: a POST is never sent twice.
				var resp *http.Response
				var err error
				if i%2 == 0 {
					resp, err = cl.Get(url)
				} else {
					resp, err = cl.Post(url, "text/plain", strings.NewReader("x"))
				}
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 && rerr == nil && string(b) == "ok\n" {
						ok.Add(1)
						continue
					}
				}
				mu.Lock()
				failures = append(failures, failure{time.Now(), i})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	stopped := time.Now()
	atStop := inflight[1].Load()
	srvs[1].Close()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	select {
	case <-p.done:
		t.Fatalf("the proxy exited:\n%s", lastLines(p.output(), 40))
	default:
	}
	m := scrape(t, p.metrics)
	down := metricValue(m, fmt.Sprintf(`pollstack_proxy_server_went_down_total{backend="proxy",core="0",server="%s:9202"}`, testbed.PeerIPv4))
	answered := metricSum(m, "pollstack_proxy_listener_http_502_total") + metricSum(m, "pollstack_proxy_listener_http_503_total") +
		metricSum(m, "pollstack_proxy_listener_http_504_total")
	resets := metricSum(m, "pollstack_proxy_server_resets_total")
	counted := answered + resets
	retries := metricSum(m, "pollstack_proxy_server_retries_total")
	t.Logf("%d requests ok, %d failed; %d in flight on the stopped server when it stopped; proxy counted %.0f errors, %.0f retries; server went down %.0f time(s)",
		ok.Load(), len(failures), atStop, counted, retries, down)
	if down < 1 {
		t.Fatalf("the stopped server was never taken down")
	}
	var perClient [clients]int
	for _, f := range failures {
		perClient[f.client]++
	}
	for c, n := range perClient {
		if n > 1 {
			t.Errorf("client %d saw %d failures; it had at most one request in flight when the server stopped", c, n)
		}
	}
	// Each 5xx the proxy sent is a failure a client saw; a failure without
	// one is a client connection the proxy reset after a server's reset.
	// A server's reset behind a GET sent again elsewhere is no failure.
	if n := float64(len(failures)); n < answered || n > counted {
		t.Errorf("clients saw %d failures; the proxy answered %.0f with 502/503/504 and saw %.0f server resets", len(failures), answered, resets)
	}
	for _, f := range failures {
		if f.at.Sub(stopped) > 2*time.Second {
			t.Errorf("a request failed %v after the server stopped (the checks take it down within about 1 s)", f.at.Sub(stopped))
		}
	}
	if ok.Load() < 1000 {
		t.Errorf("only %d requests succeeded", ok.Load())
	}
	p.stop(t)
}

// On two cores behind an RSS bed, a keep-alive run through the HTTP proxy
// reuses pooled backend connections for at least 99% of requests on each
// core, and the pooled connections are the core's own: fewer than 1% of
// their segments need a hand-off between cores.
func TestProxyHTTPPoolsPerCore(t *testing.T) {
	bedtest.NeedTools(t, "wrk")
	bed := rssBed(t)
	testbedNs = bed.NsB
	peerHTTPBackend(t, bed, 9101)
	p := startProxy(t, bed, "--cores", "0,1", "--mode", "http", "--listen", "8080", "--backend", fmt.Sprintf("%s:9101", testbed.PeerIPv4))
	wrkClean(t, bed.NsB, false, "-t2", "-c32", "-d3s", "http://"+net.JoinHostPort(testbed.LocalIPv4.String(), "8080")+"/")
	time.Sleep(100 * time.Millisecond) // the counters' next publication
	m := scrape(t, p.metrics)
	in, steered := metricSum(m, "pollstack_dialled_segments_in_total"), metricSum(m, "pollstack_dialled_segments_steered_total")
	for core := 0; core < 2; core++ {
		lbl := fmt.Sprintf(`{backend="proxy",core="%d",server="%s:9101"}`, core, testbed.PeerIPv4)
		reqs := metricValue(m, "pollstack_proxy_server_http_requests_total"+lbl)
		reused := metricValue(m, "pollstack_proxy_server_pool_reused_total"+lbl)
		conns := metricValue(m, "pollstack_proxy_server_connections_total"+lbl)
		t.Logf("core %d: %.0f requests, %.0f on pooled connections (%.2f%%), %.0f backend connections opened", core, reqs, reused, 100*reused/max(reqs, 1), conns)
		if reqs < 1000 || reused < 0.99*reqs {
			t.Errorf("core %d: %.0f of %.0f requests on pooled connections, want at least 99%%", core, reused, reqs)
		}
	}
	t.Logf("backend-leg segments %.0f, handed off between cores %.0f (%.3f%%)", in, steered, 100*steered/max(in, 1))
	if in < 1000 || steered > in/100 {
		t.Errorf("backend-leg segments %.0f, handed off %.0f: want under 1%% handed off", in, steered)
	}
	for _, bad := range []string{"http_502", "http_503", "http_504", "http_refused"} {
		if v := metricSum(m, "pollstack_proxy_listener_"+bad+"_total"); v != 0 {
			t.Errorf("%s = %v", bad, v)
		}
	}
	p.stop(t)
}
