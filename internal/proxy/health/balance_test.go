package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/balance"
	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/mono"
)

func TestFromConfig(t *testing.T) {
	h := config.Health{Type: "tcp", Inter: 500 * ms, Timeout: 300 * ms, Rise: 4, Fall: 5}
	want := Config{Inter: 500 * ms, Timeout: 300 * ms, Rise: 4, Fall: 5}
	if got := FromConfig(h); got != want {
		t.Fatalf("FromConfig = %+v, want %+v", got, want)
	}
	if got := New(FromConfig(config.Health{Type: "tcp", Inter: config.DefaultInter, Rise: config.DefaultRise, Fall: config.DefaultFall}), 1, 0, 0).Config(); got != New(Config{}, 1, 0, 0).Config() {
		t.Fatalf("the config's defaults %+v are not the checker's", got)
	}
}

// TestWithBalancer: the checker's notifications drive a balance.Set; a
// dead backend leaves rotation within 2s at inter 500ms fall 3 (silent:
// 1.5s + timeout 500ms), at once with passive counting, and comes back.
func TestWithBalancer(t *testing.T) {
	var bs []balance.Backend
	for i := 0; i < 4; i++ {
		bs = append(bs, balance.Backend{Name: fmt.Sprintf("198.18.0.%d:80", i+1), Weight: 1})
	}
	set, err := balance.NewSet(bs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := balance.New(balance.RoundRobin, set, balance.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, Config{Inter: 500 * ms, Timeout: 500 * ms, Fall: 3, Rise: 2}, 4, 9)
	s.c.SetNotify(func(i int, up bool, _ mono.Time) { set.SetUp(i, up) })
	s.run(2 * time.Second)

	s.mode[2] = silent
	start := s.now
	at := s.until(3*time.Second, func() bool { return !set.Up(2) })
	if d := at.Sub(start); d > 2*time.Second {
		t.Fatalf("silent backend out of rotation after %v, want within 2s", d)
	}
	for k := uint64(0); k < 100; k++ {
		if i, ok := b.Pick(k); !ok || i == 2 {
			t.Fatalf("Pick gave %d, %v with backend 2 down", i, ok)
		}
	}
	s.mode[2] = alive
	s.until(2*time.Second, func() bool { return set.Up(2) })

	// Passive: three refused connects, and it is out at once.
	s.mode[1] = refuse
	for k := 0; k < 3; k++ {
		s.c.Passive(1, false, s.now)
	}
	if set.Up(1) {
		t.Fatal("backend 1 in rotation after fall refused connects")
	}
}
