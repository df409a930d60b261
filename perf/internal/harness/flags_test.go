package harness

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	var out strings.Builder
	fs := NewFlagSet("tool", "usage: tool\n", &out)
	if err := Check(fs, NoArgs(nil), Rounds(1), Duration(2*time.Second), Warmup(0), Conns(10000), CPU("cpu", 4095)); err != nil || out.Len() != 0 {
		t.Fatalf("good flags: %v, %q", err, out.String())
	}
	err := Check(fs, nil, Conns(0), Rounds(0))
	if err == nil || err.Error() != "tool: --conns 0: want 1..10000" || !strings.HasPrefix(out.String(), "tool: --conns 0: want 1..10000\nusage: tool\n") {
		t.Fatalf("the first bad flag: %v, %q", err, out.String())
	}
	for _, err := range []error{NoArgs([]string{"x"}), Rounds(0), Duration(1500 * time.Millisecond), Warmup(-time.Second), CPU("gen-cpu", -1)} {
		if err == nil {
			t.Errorf("a bad value passed")
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote([]string{"wrk", "-H", "Connection: close", "http://x/"}); got != "wrk -H 'Connection: close' http://x/" {
		t.Errorf("Quote = %q", got)
	}
}
