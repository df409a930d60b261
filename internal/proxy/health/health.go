package health

import (
	"math"
	"time"

	"github.com/pollstack/pollstack/internal/proxy/config"
	"github.com/pollstack/pollstack/mono"
)

// Defaults a zero Config field takes: HAProxy's.
const (
	DefaultInter = 2 * time.Second
	DefaultRise  = 2
	DefaultFall  = 3
)

// Config is one backend group's check settings, as the proxy's
// configuration gives them (config.Health). A zero field takes its default.
type Config struct {
	// Inter is the time between the starts of two checks of a server.
	Inter time.Duration
	// Timeout is how long a check may stay unanswered before it counts as
	// a failure; 0 means Inter.
	Timeout time.Duration
	// Rise consecutive good checks bring a down server up; Fall
	// consecutive bad ones take an up server down.
	Rise, Fall int
	// NoPassive turns passive counting off: failed real connections to a
	// server (Passive) are then only counted, never take it down. Passive
	// counting is on by default.
	NoPassive bool
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.Inter <= 0 {
		c.Inter = DefaultInter
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Inter
	}
	if c.Rise <= 0 {
		c.Rise = DefaultRise
	}
	if c.Fall <= 0 {
		c.Fall = DefaultFall
	}
	return c
}

// Failure says how a check failed. The checker treats every kind alike;
// timeouts are also counted apart (Stats.Timeouts).
type Failure uint8

// Kinds of failure.
const (
	Refused Failure = iota // the server answered the SYN with a RST
	Reset                  // the connection was reset once established
	Timeout                // no answer in time
	Status                 // an HTTP check was answered with another status, or not with HTTP
)

// Probe names one check Due started: the server, and which of its checks,
// so a late answer to an earlier check is not taken for the current one.
type Probe struct {
	Server int
	seq    uint32
}

// Stats are one server's counters.
type Stats struct {
	// Checks counts the checks Due started (Skipped ones too), Failures those that failed (of
	// which Timeouts ran out of time), Late the answers that came for a
	// check already over (timed out or abandoned).
	Checks, Failures, Timeouts, Late uint64
	// Skipped counts the checks the caller could not run (Skip).
	Skipped uint64
	// PassiveFailures counts the failed real connections Passive was told
	// of, up or down.
	PassiveFailures uint64
	// Transitions counts the changes between up and down; LastChange is
	// the instant of the latest (0: none since New).
	Transitions uint64
	LastChange  mono.Time
}

// server is one server's checker state.
type server struct {
	// next is the start of the server's next check slot; deadline the
	// end of its check in flight.
	next, deadline mono.Time
	seq            uint32
	inFlight       bool
	checked        bool
	up             bool
	// confirmed is false from New until the server's first check result:
	// an up server not yet confirmed goes down at its first failed check
	// (HAProxy's init-state up).
	confirmed bool
	// okRun, failRun: consecutive good and bad checks; passRun:
	// consecutive failed real connections.
	okRun, failRun, passRun int32
	stats                   Stats
}

// Notify is told of each transition: server went up (up true) or down at
// now.
type Notify func(server int, up bool, now mono.Time)

// Checker decides, for one backend group as one core sees it, when each
// server is checked and whether it is up. It is not safe for concurrent
// use: one core's loop owns it.
type Checker struct {
	cfg    Config
	s      []server
	notify Notify
	// nextAt is the earliest instant anything is due (a check to start or
	// a check's deadline; never, when no server is checked), valid when
	// !dirty.
	nextAt mono.Time
	dirty  bool
}

// New returns a checker of servers servers (indices 0 to servers-1, as in
// the balancer's Set), all up and checked, whose first checks are spread
// over the first Inter after now. The seed chooses the spread: give each
// core its own, so the cores do not probe a server at the same instant.
func New(cfg Config, servers int, seed uint64, now mono.Time) *Checker {
	cfg = cfg.withDefaults()
	c := &Checker{cfg: cfg, s: make([]server, servers), dirty: true}
	// Server i's slot is its rank, rotated by the seed, times Inter/n;
	// within the slot a seeded offset under half a slot moves it off any
	// round instant. Two servers' first checks are at least half a slot
	// apart, and every later check of a server keeps its phase.
	n := int64(servers)
	if n == 0 {
		return c
	}
	slot := int64(cfg.Inter) / n
	rot := mix(seed) % uint64(n)
	for i := range c.s {
		off := int64((uint64(i)+rot)%uint64(n)) * slot
		if half := slot / 2; half > 0 {
			off += int64(mix(seed^uint64(i+1)*0x9e3779b97f4a7c15) % uint64(half))
		}
		c.s[i] = server{next: now + mono.Time(off), checked: true, up: true}
	}
	return c
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Config returns the checker's settings, defaults filled in.
func (c *Checker) Config() Config { return c.cfg }

// SetNotify sets the function told of every transition (nil: none). The
// proxy's loop passes one that calls balance.Set.SetUp.
func (c *Checker) SetNotify(fn Notify) { c.notify = fn }

// Len returns the number of servers.
func (c *Checker) Len() int { return len(c.s) }

// Up reports whether server i is up.
func (c *Checker) Up(i int) bool { return c.s[i].up }

// InFlight reports whether server i has a check in flight.
func (c *Checker) InFlight(i int) bool { return c.s[i].inFlight }

// Stats returns server i's counters.
func (c *Checker) Stats(i int) Stats { return c.s[i].stats }

// SetCheck turns checking of server i on or off (config.Server.Check). A
// server not checked is up, is never due, and Passive does not take it
// down (nothing would bring it back). Turning it on again starts its next
// check at now.
func (c *Checker) SetCheck(i int, on bool, now mono.Time) {
	s := &c.s[i]
	if s.checked == on {
		return
	}
	s.checked = on
	s.inFlight = false
	s.okRun, s.failRun, s.passRun = 0, 0, 0
	if on {
		s.next = now
		s.confirmed = false
	} else {
		c.set(i, true, now)
	}
	c.dirty = true
}

// NextAt returns the earliest instant at which Due has something to do:
// a check to start or a check's deadline to pass. The loop arms its timer
// for it. It is 0 when no server is checked.
func (c *Checker) NextAt() mono.Time {
	if c.dirty {
		c.recompute()
	}
	if c.nextAt == never {
		return 0
	}
	return c.nextAt
}

// never is nextAt when no server is checked.
const never = mono.Time(math.MaxInt64)

func (c *Checker) recompute() {
	at := never
	for i := range c.s {
		s := &c.s[i]
		if !s.checked {
			continue
		}
		t := s.next
		if s.inFlight {
			t = s.deadline
		}
		if t < at {
			at = t
		}
	}
	c.nextAt, c.dirty = at, false
}

// Due first ends, as failures (Timeout), the checks in flight whose
// deadline is at or before now; then it returns a server whose check
// should start now, the one due longest, and marks its check in flight
// until now+Timeout. The caller dials the probe and reports its end with
// Result (or Skip, if it could not dial at all). ok is false when no check
// is due; the loop calls Due until then. Due never returns a server whose
// check is in flight.
func (c *Checker) Due(now mono.Time) (p Probe, ok bool) {
	if !c.dirty && now < c.nextAt {
		return Probe{}, false
	}
	best := -1
	for i := range c.s {
		s := &c.s[i]
		if !s.checked {
			continue
		}
		if s.inFlight {
			if s.deadline > now {
				continue
			}
			s.inFlight = false
			s.stats.Timeouts++
			c.failed(i, now)
		}
		if s.next <= now && (best < 0 || s.next < c.s[best].next) {
			best = i
		}
	}
	if best >= 0 {
		s := &c.s[best]
		s.inFlight = true
		s.seq++
		s.deadline = now.Add(c.cfg.Timeout)
		s.stats.Checks++
		// The next slot is the first one after now, so a late start
		// keeps the server's phase.
		if s.next <= now {
			k := int64(now-s.next)/int64(c.cfg.Inter) + 1
			s.next += mono.Time(k * int64(c.cfg.Inter))
		}
		p, ok = Probe{Server: best, seq: s.seq}, true
	}
	c.recompute()
	return p, ok
}

// Result reports the end of check p at now: ok, or a failure of kind why
// (ignored when ok). A result for a check no longer in flight (it timed
// out, or was skipped) is counted as Late and changes nothing.
func (c *Checker) Result(p Probe, ok bool, why Failure, now mono.Time) {
	s := &c.s[p.Server]
	if !s.inFlight || s.seq != p.seq {
		s.stats.Late++
		return
	}
	s.inFlight = false
	c.dirty = true
	if ok {
		c.succeeded(p.Server, now)
		return
	}
	if why == Timeout {
		s.stats.Timeouts++
	}
	c.failed(p.Server, now)
}

// Skip abandons check p, which the caller could not run (no port or no
// frame free, say): the server is not charged, and its next check is at
// its next slot.
func (c *Checker) Skip(p Probe) {
	s := &c.s[p.Server]
	if !s.inFlight || s.seq != p.seq {
		return
	}
	s.inFlight = false
	s.stats.Skipped++
	c.dirty = true
}

// Passive reports the end of a real connect to server i: ok, or failed
// (refused, reset, or timed out). Fall consecutive failures take an up
// server down, as Fall failed checks would; a good connect ends the run.
// Only active checks bring a server up again. With NoPassive, or for a
// server not checked, failures are only counted.
func (c *Checker) Passive(i int, ok bool, now mono.Time) {
	s := &c.s[i]
	if ok {
		s.passRun = 0
		return
	}
	s.stats.PassiveFailures++
	if c.cfg.NoPassive || !s.checked || !s.up {
		return
	}
	s.passRun++
	if int(s.passRun) >= c.cfg.Fall {
		c.set(i, false, now)
	}
}

// succeeded counts a good check of server i.
func (c *Checker) succeeded(i int, now mono.Time) {
	s := &c.s[i]
	s.confirmed = true
	s.failRun = 0
	if s.up {
		return
	}
	s.okRun++
	if int(s.okRun) >= c.cfg.Rise {
		c.set(i, true, now)
	}
}

// failed counts a failed check of server i.
func (c *Checker) failed(i int, now mono.Time) {
	s := &c.s[i]
	s.stats.Failures++
	s.okRun = 0
	if !s.up {
		s.confirmed = true
		return
	}
	s.failRun++
	if int(s.failRun) >= c.cfg.Fall || !s.confirmed {
		c.set(i, false, now)
	}
	s.confirmed = true
}

// set moves server i to up, counting and telling of a transition.
func (c *Checker) set(i int, up bool, now mono.Time) {
	s := &c.s[i]
	s.okRun, s.failRun, s.passRun = 0, 0, 0
	if s.up == up {
		return
	}
	s.up = up
	s.stats.Transitions++
	s.stats.LastChange = now
	if c.notify != nil {
		c.notify(i, up, now)
	}
}

// FromConfig returns the Config of a backend group's health-check setting.
// A group whose check Type is "" has no checks and needs no Checker.
func FromConfig(h config.Health) Config {
	return Config{Inter: h.Inter, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall}
}
