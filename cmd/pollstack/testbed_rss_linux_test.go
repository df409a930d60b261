package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// `testbed up --queues 2 --rss` makes the bed an RSS NIC for the engine on
// two cores: kernel clients connecting to the engine's listener (IPv4 and
// IPv6) and the engine's dials from both cores to a kernel server all
// complete, and not one of the kernel's segments arrives on a core that
// does not own its flow (steered_out stays 0; on a bed without RSS about
// half are steered: TestMulticoreDialOut).
func TestTestbedRSSEngineSteersNothing(t *testing.T) {
	bedtest.RequirePrivileged(t)
	name := testbed.Unique("pr")
	t.Cleanup(func() { testbed.Down(name) })
	out, err := command(context.Background(), "testbed", "up", "--name", name, "--queues", "2", "--rss").CombinedOutput()
	if err != nil {
		t.Fatalf("testbed up --queues 2 --rss: %v\n%s", err, out)
	}
	t.Logf("testbed up --queues 2 --rss:\n%s", out)
	if !strings.Contains(string(out), "RSS on "+name+"-b's egress") || !strings.Contains(string(out), "128-entry table (entry i -> queue i mod 2)") {
		t.Fatalf("testbed up --rss did not say what it set up:\n%s", out)
	}
	bed := &testbed.Bed{Name: name, Queues: 2, IfaceA: name + "-a", IfaceB: name + "-b", NsA: name + "-a", NsB: name + "-b"}
	if err := netns.Do(bed.NsA, func() error {
		ifc, err := net.InterfaceByName(bed.IfaceA)
		if err == nil {
			bed.LocalMAC = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e := openBedEngine(t, bed)

	// Passive opens: kernel clients, each writes, reads the answer and
	// the engine's FIN.
	ln, err := e.Listen("tcp", ":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadAll(c); err == nil {
					c.Write([]byte("hello"))
				}
			}()
		}
	}()
	const n = 100
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err := netns.Do(bed.NsB, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for i := 0; i < n; i++ {
			a := testbed.LocalIPv4
			if i%2 == 1 {
				a = testbed.LocalIPv6
			}
			c, err := d.Dial("tcp", netip.AddrPortFrom(a, 9000).String())
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		t.Fatalf("kernel client: %v", err)
	}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("hi"))
		c.(*net.TCPConn).CloseWrite()
		if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
			t.Fatalf("kernel client %d: %q, %v", i, b, err)
		}
	}

	// Active opens from both cores to a kernel server.
	var srv net.Listener
	if err := netns.Do(bed.NsB, func() (err error) {
		srv, err = net.Listen("tcp", net.JoinHostPort(testbed.PeerIPv4.String(), "9001"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { c.Write([]byte("hello")); c.Close() }()
		}
	}()
	var bad atomic.Int64
	var done sync.WaitGroup
	for i := 0; i < n; i++ {
		done.Add(1)
		if err := e.DialOn(i%2, netip.AddrPortFrom(testbed.LocalIPv4, 0), netip.AddrPortFrom(testbed.PeerIPv4, 9001),
			&dialOutHandler{bad: &bad, done: &done}); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("dialled connections still open after 20 s")
	}
	if b := bad.Load(); b != 0 {
		t.Fatalf("%d of %d dialled connections did not read the server's 5 bytes and its FIN cleanly", b, n)
	}

	time.Sleep(100 * time.Millisecond) // counters are published every 10 ms
	var in, steered uint64
	for i, core := range e.Cores() {
		c := core.Published().Load()
		t.Logf("core %d: tcp_segments_in %d, steered_out %d, steered_in %d", i, c[engine.TCPSegmentsIn], c[engine.SteeredOut], c[engine.SteeredIn])
		if c[engine.TCPSegmentsIn] == 0 {
			t.Errorf("core %d took no TCP segment", i)
		}
		in += c[engine.TCPSegmentsIn]
		steered += c[engine.SteeredOut]
	}
	if in < 6*n {
		t.Errorf("%d kernel segments for %d connections", in, 2*n)
	}
	if steered != 0 {
		t.Errorf("%d of %d kernel segments arrived on a core that does not own their flow, want 0 with --rss", steered, in)
	}
}
