package rings_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pollstack/pollstack/rings"
)

// offloadFake is a fakeLink that asks for transmit metadata room and
// completes checksums, as an AF_XDP link with TxChecksumOffload does.
type offloadFake struct{ *fakeLink }

func (offloadFake) TxOffloads() rings.TxOffloads {
	return rings.TxOffloads{Room: rings.TxMetaLen, Checksum: true}
}

// SetTxChecksum writes struct xsk_tx_metadata (linux/if_xdp.h) just
// before the frame: flags XDP_TXMD_FLAGS_CHECKSUM, then csum_start and
// csum_offset, little-endian, launch_time 0; and sets XDP_TX_METADATA in
// the descriptor's options.
func TestSetTxChecksumWritesTheKernelsMetadata(t *testing.T) {
	p, err := rings.NewPool(4, 2048)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := p.Get()
	meta := p.Frame(addr)[:rings.TxMetaLen]
	for i := range meta {
		meta[i] = 0xee
	}
	d := rings.Desc{Addr: addr + rings.TxMetaLen, Len: 60}
	p.SetTxChecksum(&d, 34, 16)
	want := make([]byte, rings.TxMetaLen)
	binary.LittleEndian.PutUint64(want[0:], 1<<1) // XDP_TXMD_FLAGS_CHECKSUM
	binary.LittleEndian.PutUint16(want[8:], 34)
	binary.LittleEndian.PutUint16(want[10:], 16)
	if !bytes.Equal(meta[:12], want[:12]) || !bytes.Equal(meta[16:24], want[16:24]) {
		t.Fatalf("metadata % x, want % x (bytes 12..15 are padding)", meta, want)
	}
	if d.Options != 1<<1 { // XDP_TX_METADATA
		t.Fatalf("options %#x, want XDP_TX_METADATA", d.Options)
	}
}

// Wrappers pass the room on, since a frame without it is refused by the
// kernel; the fault link passes checksums on only when it corrupts
// nothing on the way out (the kernel would sum the corrupted bytes), and a
// capture never (it would hold partial sums).
func TestWrappersPassTheRoomOn(t *testing.T) {
	inner := offloadFake{newFake(t, 16)}
	pw, err := rings.NewPcapWriter(&bytes.Buffer{}, rings.PcapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l    rings.Link
		want rings.TxOffloads
	}{
		{inner, rings.TxOffloads{Room: rings.TxMetaLen, Checksum: true}},
		{rings.NewFaulty(inner, rings.FaultConfig{Tx: rings.Faults{Drop: 0.1}}), rings.TxOffloads{Room: rings.TxMetaLen, Checksum: true}},
		{rings.NewFaulty(inner, rings.FaultConfig{Tx: rings.Faults{Corrupt: 0.1}}), rings.TxOffloads{Room: rings.TxMetaLen}},
		{rings.NewFaulty(inner, rings.FaultConfig{Rx: rings.Faults{Corrupt: 0.1}}), rings.TxOffloads{Room: rings.TxMetaLen, Checksum: true}},
		{pw.Wrap(inner), rings.TxOffloads{Room: rings.TxMetaLen}},
		{newFake(t, 4), rings.TxOffloads{}},
	} {
		if got := rings.TxOffloadsOf(tc.l); got != tc.want {
			t.Errorf("%T: %+v, want %+v", tc.l, got, tc.want)
		}
	}
}

// A duplicated frame keeps its place in its pool frame and the metadata
// before it, so the copy carries the same checksum request.
func TestFaultyDuplicateKeepsTheMetadata(t *testing.T) {
	inner := offloadFake{newFake(t, 8)}
	f := rings.NewFaulty(inner, rings.FaultConfig{Tx: rings.Faults{Duplicate: 1}})
	p := inner.pool
	addr, _ := p.Get()
	d := rings.Desc{Addr: addr + rings.TxMetaLen, Len: fakeFrameLen}
	fill(p.Bytes(d), 7)
	p.SetTxChecksum(&d, 34, 16)
	if n := f.Transmit([]rings.Desc{d}); n != 1 {
		t.Fatalf("Transmit took %d", n)
	}
	f.Transmit(nil)
	if len(inner.tx) != 2 {
		t.Fatalf("%d frames went out, want the frame and its copy", len(inner.tx))
	}
	a, b := inner.tx[0], inner.tx[1]
	if a.Addr == b.Addr || b.Addr%2048 != rings.TxMetaLen || b.Len != d.Len || b.Options != d.Options {
		t.Fatalf("copy %+v of %+v", b, a)
	}
	mA := p.Frame(a.Addr - rings.TxMetaLen)[:rings.TxMetaLen+int(a.Len)]
	mB := p.Frame(b.Addr - rings.TxMetaLen)[:rings.TxMetaLen+int(b.Len)]
	if !bytes.Equal(mA, mB) {
		t.Fatalf("the copy's metadata and bytes differ:\n% x\n% x", mA, mB)
	}
}
