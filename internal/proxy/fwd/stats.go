package fwd

import (
	"sync/atomic"
)

// Counters of a listener on one core.
const (
	LstAccepted              = iota // client connections accepted
	LstRefusedMaxConn               // client connections reset: the listener was at its maxconn
	LstProxyErrors                  // client connections reset: malformed PROXY protocol header (or none before EOF)
	LstProxyTimeouts                // client connections reset: no whole PROXY protocol header in time
	LstIdleTimeouts                 // proxied connections reset: idle past the client or server timeout
	LstClientResets                 // proxied connections whose client leg reset or timed out first
	LstHTTPRequests                 // HTTP: request heads received whole
	LstHTTPRefused                  // HTTP: requests refused as malformed, over a limit, or not whole in time (answered 4xx/5xx, closed)
	LstHTTPRequestTimeouts          // HTTP: of those, heads not whole within timeout http-request (408)
	LstHTTPKeepAliveTimeouts        // HTTP: client connections closed idle between requests (timeout http-keep-alive)
	LstHTTP502                      // HTTP: requests answered 502 by the proxy (server refused, reset, closed or sent garbage)
	LstHTTP503                      // HTTP: requests answered 503 (no server, queue full or queue timeout, no source port)
	LstHTTP504                      // HTTP: requests answered 504 (connect or server timeout before the response)
	LstIdleOverloaded               // idle timeouts put off: the core's receive ring dropped frames since the pair's last activity
	LstIdlePeerWindowClosed         // of the idle timeouts, pairs with a leg holding unsent bytes, none in flight, against a peer's window under one segment
	LstIdleOwnWindowClosed          // of the idle timeouts, pairs with a leg whose own receive window was under one segment
	numListenerCounters
)

// ListenerCounterNames are the listener counters' metric names.
var ListenerCounterNames = [numListenerCounters]string{
	LstAccepted: "accepted", LstRefusedMaxConn: "refused_maxconn", LstProxyErrors: "proxy_header_errors",
	LstProxyTimeouts: "proxy_header_timeouts", LstIdleTimeouts: "idle_timeouts", LstClientResets: "client_resets",
	LstHTTPRequests: "http_requests", LstHTTPRefused: "http_refused", LstHTTPRequestTimeouts: "http_request_timeouts",
	LstHTTPKeepAliveTimeouts: "http_keepalive_timeouts", LstHTTP502: "http_502", LstHTTP503: "http_503", LstHTTP504: "http_504",
	LstIdleOverloaded: "idle_overloaded", LstIdlePeerWindowClosed: "idle_timeouts_peer_window_closed",
	LstIdleOwnWindowClosed: "idle_timeouts_own_window_closed",
}

// Counters of a server on one core.
const (
	SrvConnections    = iota // backend connections opened (SYN sent)
	SrvConnectRefused        // connects refused (RST to the SYN)
	SrvConnectTimeout        // connects unanswered within the connect timeout (or TCP's own limit)
	SrvConnectReset          // connects that failed otherwise (reset, unreachable)
	SrvConnectNoPort         // dials refused: no source port (or socket) free on this core
	SrvConnectOther          // dials refused for another reason
	SrvRetries               // failed connects retried on another server
	SrvResets                // established backend connections that the server reset, or that timed out
	SrvWriteErrors           // pairs the proxy reset because a write to one leg failed
	SrvBytesOut              // bytes forwarded client to server (PROXY headers not counted)
	SrvBytesIn               // bytes forwarded server to client
	SrvChecks                // health checks started
	SrvCheckFailures         // health checks failed
	SrvWentDown              // transitions up to down
	SrvWentUp                // transitions down to up
	SrvHTTPRequests          // HTTP: requests sent (a retry counts again)
	SrvHTTP1xx               // HTTP: final responses by status class (1xx: 101 switches)
	SrvHTTP2xx
	SrvHTTP3xx
	SrvHTTP4xx
	SrvHTTP5xx
	SrvBadResponses // HTTP: responses refused as malformed (502 or reset)
	SrvPoolReused   // HTTP: requests sent on an idle connection from the pool
	SrvPoolClosed   // HTTP: idle pooled connections the server closed
	SrvPoolExpired  // HTTP: idle pooled connections closed after timeout pool-idle
	numServerCounters
)

// ServerCounterNames are the server counters' metric names.
var ServerCounterNames = [numServerCounters]string{
	SrvConnections: "connections", SrvConnectRefused: "connect_refused", SrvConnectTimeout: "connect_timeout",
	SrvConnectReset: "connect_reset", SrvConnectNoPort: "connect_noport", SrvConnectOther: "connect_other",
	SrvRetries: "retries", SrvResets: "resets", SrvWriteErrors: "write_errors", SrvBytesOut: "bytes_out", SrvBytesIn: "bytes_in",
	SrvChecks: "checks", SrvCheckFailures: "check_failures", SrvWentDown: "went_down", SrvWentUp: "went_up",
	SrvHTTPRequests: "http_requests", SrvHTTP1xx: "http_responses_1xx", SrvHTTP2xx: "http_responses_2xx",
	SrvHTTP3xx: "http_responses_3xx", SrvHTTP4xx: "http_responses_4xx", SrvHTTP5xx: "http_responses_5xx",
	SrvBadResponses: "http_bad_responses", SrvPoolReused: "pool_reused", SrvPoolClosed: "pool_closed", SrvPoolExpired: "pool_expired",
}

// ResponseTimeBuckets are the upper bounds, in seconds, of the response
// time histogram's buckets (HTTP: from the request head sent to the
// response head received, per server).
var ResponseTimeBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// rtBounds are ResponseTimeBuckets in nanoseconds.
var rtBounds = func() (b [len(ResponseTimeBuckets)]int64) {
	for i, s := range ResponseTimeBuckets {
		b[i] = int64(s * 1e9)
	}
	return
}()

// responseTimes is a server's response time histogram on one core:
// counts per bucket (the last for beyond them all) and the sum.
type responseTimes struct {
	n   [len(ResponseTimeBuckets) + 1]uint64
	sum int64 // nanoseconds
}

func (r *responseTimes) record(ns int64) {
	i := 0
	for i < len(rtBounds) && ns > rtBounds[i] {
		i++
	}
	r.n[i]++
	r.sum += ns
}

// Counters of a backend group on one core.
const (
	GrpQueued        = iota // client connections that waited in the queue
	GrpQueueTimeouts        // client connections reset after waiting the queue timeout
	GrpNoServer             // client connections reset: no server in rotation, or all full and the queue too
	numGroupCounters
)

// GroupCounterNames are the group counters' metric names.
var GroupCounterNames = [numGroupCounters]string{
	GrpQueued: "queued", GrpQueueTimeouts: "queue_timeouts", GrpNoServer: "no_server",
}

// Published is one core's proxy counters as readers on other goroutines
// see them: copied by the core every 50 ms (and on Drain), read with
// atomic loads. The gauges (active connections, queue length, whether a
// server is up) are as of the copy.
type Published struct {
	Listeners []PubListener
	Groups    []PubGroup
	Pairs     atomic.Int64 // proxied connections open
	Draining  atomic.Bool
}

// PubListener is a listener's published counters.
type PubListener struct {
	Name     string
	Counters [numListenerCounters]atomic.Uint64
	Active   atomic.Int64
}

// PubGroup is a backend group's published counters.
type PubGroup struct {
	Name     string
	Counters [numGroupCounters]atomic.Uint64
	Queue    atomic.Int64
	Servers  []PubServer
}

// PubServer is a server's published counters.
type PubServer struct {
	Name     string
	Addr     string
	Counters [numServerCounters]atomic.Uint64
	Active   atomic.Int64
	Up       atomic.Bool
	PoolIdle atomic.Int64 // HTTP: idle connections in the pool
	// RT is the response time histogram (HTTP): counts per bucket of
	// ResponseTimeBuckets, not cumulative, the last for beyond them; RTSum
	// their sum in nanoseconds.
	RT    [len(ResponseTimeBuckets) + 1]atomic.Uint64
	RTSum atomic.Int64
}

func newPublished(a *App) *Published {
	p := &Published{Listeners: make([]PubListener, len(a.lsts)), Groups: make([]PubGroup, len(a.groups))}
	for i, l := range a.lsts {
		p.Listeners[i].Name = l.cfg.Name
	}
	for i, g := range a.groups {
		pg := &p.Groups[i]
		pg.Name = g.cfg.Name
		pg.Servers = make([]PubServer, len(g.servers))
		for j, s := range g.servers {
			pg.Servers[j].Name = s.cfg.Name
			pg.Servers[j].Addr = s.cfg.Addr.String()
		}
	}
	p.store(a)
	return p
}

// store copies a's counters. Core only.
func (p *Published) store(a *App) {
	p.Pairs.Store(int64(a.pairsLive))
	p.Draining.Store(a.draining)
	for i, l := range a.lsts {
		pl := &p.Listeners[i]
		for k, v := range l.stats {
			pl.Counters[k].Store(v)
		}
		pl.Active.Store(int64(l.active))
	}
	for i, g := range a.groups {
		pg := &p.Groups[i]
		for k, v := range g.stats {
			pg.Counters[k].Store(v)
		}
		pg.Queue.Store(int64(g.n))
		for j, s := range g.servers {
			ps := &pg.Servers[j]
			for k, v := range s.stats {
				ps.Counters[k].Store(v)
			}
			ps.Active.Store(int64(s.active))
			ps.PoolIdle.Store(int64(len(s.pool)))
			for k, v := range s.rt.n {
				ps.RT[k].Store(v)
			}
			ps.RTSum.Store(s.rt.sum)
			ps.Up.Store(g.set.Up(j))
		}
	}
}
