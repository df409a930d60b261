package tcp

import (
	"math/rand/v2"
	"testing"
)

// checkSlabs verifies the shard's slab list: every listed slab has a free
// slot and knows its place, and at most one listed slab is wholly free.
func checkSlabs(t *testing.T, s *Shard) {
	t.Helper()
	empty := 0
	for i, sl := range s.partial {
		if sl.free.full() {
			t.Fatalf("slab %d is listed with no free slot", i)
		}
		if sl.pos != i {
			t.Fatalf("slab %d thinks it is at %d", i, sl.pos)
		}
		if sl.free == slabAllFree {
			empty++
		}
	}
	if empty != s.emptySlabs || empty > 1 {
		t.Fatalf("%d wholly free slabs listed, the shard counts %d (at most 1 may stay)", empty, s.emptySlabs)
	}
}

func TestConnSlabsReuseHolesAndLetGoOfFreeSlabs(t *testing.T) {
	s := &Shard{}
	live := map[*Conn]bool{}
	var order []*Conn
	for range 1000 {
		c := s.allocConn()
		if live[c] {
			t.Fatalf("a live control block handed out twice")
		}
		live[c] = true
		order = append(order, c)
	}
	checkSlabs(t, s)
	slabs := map[*connSlab]bool{}
	for c := range live {
		slabs[c.slab] = true
	}
	if want := (1000 + slabConns - 1) / slabConns; len(slabs) != want {
		t.Fatalf("1000 blocks in %d slabs, want %d", len(slabs), want)
	}
	// Every other one back: the holes are filled before any new slab.
	for i := 0; i < len(order); i += 2 {
		s.releaseConn(order[i])
		delete(live, order[i])
	}
	checkSlabs(t, s)
	for range 500 {
		c := s.allocConn()
		if !slabs[c.slab] {
			t.Fatalf("a new slab was made while the old ones had holes")
		}
		if live[c] {
			t.Fatalf("a live control block handed out twice")
		}
		live[c] = true
	}
	checkSlabs(t, s)
	// All back: one free slab stays for the next connection, the rest go.
	for c := range live {
		s.releaseConn(c)
	}
	checkSlabs(t, s)
	if len(s.partial) != 1 {
		t.Fatalf("after every block came back, %d slabs kept, want 1", len(s.partial))
	}
}

// A random walk of takes and gives keeps the list consistent and never
// hands out a block twice.
func TestConnSlabsRandomWalk(t *testing.T) {
	s := &Shard{}
	r := rand.New(rand.NewPCG(1, 2))
	var live []*Conn
	seen := map[*Conn]bool{}
	for step := range 200_000 {
		// Drift up to a few thousand and back down to zero.
		take := r.IntN(100) < 55
		if step > 100_000 {
			take = r.IntN(100) < 40
		}
		if take || len(live) == 0 {
			c := s.allocConn()
			if seen[c] {
				t.Fatalf("step %d: a live block handed out twice", step)
			}
			if c.state != 0 || c.shard != nil {
				t.Fatalf("step %d: a block not zeroed", step)
			}
			c.state = Established // dirty it, as a connection would
			seen[c] = true
			live = append(live, c)
		} else {
			i := r.IntN(len(live))
			c := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			delete(seen, c)
			s.releaseConn(c)
		}
		if step%997 == 0 {
			checkSlabs(t, s)
		}
	}
	for _, c := range live {
		s.releaseConn(c)
	}
	checkSlabs(t, s)
	if len(s.partial) > 1 {
		t.Fatalf("%d slabs kept with nothing live", len(s.partial))
	}
}
