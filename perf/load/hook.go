package load

import (
	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/rings"
)

// HookLink wraps the link of an engine core so that the core's generator
// runs at every receive poll, on the core's loop, before the batch is
// received: what Pump sends goes out with the frames the batch produces.
// An engine.Engine builds its loops itself; riding on Receive is how a
// generator gets a turn on every loop iteration without a loop of its own.
type HookLink struct {
	rings.Link
	gen   *Gen
	clock func() mono.Time
}

// Hook wraps l. The generator is set with SetGen before the engine starts;
// clock is the loops' clock (cores.Now when nil) or a test's virtual one.
func Hook(l rings.Link, clock func() mono.Time) *HookLink {
	if clock == nil {
		clock = cores.Now
	}
	return &HookLink{Link: l, clock: clock}
}

// SetGen sets the generator Receive pumps.
func (h *HookLink) SetGen(g *Gen) { h.gen = g }

// Receive pumps the generator, then receives from the wrapped link.
func (h *HookLink) Receive(descs []rings.Desc) int {
	if h.gen != nil {
		h.gen.Pump(h.clock())
	}
	return h.Link.Receive(descs)
}

// TxOffloads forwards the wrapped link's (rings.TxOffloader).
func (h *HookLink) TxOffloads() rings.TxOffloads { return rings.TxOffloadsOf(h.Link) }
