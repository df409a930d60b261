package netconn

import (
	"testing"
)

func bench(b *testing.B, mk func() (*Pair, error)) {
	p, err := mk()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := RoundTrips(p.Conn, 64, 100); err != nil { // warm up
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := RoundTrips(p.Conn, 64, b.N); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEcho64 is a 64-byte Write+Read echo round trip through
// pollstack's net.Conn over the in-memory link, and over the kernel's TCP
// loopback: go test ./perf/internal/netconn -bench Echo64.
func BenchmarkEcho64(b *testing.B) {
	b.Run("pollstack", func(b *testing.B) { bench(b, Pollstack) })
	b.Run("kernel", func(b *testing.B) { bench(b, Kernel) })
}

// Both echo paths return what was sent.
func TestEchoPaths(t *testing.T) {
	for name, mk := range map[string]func() (*Pair, error){"pollstack": Pollstack, "kernel": Kernel} {
		p, err := mk()
		if err != nil {
			t.Fatal(name, err)
		}
		if err := RoundTrips(p.Conn, 64, 1000); err != nil {
			t.Fatal(name, err)
		}
		p.Close()
	}
}
