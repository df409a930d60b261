package tw

// index finds a ring position by hash: open addressing with linear probing
// in Robin Hood order, over 32-bit slots. A slot holds, from the low bits:
//
//	pos+1 (posBits)  the entry's ring position plus one; 0 marks an empty slot
//	dib   (dibBits)  its distance from its home slot
//	tag   (the rest) the top bits of its hash
//
// Robin Hood order (an element never sits behind one farther from home)
// lets a miss stop as soon as it meets a slot closer to home than its own
// probe distance, and lets a delete shift the following elements back by
// their stored distances without rehashing them. A lookup compares an entry
// only when the slot's distance and tag match its own, so it rarely reads
// the ring for anything but the entry it wants.
type index struct {
	slots   []uint32
	posBits uint
	posMask uint32
	n       int
}

const (
	dibBits    = 5
	maxDIB     = 1<<dibBits - 1
	maxPosBits = 32 - dibBits - 1 // keep at least one tag bit
)

// posBitsFor is the width of a position field for a ring of c slots.
func posBitsFor(c int) uint {
	b := uint(1)
	for 1<<b <= c { // pos+1 ≤ c < 1<<b
		b++
	}
	return b
}

// reset empties the index and sizes it for size slots and positions below 1<<posBits - 1.
func (ix *index) reset(size int, posBits uint) {
	if cap(ix.slots) >= size && cap(ix.slots) <= size+size/4 {
		ix.slots = ix.slots[:size]
		clear(ix.slots)
	} else {
		ix.slots = make([]uint32, size)
	}
	ix.posBits = posBits
	ix.posMask = 1<<posBits - 1
	ix.n = 0
}

// home is the slot a hash starts probing at (Lemire's multiply-shift range
// reduction on the hash's low 32 bits: any table size works).
func (ix *index) home(h uint64) int {
	return int((h & 0xffffffff) * uint64(len(ix.slots)) >> 32)
}

// tag is the hash's top bits that fit beside position and distance.
func (ix *index) tag(h uint64) uint32 {
	return uint32(h >> (64 - (32 - dibBits - ix.posBits)))
}

func (ix *index) dib(v uint32) uint32 { return v >> ix.posBits & maxDIB }

// pos returns the ring position held in slot i.
func (ix *index) pos(i int) int { return int(ix.slots[i]&ix.posMask) - 1 }

// insert adds ring position p under hash h. It reports false when an
// element would land farther than maxDIB from home; the index is then
// inconsistent and must be rebuilt larger.
func (ix *index) insert(h uint64, p int) bool {
	shift := ix.posBits
	v := ix.tag(h)<<(shift+dibBits) | uint32(p+1)
	d := uint32(0)
	i := ix.home(h)
	n := len(ix.slots)
	for {
		cur := ix.slots[i]
		if cur == 0 {
			ix.slots[i] = v | d<<shift
			ix.n++
			return true
		}
		if cd := cur >> shift & maxDIB; cd < d {
			ix.slots[i] = v | d<<shift
			v, d = cur&^(maxDIB<<shift), cd
		}
		if i++; i == n {
			i = 0
		}
		if d++; d > maxDIB {
			return false
		}
	}
}

// delete empties slot i, shifting the elements after it back.
func (ix *index) delete(i int) {
	n := len(ix.slots)
	one := uint32(1) << ix.posBits
	for {
		j := i + 1
		if j == n {
			j = 0
		}
		next := ix.slots[j]
		if next == 0 || ix.dib(next) == 0 {
			ix.slots[i] = 0
			break
		}
		ix.slots[i] = next - one
		i = j
	}
	ix.n--
}

// findPos returns the slot that holds ring position p, whose hash is h.
func (ix *index) findPos(h uint64, p int) int {
	want := uint32(p + 1)
	i := ix.home(h)
	n := len(ix.slots)
	for k := 0; k <= maxDIB; k++ {
		if ix.slots[i]&ix.posMask == want {
			return i
		}
		if i++; i == n {
			i = 0
		}
	}
	panic("tw: an entry is missing from the index")
}
