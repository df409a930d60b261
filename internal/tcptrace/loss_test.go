package tcptrace

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

var (
	macA = []byte{0x02, 0, 0, 0, 0, 1}
	macB = []byte{0x02, 0, 0, 0, 0, 2}
	ipA  = [4]byte{198, 18, 0, 1}
	ipB  = [4]byte{198, 18, 0, 2}
)

func v4(a [4]byte) [16]byte { return netip.AddrFrom4(a).As16() }

// bed is two cores joined by an in-memory link, driven by hand with a
// virtual clock; each direction drops a fraction of frames and delays
// every frame (a round trip of twice delay).
type bed struct {
	a, b *engine.Core
	now  mono.Time
}

func newBed(t testing.TB, drop float64, delay time.Duration, cfg tcp.Config) *bed {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096, WireSlots: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	bd := &bed{now: mono.Time(time.Second)}
	clock := func() mono.Time { return bd.now }
	f := rings.Faults{Drop: drop, Delay: delay}
	fa := rings.NewFaulty(la, rings.FaultConfig{Tx: f, Seed: 7, Clock: clock, DelayQueue: 4096})
	fb := rings.NewFaulty(lb, rings.FaultConfig{Tx: f, Seed: 8, Clock: clock, DelayQueue: 4096})
	cfg.ISNKey = [16]byte{1}
	if bd.a, err = engine.NewCore(engine.CoreConfig{MAC: macA, Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(ipA), 24)}, TCP: &cfg}, fa); err != nil {
		t.Fatal(err)
	}
	if bd.b, err = engine.NewCore(engine.CoreConfig{ID: 1, MAC: macB, Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(ipB), 24)}, TCP: &cfg}, fb); err != nil {
		t.Fatal(err)
	}
	return bd
}

func (bd *bed) step(d time.Duration) {
	bd.now = bd.now.Add(d)
	bd.a.Poll(bd.now)
	bd.b.Poll(bd.now)
	bd.a.Timers(bd.now)
	bd.b.Timers(bd.now)
}

// sender writes total bytes as room opens, then closes.
type sender struct {
	conn  *tcp.Conn
	total int
	sent  int
	buf   []byte
}

func (s *sender) Established(c *tcp.Conn) { s.conn = c; s.Writable(c) }
func (s *sender) Readable(c *tcp.Conn)    { c.Consume(c.Readable()) }
func (s *sender) Writable(c *tcp.Conn) {
	for s.sent < s.total {
		n, err := c.Write(s.buf[:min(len(s.buf), s.total-s.sent)])
		if err != nil || n == 0 {
			return
		}
		s.sent += n
	}
}
func (s *sender) Closed(*tcp.Conn, error) {}

// sink counts what arrives.
type sink struct {
	conn *tcp.Conn
	got  int
}

func (h *sink) Established(c *tcp.Conn) { h.conn = c }
func (h *sink) Readable(c *tcp.Conn)    { n := c.Readable(); c.Consume(n); h.got += n }
func (h *sink) Writable(*tcp.Conn)      {}
func (h *sink) Closed(*tcp.Conn, error) {}

// dial connects b to a's port 80, b's handler h, a's srv.
func (bd *bed) dial(t testing.TB, srv, cli tcp.Handler) {
	t.Helper()
	if _, err := bd.a.TCP().Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	tu := flow.Tuple{LocalAddr: v4(ipB), RemoteAddr: v4(ipA), RemotePort: 80}
	if _, err := bd.b.TCP().Dial(tu, cli, bd.now); err != nil {
		t.Fatal(err)
	}
	bd.b.Flush()
}

// With 1% of frames lost each way, the sender's trace shows its recovery
// episodes (records in the recovery state, as many runs of them as
// sack_recovery_episode counted, or more), its retransmissions, and
// loses no record at the default ring size.
func TestTraceShowsRecoveryUnderLoss(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SendSpace, cfg.RecvSpace = 1<<20, 1<<20
	bd := newBed(t, 0.01, 500*time.Microsecond, cfg)
	var file bytes.Buffer
	w, err := NewWriter(&file, 2, DefaultRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	bd.a.TCP().SetTracer(w.Ring(0))
	bd.b.TCP().SetTracer(w.Ring(1))
	const total = 4 << 20
	snd := &sender{total: total, buf: make([]byte, 64<<10)}
	rcv := &sink{}
	bd.dial(t, snd, rcv) // a accepts and sends, b dials and receives
	for i := 0; i < 2_000_000 && rcv.got < total; i++ {
		bd.step(20 * time.Microsecond)
	}
	if rcv.got != total {
		t.Fatalf("received %d of %d bytes by %v", rcv.got, total, bd.now)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sa, sb := bd.a.TCP().Stats(), bd.b.TCP().Stats()
	if w.Dropped() != 0 || sa[tcp.StatTraceDropped]+sb[tcp.StatTraceDropped] != 0 {
		t.Fatalf("%d records dropped (trace_dropped %d, %d)", w.Dropped(), sa[tcp.StatTraceDropped], sb[tcp.StatTraceDropped])
	}
	recs, err := ReadAll(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(recs)) != sa[tcp.StatTraceRecords]+sb[tcp.StatTraceRecords] || w.Written() != uint64(len(recs)) {
		t.Fatalf("%d records in the file, %d written, trace_records %d+%d", len(recs), w.Written(),
			sa[tcp.StatTraceRecords], sb[tcp.StatTraceRecords])
	}
	conns := Conns(recs)
	if len(conns) != 2 {
		t.Fatalf("%d connections in the trace, want 2 (one each side)", len(conns))
	}
	var snd0 *Conn
	for i := range conns {
		if conns[i].Tuple.LocalPort == 80 {
			snd0 = &conns[i]
		}
	}
	if snd0 == nil || snd0.Records[0].Core != 0 {
		t.Fatal("no trace of the sender on core 0")
	}
	episodes := uint64(countCC(snd0.Records, tcp.CCRecovery))
	inRecovery, acks := 0, 0
	var lastRexmit uint32
	for i, r := range snd0.Records {
		if r.CC == tcp.CCRecovery {
			inRecovery++
		}
		if r.Event == tcp.TraceAck {
			acks++
		}
		if r.Rexmit < lastRexmit {
			t.Fatalf("record %d: retransmissions went down from %d to %d", i, lastRexmit, r.Rexmit)
		}
		lastRexmit = r.Rexmit
		if r.Cwnd == 0 || r.State == tcp.Established && r.SRTT == 0 && i > 3 {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	want := sa[tcp.StatSACKRecoveryEpisode]
	t.Logf("sender: %d records (%d ACKs), %d in recovery, %d recovery episodes (sack_recovery_episode %d), %d retransmissions, %d RTOs",
		len(snd0.Records), acks, inRecovery, episodes, want, lastRexmit, sa[tcp.StatRexmtTimeo])
	if want == 0 || episodes < want {
		t.Fatalf("%d recovery episodes in the trace, sack_recovery_episode %d", episodes, want)
	}
	if uint64(lastRexmit) != sa[tcp.StatSndRexmitPack] {
		t.Fatalf("the trace's last retransmission count %d, sndrexmitpack %d", lastRexmit, sa[tcp.StatSndRexmitPack])
	}

	// The plot has a panel per connection.
	var svg bytes.Buffer
	n, err := Plot(&svg, recs)
	if err != nil || n != 2 {
		t.Fatalf("plot: %d panels, %v", n, err)
	}
	if got := countPanels(t, svg.Bytes()); got != 2 {
		t.Fatalf("%d panels in the SVG, want 2", got)
	}
}

// countPanels parses an SVG with encoding/xml and counts its
// <g class="panel"> elements, each checked to hold a title and the three
// series.
func countPanels(t *testing.T, svg []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	panels, depth, root := 0, 0, false
	var inPanel int // depth of the open panel, 0 when none
	series := map[string]bool{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				root = e.Name.Local == "svg" && e.Name.Space == "http://www.w3.org/2000/svg"
			}
			class := ""
			for _, a := range e.Attr {
				if a.Name.Local == "class" {
					class = a.Value
				}
			}
			if e.Name.Local == "g" && class == "panel" {
				panels++
				inPanel = depth
				series = map[string]bool{}
			}
			if inPanel > 0 && e.Name.Local == "polyline" || e.Name.Local == "text" && class == "title" {
				series[class] = true
			}
		case xml.EndElement:
			if depth == inPanel {
				for _, s := range []string{"title", "cwnd", "inflight", "srtt"} {
					if !series[s] {
						t.Errorf("panel %d has no %s", panels, s)
					}
				}
				inPanel = 0
			}
			depth--
		}
	}
	if !root {
		t.Fatal("the root element is not an SVG <svg>")
	}
	return panels
}

// Three connections on two cores make three panels; no record makes a
// valid SVG without a panel.
func TestPlotPanelPerConnection(t *testing.T) {
	base := sampleRecords()[0]
	var recs []Record
	for c := 0; c < 3; c++ {
		for i := 0; i < 5000; i++ { // past the decimation threshold
			r := base
			r.Tuple.RemotePort = uint16(40000 + c)
			r.Core = c % 2
			r.Time = mono.Time(i) * mono.Time(time.Millisecond)
			r.Cwnd = uint32(10000 + (i%100)*1000)
			r.Pipe = r.Cwnd / 2
			r.SRTT = time.Duration(100+i%50) * time.Microsecond
			if i%100 > 90 {
				r.CC = tcp.CCRecovery
			}
			recs = append(recs, r)
		}
	}
	var svg bytes.Buffer
	if n, err := Plot(&svg, recs); err != nil || n != 3 {
		t.Fatalf("%d panels, %v", n, err)
	}
	if got := countPanels(t, svg.Bytes()); got != 3 {
		t.Fatalf("%d panels in the SVG", got)
	}
	svg.Reset()
	if n, err := Plot(&svg, nil); err != nil || n != 0 {
		t.Fatalf("%d panels, %v", n, err)
	}
	if got := countPanels(t, svg.Bytes()); got != 0 {
		t.Fatalf("%d panels for no record", got)
	}
}

// With tracing on, the established data path — a data segment in, its
// ACK out and processed, a record on each side — still allocates nothing.
func TestTracedACKPathAllocatesNothing(t *testing.T) {
	bd := newBed(t, 0, 0, tcp.DefaultConfig())
	var file bytes.Buffer
	w, err := newWriter(&file, 2, DefaultRingRecords)
	if err != nil {
		t.Fatal(err)
	}
	bd.a.TCP().SetTracer(w.Ring(0))
	bd.b.TCP().SetTracer(w.Ring(1))
	srv, cli := &sink{}, &sink{}
	bd.dial(t, srv, cli)
	for i := 0; i < 10; i++ {
		bd.step(100 * time.Microsecond)
	}
	if cli.conn == nil || srv.conn == nil {
		t.Fatal("no connection")
	}
	payload := make([]byte, 1400)
	round := func() {
		cli.conn.Write(payload)
		for i := 0; i < 3; i++ {
			bd.step(100 * time.Microsecond)
		}
	}
	for i := 0; i < 100; i++ {
		round()
	}
	w.drain()
	before := bd.a.TCP().Stats()[tcp.StatTraceRecords] + bd.b.TCP().Stats()[tcp.StatTraceRecords]
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%v allocations per traced data segment and its ACK", allocs)
	}
	after := bd.a.TCP().Stats()[tcp.StatTraceRecords] + bd.b.TCP().Stats()[tcp.StatTraceRecords]
	if after-before < 1001 {
		t.Fatalf("%d records traced over 1001 rounds", after-before)
	}
	if w.Dropped() != 0 {
		t.Fatalf("%d records dropped", w.Dropped())
	}
}
