package tcp

import (
	"testing"
	"unsafe"
)

// An idle connection is its control block (docs/architecture.md: 768
// bytes of heap, one of the runtime's size classes). A field added past it
// puts every connection in the next class, 896 bytes: fill the padding
// first (the ECN flags sit where the flags' alignment left room).
func TestConnControlBlockIs768Bytes(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 768 {
		t.Fatalf("Conn is %d bytes, more than the 768 of its size class", n)
	}
}
