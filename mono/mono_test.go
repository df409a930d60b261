package mono

import (
	"testing"
	"time"
)

func TestAddSub(t *testing.T) {
	a := Time(5 * time.Second)
	b := a.Add(1500 * time.Millisecond)
	if b != Time(6500*time.Millisecond) || b.Sub(a) != 1500*time.Millisecond || a.Sub(b) != -1500*time.Millisecond {
		t.Fatalf("Add/Sub: %v, %v", b, b.Sub(a))
	}
	if !a.Before(b) || a.After(b) || !b.After(a) || b.Before(a) || a.Before(a) || a.After(a) {
		t.Fatal("Before/After")
	}
}

func TestDivCeil(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		t    Time
		div  int64
		ceil Time
	}{
		{0, 0, 0},
		{1, 0, Time(ms)},
		{Time(ms), 1, Time(ms)},
		{Time(ms) + 1, 1, Time(2 * ms)},
		{Time(2*ms) - 1, 1, Time(2 * ms)},
		{-1, -1, 0},
		{-Time(ms), -1, -Time(ms)},
		{-Time(ms) - 1, -2, -Time(ms)},
	} {
		if got := tc.t.Div(ms); got != tc.div {
			t.Errorf("%d.Div(1ms) = %d, want %d", int64(tc.t), got, tc.div)
		}
		if got := tc.t.Ceil(ms); got != tc.ceil {
			t.Errorf("%d.Ceil(1ms) = %d, want %d", int64(tc.t), int64(got), int64(tc.ceil))
		}
	}
}
