package demo

import (
	"context"
	"testing"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// short is a run short enough for tests.
func short(cfg Config) Config {
	cfg.Duration = 300 * time.Millisecond
	cfg.Warmup = 100 * time.Millisecond
	return cfg
}

// checkHealthyHTTP checks what a healthy http run must show.
func checkHealthyHTTP(t *testing.T, name string, cfg Config, r Result) {
	t.Helper()
	if r.Mode != ModeHTTP || r.Requests == 0 || r.Connections == 0 || r.RequestsPerSec <= 0 || r.ConnsPerSec <= 0 {
		t.Errorf("%s: nothing measured: %+v", name, r)
	}
	if r.Errors != 0 || r.ErrorKinds != (Errors{}) {
		t.Errorf("%s: %d errors: %+v", name, r.Errors, r.ErrorKinds)
	}
	if r.LeftOpen != (Sides{}) {
		t.Errorf("%s: connections not closed cleanly: %+v", name, r.LeftOpen)
	}
	// Retransmissions (and the RSTs that stale copies draw) can be spurious
	// when the machine starves a loop for longer than an RTO, as -race on
	// a small machine can; the rest never happens on a lossless link.
	if a := r.TCP; a.Drops != 0 || a.ListenDrops != 0 || a.BadSegments != 0 {
		t.Errorf("%s: TCP anomalies on a lossless link: %+v", name, r.TCP)
	} else if a.Total() != 0 {
		t.Logf("%s: retransmissions on a lossless link (a starved loop?): %+v", name, r.TCP)
	}
	if r.ServerDrops != 0 || r.ClientDrops != 0 {
		t.Errorf("%s: frames dropped: server %d, client %d", name, r.ServerDrops, r.ClientDrops)
	}
	l := r.Latency
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("%s: percentiles out of order: %+v", name, l)
	}
	if r.Packets == 0 || r.AllocsPerPacket < 0 {
		t.Errorf("%s: packets %d, allocs/packet %v", name, r.Packets, r.AllocsPerPacket)
	}
	// The server closes short connections and the last request of
	// keep-alive ones: it holds TIME_WAIT for those. The client holds it
	// only for the keep-alive connections it closed when the run ended.
	if r.TimeWait.Server == 0 || r.TimeWait.Client > r.KeepAliveConns {
		t.Errorf("%s: TIME_WAIT %+v with %d keep-alive connections", name, r.TimeWait, r.KeepAliveConns)
	}
	// A TIME_WAIT entry is compressed: 24 bytes and its share of the
	// table's index (docs/timewait.md), no control block.
	if r.TimeWaitBytes < 24 || r.TimeWaitBytes > 64 {
		t.Errorf("%s: %v bytes per TIME_WAIT entry: want a compressed entry, at most 64 bytes", name, r.TimeWaitBytes)
	}
	if r.ShortConns+r.KeepAliveConns != cfg.Conns && !(cfg.Conns == 0 && r.Conns == DefaultConns) {
		t.Errorf("%s: %d short + %d keep-alive connections of %d", name, r.ShortConns, r.KeepAliveConns, r.Conns)
	}
}

func TestHTTPDemoServesBothFamiliesWithoutErrors(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cfg := short(Config{IPv6: v6})
		r, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		checkHealthyHTTP(t, name, cfg, r)
		if r.ShortConns != DefaultConns/2 || r.KeepAliveConns != DefaultConns/2 {
			t.Errorf("%s: default mix: %d short, %d keep-alive", name, r.ShortConns, r.KeepAliveConns)
		}
	}
}

func TestHTTPDemoMixesAndBodies(t *testing.T) {
	for _, cfg := range []Config{
		{Conns: 8, Mix: "1:0"},                      // short connections only
		{Conns: 8, Mix: "0:1", Requests: 3},         // keep-alive connections that cycle fast
		{Conns: 4, Mix: "1:3", Path: "/?size=5000"}, // responses over several segments
		{Conns: 1, Mix: "0:1", Path: "/?size=0"},    // empty bodies
	} {
		cfg = short(cfg)
		r, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkHealthyHTTP(t, cfg.Mix+" "+cfg.Path, cfg, r)
	}
}

func TestHTTPDemoReportsProgress(t *testing.T) {
	var got []Progress
	cfg := Config{Duration: 1700 * time.Millisecond, Warmup: 50 * time.Millisecond, Conns: 4}
	r, err := Run(context.Background(), cfg, func(p Progress) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 1 || got[0].Rate <= 0 || got[0].ConnsPerSec <= 0 || got[0].Errors != 0 || got[0].Elapsed < time.Second {
		t.Fatalf("progress %+v over %v", got, r.Duration)
	}
}

func TestPingDemoRunsBothFamiliesWithoutLoss(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		r, err := Run(context.Background(), short(Config{Mode: ModePing, IPv6: v6}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Mode != ModePing || r.Replies == 0 || r.Lost != 0 || r.Errors != 0 || r.ServerDrops != 0 || r.ClientDrops != 0 {
			t.Fatalf("v6=%v: %+v", v6, r)
		}
		// Requests in flight when measuring starts or stops are answered
		// outside the window they were sent in: at most a window either way.
		if d := int64(r.Sent) - int64(r.Replies); d > DefaultWindow || d < -DefaultWindow {
			t.Fatalf("v6=%v: sent %d, replies %d: more than a window apart", v6, r.Sent, r.Replies)
		}
		if l := r.Latency; !(l.P50 > 0 && l.P50 <= l.P99 && l.P99 <= l.Max) {
			t.Fatalf("v6=%v: percentiles out of order: %+v", v6, r)
		}
	}
}

func TestDemoRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Mode: "udp"}, {Duration: -time.Second}, {Timeout: -time.Second},
		{Conns: MaxConns + 1}, {Conns: -1}, {Requests: -1},
		{Mix: "1"}, {Mix: "0:0"}, {Mix: "a:b"}, {Mix: "-1:2"},
		{Path: "nope"}, {Path: "/a b"},
		{Mode: ModePing, Window: 1000}, {Mode: ModePing, Size: 8},
	} {
		if err := CheckConfig(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
		if _, err := Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("%+v: Run accepted it", cfg)
		}
	}
}

func TestDemoStopsWhenContextEnds(t *testing.T) {
	for _, mode := range []string{ModeHTTP, ModePing} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := Run(ctx, Config{Mode: mode, Duration: time.Hour, Warmup: time.Millisecond}, nil)
		cancel()
		if err == nil {
			t.Fatalf("%s: no error from a cancelled run", mode)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: run did not stop with its context", mode)
		}
	}
}

func TestSplitConns(t *testing.T) {
	for _, tc := range []struct {
		n           int
		mix         string
		short, keep int
	}{
		{64, "1:1", 32, 32}, {64, "1:0", 64, 0}, {64, "0:1", 0, 64}, {5, "1:1", 3, 2},
		{4, "1:3", 1, 3}, {10, "1:100", 1, 9}, {10, "100:1", 9, 1}, {1, "1:1", 1, 0},
	} {
		s, k := SplitConns(tc.n, tc.mix)
		if s != tc.short || k != tc.keep {
			t.Errorf("SplitConns(%d, %q) = %d, %d; want %d, %d", tc.n, tc.mix, s, k, tc.short, tc.keep)
		}
	}
}

func TestTimeWaitBytesMeasuresTheCompressedEntry(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.MaxTCPTW = 2048
	small, err := TimeWaitBytes(cfg, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SendSpace, cfg.RecvSpace = 1<<20, 1<<20
	big, err := TimeWaitBytes(cfg, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// A 24-byte entry and its share of the index and of the table's
	// reserved room, whatever the buffers: the connection is freed on
	// entering TIME_WAIT (its control block and buffers go back to the
	// shard for reuse, not one set per entry: 2 MiB each here).
	if small < 24 || small > 64 || big < 24 || big > 64 {
		t.Fatalf("%v and %v bytes per TIME_WAIT entry with 96 KiB and 2 MiB of buffers: want 24..64", small, big)
	}
	if _, err := TimeWaitBytes(cfg, 2049); err == nil {
		t.Fatal("a probe beyond maxtcptw was accepted")
	}
	t.Logf("%.1f and %.1f bytes per TIME_WAIT entry", small, big)
}
