package pps

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
	"github.com/pollstack/pollstack/rings"
)

// TestGenerateOverAFXDP sends paced frames from a TX-only AF_XDP link on the
// bed's kernel end to an AF_XDP receiver on pollstack's end and checks that
// they arrive and parse, checksums included. It needs root (it skips
// otherwise, or fails with POLLSTACK_REQUIRE_PRIVILEGED=1).
func TestGenerateOverAFXDP(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	prog, err := rings.AttachXDP(bed.IfaceA, bed.NsA, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	rx, err := rings.OpenXDP(rings.XDPConfig{Iface: bed.IfaceA, Netns: bed.NsA, Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := rings.OpenXDP(rings.XDPConfig{Iface: bed.IfaceB, Netns: bed.NsB})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	const count = 5000
	cfg := GenConfig{Size: 200, Flows: 7, SrcPort: 3000, DstPort: 4000, Rate: 50_000, Count: count,
		SrcMAC: bed.PeerMAC, DstMAC: bed.LocalMAC, SrcIP: testbed.PeerIPv4, DstIP: testbed.LocalIPv4}
	full, _ := cfg.withDefaults()
	var (
		wg  sync.WaitGroup
		gen Result
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		gen, _ = Generate(context.Background(), tx, cfg, nil)
	}()
	descs := make([]rings.Desc, rings.IdealBatch)
	got, bad := 0, 0
	for deadline := time.Now().Add(10 * time.Second); got < count && time.Now().Before(deadline); {
		n := rx.Receive(descs)
		for _, d := range descs[:n] {
			b := rx.Pool().Bytes(d)
			// The kernel's own packets (none expected: it has no address
			// on this end) would not match; count them apart.
			if len(b) != cfg.Size {
				bad++
			} else {
				checkFrame(t, b, full, uint16(3000+got%7))
				got++
			}
			rx.Pool().Put(d.Addr)
		}
		if n == 0 {
			rx.Wait(time.Millisecond)
		}
	}
	wg.Wait()
	if gen.Packets != count {
		t.Errorf("generator sent %d, want %d", gen.Packets, count)
	}
	if got < count*95/100 {
		t.Errorf("received %d of %d frames (%d others); link %+v", got, count, bad, rx.Stats())
	}
	t.Logf("sent %d, received %d (+%d others), rx link %+v", gen.Packets, got, bad, rx.Stats())
}
