package pps

import (
	"testing"

	"github.com/pollstack/pollstack/rings"
)

// newPair returns the two ends of an in-memory link.
func newPair(t testing.TB) (a, b rings.Link) {
	t.Helper()
	la, lb, err := rings.NewMemPair(rings.MemConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	return la, lb
}

// dropLink takes every frame and puts it back into the pool at once.
type dropLink struct{ rings.Link }

func (l dropLink) Transmit(descs []rings.Desc) int {
	for _, d := range descs {
		l.Pool().Put(d.Addr)
	}
	return len(descs)
}
