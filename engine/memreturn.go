package engine

import (
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/pollstack/pollstack/tcp"
)

// Giving memory back to the system. Connection buffers and control blocks
// go back to their per-core pools as connections drain and close, and the
// pools give what they do not use to the garbage collector (tcp's chunk
// pool trims after 10 s, control blocks' slabs when a second one is free).
// The Go runtime then keeps freed heap pages for reuse, returning them to
// the system only slowly, and never below about twice the live heap; after
// a flood, or once a million connections have closed, the process would
// stay at its peak for minutes. So the engine looks every
// DefaultMemoryReturn and returns the free pages at once
// (debug.FreeOSMemory: a collection, then every free page given back) when
// either
//
//   - the connections of all cores fell to less than half their peak since
//     the last return, by at least memReturnConns (a flood's half-open
//     connections timed out, a million clients went away): their memory is
//     garbage now, though the collector may not have run since; or
//   - the free heap is at least memReturnFloor and more than twice the live
//     heap (the heap shrank to less than a third of its size, which a
//     steady heap never does: the collector lets it grow only to twice the
//     live heap).
//
// Neither holds in a steady state, so a server at a constant load never
// pays for a forced collection. After a fall of the connections the engine
// also gives back, for memReturnFollowUps more checks, any free heap of at
// least memReturnFollowUpFloor: what the connections left goes to the collector
// over the next minute (tcp's chunk pool trims after 10 s, the old
// connection table once the new one is made), after the first return;
// 100,000 connections gone left 15 MiB free and kept without it.

// DefaultMemoryReturn is how often the engine checks for free heap to give
// back (Config.MemoryReturn).
const DefaultMemoryReturn = 10 * time.Second

// memReturnFloor is the least free heap worth a forced collection.
const memReturnFloor = 8 << 20

// memReturnConns is the least fall in connections worth a forced collection.
const memReturnConns = 256

// memReturnFollowUps is how many checks after a fall of the connections
// give back any free heap of at least memReturnFollowUpFloor.
const memReturnFollowUps = 6

// memReturnFollowUpFloor is the least free heap a follow-up check gives
// back: after a million connections went, 7.6 MiB free stayed resident
// under memReturnFloor, on a process that had started at 53 MiB.
const memReturnFollowUpFloor = 1 << 20

// returnMemory runs until the engine stops, checking every every.
func (e *Engine) returnMemory(every time.Duration) {
	// The connections are sampled every second (a flood's half-open
	// connections may come and go between two checks); the check runs
	// every every.
	tick := min(every, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	var peak int64
	followUps := 0
	next := time.Now().Add(every)
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
		}
		conns := e.connections()
		peak = max(peak, conns)
		// Half a tick of slack: a tick that comes a little early is the
		// check's, or checks would come every other tick.
		now := time.Now()
		if now.Add(tick / 2).Before(next) {
			continue
		}
		next = now.Add(every)
		metrics.Read(s)
		free, live := s[0].Value.Uint64(), s[1].Value.Uint64()
		fell := peak-conns >= memReturnConns && conns < peak/2
		if fell || free >= memReturnFloor && free > 2*live || followUps > 0 && free >= memReturnFollowUpFloor {
			debug.FreeOSMemory()
			e.memReturns.Add(1)
			peak = conns
		}
		if fell {
			followUps = memReturnFollowUps
		} else if followUps > 0 {
			followUps--
		}
		e.memChecks.Add(1)
	}
}

// connections returns the TCP connections of every core as last
// published (listeners not counted).
func (e *Engine) connections() int64 {
	var n int64
	for _, c := range e.cores {
		for st := range c.tcpPub.states {
			if tcp.State(st) != tcp.Listen {
				n += c.tcpPub.states[st].Load()
			}
		}
	}
	return n
}

// MemoryReturns reports how many times the engine gave free heap back to
// the system.
func (e *Engine) MemoryReturns() uint64 { return e.memReturns.Load() }
