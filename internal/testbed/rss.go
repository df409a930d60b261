package testbed

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/pollstack/pollstack/cores"
)

// RSS is receive-side scaling as an RSS NIC does it, for the bed's kernel
// -> pollstack direction: a frame carrying TCP or UDP over IPv4 or IPv6
// goes to queue Table[toeplitz(Key, src addr, dst addr, src port, dst port)
// mod len(Table)], the 4-tuple as pollstack receives it (source the kernel's
// end). That is the engine's owner core for the flow (engine/steer.go, with
// Config.RSSKey and Config.RSSTable set to Key and Table), so on a bed with
// RSS every segment arrives on its owner's queue. SetRSS puts it on a bed.
type RSS struct {
	key    []byte
	table  []int
	queues int
	hash   *cores.RSS
}

// MaxRSSTable is the largest indirection table SetRSS takes.
const MaxRSSTable = 1 << 16

// NewRSS checks key (cores.RSSKeyLen bytes), table (a power of two long, at
// most MaxRSSTable entries, each naming a queue below queues) and queues
// (1..64, as Up) and returns the RSS they make.
func NewRSS(key []byte, table []int, queues int) (*RSS, error) {
	if queues < 1 || queues > 64 {
		return nil, fmt.Errorf("testbed: RSS over %d queues: want 1..64", queues)
	}
	if len(table) == 0 || len(table) > MaxRSSTable || len(table)&(len(table)-1) != 0 {
		return nil, fmt.Errorf("testbed: RSS indirection table of %d entries: want a power of two up to %d", len(table), MaxRSSTable)
	}
	for i, q := range table {
		if q < 0 || q >= queues {
			return nil, fmt.Errorf("testbed: RSS indirection table entry %d names queue %d of %d", i, q, queues)
		}
	}
	h, err := cores.NewRSS(key)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	return &RSS{key: bytes.Clone(key), table: append([]int(nil), table...), queues: queues, hash: h}, nil
}

// Queues returns the number of queues r spreads flows over.
func (r *RSS) Queues() int { return r.queues }

// Queue returns the queue a frame from src to dst (TCP or UDP, as
// pollstack receives it) arrives on under r, computed as engine/steer.go
// computes the owner core, or -1 when src and dst are not both IPv4 or both
// IPv6.
func (r *RSS) Queue(src, dst netip.AddrPort) int {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	var h uint32
	switch {
	case sa.Is4() && da.Is4():
		h = r.hash.HashTCP4(sa.As4(), da.As4(), src.Port(), dst.Port())
	case sa.Is6() && da.Is6():
		h = r.hash.HashTCP6(sa.As16(), da.As16(), src.Port(), dst.Port())
	default:
		return -1
	}
	return r.table[h&uint32(len(r.table)-1)]
}

// String describes r.
func (r *RSS) String() string {
	key := hex.EncodeToString(r.key)
	switch {
	case bytes.Equal(r.key, cores.SymmetricRSSKey[:]):
		key = "cores.SymmetricRSSKey"
	case bytes.Equal(r.key, cores.MicrosoftRSSKey[:]):
		key = "cores.MicrosoftRSSKey"
	}
	table := fmt.Sprintf("entry i -> queue i mod %d", r.queues)
	for i, q := range r.table {
		if q != i%r.queues {
			table = "as given"
			break
		}
	}
	return fmt.Sprintf("Toeplitz RSS of TCP and UDP 4-tuples, key %s, %d-entry table (%s), %d queues", key, len(r.table), table, r.queues)
}

// The BPF program's data, one array-map value (host byte order):
// rssContribOff + 1024*i + 4*b holds the 32-bit Toeplitz contribution of
// byte value b at hash input offset i (0..35); rssPickOff + 4*e holds, for
// indirection table entry e, the skb hash that makes the kernel pick queue
// table[e] (pickHash).
const (
	rssMaxInput   = 36 // two IPv6 addresses and two ports
	rssContribOff = 0
	rssPickOff    = rssMaxInput * 256 * 4
)

// mapValue returns the BPF program's data for r.
func (r *RSS) mapValue() []byte {
	v := make([]byte, rssPickOff+4*len(r.table))
	for i := 0; i < rssMaxInput; i++ {
		for b := 0; b < 256; b++ {
			binary.NativeEndian.PutUint32(v[rssContribOff+1024*i+4*b:], toeplitzByte(r.key, i, byte(b)))
		}
	}
	for e, q := range r.table {
		binary.NativeEndian.PutUint32(v[rssPickOff+4*e:], pickHash(q, r.queues))
	}
	return v
}

// toeplitzByte is the Toeplitz hash's contribution of byte value b at input
// offset i, bit by bit from the definition: each set input bit k (counting
// from the most significant bit of input byte 0) XORs in the 32 key bits
// k..k+31. (cores.RSS computes the same table its own way; the tests hold
// the two together.)
func toeplitzByte(key []byte, i int, b byte) uint32 {
	keyBit := func(k int) uint32 { return uint32(key[k/8]>>(7-k%8)) & 1 }
	var h uint32
	for j := 0; j < 8; j++ {
		if b&(0x80>>j) == 0 {
			continue
		}
		var w uint32
		for t := 0; t < 32; t++ {
			w = w<<1 | keyBit(8*i+j+t)
		}
		h ^= w
	}
	return h
}

// Transmit queue selection on the kernel's veth end. The kernel picks a
// frame's transmit queue after the tc egress hook (netdev_core_pick_tx),
// so a queue_mapping a tc BPF program writes is overwritten. Without XPS
// the pick is skb_tx_hash: queue = (skb hash * queues) >> 32, with the hash
// bpf_set_hash left; veth hands the frame to the peer's receive queue of
// that number. pickHash returns a hash the pick turns into queue q: the
// middle of q's range, moved to be q modulo queues as well, so that a pick
// by hash % queues would agree too.
func pickHash(q, queues int) uint32 {
	n := uint64(queues)
	lo := (uint64(q)<<32 + n - 1) / n   // first hash that picks q
	hi := (uint64(q+1)<<32 + n - 1) / n // first that picks q+1
	h := lo + (hi-lo)/2
	h = h - h%n + uint64(q)
	if h >= hi {
		h -= n
	}
	return uint32(h)
}

// txQueue is the kernel's skb_tx_hash for a frame whose hash is h: the
// transmit queue, and so the peer's receive queue, of the frame.
func txQueue(h uint32, queues int) int { return int(uint64(h) * uint64(queues) >> 32) }

// simulate does in Go what the BPF program does with frame, an Ethernet
// frame the kernel sends on its veth end, reading the program's data v: it
// returns the Toeplitz hash, the hash it sets and the queue the kernel then
// picks, and ok false for a frame the program leaves alone.
func simulate(v []byte, tableLen, queues int, frame []byte) (toeplitz, set uint32, queue int, ok bool) {
	var input []byte
	switch {
	case len(frame) < 14:
		return 0, 0, 0, false
	case frame[12] == 0x08 && frame[13] == 0x00:
		if len(frame) < 34 || frame[14]>>4 != 4 || frame[14]&0x0f < 5 ||
			(frame[23] != 6 && frame[23] != 17) || frame[20]&0x3f != 0 || frame[21] != 0 {
			return 0, 0, 0, false
		}
		l4 := 14 + 4*int(frame[14]&0x0f)
		if len(frame) < l4+4 {
			return 0, 0, 0, false
		}
		input = append(append(input, frame[26:34]...), frame[l4:l4+4]...)
	case frame[12] == 0x86 && frame[13] == 0xdd:
		if len(frame) < 58 || (frame[20] != 6 && frame[20] != 17) {
			return 0, 0, 0, false
		}
		input = append(append(input, frame[22:54]...), frame[54:58]...)
	default:
		return 0, 0, 0, false
	}
	for i, b := range input {
		toeplitz ^= binary.NativeEndian.Uint32(v[rssContribOff+1024*i+4*int(b):])
	}
	set = binary.NativeEndian.Uint32(v[rssPickOff+4*int(toeplitz&uint32(tableLen-1)):])
	return toeplitz, set, txQueue(set, queues), true
}
