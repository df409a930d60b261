package cores

import (
	"testing"

	"github.com/pollstack/pollstack/mono"
)

// A pinned loop's thread runs at the nice value SetNice gave it, and
// only that thread does: the process's other threads keep theirs. Raising
// a nice value needs no privilege, so the test runs anywhere.
func TestPinnedLoopRunsAtItsNiceValue(t *testing.T) {
	before, err := Nice()
	if err != nil {
		t.Fatal(err)
	}
	if before > 16 {
		t.Skipf("the test runs at nice %d: no room above it", before)
	}
	l := NewLoop(0, true, &countingWorker{}, IdlePolicy{})
	l.SetNice(before + 3)
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	var got int
	var gotErr error
	if err := l.Call(func(now mono.Time) { got, gotErr = Nice() }); err != nil {
		t.Fatal(err)
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if got != before+3 {
		t.Errorf("the loop's thread runs at nice %d, want %d", got, before+3)
	}
	if now, _ := Nice(); now != before {
		t.Errorf("the test's thread is at nice %d after the loop started, want %d as before", now, before)
	}
}
