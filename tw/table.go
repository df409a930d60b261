package tw

import (
	"errors"
	"hash/maphash"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// Table is one core's TIME_WAIT entries. Owned by its core's loop; not
// safe for concurrent use.
type Table struct {
	limit    int
	reserve  int
	msl      time.Duration
	ackLimit int
	seed     maphash.Seed
	v4       store[entry4, *entry4]
	v6       store[entry6, *entry6]
	// Local addresses, referred to by entries by index.
	locals    [256][16]byte
	refs      [256]uint32
	nLocals   int   // slots of locals ever used
	lastLocal uint8 // the slot Insert used last
	stats     Stats
	ports     portCounts
	ackSec    int64
	ackCount  int
	// Entries made before msl last shrank, oldest first (msl.go).
	retired []gen
}

// NewTable returns an empty table. Its hash is keyed with a random seed, so
// that peers cannot choose 4-tuples that collide in the index.
func NewTable(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Table{limit: cfg.Limit, reserve: min(cfg.Reserve, cfg.Limit), msl: cfg.MSL, ackLimit: cfg.ACKLimit, seed: maphash.MakeSeed(), ackSec: -1}
	if t.ackLimit == 0 {
		t.ackLimit = DefaultACKLimit
	}
	return t, nil
}

// Ref names an entry found by Lookup. It is valid until the table next
// changes (Insert, Remove, Rearm, Input, Expire).
type Ref struct {
	h    uint64
	slot int32
	v6   bool
	gen  uint8 // 0: the live stores; i: retired[i-1]
}

// Len returns the number of entries.
func (t *Table) Len() int { return t.v4.live + t.v6.live + t.retiredLen() }

// Limit returns the most entries the table keeps.
func (t *Table) Limit() int { return t.limit }

// SetLimit changes the limit. Entries beyond a lowered limit stay until
// they expire, or until Insert recycles them to make room.
func (t *Table) SetLimit(n int) error {
	if err := checkLimit(n); err != nil {
		return err
	}
	t.limit = n
	return nil
}

// MSL returns msl.
func (t *Table) MSL() time.Duration { return t.msl }

// SetMSL changes msl. It applies to entries made (or re-armed) afterwards;
// the others keep the expiry they were given. When msl shrinks, the
// entries already there move to a retired generation (msl.go) so that
// new entries, which now expire earlier, leave on time.
func (t *Table) SetMSL(msl time.Duration) error {
	if msl <= 0 || msl > MaxMSL {
		return errors.New("tw: msl out of range")
	}
	if msl < t.msl {
		t.retire()
	}
	t.msl = msl
	return nil
}

// Stats returns the table's live counters.
func (t *Table) Stats() *Stats { return &t.stats }

// Bytes returns the memory the table's arrays hold (ring, index and expiry
// marks of both families), not counting the Table itself (about 5.5 KB).
func (t *Table) Bytes() int { return t.v4.bytes(24) + t.v6.bytes(36) + t.retiredBytes() }

// hash is the index hash of a 4-tuple.
func (t *Table) hash(tu *flow.Tuple) uint64 {
	if tu.BothIPv4() {
		var b [12]byte
		copy(b[0:4], tu.LocalAddr[12:])
		copy(b[4:8], tu.RemoteAddr[12:])
		b[8], b[9], b[10], b[11] = byte(tu.LocalPort>>8), byte(tu.LocalPort), byte(tu.RemotePort>>8), byte(tu.RemotePort)
		return maphash.Bytes(t.seed, b[:])
	}
	var b [36]byte
	copy(b[0:16], tu.LocalAddr[:])
	copy(b[16:32], tu.RemoteAddr[:])
	b[32], b[33], b[34], b[35] = byte(tu.LocalPort>>8), byte(tu.LocalPort), byte(tu.RemotePort>>8), byte(tu.RemotePort)
	return maphash.Bytes(t.seed, b[:])
}

// Lookup finds the entry of 4-tuple tu. It does not allocate.
func (t *Table) Lookup(tu *flow.Tuple) (Ref, bool) {
	if t.Len() == 0 {
		return Ref{}, false
	}
	h := t.hash(tu)
	if tu.BothIPv4() {
		i, ok := t.v4.find(h, tu, &t.locals)
		if !ok && len(t.retired) > 0 {
			return t.lookupRetired(h, tu)
		}
		return Ref{h: h, slot: int32(i)}, ok
	}
	i, ok := t.v6.find(h, tu, &t.locals)
	if !ok && len(t.retired) > 0 {
		return t.lookupRetired(h, tu)
	}
	return Ref{h: h, slot: int32(i), v6: true}, ok
}

// Get returns the state an entry keeps.
func (t *Table) Get(r Ref) State {
	if r.v6 {
		s := t.st6(r.gen)
		return s.ring[s.ix.pos(int(r.slot))].state()
	}
	s := t.st4(r.gen)
	return s.ring[s.ix.pos(int(r.slot))].state()
}

// Tuple returns an entry's 4-tuple.
func (t *Table) Tuple(r Ref) flow.Tuple {
	if r.v6 {
		s := t.st6(r.gen)
		return s.ring[s.ix.pos(int(r.slot))].tuple(&t.locals)
	}
	s := t.st4(r.gen)
	return s.ring[s.ix.pos(int(r.slot))].tuple(&t.locals)
}

// Expiry returns when an entry's 2MSL ends.
func (t *Table) Expiry(r Ref) mono.Time {
	if r.v6 {
		s := t.st6(r.gen)
		return s.expiry(s.ix.pos(int(r.slot)))
	}
	s := t.st4(r.gen)
	return s.expiry(s.ix.pos(int(r.slot)))
}

// expiry is the end of 2MSL for an entry made at now, rounded up to the
// expiry tick.
func (t *Table) expiry(now mono.Time) mono.Time {
	return now.Add(2 * t.msl).Ceil(expiryTick)
}

// Insert makes an entry for tu (tcp_twstart): it expires 2*msl after now.
// An entry already there for tu is replaced. When the table holds its limit
// the oldest entries are recycled first; recycled says how many. ok is
// false when no entry could be made (more than 256 distinct local
// addresses hold entries): the caller closes the connection without
// TIME_WAIT.
func (t *Table) Insert(tu *flow.Tuple, st *State, now mono.Time) (recycled int, ok bool) {
	h := t.hash(tu)
	v4 := tu.BothIPv4()
	if v4 {
		if i, found := t.v4.find(h, tu, &t.locals); found {
			t.v4.remove(t, i)
		}
	} else if i, found := t.v6.find(h, tu, &t.locals); found {
		t.v6.remove(t, i)
	}
	if len(t.retired) > 0 {
		if r, found := t.lookupRetired(h, tu); found {
			t.Remove(r)
		}
	}
	for t.Len() >= t.limit && t.recycle() {
		recycled++
	}
	local, ok := t.acquire(&tu.LocalAddr)
	if !ok {
		t.stats[Overflow]++
		return recycled, false
	}
	exp := t.expiry(now)
	t.ports.add(tu.LocalPort, st.ReusePort)
	if v4 {
		var e entry4
		e.set(tu, local, st)
		t.v4.add(t, &e, h, exp)
	} else {
		var e entry6
		e.set(tu, local, st)
		t.v6.add(t, &e, h, exp)
	}
	t.stats[Created]++
	return recycled, true
}

// recycle ends the oldest entry (tcp_tw_2msl_scan(reuse)).
func (t *Table) recycle() bool {
	if !t.recycleRetired() && !popOlder(t, &t.v4, &t.v6) {
		return false
	}
	t.stats[Recycled]++
	return true
}

// Remove ends an entry (a new connection takes its 4-tuple). It moves no
// counter: the caller counts why.
func (t *Table) Remove(r Ref) {
	if r.v6 {
		t.st6(r.gen).remove(t, int(r.slot))
	} else {
		t.st4(r.gen).remove(t, int(r.slot))
	}
	if r.gen != 0 {
		t.dropEmpty()
	}
}

// Rearm restarts an entry's 2MSL at now: it moves to the tail of the queue.
func (t *Table) Rearm(r Ref, now mono.Time) {
	if r.gen != 0 {
		t.rearmRetired(r, now)
		return
	}
	if r.v6 {
		t.v6.rearm(t, int(r.slot), r.h, t.expiry(now))
	} else {
		t.v4.rearm(t, int(r.slot), r.h, t.expiry(now))
	}
}

// Expire ends the entries whose 2MSL is over at now (tcp_tw_2msl_scan)
// and returns how many. Its cost is O(1) per entry ended.
func (t *Table) Expire(now mono.Time) int {
	n := t.v4.expire(t, now) + t.v6.expire(t, now)
	if len(t.retired) > 0 {
		n += t.expireRetired(now)
	}
	t.stats[Expired] += uint64(n)
	return n
}

// NextExpiry returns the earliest time Expire has work; ok is false when
// the table is empty.
func (t *Table) NextExpiry() (at mono.Time, ok bool) {
	if t.v4.n > 0 {
		at, ok = t.v4.marks.front().exp, true
	}
	if t.v6.n > 0 && (!ok || t.v6.marks.front().exp < at) {
		at, ok = t.v6.marks.front().exp, true
	}
	if len(t.retired) > 0 {
		at, ok = t.nextRetired(at, ok)
	}
	return at, ok
}

// acquire returns the index of a local address, adding it to the list.
func (t *Table) acquire(a *[16]byte) (uint8, bool) {
	if i := t.lastLocal; t.refs[i] > 0 && t.locals[i] == *a {
		t.refs[i]++
		return i, true
	}
	free := -1
	for i := 0; i < t.nLocals; i++ {
		if t.refs[i] == 0 {
			if free < 0 {
				free = i
			}
			continue
		}
		if t.locals[i] == *a {
			t.refs[i]++
			t.lastLocal = uint8(i)
			return uint8(i), true
		}
	}
	if free < 0 {
		if t.nLocals == len(t.locals) {
			return 0, false
		}
		free = t.nLocals
		t.nLocals++
	}
	t.locals[free] = *a
	t.refs[free] = 1
	t.lastLocal = uint8(free)
	return uint8(free), true
}

// release drops an entry's reference to local address i.
func (t *Table) release(i uint8) { t.refs[i]-- }
