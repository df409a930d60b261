package engine

import (
	"hash/maphash"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// Neighbour cache parameters (Linux's defaults where it has one).
const (
	// NeighSlots is the size of a core's neighbour table (power of two).
	NeighSlots = 1024
	// NeighMaxEntries bounds live entries so probing stays short.
	NeighMaxEntries = NeighSlots * 3 / 4
	// NeighPending is how many frames may wait for one unresolved neighbour.
	NeighPending = 16
	// NeighRetrans is the time between solicitations.
	NeighRetrans = time.Second
	// NeighMaxProbes is the number of solicitations before giving up.
	NeighMaxProbes = 3
	// NeighReachable is how long a confirmed entry is used without asking again.
	NeighReachable = 30 * time.Second
	// NeighSolicitRate is the default bound on the ARP requests and
	// neighbour solicitations a core sends a second
	// (CoreConfig.SolicitRate), in bursts of a tenth of a second's worth.
	// Each frame sent to an unknown on-link address costs a broadcast (or
	// multicast) to the whole link: without a bound, a flood from forged
	// on-link sources turns every packet into a solicitation, which costs
	// the core a transmit and every host on the link a receive. A frame for
	// a new neighbour that finds the budget spent is dropped and counted
	// (solicit_limit); its sender's retransmission tries again. New
	// neighbours may not take the last quarter of a burst, so the retries
	// and checks of neighbours already in the table go on.
	NeighSolicitRate = 1000
)

// solicitBudget is a core's token bucket for solicitations.
type solicitBudget struct {
	every  time.Duration // one token is earned every this long; 0: no bound
	burst  int
	tokens int
	at     mono.Time // the instant tokens were last counted up to
}

// init sets the budget to rate a second (NeighSolicitRate when 0, no
// bound when negative), full.
func (b *solicitBudget) init(rate int) {
	if rate == 0 {
		rate = NeighSolicitRate
	}
	if rate < 0 {
		*b = solicitBudget{}
		return
	}
	b.every = time.Second / time.Duration(rate)
	b.burst = max(4, rate/10)
	b.tokens = b.burst
}

// take spends a token for a solicitation of a neighbour already in the
// table, counting up the ones earned since the last call first.
func (b *solicitBudget) take(now mono.Time) bool { return b.takeAbove(now, 0) }

// takeNew is take for a new neighbour: it leaves the last quarter of the
// burst.
func (b *solicitBudget) takeNew(now mono.Time) bool { return b.takeAbove(now, b.burst/4) }

func (b *solicitBudget) takeAbove(now mono.Time, keep int) bool {
	if b.every == 0 {
		return true
	}
	if now > b.at {
		if n := int(now.Sub(b.at) / b.every); n > 0 {
			b.tokens = min(b.burst, b.tokens+n)
			b.at = b.at.Add(time.Duration(n) * b.every)
			if b.tokens == b.burst {
				b.at = now
			}
		}
	}
	if b.tokens <= keep {
		return false
	}
	b.tokens--
	return true
}

type neighState uint8

const (
	neighFree       neighState = iota
	neighIncomplete            // solicited, no answer yet; frames wait
	neighReachable             // confirmed, usable until expires
	neighStale                 // usable, but past its time: solicited again, frames still go
)

type neighEntry struct {
	ip       [16]byte // IPv4 as ::ffff:a.b.c.d
	mac      [6]byte
	state    neighState
	probes   uint8
	npending uint8
	expires  mono.Time // reachable: until; incomplete: next solicitation
	// The frames waiting for it, first and last, in the core's pendQueue;
	// valid while npending > 0.
	head, tail int32
}

// neighTable is an open-addressing hash table with linear probing and
// backward-shift deletion. Owned by one core; never allocates after creation.
//
// Its keys are addresses a peer chooses (any source on a connected prefix,
// 2^64 of them in an IPv6 /64), so it is keyed: hash/maphash (the runtime's
// keyed hash, as Go's own maps and tw's index use) under a seed made when
// the table is, which no one outside knows; 10 ns a lookup here against 17
// for SipHash-2-4, on every frame sent. An unkeyed hash
// lets an attacker pick addresses that share one home slot and turn every
// lookup into a walk along all of them (hash flooding).
type neighTable struct {
	slots   []neighEntry
	n       int
	probing int          // entries with a solicitation outstanding (timer work exists)
	seed    maphash.Seed // the hash's secret
}

func newNeighTable() *neighTable {
	return &neighTable{slots: make([]neighEntry, NeighSlots), seed: maphash.MakeSeed()}
}

// hash returns ip's hash under the table's secret.
func (t *neighTable) hash(ip *[16]byte) uint64 { return maphash.Bytes(t.seed, ip[:]) }

// lookup returns the entry for ip, or nil.
func (t *neighTable) lookup(ip *[16]byte) *neighEntry {
	if i := t.find(ip); i >= 0 {
		return &t.slots[i]
	}
	return nil
}

// find returns the slot index of ip, or -1.
func (t *neighTable) find(ip *[16]byte) int {
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(ip) & mask; ; i = (i + 1) & mask {
		e := &t.slots[i]
		if e.state == neighFree {
			return -1
		}
		if e.ip == *ip {
			return int(i)
		}
	}
}

// insert returns the entry for ip, creating a free-state entry if needed; nil
// when the table is full.
func (t *neighTable) insert(ip *[16]byte) *neighEntry {
	if e := t.lookup(ip); e != nil {
		return e
	}
	if t.n >= NeighMaxEntries {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(ip) & mask; ; i = (i + 1) & mask {
		e := &t.slots[i]
		if e.state == neighFree {
			*e = neighEntry{ip: *ip}
			t.n++
			return e
		}
	}
}

// remove deletes e, shifting later entries of its probe run back.
func (t *neighTable) remove(e *neighEntry) {
	mask := uint64(len(t.slots) - 1)
	idx := t.find(&e.ip)
	if idx < 0 {
		return
	}
	i := uint64(idx)
	if e.probes > 0 {
		t.probing--
	}
	t.slots[i] = neighEntry{}
	t.n--
	for j := (i + 1) & mask; t.slots[j].state != neighFree; j = (j + 1) & mask {
		home := t.hash(&t.slots[j].ip) & mask
		// Move slot j into the hole at i if its home is not in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)) {
			t.slots[i] = t.slots[j]
			t.slots[j] = neighEntry{}
			i = j
		}
	}
}
