package demo

import (
	"context"
	"testing"
	"time"
)

func TestDemoRunsBothFamiliesWithoutLoss(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		r, err := Run(context.Background(), Config{Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, IPv6: v6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Replies == 0 || r.Lost != 0 || r.ServerDrops != 0 || r.ClientDrops != 0 {
			t.Fatalf("v6=%v: %+v", v6, r)
		}
		// Requests in flight when measuring starts or stops are answered
		// outside the window they were sent in: at most a window either way.
		if d := int64(r.Sent) - int64(r.Replies); d > DefaultWindow || d < -DefaultWindow {
			t.Fatalf("v6=%v: sent %d, replies %d: more than a window apart", v6, r.Sent, r.Replies)
		}
		if !(r.P50 > 0 && r.P50 <= r.P99 && r.P99 <= r.Max) {
			t.Fatalf("v6=%v: percentiles out of order: %+v", v6, r)
		}
	}
}

func TestDemoRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Window: 1000}, {Size: 8}, {Duration: -time.Second}} {
		if _, err := Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestDemoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Config{Duration: time.Hour, Warmup: time.Millisecond}, nil)
	if err == nil {
		t.Fatal("no error from a cancelled run")
	}
	if time.Since(start) > time.Minute {
		t.Fatal("run did not stop with its context")
	}
}
