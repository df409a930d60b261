package tcp

import (
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// timeWaitFrom makes the shard close first a connection from the peer's
// port port and end in TIME_WAIT at p.now.
func timeWaitFrom(t *testing.T, p *peer, port uint16) flow.Tuple {
	t.Helper()
	p.tuple.RemotePort = port
	p.iss += 1 << 20
	p.nxt, p.hiSet = p.iss, false
	c := p.open()
	c.Close()
	p.expect("FIN", func(s sentSeg) bool { return s.Flags&FlagFIN != 0 })
	p.fin()
	if !p.s.InTimeWait(&p.tuple) {
		t.Fatalf("port %d: not in TIME_WAIT (%v)", port, c.State())
	}
	p.take()
	return p.tuple
}

// Acceptance: with a virtual clock, after msl is set to 5000 ms a new
// TIME_WAIT entry ends 10 s after it was made, while one made before the
// change keeps its 2*30 s.
func TestReconfigureMSLAppliesToNewTimeWait(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	old := timeWaitFrom(t, p, 40001)
	oldAt := p.now
	p.advance(1e9)
	cfg := p.s.Config()
	if err := Set(&cfg, "net.inet.tcp.msl", "5000"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.s.Sysctl("net.inet.tcp.msl"); v != "5000" {
		t.Fatalf("msl reads %s after the change", v)
	}
	p.advance(1e9)
	young := timeWaitFrom(t, p, 40002)
	youngAt := p.now
	p.advance(youngAt.Add(10e9 - 1).Sub(p.now))
	if !p.s.InTimeWait(&young) {
		t.Fatal("the new entry ended before 2*5 s")
	}
	p.advance(1e6) // the entry's expiry is rounded up to the millisecond
	if p.s.InTimeWait(&young) {
		t.Fatal("the new entry outlived 2*5 s")
	}
	if !p.s.InTimeWait(&old) {
		t.Fatal("the entry made before the change lost its 2*30 s")
	}
	p.advance(oldAt.Add(60e9 - 1).Sub(p.now))
	if !p.s.InTimeWait(&old) {
		t.Fatal("the old entry ended before its 2*30 s")
	}
	p.advance(1e6)
	if p.s.InTimeWait(&old) || p.s.TimeWaitEntries() != 0 {
		t.Fatalf("the old entry outlived its 2*30 s; %d entries", p.s.TimeWaitEntries())
	}
}

// maxtcptw=10 is refused naming 32 (by Set and by Reconfigure); lowering
// it recycles the oldest entries down to the new limit at once.
func TestReconfigureMaxTCPTW(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	cfg := p.s.Config()
	if err := Set(&cfg, "net.inet.tcp.maxtcptw", "10"); err == nil || !strings.Contains(err.Error(), "below the minimum 32") {
		t.Fatalf("maxtcptw=10: %v", err)
	}
	bad := cfg
	bad.MaxTCPTW = 10
	if err := p.s.Reconfigure(bad); err == nil || !strings.Contains(err.Error(), "32") {
		t.Fatalf("Reconfigure with maxtcptw 10: %v", err)
	}
	if p.s.Config().MaxTCPTW != 0 {
		t.Fatal("a refused Reconfigure changed the configuration")
	}
	var tuples []flow.Tuple
	for i := range 40 {
		tuples = append(tuples, timeWaitFrom(t, p, uint16(41000+i)))
		p.advance(1e6)
	}
	before := *p.s.Stats()
	if err := Set(&cfg, "maxtcptw", "32"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if n := p.s.TimeWaitEntries(); n != 32 {
		t.Fatalf("%d TIME_WAIT entries after maxtcptw=32", n)
	}
	if p.s.InTimeWait(&tuples[7]) || !p.s.InTimeWait(&tuples[8]) {
		t.Fatal("not the oldest entries were recycled")
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatTWRecycled: 8, StatClosed: 8})
}

// cc.algorithm applies to new connections; existing ones keep theirs. A
// changed ISN key and invalid values are refused.
func TestReconfigureCCAndRefusals(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	first := p.open()
	cfg := p.s.Config()
	if err := Set(&cfg, "cc.algorithm", "newreno"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	p.tuple.RemotePort++
	p.iss += 1 << 20
	p.nxt, p.hiSet = p.iss, false
	second := p.open()
	if first.cc.Name() != "cubic" || second.cc.Name() != "newreno" {
		t.Fatalf("congestion control: existing %s, new %s; want cubic, newreno", first.cc.Name(), second.cc.Name())
	}
	key := cfg
	key.ISNKey[0] ^= 1
	if err := p.s.Reconfigure(key); err == nil {
		t.Fatal("a new ISN key was accepted")
	}
	bad := cfg
	bad.ECN = 3
	if err := p.s.Reconfigure(bad); err == nil || !strings.Contains(err.Error(), "ecn.enable 3: want 0 (off), 1 (on) or 2 (accept only)") {
		t.Fatalf("ecn.enable 3: %v", err)
	}
}

// fast_finwait2_recycle: off (FreeBSD's default), a FIN_WAIT_2 the
// application closed stays while the peer was heard within
// keepcnt*keepintvl, then ends; on, it ends at finwait2_timeout.
func TestFastFinWait2Recycle(t *testing.T) {
	for _, fast := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.FastFinWait2Recycle = fast
		p := newPeer(t, cfg)
		c := p.open()
		c.Close()
		p.advance(rtt)
		p.ack()
		heard := p.now
		if c.State() != FinWait2 {
			t.Fatalf("%v, want FIN_WAIT_2", c.State())
		}
		p.advance(DefaultFinWait2Timeout)
		if gone := p.s.Conns() == 0; gone != fast {
			t.Fatalf("fast=%v: gone at finwait2_timeout: %v", fast, gone)
		}
		if fast {
			continue
		}
		maxIdle := time.Duration(DefaultKeepCnt) * DefaultKeepIntvl
		p.advance(heard.Add(maxIdle).Sub(p.now))
		if p.s.Conns() != 1 {
			t.Fatal("FIN_WAIT_2 ended before keepcnt*keepintvl of silence")
		}
		p.advance(DefaultKeepIntvl)
		if p.s.Conns() != 0 || p.h.closed != 1 || p.h.errs[0] != nil {
			t.Fatalf("FIN_WAIT_2 still there after keepcnt*keepintvl+keepintvl of silence (closed %d)", p.h.closed)
		}
	}
}

// ts_offset_per_conn=0: our timestamps carry no offset.
func TestTSOffsetPerConn(t *testing.T) {
	for _, perConn := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.ISNKey = [16]byte{1, 2, 3}
		cfg.TSOffsetPerConn = perConn
		p := newPeer(t, cfg)
		p.syn()
		sa := p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK })
		plain := uint32(p.now / 1e6)
		if (sa.Opts.TSVal == plain) == perConn {
			t.Errorf("ts_offset_per_conn=%v: TSval %d, clock %d", perConn, sa.Opts.TSVal, plain)
		}
	}
}

// log_in_vain: 1 logs SYNs to closed ports, 2 any segment, at most a few
// lines a second; the next line says how many were left out.
func TestLogInVain(t *testing.T) {
	for _, mode := range []int{0, 1, 2} {
		cfg := DefaultConfig()
		var lines []string
		cfg.Log = func(s string) { lines = append(lines, s) }
		cfg.LogInVain = mode
		p := newPeer(t, cfg)
		p.tuple.LocalPort = 81 // closed
		p.syn()
		p.ack()
		want := map[int]int{0: 0, 1: 1, 2: 2}[mode]
		if len(lines) != want {
			t.Fatalf("log_in_vain=%d: %d lines %q, want %d", mode, len(lines), lines, want)
		}
		if mode == 0 {
			continue
		}
		if lines[0] != "Connection attempt to TCP 198.18.0.1:81 from 198.18.0.2:40000 flags:0x02" {
			t.Fatalf("line %q", lines[0])
		}
		for range 20 {
			p.syn()
		}
		if len(lines) != vainPerSecond {
			t.Fatalf("log_in_vain=%d: %d lines within a second, want %d", mode, len(lines), vainPerSecond)
		}
		p.advance(1e9)
		p.syn()
		if n := len(lines); n != vainPerSecond+1 || !strings.HasSuffix(lines[n-1], "more not logged)") {
			t.Fatalf("the next second: %q", lines[len(lines)-1])
		}
	}
}

// isn_reseed_interval: the ISN key changes every interval, the same way
// in every generator that shares the base key; 0 keeps the base key.
func TestISNReseed(t *testing.T) {
	key := [16]byte{9, 8, 7}
	a, b, never := NewISNGenerator(key), NewISNGenerator(key), NewISNGenerator(key)
	a.SetReseedInterval(10e9)
	b.SetReseedInterval(10e9)
	isn := func(g *ISNGenerator, now mono.Time) flow.Seq { return g.ISN(addrA, addrB, 80, 40000, now) }
	// Within one interval the ISN moves with M only (250,000 per second).
	if d := isn(a, 6e9) - isn(a, 5e9); d != 250000 {
		t.Fatalf("within an interval the ISN moved by %d in 1 s", d)
	}
	if d := isn(never, 15e9) - isn(never, 5e9); d != 2500000 {
		t.Fatalf("without reseeding the ISN moved by %d in 10 s", d)
	}
	if d := isn(a, 15e9) - isn(a, 5e9); d == 2500000 {
		t.Fatal("the key did not change at the interval")
	}
	if isn(a, 25e9) != isn(b, 25e9) || isn(a, 3e9) != isn(b, 3e9) {
		t.Fatal("generators with one base key disagree")
	}
	a.SetReseedInterval(0)
	if isn(a, 25e9) != isn(never, 25e9) {
		t.Fatal("interval 0 does not use the base key")
	}
}

// buffer_memory set at run time reaches the shard's chunk pool: the next
// pressure test uses the new point.
func TestReconfigureBufferMemoryReachesThePool(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	if got, want := p.s.pool.limit, DefaultBufferMemory>>chunkShift; got != want {
		t.Fatalf("pool limit %d chunks at start, want %d", got, want)
	}
	cfg := p.s.Config()
	if err := Set(&cfg, "net.inet.tcp.buffer_memory", "1048576"); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := p.s.pool.limit, (1<<20)>>chunkShift; got != want {
		t.Fatalf("pool limit %d chunks after buffer_memory=1048576, want %d", got, want)
	}
	if err := Set(&cfg, "net.inet.tcp.buffer_memory", "-1"); err == nil {
		t.Fatal("buffer_memory=-1 accepted")
	}
}
