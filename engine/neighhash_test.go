package engine

import "testing"

// oldNeighHash is the neighbour table's former hash, unkeyed.
func oldNeighHash(ip *[16]byte) uint64 {
	a := leUint64(ip[:8])
	b := leUint64(ip[8:])
	h := (a ^ (b * 0x9e3779b97f4a7c15)) * 0xff51afd7ed558ccd
	return h ^ (h >> 29)
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// inverse returns the inverse of odd x modulo 2^64 (Newton's iteration).
func inverse(x uint64) uint64 {
	y := x
	for i := 0; i < 6; i++ {
		y *= 2 - x*y
	}
	return y
}

// collidingIPv6 returns n addresses in 2001:2::/64 whose former hash is
// h<<10 for h = 1..n: all in slot 0 of a 1024-slot table. The former hash
// is invertible, so an attacker picks the interface identifiers.
func collidingIPv6(n int) [][16]byte {
	prefix := [16]byte{0x20, 0x01, 0, 2}
	a := leUint64(prefix[:8])
	var out [][16]byte
	for h := uint64(1); len(out) < n; h++ {
		x := h << 10
		x ^= x>>29 ^ x>>58 // undo h ^= h>>29
		u := x * inverse(0xff51afd7ed558ccd)
		b := (u ^ a) * inverse(0x9e3779b97f4a7c15)
		ip := prefix
		for i := 0; i < 8; i++ {
			ip[8+i] = byte(b >> (8 * i))
		}
		out = append(out, ip)
	}
	return out
}

// probes counts the slots a lookup of ip reads.
func probes(t *neighTable, ip *[16]byte) int {
	mask := uint64(len(t.slots) - 1)
	n := 1
	for i := t.hash(ip) & mask; t.slots[i].state != neighFree && t.slots[i].ip != *ip; i = (i + 1) & mask {
		n++
	}
	return n
}

// 700 IPv6 addresses chosen to share one slot under the former unkeyed hash
// spread out under the keyed one: lookups, present or absent, stay short.
func TestNeighbourHashResistsChosenCollisions(t *testing.T) {
	ips := collidingIPv6(700)
	for i := range ips {
		if oldNeighHash(&ips[i])&(NeighSlots-1) != 0 {
			t.Fatalf("address %d is not in slot 0 under the former hash", i)
		}
	}
	tb := newNeighTable()
	for i := range ips {
		tb.insert(&ips[i]).state = neighReachable
	}
	total, worst := 0, 0
	for i := range ips {
		p := probes(tb, &ips[i])
		total += p
		worst = max(worst, p)
	}
	absent := collidingIPv6(1400)[700:]
	missTotal := 0
	for i := range absent {
		if tb.lookup(&absent[i]) != nil {
			t.Fatal("an absent address found")
		}
		missTotal += probes(tb, &absent[i])
	}
	// Linear probing at 700/1024 averages about 2 probes a hit and 6 a
	// miss; the former hash made it 350 and 700.
	if mean, missMean := float64(total)/700, float64(missTotal)/700; mean > 4 || missMean > 15 || worst > 100 {
		t.Fatalf("probes: %.1f a hit (worst %d), %.1f a miss", mean, worst, missMean)
	}
	// Two tables have different seeds: what collides in one says nothing of the other.
	if other := newNeighTable(); other.seed == tb.seed {
		t.Fatal("two tables with one seed")
	}
}
