package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// The lossy echo soak: a client engine sends N bytes through a connection
// to an echo server on a second engine, over the in-memory link with 5% of
// the frames dropped each way (rings.Faulty), and checks that what comes
// back is what it sent, byte for byte. A watchdog fails the run, with both
// ends' control blocks, when no byte moves for soakStall of real time.
//
// By default a few small runs; POLLSTACK_SOAK=1 runs the full soak (50 runs
// of 64 MiB). The runs wait mostly on retransmission timers, not on the
// CPU, so soakParallel of them go at once, each with its own two engines.
// POLLSTACK_SOAK=gib runs two of 1 GiB each way with, besides the 5% loss,
// 1% of the frames reordered and 0.1% duplicated each way.

const (
	soakStall    = 10 * time.Second
	soakParallel = 8
)

func TestSoakLossyEchoIsByteExact(t *testing.T) {
	runs, size := 5, 4<<20
	faults := soakFaults
	switch {
	case os.Getenv("POLLSTACK_SOAK") == "1":
		runs, size = 50, 64<<20
	case os.Getenv("POLLSTACK_SOAK") == "gib":
		runs, size = 2, 1<<30
		faults.Reorder, faults.Duplicate = 0.01, 0.001
	case testing.Short():
		runs, size = 2, 1<<20
	}
	start := time.Now()
	sem := make(chan struct{}, soakParallel)
	var wg sync.WaitGroup
	for r := 0; r < runs; r++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(seed uint64) {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			st, err := soakRun(seed, size, 4096, faults)
			if err != nil {
				t.Errorf("seed %d: %v", seed, err)
				return
			}
			t.Logf("seed %d: %d bytes echoed in %v; client %s; server %s", seed, size,
				time.Since(t0).Round(time.Millisecond), st.cli, st.srv)
		}(uint64(r + 1))
	}
	wg.Wait()
	t.Logf("%d runs of %d bytes (%d at a time) in %v", runs, size, soakParallel, time.Since(start).Round(time.Millisecond))
}

// With a pool of a few frames per end, and the link holding each frame it
// transmits for 2 ms, sends keep finding none (sndnoframe): each is sent
// later, and the echo still completes, byte-exact.
func TestSoakEchoWithFewFramesIsByteExact(t *testing.T) {
	var wg sync.WaitGroup
	for seed := uint64(1); seed <= 3; seed++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := soakFaults
			f.Delay = 2 * time.Millisecond
			st, err := soakRun(seed, 1<<20, 16, f)
			if err != nil {
				t.Errorf("seed %d: %v", seed, err)
				return
			}
			t.Logf("seed %d: client %s; server %s", seed, st.cli, st.srv)
		}()
	}
	wg.Wait()
}

// soakStats is what a run reports of each end's shard.
type soakStats struct{ cli, srv string }

func shardSummary(s *tcp.Shard) string {
	st := s.Stats()
	return fmt.Sprintf("sent %d segs (%d rexmit), %d RTOs, %d TLPs, %d without a frame", st[tcp.StatSndTotal],
		st[tcp.StatSndRexmitPack], st[tcp.StatRexmtTimeo], st[tcp.StatTLP], st[tcp.StatSndNoFrame])
}

// soakClient writes size bytes of a seeded stream, half-closes, and checks
// the echo against the same stream.
type soakClient struct {
	size       int
	gen, check *rand.ChaCha8
	written    int
	pending    []byte // generated, not yet accepted by Write
	wbuf, rbuf []byte
	want       []byte

	conn    *tcp.Conn
	echoed  atomic.Int64 // bytes checked, read by the watchdog
	sentAck atomic.Int64 // bytes the server acknowledged (written - unsent)
	bad     atomic.Int64 // offset+1 of the first byte that differs
	done    chan error
	once    sync.Once
}

func newSoakClient(seed uint64, size int) *soakClient {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return &soakClient{size: size, gen: rand.NewChaCha8(key), check: rand.NewChaCha8(key),
		wbuf: make([]byte, 64<<10), rbuf: make([]byte, 64<<10), want: make([]byte, 64<<10),
		done: make(chan error, 1)}
}

func (c *soakClient) Established(conn *tcp.Conn) { c.conn = conn; c.push(conn) }
func (c *soakClient) Writable(conn *tcp.Conn)    { c.push(conn) }

func (c *soakClient) push(conn *tcp.Conn) {
	for c.written < c.size || len(c.pending) > 0 {
		if len(c.pending) == 0 {
			n := min(c.size-c.written, len(c.wbuf), conn.Writable())
			if n == 0 {
				break
			}
			c.gen.Read(c.wbuf[:n])
			c.pending = c.wbuf[:n]
			c.written += n
		}
		n, err := conn.Write(c.pending)
		if err != nil {
			c.finish(err)
			return
		}
		c.pending = c.pending[n:]
		if n == 0 {
			break
		}
	}
	c.sentAck.Store(int64(c.written - len(c.pending) - conn.Unsent()))
	if c.written == c.size && len(c.pending) == 0 {
		conn.CloseWrite()
	}
}

func (c *soakClient) Readable(conn *tcp.Conn) {
	for {
		n := conn.Read(c.rbuf)
		if n == 0 {
			break
		}
		c.check.Read(c.want[:n])
		if c.bad.Load() == 0 && !bytes.Equal(c.rbuf[:n], c.want[:n]) {
			i := 0
			for c.rbuf[i] == c.want[i] {
				i++
			}
			c.bad.Store(c.echoed.Load() + int64(i) + 1)
		}
		c.echoed.Add(int64(n))
	}
	c.sentAck.Store(int64(c.written - len(c.pending) - conn.Unsent()))
	if conn.EOF() {
		conn.Close()
	}
}

func (c *soakClient) Closed(conn *tcp.Conn, err error) { c.finish(err) }

func (c *soakClient) finish(err error) { c.once.Do(func() { c.done <- err }) }

// soakEcho is the echo app, remembering its connection for the watchdog.
type soakEcho struct {
	apps.Echo
	conn *tcp.Conn
}

func (e *soakEcho) Established(c *tcp.Conn) { e.conn = c }

func soakEngine(link rings.Link, mac net.HardwareAddr, addr string, listen []ListenSpec) (*Engine, error) {
	cfg := tcp.DefaultConfig()
	e, err := New(Config{MAC: mac, Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}, CPUs: []int{0},
		Idle: cores.IdlePolicy{SleepAfter: 64}, TCP: &cfg, Listen: listen}, []rings.Link{link})
	if err != nil {
		return nil, err
	}
	return e, e.Start()
}

// soakRun runs one echo of size bytes with faults seeded by seed, each end
// with a pool of frames frames and its transmissions delayed by delay (the
// link holds their frames meanwhile).
// soakFaults are the soak's faults on each end's transmissions.
var soakFaults = rings.Faults{Drop: 0.05}

func soakRun(seed uint64, size, frames int, loss rings.Faults) (soakStats, error) {
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: frames})
	if err != nil {
		return soakStats{}, err
	}
	fa := rings.NewFaulty(la, rings.FaultConfig{Tx: loss, Seed: seed})
	fb := rings.NewFaulty(lb, rings.FaultConfig{Tx: loss, Seed: seed ^ 0x9e3779b97f4a7c15})
	echo := &soakEcho{}
	defer la.Close()
	srv, err := soakEngine(fa, ourMAC, "198.18.0.1/24", []ListenSpec{{Port: 7, Handler: func(int) tcp.Handler { return echo }}})
	if err != nil {
		return soakStats{}, err
	}
	defer srv.Stop()
	cliEng, err := soakEngine(fb, peerMAC, "198.18.0.2/24", nil)
	if err != nil {
		return soakStats{}, err
	}
	defer cliEng.Stop()
	cli := newSoakClient(seed, size)
	if err := cliEng.DialOn(0, netip.MustParseAddrPort("198.18.0.2:0"), netip.MustParseAddrPort("198.18.0.1:7"), cli); err != nil {
		return soakStats{}, err
	}
	last, lastAt := int64(-1), time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-cli.done:
			if err != nil {
				return soakStats{}, fmt.Errorf("the connection ended with %v after %d of %d bytes echoed\n%s",
					err, cli.echoed.Load(), size, soakState(srv, cliEng, echo, cli))
			} else if b := cli.bad.Load(); b != 0 {
				return soakStats{}, fmt.Errorf("echoed byte %d differs from what was sent", b-1)
			} else if n := cli.echoed.Load(); n != int64(size) {
				return soakStats{}, fmt.Errorf("%d of %d bytes echoed before the close", n, size)
			}
			var s soakStats
			srv.loops[0].Call(func(mono.Time) { s.srv = shardSummary(srv.cores[0].tcp) })
			cliEng.loops[0].Call(func(mono.Time) { s.cli = shardSummary(cliEng.cores[0].tcp) })
			return s, nil
		case <-tick.C:
			p := cli.echoed.Load() + cli.sentAck.Load()
			if p != last {
				last, lastAt = p, time.Now()
				continue
			}
			if time.Since(lastAt) >= soakStall {
				return soakStats{}, fmt.Errorf("no progress for %v: %d bytes acknowledged, %d of %d echoed\n%s", soakStall,
					cli.sentAck.Load(), cli.echoed.Load(), size, soakState(srv, cliEng, echo, cli))
			}
		}
	}
}

// soakState describes both ends of the connection, read on their loops.
func soakState(srv, cli *Engine, echo *soakEcho, c *soakClient) string {
	var b strings.Builder
	for _, e := range []struct {
		name string
		eng  *Engine
		conn func() *tcp.Conn
	}{{"client", cli, func() *tcp.Conn { return c.conn }}, {"server", srv, func() *tcp.Conn { return echo.conn }}} {
		err := e.eng.loops[0].Call(func(now mono.Time) {
			fmt.Fprintf(&b, "%s: ", e.name)
			if conn := e.conn(); conn != nil {
				b.WriteString(conn.DebugString())
			} else {
				b.WriteString("no connection")
			}
			sh := e.eng.cores[0].tcp
			fmt.Fprintf(&b, "\n  shard: %s; %d connections; pool free %d\n", shardSummary(sh), sh.Conns(),
				e.eng.cores[0].pool.Free())
		})
		if err != nil && !errors.Is(err, cores.ErrStopped) {
			fmt.Fprintf(&b, "%s: %v\n", e.name, err)
		}
	}
	return b.String()
}
