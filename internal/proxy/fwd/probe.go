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
	// An HTTP check's status line so far ("HTTP/1.x NNN").
	line [12]byte
	n    int
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
	pr, ok := c.User.(*probe)
	if ok && !pr.done && pr.g.cfg.Health.Type == "http" {
		// An HTTP check: the request, then the status line decides.
		a := (*App)(h)
		hc := &pr.g.cfg.Health
		s := pr.g.servers[pr.p.Server]
		a.out = append(append(append(append(append(a.out[:0], hc.Method...), ' '), hc.Path...), " HTTP/1.1\r\nHost: "...), s.cfg.Addr.String()...)
		a.out = append(a.out, "\r\nUser-Agent: pollstack-check\r\nConnection: close\r\n\r\n"...)
		if n, err := c.Write(a.out); err == nil && n == len(a.out) {
			return
		}
		pr.fail(health.Reset, c.Now())
		c.Abort()
		return
	}
	if ok && !pr.done {
		pr.done = true
		pr.g.chk.Result(pr.p, true, 0, c.Now())
	}
	c.Abort()
}

// Readable reads an HTTP check's status line: the expected status passes
// the check, anything else fails it. Either way the connection is reset
// (no TIME_WAIT left behind).
func (h *probeLeg) Readable(c *tcp.Conn) {
	pr, ok := c.User.(*probe)
	if !ok || pr.done {
		return
	}
	for pr.n < len(pr.line) {
		x, _ := c.Peek()
		if len(x) == 0 {
			if c.EOF() {
				pr.fail(health.Status, c.Now())
				c.Abort()
			}
			return
		}
		k := copy(pr.line[pr.n:], x)
		pr.n += k
		c.Consume(k)
	}
	l := pr.line[:]
	status := 0
	for _, d := range l[9:12] {
		status = status*10 + int(d-'0')
	}
	if string(l[:7]) == "HTTP/1." && l[8] == ' ' && status == pr.g.cfg.Health.Expect && digits(l[9:12]) {
		pr.done = true
		pr.g.chk.Result(pr.p, true, 0, c.Now())
	} else {
		pr.fail(health.Status, c.Now())
	}
	c.Abort()
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// fail ends the check as failed.
func (pr *probe) fail(why health.Failure, now mono.Time) {
	if pr.done {
		return
	}
	pr.done = true
	pr.g.servers[pr.p.Server].stats[SrvCheckFailures]++
	pr.g.chk.Result(pr.p, false, why, now)
}

func (h *probeLeg) Writable(*tcp.Conn) {}

func (h *probeLeg) Closed(c *tcp.Conn, err error) {
	a := (*App)(h)
	pr, ok := c.User.(*probe)
	if !ok {
		return
	}
	if !pr.done {
		why := health.Reset
		switch err {
		case syscall.ECONNREFUSED:
			why = health.Refused
		case syscall.ETIMEDOUT:
			why = health.Timeout
		}
		pr.fail(why, c.Now())
	}
	a.probes = append(a.probes, pr)
}

// AppTimer ends a check that was not answered within its timeout.
func (h *probeLeg) AppTimer(c *tcp.Conn) {
	if pr, ok := c.User.(*probe); ok {
		pr.fail(health.Timeout, c.Now())
	}
	c.Abort()
}
