package demo

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// TimeWaitBytes measures the heap one TIME_WAIT entry holds in a tcp.Shard
// configured with cfg: a compressed entry in the shard's tw table, with its
// share of the table's index and of the room the table reserves (Run
// passes k = cfg.TimeWaitLimit(), a full table). It builds a server shard,
// lets one connection open and close with the client closing first (so
// that the control block and buffers the shard keeps for reuse are there
// before the measurement), then drives k connections from a second shard
// into TIME_WAIT on it (the server closes first, as it does for the demo's
// short connections), lets go of the second shard and divides the server's
// heap growth, after a full collection, by k. The heap is the whole
// process's: call it when nothing else allocates much (Run calls it after
// its loops have stopped). k may not exceed cfg.TimeWaitLimit(): past it
// the table recycles entries.
func TimeWaitBytes(cfg tcp.Config, k int) (float64, error) {
	if k < 1 || k > cfg.TimeWaitLimit() {
		return 0, fmt.Errorf("demo: TIME_WAIT probe of %d connections: want 1..%d (maxtcptw's share)", k, cfg.TimeWaitLimit())
	}
	w := &probeWire{}
	var srv, cli *tcp.Shard
	var err error
	if srv, err = tcp.NewShard(cfg, &probeSender{w: w, peer: &cli}); err != nil {
		return 0, err
	}
	warm := true
	if _, err := srv.Listen(80, k, &probeServer{warm: &warm}); err != nil {
		return 0, err
	}
	if cli, err = tcp.NewShard(cfg, &probeSender{w: w, peer: &srv}); err != nil {
		return 0, err
	}
	t := flow.Tuple{LocalAddr: netip.MustParseAddr("::ffff:198.18.0.2").As16(),
		RemoteAddr: netip.MustParseAddr("::ffff:198.18.0.1").As16(), RemotePort: 80}
	now := mono.Time(1e9)
	if _, err := cli.Dial(t, probeClient{closeFirst: true}, now); err != nil {
		return 0, err
	}
	w.deliver(now)
	if srv.Conns() != 0 || srv.TimeWaitEntries() != 0 {
		return 0, fmt.Errorf("demo: TIME_WAIT probe: the warm-up connection left %d connections, %d TIME_WAIT entries",
			srv.Conns(), srv.TimeWaitEntries())
	}
	cli, w.q, warm = nil, nil, false
	before := heapAlloc()

	if cli, err = tcp.NewShard(cfg, &probeSender{w: w, peer: &srv}); err != nil {
		return 0, err
	}
	for i := 0; i < k; i++ {
		now += 1e3
		if _, err := cli.Dial(t, probeClient{}, now); err != nil {
			return 0, err
		}
		w.deliver(now)
	}
	states := srv.StateCounts()
	if states[tcp.TimeWait] != k || cli.Conns() != 0 {
		return 0, fmt.Errorf("demo: TIME_WAIT probe: %d of %d connections in TIME_WAIT, %d left on the client",
			states[tcp.TimeWait], k, cli.Conns())
	}
	cli, w.q = nil, nil
	after := heapAlloc()
	runtime.KeepAlive(srv)
	return float64(int64(after)-int64(before)) / float64(k), nil
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// probeWire carries the probe's segments between its two shards, in order,
// with no delay.
type probeWire struct {
	q   []probePacket
	buf [4096]byte
}

type probePacket struct {
	to *tcp.Shard
	t  flow.Tuple // as the receiver names the connection
	b  []byte
}

// deliver hands the queued segments to their shards until none is left.
func (w *probeWire) deliver(now mono.Time) {
	for i := 0; i < len(w.q); i++ {
		p := w.q[i]
		p.to.Receive(&p.t, p.b, now)
	}
	w.q = w.q[:0]
}

type probeSender struct {
	w    *probeWire
	peer **tcp.Shard
}

func (s *probeSender) Buffer(*flow.Tuple) []byte { return s.w.buf[:] }

func (s *probeSender) Send(t *flow.Tuple, n int) {
	rt := flow.Tuple{LocalAddr: t.RemoteAddr, RemoteAddr: t.LocalAddr, LocalPort: t.RemotePort, RemotePort: t.LocalPort}
	s.w.q = append(s.w.q, probePacket{to: *s.peer, t: rt, b: bytes.Clone(s.w.buf[:n])})
}

// probeServer closes each connection as soon as it is established, or,
// while warm is set, once the client has.
type probeServer struct{ warm *bool }

func (s *probeServer) Established(c *tcp.Conn) {
	if !*s.warm {
		c.Close()
	}
}
func (s *probeServer) Readable(c *tcp.Conn) {
	if c.EOF() {
		c.Close()
	}
}
func (s *probeServer) Writable(*tcp.Conn)      {}
func (s *probeServer) Closed(*tcp.Conn, error) {}

// probeClient closes when the server has, or at once with closeFirst.
type probeClient struct{ closeFirst bool }

func (p probeClient) Established(c *tcp.Conn) {
	if p.closeFirst {
		c.Close()
	}
}
func (probeClient) Readable(c *tcp.Conn) {
	if c.EOF() {
		c.Close()
	}
}
func (probeClient) Writable(*tcp.Conn)      {}
func (probeClient) Closed(*tcp.Conn, error) {}
