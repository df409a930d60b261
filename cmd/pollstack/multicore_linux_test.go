package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/tcp"
)

// Acceptance (flow steering): serve on two cores and two queues answers wrk
// from the kernel side without an error; both cores' TCP shards take
// segments, and what arrived on the core that does not own a flow was
// handed to its owner. Run with -tags pollstackdebug (CI does), every
// connection state change also asserts it ran on the flow's owner: a
// violation panics serve and fails the test.
func TestMulticoreHTTPWithWrk(t *testing.T) {
	bedtest.NeedTools(t, "wrk")
	bed := bedtest.ForTest(t, 2)
	s := startServe(t, bed, "--cores", "0,1", "--app", "http", "--port", "8080")
	for _, closeHdr := range []bool{false, true} {
		out := wrkClean(t, bed.NsB, closeHdr, "-t2", "-c64", "-d5s", "http://198.18.0.1:8080/")
		t.Logf("wrk -t2 -c64 close=%v: %s", closeHdr, lastLines(out, 2))
	}
	// Counters are published every 10 ms; wrk has finished.
	time.Sleep(50 * time.Millisecond)
	out, err := command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA, "--json").Output()
	if err != nil {
		t.Fatalf("stat --json: %v", err)
	}
	var st statReply
	if err := json.Unmarshal(out, &st); err != nil || len(st.Engine.Cores) != 2 {
		t.Fatalf("stat --json: %v: %s", err, out)
	}
	var steered, in uint64
	for _, c := range st.Engine.Cores {
		cn := c.Counters
		if cn["tcp_segments_in"] == 0 {
			t.Fatalf("core %d's shard took no TCP segment: %v", c.Core, cn)
		}
		t.Logf("core %d: tcp_segments_in %d (of which steered_in %d), steered_out %d, handoff_full %d",
			c.Core, cn["tcp_segments_in"], cn["steered_in"], cn["steered_out"], cn["handoff_full"])
		steered += cn["steered_out"]
		in += cn["tcp_segments_in"]
	}
	if st.Engine.Cores[0].Counters["steered_out"] != st.Engine.Cores[1].Counters["steered_in"] ||
		st.Engine.Cores[1].Counters["steered_out"] != st.Engine.Cores[0].Counters["steered_in"] {
		t.Fatalf("hand-offs lost between the cores: %v / %v", st.Engine.Cores[0].Counters, st.Engine.Cores[1].Counters)
	}
	t.Logf("steered %d of %d TCP segments (%.1f%%) to their owner", steered, in, 100*float64(steered)/float64(in))
	s.stop(t)
}

// dialOutHandler reads what the kernel's server sends until its FIN, then
// closes.
type dialOutHandler struct {
	got  int
	bad  *atomic.Int64
	done *sync.WaitGroup
}

func (h *dialOutHandler) Established(*tcp.Conn) {}
func (h *dialOutHandler) Writable(*tcp.Conn)    {}
func (h *dialOutHandler) Readable(c *tcp.Conn) {
	n := c.Readable()
	c.Consume(n)
	h.got += n
	if c.EOF() {
		c.Close()
	}
}
func (h *dialOutHandler) Closed(_ *tcp.Conn, err error) {
	if err != nil || h.got != 5 {
		h.bad.Add(1)
	}
	h.done.Done()
}

// openBedEngine runs a TCP engine on the bed's pollstack end, one pinned
// core per queue.
func openBedEngine(t *testing.T, bed *testbed.Bed) *engine.Engine {
	t.Helper()
	return openBedEngineWith(t, bed, nil)
}

// net/http on a listener of two cores: each core pushes the connections
// it establishes into its own accept ring, and the one Accept loop takes
// from both: wrk with Connection: close (a connection a request) and
// keep-alive gets every answer.
func TestMulticoreGoHTTPAcceptsFromEveryCore(t *testing.T) {
	bedtest.NeedTools(t, "wrk")
	bed := bedtest.ForTest(t, 2)
	s := startServe(t, bed, "--cores", "0,1", "--app", "gohttp", "--port", "8080")
	for _, closeHdr := range []bool{true, false} {
		out := wrkClean(t, bed.NsB, closeHdr, "-t2", "-c64", "-d2s", "http://198.18.0.1:8080/")
		t.Logf("wrk -t2 -c64 close=%v: %s", closeHdr, lastLines(out, 2))
	}
	s.stop(t)
}

// Active opens from two cores to a kernel server: every connection
// completes, and the test reports how many of the kernel's segments
// arrived on the queue of the core that owns (dialled) the flow and how
// many were steered. veth picks the receive queue from the sending side's
// transmit queue (XPS by CPU, else a hash of the flow that is not the
// Toeplitz hash), so without help about half are steered; with XPS mapping
// CPU i to queue i on the kernel's end, a reply sent in the softirq of the
// CPU whose core sent the segment it answers lands on that core's queue.
func TestMulticoreDialOut(t *testing.T) {
	bed := bedtest.ForTest(t, 2)
	var ln net.Listener
	if err := netns.Do(bed.NsB, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(testbed.PeerIPv4.String(), "9000"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.Write([]byte("hello")); c.Close() }()
		}
	}()
	const n = 1000
	e := openBedEngine(t, bed)
	var before [2]engine.Counters
	for _, xps := range []bool{false, true} {
		if xps {
			inNetns(t, bed.NsB, "sh", "-c", fmt.Sprintf("echo 1 > /sys/class/net/%[1]s/queues/tx-0/xps_cpus && echo 2 > /sys/class/net/%[1]s/queues/tx-1/xps_cpus", bed.IfaceB))
		}
		var bad atomic.Int64
		var done sync.WaitGroup
		remote := netip.AddrPortFrom(testbed.PeerIPv4, 9000)
		for i := 0; i < n; i++ {
			done.Add(1)
			h := &dialOutHandler{bad: &bad, done: &done}
			if err := e.DialOn(i%2, netip.AddrPortFrom(testbed.LocalIPv4, 0), remote, h); err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond) // keep the kernel's accept queue short
			}
		}
		finished := make(chan struct{})
		go func() { done.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(60 * time.Second):
			t.Fatalf("xps=%v: connections still open after 60 s", xps)
		}
		if b := bad.Load(); b != 0 {
			t.Fatalf("xps=%v: %d of %d connections did not read the server's 5 bytes and its FIN cleanly", xps, b, n)
		}
		// The last segments (our final ACKs' answers: none; the FIN's ACK)
		// are in; counters are published every 10 ms.
		time.Sleep(100 * time.Millisecond)
		var direct, steered uint64
		var c [2]engine.Counters
		for i, core := range e.Cores() {
			now := core.Published().Load()
			for k := range now {
				c[i][k] = now[k] - before[i][k]
			}
			before[i] = now
			direct += c[i][engine.TCPSegmentsIn] - c[i][engine.SteeredIn]
			steered += c[i][engine.SteeredOut]
		}
		if c[0][engine.SteeredOut] != c[1][engine.SteeredIn] || c[1][engine.SteeredOut] != c[0][engine.SteeredIn] ||
			c[0][engine.HandoffFull]+c[1][engine.HandoffFull] != 0 {
			t.Fatalf("xps=%v: hand-offs lost: core 0 %v, core 1 %v", xps, c[0], c[1])
		}
		if direct+steered < 3*n {
			t.Fatalf("xps=%v: %d kernel segments for %d connections", xps, direct+steered, n)
		}
		t.Logf("xps=%v: %d connections, %d kernel segments on the owner's queue, %d steered (%.1f%%); per core: in %d/%d, steered out %d/%d",
			xps, n, direct, steered, 100*float64(steered)/float64(direct+steered),
			c[0][engine.TCPSegmentsIn], c[1][engine.TCPSegmentsIn], c[0][engine.SteeredOut], c[1][engine.SteeredOut])
	}
}
