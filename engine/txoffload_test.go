package engine

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/pollstack/pollstack/rings"
)

// offloadLink is a fakeLink whose received frames start at the very start
// of their pool frames, which asks for transmit metadata room and
// completes TCP checksums (as an AF_XDP link with --tx-checksum offload):
// it records each transmitted descriptor with its metadata and bytes.
type offloadLink struct {
	*fakeLink
	sent []sentFrame
}

type sentFrame struct {
	d     rings.Desc
	meta  []byte
	bytes []byte
}

func (l *offloadLink) TxOffloads() rings.TxOffloads {
	return rings.TxOffloads{Room: rings.TxMetaLen, Checksum: true}
}

func (l *offloadLink) Receive(descs []rings.Desc) int {
	n := 0
	for n < len(descs) && len(l.in) > 0 {
		addr, ok := l.pool.GetReserved()
		if !ok {
			break
		}
		m := copy(l.pool.Frame(addr), l.in[0])
		l.in = l.in[1:]
		descs[n] = rings.Desc{Addr: addr, Len: uint32(m)}
		n++
	}
	return n
}

func (l *offloadLink) Transmit(descs []rings.Desc) int {
	for _, d := range descs {
		var meta []byte
		if off := d.Addr % uint64(l.pool.FrameSize()); off >= rings.TxMetaLen {
			meta = bytes.Clone(l.pool.Frame(d.Addr - rings.TxMetaLen)[:rings.TxMetaLen])
		}
		l.sent = append(l.sent, sentFrame{d: d, meta: meta, bytes: bytes.Clone(l.pool.Bytes(d))})
		l.pool.Put(d.Addr)
	}
	return len(descs)
}

// With a link that completes TCP checksums, every frame the core sends
// leaves the metadata's room before it, even one answered in place in a
// received frame that starts earlier (moved there), and every TCP segment
// asks for its checksum: the field holds the pseudo-header's sum, and
// completing it as the kernel does (the sum from csum_start on, folded and
// complemented, at csum_start+csum_offset) gives a segment that verifies.
func TestSegmentsAskTheLinkForTheirChecksum(t *testing.T) {
	l := &offloadLink{fakeLink: newFakeLink(t)}
	c := tcpTestCore(t, l)
	l.in = append(l.in, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4), synFrame(t, peerIP4, 40000),
		nsFrame(t, peerIP6, ourIP6), synFrame(t, peerIP6, 40001))
	for len(l.in) > 0 {
		c.Poll(0)
	}
	c.Timers(0)
	var tcps int
	for _, s := range l.sent {
		if off := s.d.Addr % uint64(l.pool.FrameSize()); off < rings.TxMetaLen {
			t.Fatalf("a frame went out %d bytes into its pool frame, before the %d the metadata needs", off, rings.TxMetaLen)
		}
		et := binary.BigEndian.Uint16(s.bytes[12:])
		var tcpAt int
		var pseudo uint64
		switch {
		case et == etherTypeIPv4 && s.bytes[ethHeaderLen+9] == protoTCP:
			tcpAt = ethHeaderLen + ipv4MinHeader
			ip := s.bytes[ethHeaderLen:]
			pseudo = pseudoSum4(ip[12:16], ip[16:20], protoTCP, len(s.bytes)-tcpAt)
		case et == etherTypeIPv6 && s.bytes[ethHeaderLen+6] == protoTCP:
			tcpAt = ethHeaderLen + ipv6HeaderLen
			ip := s.bytes[ethHeaderLen:]
			pseudo = pseudoSum6(ip[8:24], ip[24:40], protoTCP, len(s.bytes)-tcpAt)
		default:
			if s.d.Options != 0 {
				t.Fatalf("a frame of ethertype %#x has options %#x", et, s.d.Options)
			}
			continue
		}
		tcps++
		if s.d.Options != 1<<1 || binary.LittleEndian.Uint64(s.meta) != 1<<1 {
			t.Fatalf("TCP segment: options %#x, metadata flags % x; want the checksum asked for", s.d.Options, s.meta[:8])
		}
		start, field := int(binary.LittleEndian.Uint16(s.meta[8:])), int(binary.LittleEndian.Uint16(s.meta[10:]))
		if start != tcpAt || field != 16 {
			t.Fatalf("checksum asked from %d, field at +%d; want %d and 16", start, field, tcpAt)
		}
		seg := bytes.Clone(s.bytes[tcpAt:])
		if got, want := binary.BigEndian.Uint16(seg[16:]), csumFold(pseudo); got != want {
			t.Fatalf("the field holds %#04x, want the pseudo-header's sum %#04x", got, want)
		}
		binary.BigEndian.PutUint16(seg[16:], ^csumFold(csumAdd(0, seg))) // the kernel's part
		if Checksum(seg, pseudo) != 0 {
			t.Fatal("completed as the kernel does, the checksum does not verify")
		}
	}
	if tcps != 2 || len(l.sent) < 4 {
		t.Fatalf("sent %d frames, %d of them TCP; want an ARP reply, an NA and two SYN-ACKs at least", len(l.sent), tcps)
	}
	if got := c.stats[TCPChecksumOffload]; got != 2 {
		t.Fatalf("tcp_checksum_offloaded %d, want 2", got)
	}
}
