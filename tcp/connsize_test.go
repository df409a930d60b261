package tcp

import (
	"testing"
	"unsafe"
)

// An idle connection is mostly its control block, 256 to a slab
// (connslab.go): every byte of it is a megabyte at a million connections.
// A field added past the budget needs a hole filled or a field narrowed
// first (the ECN flags sit where the flags' alignment left room).
func TestConnControlBlockSize(t *testing.T) {
	const budget = 800
	if n := unsafe.Sizeof(Conn{}); n > budget {
		t.Fatalf("Conn is %d bytes, more than its budget of %d", n, budget)
	}
}
