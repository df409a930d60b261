package engine

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/tcp"
)

// sysctlEngine is a two-core engine with TCP over in-memory links.
func sysctlEngine(t *testing.T, withTCP bool) *Engine {
	t.Helper()
	var links []rings.Link
	for range 2 {
		a, _, err := rings.NewMemPair(rings.MemConfig{Frames: 256})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		links = append(links, a)
	}
	cfg := Config{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}, CPUs: []int{0, 0}}
	if withTCP {
		c := tcp.DefaultConfig()
		cfg.TCP = &c
	}
	e, err := New(cfg, links)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// shardMSL reads every core's msl on its own loop (or directly when the
// engine is not running).
func shardMSL(t *testing.T, e *Engine) []time.Duration {
	t.Helper()
	var out []time.Duration
	if err := e.onCores(func(c *Core, _ mono.Time) error {
		out = append(out, c.tcp.Config().MSL)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Before Start a change applies directly; while running through every
// core's loop; refused values change nothing on any core; concurrent
// callers are safe; after Stop a change fails.
func TestEngineSysctl(t *testing.T) {
	e := sysctlEngine(t, true)
	if err := e.SetSysctl("net.inet.tcp.msl", "5000"); err != nil {
		t.Fatal(err)
	}
	if got := shardMSL(t, e); got[0] != 5e9 || got[1] != 5e9 {
		t.Fatalf("msl before Start: %v ns on the cores", got)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if v, err := e.Sysctl("net.inet.tcp.msl"); err != nil || v != "5000" {
		t.Fatalf("msl reads %q, %v", v, err)
	}
	err := e.SetSysctl("net.inet.tcp.maxtcptw", "10")
	if err == nil || err.Error() != "net.inet.tcp.maxtcptw: 10 is below the minimum 32 (0 means automatic)" {
		t.Fatalf("maxtcptw=10: %v", err)
	}
	if v, _ := e.Sysctl("maxtcptw"); v != "8191" {
		t.Fatalf("maxtcptw %s after a refused change", v)
	}
	if err := e.SetSysctls([]SysctlSetting{{"msl", "1000"}, {"pcbcount", "1"}}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a batch with a read-only name: %v", err)
	}
	if got := shardMSL(t, e); got[0] != 5e9 || got[1] != 5e9 {
		t.Fatalf("a refused batch changed msl: %v", got)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.SetSysctl("msl", []string{"1000", "2000"}[i%2]); err != nil {
				t.Error(err)
			}
			e.Sysctl("pcbcount")
			e.Sysctls()
		}()
	}
	wg.Wait()
	if err := e.SetSysctl("msl", "1000"); err != nil {
		t.Fatal(err)
	}
	if got := shardMSL(t, e); got[0] != 1e9 || got[1] != 1e9 {
		t.Fatalf("msl while running: %v ns on the cores", got)
	}
	all := e.Sysctls()
	if len(all) != len(tcp.Sysctls()) {
		t.Fatalf("%d tunables listed", len(all))
	}
	for _, v := range all {
		if v.Name == "net.inet.tcp.pcbcount" && (v.Value != "0" || !v.ReadOnly) {
			t.Fatalf("pcbcount %+v", v)
		}
		if v.Name == "net.inet.tcp.msl" && (v.Value != "1000" || v.Unit != "ms" || v.Description == "") {
			t.Fatalf("msl %+v", v)
		}
	}
	e.Stop()
	if err := e.SetSysctl("msl", "3000"); err == nil {
		t.Fatal("a change after Stop succeeded")
	}
}

func TestEngineSysctlWithoutTCP(t *testing.T) {
	e := sysctlEngine(t, false)
	if _, err := e.Sysctl("msl"); err == nil {
		t.Fatal("Sysctl without TCP succeeded")
	}
	if err := e.SetSysctl("msl", "1000"); err == nil {
		t.Fatal("SetSysctl without TCP succeeded")
	}
	if e.Sysctls() != nil {
		t.Fatal("Sysctls without TCP listed tunables")
	}
}
