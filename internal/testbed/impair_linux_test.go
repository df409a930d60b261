package testbed

import (
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"100mbit", 12_500_000, true},
		{"1gbit", 125_000_000, true},
		{"1GBit", 125_000_000, true},
		{"8kbit", 1000, true},
		{"500kbps", 500_000, true},
		{"2.5mbps", 2_500_000, true},
		{"125000", 125_000, true},
		{"", 0, false},
		{"mbit", 0, false},
		{"-1mbit", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
		{"10furlongs", 0, false},
		{"9000gbit", 0, false},
	} {
		got, err := ParseRate(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if got := FormatRate(12_500_000); got != "100000000bit" {
		t.Errorf("FormatRate(12500000) = %q", got)
	}
}

func TestImpairmentValidate(t *testing.T) {
	for _, tc := range []struct {
		im Impairment
		ok bool
	}{
		{Impairment{}, true},
		{Impairment{Loss: 1, Delay: MaxDelay, Rate: minRate}, true},
		{Impairment{Loss: -0.1}, false},
		{Impairment{Loss: 1.1}, false},
		{Impairment{Delay: -time.Millisecond}, false},
		{Impairment{Delay: MaxDelay + 1}, false},
		{Impairment{Delay: time.Millisecond, Jitter: time.Millisecond}, true},
		{Impairment{Delay: time.Millisecond, Jitter: 2 * time.Millisecond}, false},
		{Impairment{Jitter: -1}, false},
		{Impairment{Rate: minRate - 1}, false},
		{Impairment{Reorder: 1, Duplicate: 1, Seed: 7}, true},
		{Impairment{Reorder: -0.01}, false},
		{Impairment{Reorder: 1.01}, false},
		{Impairment{Reorder: math.NaN()}, false},
		{Impairment{Duplicate: -0.01}, false},
		{Impairment{Duplicate: 1.01}, false},
		{Impairment{Duplicate: math.NaN()}, false},
		{Impairment{RelayRate: minRate, RelayECNMarkAbove: 1}, true},
		{Impairment{RelayRate: minRate - 1}, false},
		{Impairment{RelayECNMarkAbove: 1000}, false},
		{Impairment{RelayRate: 1e6, RelayECNMarkAbove: MaxECNMarkAbove + 1}, false},
	} {
		if err := tc.im.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.im, err, tc.ok)
		}
	}
}

// tcShow runs tc show in the bed's kernel namespace.
func tcShow(t *testing.T, b *Bed, what ...string) string {
	t.Helper()
	args := append([]string{"-n", b.NsB}, what...)
	out, err := exec.Command("tc", append(args, "dev", b.IfaceB)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Impair puts BPF filters on both hooks and a token bucket at the root of
// the kernel's veth end, replaces them on a change, and a zero Impairment
// leaves the veth as Up made it.
func TestImpairInstallsAndClears(t *testing.T) {
	requirePrivileged(t)
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("tc not installed")
	}
	name := Unique("ti")
	t.Cleanup(func() { Down(name) })
	b, err := Up(name, 1)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	clean := tcShow(t, b, "qdisc", "show")

	if err := Impair(name, Impairment{Loss: 0.2, Rate: 1_250_000}); err != nil {
		t.Fatalf("Impair: %v", err)
	}
	if q := tcShow(t, b, "qdisc", "show"); !strings.Contains(q, "qdisc tbf") || !strings.Contains(q, "rate 10Mbit") || !strings.Contains(q, "qdisc clsact") {
		t.Errorf("qdiscs after loss 0.2 rate 10mbit:\n%s", q)
	}
	for _, hook := range []string{"ingress", "egress"} {
		if f := tcShow(t, b, "filter", "show", hook); !strings.Contains(f, "bed_"+hook) || !strings.Contains(f, "direct-action") {
			t.Errorf("%s filters:\n%s", hook, f)
		}
	}

	// A change replaces: loss only on its own leaves no bucket.
	if err := Impair(name, Impairment{Loss: 0.5}); err != nil {
		t.Fatalf("Impair loss only: %v", err)
	}
	if q := tcShow(t, b, "qdisc", "show"); strings.Contains(q, "tbf") {
		t.Errorf("tbf left after a change to loss only:\n%s", q)
	}

	// Delay needs the relay: a bed without one refuses it in one line and
	// is left clean.
	err = Impair(name, Impairment{Delay: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no relay") {
		t.Errorf("Impair delay on a bed without a relay: %v, want a refusal naming the relay", err)
	}
	if q := tcShow(t, b, "qdisc", "show"); q != clean {
		t.Errorf("refused delay left\n%s\nwant\n%s", q, clean)
	}
	// So do reordering and duplication, the relay's too.
	for _, im := range []Impairment{{Reorder: 0.01}, {Duplicate: 0.01, Loss: 0.1}, {RelayRate: 1e6}} {
		if err := Impair(name, im); err == nil || !strings.Contains(err.Error(), "no relay") {
			t.Errorf("Impair %+v on a bed without a relay: %v, want a refusal naming the relay", im, err)
		}
		if q := tcShow(t, b, "qdisc", "show"); q != clean {
			t.Errorf("refused %+v left\n%s\nwant\n%s", im, q, clean)
		}
	}

	if err := Impair(name, Impairment{}); err != nil {
		t.Fatalf("Impair clear: %v", err)
	}
	if q := tcShow(t, b, "qdisc", "show"); q != clean {
		t.Errorf("after clear:\n%s\nwant as Up made it:\n%s", q, clean)
	}
	for _, hook := range []string{"ingress", "egress"} {
		if f := tcShow(t, b, "filter", "show", hook); strings.TrimSpace(f) != "" {
			t.Errorf("%s filters after clear:\n%s", hook, f)
		}
	}

	if err := Impair(Unique("ti"), Impairment{Loss: 0.1}); err == nil {
		t.Error("Impair on a bed that does not exist succeeded")
	}
}
