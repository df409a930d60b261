package harness

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// fn runs with its thread on the one CPU asked for, and the thread has its
// CPUs back afterwards.
func TestOnCPU(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	cpu := runtime.NumCPU() - 1
	var inside unix.CPUSet
	var tid int
	err := OnCPU(cpu, func() error {
		tid = unix.Gettid()
		return unix.SchedGetaffinity(0, &inside)
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside.Count() != 1 || !inside.IsSet(cpu) {
		t.Fatalf("inside: %d CPUs, CPU %d set %v", inside.Count(), cpu, inside.IsSet(cpu))
	}
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the thread kept %d CPUs, had %d", after.Count(), before.Count())
	}
	ran := false
	if err := OnCPU(-1, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("cpu -1: ran %v, %v", ran, err)
	}
}
