package engine

import (
	"context"
	"time"
)

// Drain stops the engine in order: every listener stops, every connection
// is closed as its application would close it (a FIN after the data
// already queued), and Drain waits until the connections have finished
// closing — into TIME_WAIT where pollstack closed first — or ctx is done.
// It returns the number of connections still open then. The engine keeps
// running: Stop follows.
func (e *Engine) Drain(ctx context.Context) (int, error) {
	if !e.running || e.cores[0].tcp == nil {
		return 0, nil
	}
	for i := range e.cores {
		if err := e.onCore(i, func(c *Core) { c.tcp.CloseAll() }); err != nil {
			return 0, err
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
