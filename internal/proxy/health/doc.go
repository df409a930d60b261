// Package health decides when the proxy checks each backend server and
// whether each server is up. It is the decision logic only: it dials
// nothing, reads no clock, starts no goroutine and takes no lock. The
// caller hands in the current instant as now (mono.Time) and reports what
// its probes and real connections found; the package says which server to
// probe next, when, and which servers went up or down.
//
// # Who calls it
//
// A Checker belongs to one core's loop, beside that core's balance.Set for
// the same backend group, and only that loop calls it. The loop arms a
// timer for NextAt; when it fires it calls Due until Due says nothing is
// due, and for each Probe Due returns it dials a probe connection on its
// core (the probe dialer, to come: a TCP connect for "tcp" checks) and
// reports how it ended with Result: connected, or refused, reset, or
// timed out. A probe the loop cannot dial at all (no port or frame free)
// is given back with Skip and does not count against the server. The
// loop also reports each real connect to a server with Passive. Every
// change of a server between up and down is told to the function given to
// SetNotify, which calls balance.Set.SetUp, so the balancer takes a down
// server out of rotation and puts it back when it is up again. A group
// without health checks ("health-check off") has no Checker: its servers
// stay up.
//
// Due, Result, Skip and Passive do not allocate. A Due with nothing to do
// costs a comparison; a Due that starts or ends a check, and the first
// NextAt after a Result or Skip, scan the group's servers once.
//
// # Semantics
//
// The settings are HAProxy's (config.Health): a check of each server every
// Inter (default 2s), each check a failure if unanswered after Timeout
// (default Inter); Rise consecutive good checks (default 2) bring a down
// server up, Fall consecutive failed ones (default 3) take an up server
// down. A good check ends a run of failures and a failure ends a run of
// good checks. (HAProxy's documentation says consecutive; its code keeps
// one counter between 0 and Rise+Fall-1 that a good check raises and a
// failure lowers, so there a server at Fall-1 failures needs Fall-1 more
// good checks, not one, to be safe from the next two failures. Runs are
// simpler to reason about and to test.)
//
// Initial state: every server starts up, as in HAProxy, whose default
// init-state is "up": the server takes traffic at once, but until its
// first check has answered it is not confirmed, and a first check that
// fails takes it down at once instead of after Fall. So a backend that is
// dead when the proxy starts is out of rotation after one check, and a
// live one is never held back waiting for Rise checks.
//
// Checks start on a fixed cadence per server: server i's checks are at
// phase_i + k*Inter. The phases spread the servers' first checks over the
// first Inter after New, one slot of Inter/n each, in an order rotated by
// the seed, with a seeded offset under half a slot inside it; so no two of
// the group's servers are probed within half a slot of each other (100ms
// for 10 servers at inter 2s) and a core given its own seed probes at
// instants other cores do not. A check answered late or started late does
// not move the phase: the next check is at the first slot after the start.
// A check still in flight is never started again: with a Timeout longer
// than Inter, a server that does not answer is checked again when its
// check times out, so every Timeout rather than every Inter.
//
// Passive counting is on unless Config.NoPassive: the loop reports each
// real connect to a server, and Fall consecutive failed ones (refused,
// reset, timed out) take an up server down as Fall failed checks would; a
// good connect ends the run. The two runs are kept apart: a failed check
// does not add to the passive run or the reverse. Only active checks bring
// a server back up (the balancer sends a down server no real connections
// to learn from), so a server not checked (config.Server.Check false,
// SetCheck) is never taken down by passive failures. HAProxy's equivalent,
// "observe layer4" with "on-error mark-down", is off by default there and
// counts to error-limit (default 10); here it is on and counts to Fall,
// because it is what takes a dead backend out of rotation fastest: under
// load, Fall failed connects arrive in milliseconds.
//
// # How fast a dead backend leaves rotation
//
// The proxy's target is that a failed backend is out of rotation within
// 2s of its failures starting. With checks alone the worst case is
// Fall*Inter after the failure, plus Timeout when the backend stops
// answering rather than refusing: at HAProxy's defaults (inter 2s, fall 3)
// that is 6s, plus 2s. Meeting the target by checks alone needs inter and
// fall chosen for it, e.g. inter 500ms fall 3 (1.5s) with timeout 500ms
// for a backend that goes silent (2s). Passive counting usually does it
// sooner: a backend with traffic is down after Fall failed connects,
// whatever Inter is (for a silent backend, after the connect timeout).
package health
