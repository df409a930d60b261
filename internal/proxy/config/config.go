package config

import (
	"net/netip"
	"time"
)

// Config is the whole configuration of one proxy: the engine's interface
// and cores (global), its listeners and the backend groups they send to.
type Config struct {
	// Iface is the interface the engine takes over; Netns the network
	// namespace it is in ("" for the current one).
	Iface, Netns string
	// Addrs are the engine's own addresses.
	Addrs []netip.Prefix
	// Cores is the CPU list as written ("0,1", "0-3"); checked for syntax
	// here, against the machine's CPUs by the command.
	Cores string
	// Metrics is HOST:PORT for Prometheus metrics ("" for none).
	Metrics string
	// Drain is how long a stopping proxy waits for its connections to
	// close; 0 stops at once.
	Drain time.Duration
	// Sysctl are the engine's tunables as NAME=VALUE (docs/tunables.md),
	// in the file's order; checked for form here, against the tunables by
	// the command, which applies its --sysctl flags after them.
	Sysctl []string
	// Routes are static routes as PREFIX=NEXTHOP and Gateways default
	// gateways (at most one per family), as the engine's --route and
	// --gateway flags take them; checked for form here, against the
	// addresses by the command.
	Routes, Gateways []string

	Listeners []Listener
	Backends  []BackendGroup
}

// Mode is what a listener proxies.
const (
	ModeTCP  = "tcp"
	ModeHTTP = "http"
)

// Balance algorithms.
const (
	BalanceRoundRobin = "roundrobin" // weighted round robin
	BalanceLeastConn  = "leastconn"  // fewest connections per weight
	BalanceRandom2    = "random2"    // the better of two weighted random picks
	BalanceMaglev     = "maghash"    // Maglev hash of the client's address
)

// Balances lists the balance algorithms in the order the docs give them.
var Balances = []string{BalanceRoundRobin, BalanceLeastConn, BalanceRandom2, BalanceMaglev}

// ProxyVersion is a PROXY protocol version: none, v1 (text) or v2 (binary).
type ProxyVersion int

const (
	ProxyNone ProxyVersion = iota
	ProxyV1
	ProxyV2
)

func (v ProxyVersion) String() string {
	switch v {
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return "none"
}

// Bind is an address a listener accepts on; an invalid (zero) Addr means
// every address of the engine.
type Bind struct {
	Addr netip.Addr
	Port uint16
}

func (b Bind) String() string {
	if !b.Addr.IsValid() {
		return ":" + itoa(int(b.Port))
	}
	return netip.AddrPortFrom(b.Addr, b.Port).String()
}

// Listener accepts client connections and sends them to one backend group.
type Listener struct {
	Name  string
	Binds []Bind
	Mode  string
	// MaxConn is the most client connections the listener holds at once;
	// 0 sets no limit of its own.
	MaxConn int
	// Backend names the BackendGroup connections go to.
	Backend string
	// AcceptProxy: a client connection begins with a PROXY protocol
	// header (v1 or v2), which must arrive within AcceptProxyTimeout.
	AcceptProxy        bool
	AcceptProxyTimeout time.Duration
	// ClientTimeout closes a client connection idle that long (0: never);
	// ClientFinTimeout one the client has half-closed.
	ClientTimeout, ClientFinTimeout time.Duration

	// HTTP (mode http) only.
	//
	// HTTPRequestTimeout bounds the arrival of a request's whole head,
	// from its first byte (or from the connection's start for the first
	// request): a client that sends a head slowly is answered 408 and
	// closed. KeepAliveTimeout closes a client connection idle that long
	// between requests.
	HTTPRequestTimeout, KeepAliveTimeout time.Duration
	// ForwardFor is the forwarding field written into requests:
	// ForwardXFF (X-Forwarded-For and X-Forwarded-Proto), ForwardRFC7239
	// (Forwarded) or ForwardNone; ForwardReplace drops what the client
	// sent instead of appending to it.
	ForwardFor     string
	ForwardReplace bool
	// ForwardHost adds X-Forwarded-Host, the request's authority, to
	// X-Forwarded-For and X-Forwarded-Proto (Forwarded always carries
	// host=).
	ForwardHost bool
	// Routes choose a request's backend group by Host and path prefix
	// (HTTP only); a request no route matches goes to Backend.
	Routes []Route
}

// Route sends requests whose Host is Host (any, if empty) and whose path
// begins with PathPrefix (any, if empty) to the group Backend. Of the
// routes that match, the longest PathPrefix wins, then one with a Host,
// then the first in the file.
type Route struct {
	Backend, Host, PathPrefix string
}

// Forwarding fields (Listener.ForwardFor).
const (
	ForwardXFF     = "x-forwarded-for"
	ForwardRFC7239 = "forwarded"
	ForwardNone    = "none"
)

// BackendGroup is a set of servers and how to choose among them.
type BackendGroup struct {
	Name    string
	Mode    string
	Balance string
	Servers []Server
	Health  Health
	// SendProxy is the group's PROXY protocol version; each Server holds
	// its own (the group's unless the server line says otherwise).
	SendProxy ProxyVersion
	// Queue is how many connections may wait when every server is at its
	// MaxConn (0: none wait, they are refused), each for QueueTimeout.
	Queue        int
	QueueTimeout time.Duration
	// SmartConnect lets the first data to a server carry the last ACK
	// of the handshake with it (smart-connect on): the ACK waits for the
	// client's first bytes up to delacktime, as HAProxy's option
	// tcp-smart-connect makes Linux do. For protocols where the client
	// speaks first.
	SmartConnect bool
	// ConnectTimeout bounds a connection to a server; ServerTimeout closes
	// a server connection idle that long (0: never), ServerFinTimeout one
	// the server has half-closed.
	ConnectTimeout, ServerTimeout, ServerFinTimeout time.Duration

	// HTTP (mode http) only: each core keeps at most PoolMaxIdle idle
	// keep-alive connections per server for later requests, each for at
	// most PoolIdleTimeout.
	PoolMaxIdle     int
	PoolIdleTimeout time.Duration
}

// Server is one backend server.
type Server struct {
	Name string
	Addr netip.AddrPort
	// Weight is 1..256; 0 drains the server (no new connections).
	Weight int
	// MaxConn is the most connections to the server at once; 0: no limit.
	MaxConn   int
	SendProxy ProxyVersion
	// Check is false for a server the group's health check skips.
	Check bool
}

// Health is a backend group's health check.
type Health struct {
	// Type is "" (no checks: servers are taken as up), "tcp" or "http".
	Type string
	// Inter is the time between checks, Timeout a check's limit (the
	// parser sets it to Inter when it is not given).
	Inter, Timeout time.Duration
	// Rise consecutive good checks bring a down server up; Fall bad ones
	// take an up server down.
	Rise, Fall int
	// Method, Path and Expect are an http check's request and the status
	// that passes it.
	Method, Path string
	Expect       int
}

// Defaults the file and the flags start from.
const (
	DefaultDrain              = 2 * time.Second
	DefaultConnectTimeout     = 5 * time.Second
	DefaultClientTimeout      = 60 * time.Second
	DefaultServerTimeout      = 60 * time.Second
	DefaultAcceptProxyTimeout = 3 * time.Second
	DefaultInter              = 2 * time.Second
	DefaultRise               = 2
	DefaultFall               = 3
	DefaultWeight             = 1
	DefaultHTTPRequestTimeout = 10 * time.Second
	DefaultKeepAliveTimeout   = 60 * time.Second
	DefaultPoolMaxIdle        = 256
	DefaultPoolIdleTimeout    = 30 * time.Second
)

// Limits of the values.
const (
	MaxWeight   = 256
	MaxMaxConn  = 10_000_000
	MaxQueue    = 1_000_000
	MaxRiseFall = 100
	MaxPoolIdle = 100_000
)

// Group returns the backend group named name, or nil.
func (c *Config) Group(name string) *BackendGroup {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}
