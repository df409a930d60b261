package fwd

import (
	"syscall"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/health"
	"github.com/pollstack/pollstack/mono"
	"github.com/pollstack/pollstack/tcp"
)

// A probe is one health check's connection: a TCP connect, reset as soon
// as it is answered (so it leaves no TIME_WAIT behind, as HAProxy's checks
// do not).
type probe struct {
	g    *group
	p    health.Probe
	done bool
}

type probeLeg App

func timeDuration(ns int64) time.Duration { return time.Duration(ns) }

// runChecks starts the checks that are due.
func (g *group) runChecks(now mono.Time) {
	if next := g.chk.NextAt(); next == 0 || now < next {
		return
	}
	for {
		hp, ok := g.chk.Due(now)
		if !ok {
			return
		}
		a := g.a
		var pr *probe
		if n := len(a.probes); n > 0 {
			pr = a.probes[n-1]
			a.probes = a.probes[:n-1]
		} else {
			pr = &probe{}
		}
		*pr = probe{g: g, p: hp}
		c, err := g.dial(hp.Server, (*probeLeg)(a), now)
		if err != nil {
			g.chk.Skip(hp)
			a.probes = append(a.probes, pr)
			continue
		}
		c.User = pr
		g.servers[hp.Server].stats[SrvChecks]++
		c.SetAppTimer(now.Add(g.chk.Config().Timeout))
	}
}

func (h *probeLeg) Established(c *tcp.Conn) {
	if pr, ok := c.User.(*probe); ok && !pr.done {
		pr.done = true
		pr.g.chk.Result(pr.p, true, 0, c.Now())
	}
	c.Abort()
}

func (h *probeLeg) Readable(*tcp.Conn) {}
func (h *probeLeg) Writable(*tcp.Conn) {}

func (h *probeLeg) Closed(c *tcp.Conn, err error) {
	a := (*App)(h)
	pr, ok := c.User.(*probe)
	if !ok {
		return
	}
	if !pr.done {
		pr.done = true
		why := health.Reset
		switch err {
		case syscall.ECONNREFUSED:
			why = health.Refused
		case syscall.ETIMEDOUT:
			why = health.Timeout
		}
		pr.g.servers[pr.p.Server].stats[SrvCheckFailures]++
		pr.g.chk.Result(pr.p, false, why, c.Now())
	}
	a.probes = append(a.probes, pr)
}

// AppTimer ends a check that was not answered within its timeout.
func (h *probeLeg) AppTimer(c *tcp.Conn) {
	if pr, ok := c.User.(*probe); ok && !pr.done {
		pr.done = true
		pr.g.servers[pr.p.Server].stats[SrvCheckFailures]++
		pr.g.chk.Result(pr.p, false, health.Timeout, c.Now())
	}
	c.Abort()
}
