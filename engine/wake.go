package engine

import "github.com/pollstack/pollstack/rings"

// Wake implements cores.Waker: it cuts short the link's Wait, so that a
// call posted to the core's mailbox while it sleeps runs at once.
func (c *Core) Wake() { rings.WakeLink(c.link) }
