package cores

import (
	"encoding/binary"
	"testing"
)

func TestHandoffRejectsBadSizes(t *testing.T) {
	for _, n := range []int{0, 1000, 4095, 6000, MinHandoffBytes / 2} {
		if _, err := NewHandoff(n); err == nil {
			t.Errorf("NewHandoff(%d) accepted", n)
		}
	}
	r, err := NewHandoff(8192)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reserve(r.MaxRecord()+1) != nil || r.Reserve(-1) != nil {
		t.Fatal("Reserve accepted a record longer than MaxRecord")
	}
	if r.Reserve(r.MaxRecord()) == nil {
		t.Fatal("Reserve refused MaxRecord on an empty ring")
	}
}

// Records of every size come out in order with their contents, across many
// wraps of the buffer; a full ring refuses and then accepts again once the
// consumer has released room.
func TestHandoffOrderAcrossWraps(t *testing.T) {
	r, err := NewHandoff(MinHandoffBytes)
	if err != nil {
		t.Fatal(err)
	}
	next, want := 0, 0
	produced := 0
	for round := 0; round < 2000; round++ {
		// Fill until refused.
		for {
			n := 1 + (next*37)%r.MaxRecord()
			b := r.Reserve(n)
			if b == nil {
				break
			}
			if len(b) != n {
				t.Fatalf("Reserve(%d) gave %d bytes", n, len(b))
			}
			fill(b, next)
			r.Commit()
			next++
			produced++
		}
		if round == 0 && r.Peek() != nil {
			t.Fatal("a committed record was visible before Publish")
		}
		r.Publish()
		// Consume a few, or all on odd rounds.
		for k := 0; round%2 == 1 || k < 3; k++ {
			b := r.Peek()
			if b == nil {
				break
			}
			if n := 1 + (want*37)%r.MaxRecord(); len(b) != n || !check(b, want) {
				t.Fatalf("record %d: %d bytes, want %d, contents ok %v", want, len(b), n, check(b, want))
			}
			r.Release()
			want++
		}
		r.Done()
	}
	if produced < 2000 || want < produced-MinHandoffBytes/64 {
		t.Fatalf("produced %d, consumed %d", produced, want)
	}
}

func fill(b []byte, seq int) {
	for i := range b {
		b[i] = byte(seq + i)
	}
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, uint32(seq))
	}
}

func check(b []byte, seq int) bool {
	if len(b) >= 4 {
		if binary.LittleEndian.Uint32(b) != uint32(seq) {
			return false
		}
		b = b[4:]
		for i := range b {
			if b[i] != byte(seq+i+4) {
				return false
			}
		}
		return true
	}
	for i := range b {
		if b[i] != byte(seq+i) {
			return false
		}
	}
	return true
}

// One producer and one consumer goroutine: every record arrives once, in
// order, intact (run with -race to check the publication order).
func TestHandoffConcurrent(t *testing.T) {
	r, err := NewHandoff(16384)
	if err != nil {
		t.Fatal(err)
	}
	const total = 200000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := 0; seq < total; {
			n := 4 + (seq*131)%1500
			b := r.Reserve(n)
			if b == nil {
				r.Publish()
				continue
			}
			fill(b, seq)
			r.Commit()
			seq++
			if seq%16 == 0 {
				r.Publish()
			}
		}
		r.Publish()
	}()
	for want := 0; want < total; {
		b := r.Peek()
		if b == nil {
			r.Done()
			continue
		}
		if n := 4 + (want*131)%1500; len(b) != n || !check(b, want) {
			t.Fatalf("record %d: %d bytes (want %d), contents ok %v", want, len(b), n, check(b, want))
		}
		r.Release()
		want++
		if want%8 == 0 {
			r.Done()
		}
	}
	<-done
	r.Done()
	if r.Pending() {
		t.Fatal("records left after the consumer took them all")
	}
}

func TestHandoffAllocatesNothing(t *testing.T) {
	r, err := NewHandoff(8192)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		b := r.Reserve(100)
		b[0] = 1
		r.Commit()
		r.Publish()
		if r.Peek() == nil {
			panic("empty")
		}
		r.Release()
		r.Done()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record", allocs)
	}
}

func BenchmarkHandoff1500(b *testing.B) {
	r, _ := NewHandoff(1 << 17)
	src := make([]byte, 1500)
	b.SetBytes(1500)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(r.Reserve(len(src)), src)
		r.Commit()
		r.Publish()
		p := r.Peek()
		_ = p[0]
		r.Release()
		r.Done()
	}
}
