package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
)

const ms = time.Millisecond

// A backend's behaviour in the simulation.
const (
	alive  = iota // answers after rtt
	refuse        // refuses after rtt
	silent        // never answers
)

// event is one transition the checker told of.
type event struct {
	server int
	up     bool
	at     mono.Time
}

// answer is a probe's result the simulation will deliver at at.
type answer struct {
	p  Probe
	ok bool
	at mono.Time
}

// sim drives a Checker with a virtual clock stepped a millisecond at a
// time, playing backends whose behaviour the test sets.
type sim struct {
	t       *testing.T
	c       *Checker
	now     mono.Time
	rtt     time.Duration
	mode    []int
	pending []answer
	events  []event
	// started holds each server's check starts; deadline its check in
	// flight's end as the simulation knows it (0: none).
	started  [][]mono.Time
	deadline []mono.Time
}

func newSim(t *testing.T, cfg Config, servers int, seed uint64) *sim {
	t.Helper()
	s := &sim{t: t, now: mono.Time(time.Second), rtt: ms, mode: make([]int, servers),
		started: make([][]mono.Time, servers), deadline: make([]mono.Time, servers)}
	s.c = New(cfg, servers, seed, s.now)
	s.c.SetNotify(func(server int, up bool, now mono.Time) {
		s.events = append(s.events, event{server, up, now})
	})
	return s
}

// step delivers the answers due at now, then starts every check Due gives.
func (s *sim) step() {
	s.t.Helper()
	keep := s.pending[:0]
	for _, a := range s.pending {
		if a.at > s.now {
			keep = append(keep, a)
			continue
		}
		s.deadline[a.p.Server] = 0
		s.c.Result(a.p, a.ok, Refused, s.now)
	}
	s.pending = keep
	for {
		p, ok := s.c.Due(s.now)
		if !ok {
			break
		}
		if d := s.deadline[p.Server]; d != 0 && d > s.now {
			s.t.Fatalf("at %v: Due gave server %d, whose check is in flight until %v", s.now, p.Server, d)
		}
		s.started[p.Server] = append(s.started[p.Server], s.now)
		s.deadline[p.Server] = s.now.Add(s.c.Config().Timeout)
		switch s.mode[p.Server] {
		case alive:
			s.pending = append(s.pending, answer{p, true, s.now.Add(s.rtt)})
		case refuse:
			s.pending = append(s.pending, answer{p, false, s.now.Add(s.rtt)})
		}
	}
	if n := s.c.NextAt(); n != 0 && n <= s.now {
		s.t.Fatalf("at %v: NextAt %v is not after now with nothing due", s.now, n)
	}
}

// run steps the clock for d.
func (s *sim) run(d time.Duration) {
	s.t.Helper()
	for end := s.now.Add(d); s.now < end; {
		s.now = s.now.Add(ms)
		s.step()
	}
}

// until steps the clock until cond holds, for at most d, and returns the
// instant it held at.
func (s *sim) until(d time.Duration, cond func() bool) mono.Time {
	s.t.Helper()
	for end := s.now.Add(d); s.now < end; {
		s.now = s.now.Add(ms)
		s.step()
		if cond() {
			return s.now
		}
	}
	s.t.Fatalf("not within %v", d)
	return 0
}

func TestDefaults(t *testing.T) {
	c := New(Config{}, 1, 0, 0)
	got := c.Config()
	want := Config{Inter: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}
	if got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	c = New(Config{Inter: 500 * ms, Timeout: 200 * ms, Rise: 1, Fall: 5, NoPassive: true}, 1, 0, 0)
	if got := c.Config(); got.Inter != 500*ms || got.Timeout != 200*ms || got.Rise != 1 || got.Fall != 5 || !got.NoPassive {
		t.Fatalf("Config() = %+v", got)
	}
}

// TestInitialState: servers start up; a first failed check takes a server
// down at once (HAProxy's init-state up), a confirmed one needs Fall.
func TestInitialState(t *testing.T) {
	s := newSim(t, Config{Inter: 500 * ms}, 2, 1)
	if !s.c.Up(0) || !s.c.Up(1) {
		t.Fatal("servers do not start up")
	}
	s.mode[0] = refuse
	s.until(600*ms, func() bool { return !s.c.Up(0) })
	if len(s.started[0]) != 1 {
		t.Fatalf("server 0 down after %d checks, want 1", len(s.started[0]))
	}
	s.run(time.Second)
	if !s.c.Up(1) {
		t.Fatal("server 1 (alive) went down")
	}
	// Server 1 is confirmed now: one failure does not take it down.
	s.mode[1] = refuse
	n := len(s.started[1])
	s.until(2*time.Second, func() bool { return !s.c.Up(1) })
	if got := len(s.started[1]) - n; got != 3 {
		t.Fatalf("confirmed server down after %d failed checks, want fall 3", got)
	}
}

// TestDownWithinFall: a server that starts failing is down within
// Fall*Inter (+ Timeout when it goes silent), after exactly Fall failed
// checks, and the others stay up.
func TestDownWithinFall(t *testing.T) {
	for _, mode := range []int{refuse, silent} {
		for seed := uint64(0); seed < 5; seed++ {
			t.Run(fmt.Sprintf("mode%d/seed%d", mode, seed), func(t *testing.T) {
				cfg := Config{Inter: 500 * ms, Fall: 3, Rise: 2}
				s := newSim(t, cfg, 10, seed)
				s.run(3*time.Second + time.Duration(seed)*77*ms)
				victim := int(seed*3) % 10
				start := s.now
				n := len(s.started[victim])
				s.mode[victim] = mode
				at := s.until(5*time.Second, func() bool { return !s.c.Up(victim) })
				limit := 3 * cfg.Inter
				if mode == silent {
					limit += cfg.Inter // the timeout
				} else {
					limit += s.rtt
				}
				if at.Sub(start) > limit {
					t.Fatalf("down %v after failures started, want within %v", at.Sub(start), limit)
				}
				// A silent server's third check times out at the
				// instant its fourth starts (timeout = inter).
				got := 0
				for _, st := range s.started[victim][n:] {
					if st < at {
						got++
					}
				}
				if got != 3 {
					t.Fatalf("down after %d checks, want 3", got)
				}
				st := s.c.Stats(victim)
				if st.Failures != 3 || st.Transitions != 1 || st.LastChange != at {
					t.Fatalf("stats %+v, want 3 failures, 1 transition at %v", st, at)
				}
				if mode == silent && st.Timeouts != 3 {
					t.Fatalf("stats %+v, want 3 timeouts", st)
				}
				if len(s.events) != 1 || s.events[0] != (event{victim, false, at}) {
					t.Fatalf("events %v", s.events)
				}
				for i := 0; i < 10; i++ {
					if i != victim && !s.c.Up(i) {
						t.Fatalf("server %d went down", i)
					}
				}
			})
		}
	}
}

// TestRise: a down server that answers again is up after Rise good checks,
// within Rise*Inter.
func TestRise(t *testing.T) {
	cfg := Config{Inter: 500 * ms, Rise: 2, Fall: 3}
	s := newSim(t, cfg, 4, 7)
	s.mode[2] = refuse
	s.until(time.Second, func() bool { return !s.c.Up(2) })
	s.run(3 * time.Second)
	if s.c.Up(2) {
		t.Fatal("a refusing server came up")
	}
	s.mode[2] = alive
	start := s.now
	n := len(s.started[2])
	at := s.until(2*time.Second, func() bool { return s.c.Up(2) })
	if d := at.Sub(start); d > 2*cfg.Inter+s.rtt {
		t.Fatalf("up %v after recovering, want within %v", d, 2*cfg.Inter+s.rtt)
	}
	if got := len(s.started[2]) - n; got != 2 {
		t.Fatalf("up after %d checks, want rise 2", got)
	}
	if st := s.c.Stats(2); st.Transitions != 2 || st.LastChange != at {
		t.Fatalf("stats %+v", st)
	}
	want := []event{{2, false, s.events[0].at}, {2, true, at}}
	if len(s.events) != 2 || s.events[0] != want[0] || s.events[1] != want[1] {
		t.Fatalf("events %v, want %v", s.events, want)
	}
}

// check runs the next check of server i on c, at the instant it is due
// (skipping the other servers' checks), with the given result, and
// returns that instant.
func check(t *testing.T, c *Checker, i int, ok bool) mono.Time {
	t.Helper()
	for k := 0; k < 1000; k++ {
		now := c.NextAt()
		p, due := c.Due(now)
		if !due {
			t.Fatalf("at NextAt %v nothing is due", now)
		}
		if p.Server == i {
			c.Result(p, ok, Reset, now)
			return now
		}
		c.Skip(p)
	}
	t.Fatalf("server %d never due", i)
	return 0
}

// TestFlapping: results that alternate never build a run, so a server
// neither falls nor rises; runs of Fall failures and Rise successes flip it
// each time.
func TestFlapping(t *testing.T) {
	cfg := Config{Inter: 100 * ms, Rise: 2, Fall: 3}
	c := New(cfg, 1, 0, 0)
	var changes int
	c.SetNotify(func(int, bool, mono.Time) { changes++ })
	var now mono.Time
	next := func(ok bool) { now = check(t, c, 0, ok) }
	next(true) // confirms it
	for k := 0; k < 50; k++ {
		next(k%2 == 0)
		next(k%3 != 0)
	}
	if !c.Up(0) || changes != 0 {
		t.Fatalf("alternating results: up %v, %d changes", c.Up(0), changes)
	}
	for k := 0; k < 10; k++ {
		for j := 0; j < 3; j++ {
			if !c.Up(0) {
				t.Fatalf("cycle %d: down after %d failures", k, j)
			}
			next(false)
		}
		if c.Up(0) {
			t.Fatalf("cycle %d: up after fall failures", k)
		}
		next(true)
		next(false) // breaks the rise run
		next(true)
		if c.Up(0) {
			t.Fatalf("cycle %d: up after a broken run", k)
		}
		next(true)
		if !c.Up(0) {
			t.Fatalf("cycle %d: down after rise successes", k)
		}
	}
	if st := c.Stats(0); changes != 20 || st.Transitions != 20 || st.LastChange != now {
		t.Fatalf("%d changes, stats %+v", changes, st)
	}
}

// TestTimeout: an unanswered check is a failure at its deadline, found by
// Due; its late answer changes nothing, even with the next check in
// flight.
func TestTimeout(t *testing.T) {
	c := New(Config{Inter: time.Second, Timeout: 300 * ms}, 1, 0, 0)
	t0 := c.NextAt()
	at := func(d time.Duration) mono.Time { return t0.Add(d) }
	if t0 < 0 || t0 >= mono.Time(time.Second) {
		t.Fatalf("first check at %v, want within the first inter", t0)
	}
	if _, ok := c.Due(t0 - 1); ok {
		t.Fatal("due before its slot")
	}
	p, ok := c.Due(t0)
	if !ok || p.Server != 0 {
		t.Fatal("server 0 not due at NextAt")
	}
	if got := c.NextAt(); got != at(300*ms) {
		t.Fatalf("NextAt %v, want the deadline %v", got, at(300*ms))
	}
	if _, ok := c.Due(at(299 * ms)); ok || !c.Up(0) {
		t.Fatal("something due before the deadline")
	}
	if _, ok := c.Due(at(300 * ms)); ok {
		t.Fatal("a check started before its slot")
	}
	if c.Up(0) || c.InFlight(0) {
		t.Fatal("the timed-out first check did not take the server down")
	}
	st := c.Stats(0)
	if st.Failures != 1 || st.Timeouts != 1 || st.Checks != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := c.NextAt(); got != at(time.Second) {
		t.Fatalf("NextAt %v, want the next slot %v", got, at(time.Second))
	}
	p2, ok := c.Due(at(time.Second))
	if !ok {
		t.Fatal("no check at the next slot")
	}
	c.Result(p, true, 0, at(time.Second+ms)) // the first check's late answer
	if !c.InFlight(0) || c.Stats(0).Late != 1 {
		t.Fatalf("a late answer ended the check in flight: %+v", c.Stats(0))
	}
	c.Result(p2, false, Timeout, at(time.Second+300*ms))
	if st := c.Stats(0); st.Failures != 2 || st.Timeouts != 2 {
		t.Fatalf("a reported timeout: stats %+v", st)
	}
}

// TestTimeoutOverInter: with a timeout longer than inter, a silent server's
// check is never started twice and the next starts when it ends.
func TestTimeoutOverInter(t *testing.T) {
	s := newSim(t, Config{Inter: 200 * ms, Timeout: 700 * ms}, 5, 3)
	s.mode[1], s.mode[3] = silent, silent
	s.run(5 * time.Second) // step fails on a Due of a check in flight
	for _, i := range []int{1, 3} {
		st := s.started[i]
		for k := 1; k < len(st); k++ {
			if d := st[k].Sub(st[k-1]); d < 700*ms || d > 800*ms {
				t.Fatalf("server %d: checks %v apart", i, d)
			}
		}
		if s.c.Up(i) {
			t.Fatalf("silent server %d up", i)
		}
	}
	if len(s.started[0]) < 24 {
		t.Fatalf("server 0: %d checks in 5s at inter 200ms", len(s.started[0]))
	}
}

// TestPhaseSpread: no two of 10 servers are due in the same millisecond,
// for any seed, first checks or later ones; seeds change the order.
func TestPhaseSpread(t *testing.T) {
	orders := map[string]bool{}
	for seed := uint64(0); seed < 20; seed++ {
		s := newSim(t, Config{}, 10, seed)
		s.run(10 * time.Second)
		seen := map[mono.Time]int{}
		first := make([]mono.Time, 10)
		for i, st := range s.started {
			if len(st) < 4 {
				t.Fatalf("seed %d: server %d checked %d times in 10s", seed, i, len(st))
			}
			first[i] = st[0]
			for _, at := range st {
				if j, dup := seen[at]; dup {
					t.Fatalf("seed %d: servers %d and %d both due at %v", seed, j, i, at)
				}
				seen[at] = i
			}
			for k := 1; k < len(st); k++ {
				if st[k].Sub(st[k-1]) != 2*time.Second {
					t.Fatalf("seed %d: server %d's checks %v apart", seed, i, st[k].Sub(st[k-1]))
				}
			}
			if d := st[0].Sub(mono.Time(time.Second)); d < 0 || d >= 2*time.Second {
				t.Fatalf("seed %d: server %d's first check %v after New", seed, i, d)
			}
		}
		order := ""
		for i := range first {
			order += fmt.Sprint(first[i].Sub(mono.Time(time.Second)) / (200 * ms))
		}
		orders[order] = true
	}
	if len(orders) < 5 {
		t.Fatalf("20 seeds gave %d orders of first checks", len(orders))
	}
}

// TestPassive: Fall consecutive failed connects take an up server down; a
// good one resets the run; only checks bring it back; NoPassive and
// unchecked servers only count.
func TestPassive(t *testing.T) {
	c := New(Config{Fall: 3}, 3, 0, 0)
	var evs []event
	c.SetNotify(func(i int, up bool, now mono.Time) { evs = append(evs, event{i, up, now}) })
	c.Passive(0, false, 1)
	c.Passive(0, false, 2)
	c.Passive(0, true, 3)
	c.Passive(0, false, 4)
	c.Passive(0, false, 5)
	if !c.Up(0) {
		t.Fatal("down after a broken run")
	}
	c.Passive(0, false, 6)
	if c.Up(0) || len(evs) != 1 || evs[0] != (event{0, false, 6}) {
		t.Fatalf("after fall passive failures: up %v, events %v", c.Up(0), evs)
	}
	for k := 0; k < 10; k++ {
		c.Passive(0, true, 7)
	}
	if c.Up(0) {
		t.Fatal("good connects brought a down server up")
	}
	if st := c.Stats(0); st.PassiveFailures != 5 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Checks bring it back.
	var now mono.Time
	for !c.Up(0) {
		now = check(t, c, 0, true)
	}
	if st := c.Stats(0); st.Transitions != 2 {
		t.Fatalf("stats %+v", st)
	}

	// Not checked: never taken down.
	c.SetCheck(1, false, now)
	for k := 0; k < 10; k++ {
		c.Passive(1, false, now)
	}
	if !c.Up(1) || c.Stats(1).PassiveFailures != 10 {
		t.Fatalf("unchecked server: up %v, stats %+v", c.Up(1), c.Stats(1))
	}

	c = New(Config{Fall: 3, NoPassive: true}, 1, 0, 0)
	for k := 0; k < 10; k++ {
		c.Passive(0, false, 1)
	}
	if !c.Up(0) || c.Stats(0).PassiveFailures != 10 {
		t.Fatal("NoPassive: passive failures took the server down")
	}
}

// TestPassiveAndChecksApart: failed checks and failed connects do not add
// up.
func TestPassiveAndChecksApart(t *testing.T) {
	c := New(Config{Inter: 100 * ms, Fall: 3}, 1, 0, 0)
	check(t, c, 0, true)
	check(t, c, 0, false)
	now := check(t, c, 0, false)
	c.Passive(0, false, now)
	c.Passive(0, false, now)
	if !c.Up(0) {
		t.Fatal("2 failed checks and 2 failed connects took the server down")
	}
}

func TestSetCheck(t *testing.T) {
	c := New(Config{Inter: 100 * ms}, 2, 0, 0)
	c.SetCheck(0, false, 0)
	c.SetCheck(1, false, 0)
	if at := c.NextAt(); at != 0 {
		t.Fatalf("NextAt %v with no server checked", at)
	}
	for now := mono.Time(0); now < mono.Time(time.Second); now += mono.Time(ms) {
		if p, ok := c.Due(now); ok {
			t.Fatalf("unchecked server %d due", p.Server)
		}
	}
	c.SetCheck(1, true, mono.Time(time.Second))
	p, ok := c.Due(mono.Time(time.Second))
	if !ok || p.Server != 1 {
		t.Fatal("server 1 not due at once when checked again")
	}
	// Its first check decides at once, as at start.
	c.Result(p, false, Refused, mono.Time(time.Second+ms))
	if c.Up(1) {
		t.Fatal("a failed first check after SetCheck left the server up")
	}
	c.SetCheck(1, false, mono.Time(2*time.Second))
	if !c.Up(1) {
		t.Fatal("an unchecked server is not up")
	}
	if New(Config{}, 0, 0, 0).NextAt() != 0 {
		t.Fatal("NextAt of no servers")
	}
}

// TestSkip: a skipped check does not charge the server; the next is at
// its next slot.
func TestSkip(t *testing.T) {
	c := New(Config{Inter: time.Second}, 1, 0, 0)
	t0 := c.NextAt()
	p, _ := c.Due(t0)
	c.Skip(p)
	c.Skip(p) // twice: nothing
	if !c.Up(0) || c.InFlight(0) {
		t.Fatal("skip")
	}
	if st := c.Stats(0); st.Skipped != 1 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
	if at := c.NextAt(); at != t0.Add(time.Second) {
		t.Fatalf("NextAt %v after a skip, want %v", at, t0.Add(time.Second))
	}
	c.Result(p, false, Refused, 5) // a skipped check's answer
	if !c.Up(0) || c.Stats(0).Late != 1 {
		t.Fatal("a skipped check's answer counted")
	}
}

func TestAllocs(t *testing.T) {
	c := New(Config{Inter: 100 * ms, Rise: 1, Fall: 1}, 16, 1, 0)
	var ups int
	c.SetNotify(func(_ int, up bool, _ mono.Time) {
		if up {
			ups++
		}
	})
	now := mono.Time(0)
	k := 0
	allocs := testing.AllocsPerRun(1000, func() {
		now += mono.Time(ms)
		for {
			p, ok := c.Due(now)
			if !ok {
				break
			}
			k++
			c.Result(p, k%3 != 0, Refused, now)
		}
		c.Passive(k%16, k%5 != 0, now)
		_ = c.NextAt()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
	if k < 100 || ups == 0 {
		t.Fatalf("%d checks, %d ups: the run did nothing", k, ups)
	}
}
