package load

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/apps"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// Two engines over the in-memory link on real loops (not pinned), the way
// the bench command runs: the generator rides on the client engine's link.
func TestRunOverEngines(t *testing.T) {
	for _, mode := range []Mode{RPS, CPS} {
		la, lb, err := rings.NewMemPair(rings.MemConfig{Frames: 4096})
		if err != nil {
			t.Fatal(err)
		}
		tc := tcp.DefaultConfig()
		srv, err := engine.New(engine.Config{MAC: srvMAC, Addrs: []netip.Prefix{srv4, srv6}, CPUs: []int{0}, TCP: &tc,
			Listen: []engine.ListenSpec{{Port: port, Handler: func(int) tcp.Handler { h, _ := apps.New("http"); return h }}}}, []rings.Link{la})
		if err != nil {
			t.Fatal(err)
		}
		hook := Hook(lb, nil)
		cli, err := engine.New(engine.Config{MAC: cliMAC, Addrs: []netip.Prefix{cli4, cli6}, CPUs: []int{1}, TCP: &tc}, []rings.Link{hook})
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cli.Cores()[0].TCP(), Config{Mode: mode, Conns: 8, Local: cli6.Addr(), Remote: netip.AddrPortFrom(srv6.Addr(), port)})
		if err != nil {
			t.Fatal(err)
		}
		hook.SetGen(g)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		var ticks int
		r, err := Run(context.Background(), cli.Loops(), []*Gen{g}, RunConfig{Warmup: 100 * time.Millisecond, Duration: 1100 * time.Millisecond,
			Timeout: 3 * time.Second, Second: func(Second) { ticks++ }})
		cli.Stop()
		srv.Stop()
		la.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.ErrorTotal != 0 {
			t.Errorf("%v: errors %v", mode, &r.Errors)
		}
		n := r.Requests
		if mode == CPS {
			n = r.Connections
			if d := int64(r.Requests) - int64(r.Connections); d < -8 || d > 8 {
				t.Errorf("cps: %d requests, %d connections", r.Requests, r.Connections)
			}
		}
		if n == 0 || r.Hist.Count() != r.Requests || r.Latency.P99 <= 0 || r.Latency.Max < r.Latency.P99 {
			t.Fatalf("%v: report %+v", mode, r)
		}
		if got := float64(n) / r.Duration.Seconds(); got != r.Rate || len(r.PerCore) != 1 || r.PerCore[0] != r.Rate {
			t.Errorf("%v: rate %v, per core %v, want %v", mode, r.Rate, r.PerCore, got)
		}
		if ticks == 0 || ticks != len(r.Seconds) {
			t.Errorf("%v: %d ticks, %d seconds", mode, ticks, len(r.Seconds))
		}
		var js map[string]any
		b, _ := json.Marshal(r)
		if err := json.Unmarshal(b, &js); err != nil || js["errors"] == nil || js["latency"] == nil {
			t.Errorf("%v: json %s: %v", mode, b, err)
		}
		var svg bytes.Buffer
		if err := WritePlot(&svg, &r, "test"); err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil || !strings.Contains(svg.String(), "<polyline") {
			t.Errorf("%v: plot is not SVG with lines: %v", mode, err)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range [][2]float64{{0, 1}, {0.3, 0.5}, {1, 1}, {1.1, 2}, {3, 5}, {7, 10}, {120000, 200000}} {
		if got := niceCeil(c[0]); got != c[1] {
			t.Errorf("niceCeil(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}
