package engine

import (
	"context"
	"time"
)

// drainCloses is how many connections a core closes in one turn of a
// drain: about a millisecond's work.
const drainCloses = 256

// Drain stops the engine in order: every listener stops, every connection
// is closed as its application would close it (a FIN after the data
// already queued), and Drain waits until the connections have finished
// closing — into TIME_WAIT where pollstack closed first — or ctx is done.
// It returns the number of connections still open then. The engine keeps
// running: Stop follows. However many connections the cores hold, Drain
// returns soon after ctx is done: they are closed a few hundred at a time,
// between the cores' turns, and those not reached by then stay as they are.
func (e *Engine) Drain(ctx context.Context) (int, error) {
	if !e.running || e.cores[0].tcp == nil {
		return 0, nil
	}
	// The closes go drainCloses at a time, one call per core in turn, so
	// that each core keeps receiving between them (the ACKs of its FINs)
	// and ctx bounds them too.
	closing := len(e.cores)
	done := make([]bool, len(e.cores))
	for closing > 0 && ctx.Err() == nil {
		for i := range e.cores {
			if done[i] {
				continue
			}
			if err := e.onCore(i, func(c *Core) { done[i] = c.tcp.CloseAll(drainCloses) }); err != nil {
				return 0, err
			}
			if done[i] {
				closing--
			}
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := 0
		for i, c := range e.cores {
			if err := e.onCore(i, func(*Core) { n += c.tcp.Conns() }); err != nil {
				return n, err
			}
		}
		if n == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
	}
}
