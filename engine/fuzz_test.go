package engine

import (
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/pollstack/pollstack/mono"
)

// FuzzInput feeds arbitrary frames to a core that already knows its peer.
// Nothing may panic, every frame must end up sent, waiting for a neighbour,
// or back in the pool, and what is sent must fit a frame.
func FuzzInput(f *testing.F) {
	f.Add(echo4Frame(f, peerIP4, ourIP4, []byte("seed")))
	f.Add(echo6Frame(f, peerIP6, ourIP6, []byte("seed")))
	f.Add(arpFrame(f, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
	f.Add(nsFrame(f, peerIP6, ourIP6))
	f.Add(nsFrame(f, peerIP6, ourIP6)[:60])
	f.Add(udpFrame(f))
	for _, v6 := range []bool{false, true} {
		_, _, _, syn, _ := pmtuCore(f, v6)
		f.Add(tooBigFrame(f, syn, v6, 1280, 200, 0))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 1500 {
			frame = frame[:1500]
		}
		c, l := newTestCore(t)
		run(c, l, 0, arpFrame(t, layers.ARPRequest, peerMAC, peerIP4, ourIP4))
		free := c.pool.Free()
		out := run(c, l, 1, frame)
		pending := 0
		for i := range c.neigh.slots {
			pending += int(c.neigh.slots[i].npending)
		}
		if c.pool.Free()+pending != free {
			t.Fatalf("frames lost: %d free + %d pending, want %d", c.pool.Free(), pending, free)
		}
		for _, o := range out {
			if len(o) < ethHeaderLen || len(o) > 1514+256 {
				t.Fatalf("sent a %d-byte frame", len(o))
			}
		}
		// Time passes: solicitations are retried, then given up.
		for now := mono.Time(0); now < mono.Time(5*NeighRetrans); now = now.Add(NeighRetrans / 2) {
			run(c, l, now)
		}
		if c.neigh.probing != 0 {
			t.Fatalf("%d solicitations still outstanding", c.neigh.probing)
		}
	})
}
