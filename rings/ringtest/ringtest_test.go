package ringtest_test

import (
	"testing"
	"time"

	"github.com/pollstack/pollstack/rings"
	"github.com/pollstack/pollstack/rings/ringtest"
)

func TestPairSendRecvAll(t *testing.T) {
	a, b := ringtest.Pair(t, rings.MemConfig{Frames: 8, WireSlots: 128})
	var want []string
	for i := 0; i < 100; i++ {
		want = append(want, string(rune('a'+i%26))+"-frame")
	}
	for _, w := range want {
		ringtest.Send(t, a, []byte(w))
	}
	ringtest.SendAll(t, b, []byte("x"), []byte("yz"))
	got := ringtest.RecvAll(b)
	if len(got) != len(want) {
		t.Fatalf("RecvAll: %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("frame %d: %q, want %q", i, got[i], want[i])
		}
	}
	if got := ringtest.RecvAll(a); len(got) != 2 || string(got[1]) != "yz" {
		t.Fatalf("b→a: %q", got)
	}
	if a.Pool().Free() != 8 || b.Pool().Free() != 8 {
		t.Fatalf("pools: %d and %d free", a.Pool().Free(), b.Pool().Free())
	}
	if got := ringtest.RecvAll(a); got != nil {
		t.Fatalf("RecvAll of an idle link: %q", got)
	}
}

func TestPairClosesOnCleanup(t *testing.T) {
	var a *rings.MemLink
	t.Run("inner", func(t *testing.T) {
		a, _ = ringtest.Pair(t, rings.MemConfig{Frames: 4, WireSlots: 4})
	})
	start := time.Now()
	a.Wait(time.Second) // a closed link does not wait
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("the pair was not closed when the test ended")
	}
}

func TestClock(t *testing.T) {
	var c ringtest.Clock
	if c.Now() != 0 {
		t.Fatalf("zero Clock: %d", c.Now())
	}
	if got := c.Advance(time.Millisecond); got != 1e6 || c.Now() != 1e6 {
		t.Fatalf("Advance(1ms): %d", got)
	}
	c.Set(42)
	if c.Now() != 42 {
		t.Fatalf("Set(42): %d", c.Now())
	}
}
