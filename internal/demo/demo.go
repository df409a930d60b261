package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/perf/load"
)

// Modes.
const (
	ModeHTTP = "http"
	ModePing = "ping"
)

// Config shapes a demo run. Zero fields take defaults.
type Config struct {
	Mode     string        // ModeHTTP (the default) or ModePing
	Duration time.Duration // measured time (DefaultDuration)
	Warmup   time.Duration // unmeasured time before it (DefaultWarmup)
	IPv6     bool          // run over IPv6 instead of IPv4

	// HTTP mode.
	Conns int // concurrent connections, 1..MaxConns (DefaultConns)
	// Mix is "SHORT:KEEPALIVE", the ratio of short connections (one
	// request with Connection: close) to keep-alive ones (DefaultMix).
	Mix string
	// Requests is the number of requests a keep-alive connection makes;
	// the last asks the server to close (DefaultRequests).
	Requests int
	// Path is the request target (DefaultPath); the http app reads
	// ?size=N as the body length.
	Path string
	// Timeout is how long a connection may wait for its handshake, a
	// response or its close before it counts as an error (DefaultTimeout).
	Timeout time.Duration

	// Ping mode.
	Window int // echo requests in flight (DefaultWindow)
	Size   int // echo payload bytes, 16..1400 (DefaultSize)
}

// Defaults and limits.
const (
	DefaultDuration = 5 * time.Second
	DefaultWarmup   = 500 * time.Millisecond
	DefaultConns    = 64
	MaxConns        = 4096
	DefaultMix      = "1:1"
	DefaultRequests = 100
	DefaultPath     = "/"
	DefaultTimeout  = 2 * time.Second
	DefaultWindow   = 32
	DefaultSize     = 56
	// ServerPort is the port the http app listens on.
	ServerPort = 8080
)

// Progress is reported once a second while measuring.
type Progress struct {
	Elapsed time.Duration
	// Rate is requests per second (http) or echo replies per second (ping)
	// over the last second.
	Rate float64
	// ConnsPerSec is connections completed per second over the last second (http).
	ConnsPerSec float64
	// Errors counts the errors so far, warmup included.
	Errors uint64
}

// Errors counts the ways a request or connection failed.
type Errors struct {
	Status    uint64 `json:"status"`    // a response other than 200
	Malformed uint64 `json:"malformed"` // a response that does not parse, or bytes nobody asked for
	Reset     uint64 `json:"reset"`     // the connection was reset (ECONNRESET)
	Refused   uint64 `json:"refused"`   // the connection was refused (ECONNREFUSED)
	Timeout   uint64 `json:"timeout"`   // no handshake, response or close within Timeout (or ETIMEDOUT)
	Closed    uint64 `json:"closed"`    // the server closed before the response, or wrongly kept the connection
	Dial      uint64 `json:"dial"`      // Dial failed (no ephemeral port: EADDRNOTAVAIL)
	Write     uint64 `json:"write"`     // Write failed
}

// Total returns the number of errors of every kind.
func (e *Errors) Total() uint64 {
	return e.Status + e.Malformed + e.Reset + e.Refused + e.Timeout + e.Closed + e.Dial + e.Write
}

// Latency holds a run's latency percentiles.
type Latency = load.Percentiles

// Sides holds one number for each stack.
type Sides struct {
	Server int `json:"server"`
	Client int `json:"client"`
}

// TCPAnomalies are TCP counters that stay zero on a healthy run over a
// lossless link, summed over both shards.
type TCPAnomalies struct {
	RexmtTimeouts uint64 `json:"rexmt_timeouts"` // tcpstat rexmttimeo
	RexmitPackets uint64 `json:"rexmit_packets"` // sndrexmitpack
	Drops         uint64 `json:"drops"`          // drops + conndrops
	RSTsSent      uint64 `json:"rsts_sent"`      // rstsent: RSTs for segments without a connection
	ListenDrops   uint64 `json:"listen_drops"`   // listendrop
	BadSegments   uint64 `json:"bad_segments"`   // rcvbadsum + rcvbadoff
}

// Total returns the sum of the anomalies.
func (a *TCPAnomalies) Total() uint64 {
	return a.RexmtTimeouts + a.RexmitPackets + a.Drops + a.RSTsSent + a.ListenDrops + a.BadSegments
}

// Result is what a run measured over Duration. Requests, connections,
// latency, packets and allocations count the measured window only; Errors
// count the whole run (warmup and the final drain too).
type Result struct {
	Mode     string        `json:"mode"`
	IPv6     bool          `json:"ipv6"`
	Duration time.Duration `json:"duration_ns"`

	// HTTP mode.
	Conns          int     `json:"conns,omitempty"`     // concurrent connections
	ShortConns     int     `json:"short_conns"`         // of which short
	KeepAliveConns int     `json:"keepalive_conns"`     // of which keep-alive
	Connections    uint64  `json:"connections"`         // connections completed (closed cleanly) in the window
	ConnsPerSec    float64 `json:"connections_per_sec"` // Connections / Duration
	Requests       uint64  `json:"requests"`            // 200 responses received whole in the window
	RequestsPerSec float64 `json:"requests_per_sec"`

	// Ping mode.
	Sent          uint64  `json:"requests_sent,omitempty"`
	Replies       uint64  `json:"replies,omitempty"`
	Lost          uint64  `json:"lost,omitempty"`
	RepliesPerSec float64 `json:"replies_per_sec,omitempty"`

	// Errors is the total: lost replies in ping mode, the sum of
	// ErrorKinds in http mode.
	Errors     uint64 `json:"errors"`
	ErrorKinds Errors `json:"error_kinds"`

	Latency         Latency `json:"latency"`
	Packets         uint64  `json:"packets"` // rx + tx on both cores
	PacketsPerSec   float64 `json:"packets_per_sec"`
	Mallocs         uint64  `json:"mallocs"`           // whole-process heap allocations in the window
	AllocsPerPacket float64 `json:"allocs_per_packet"` // Mallocs / Packets
	ServerDrops     uint64  `json:"server_drops"`
	ClientDrops     uint64  `json:"client_drops"`

	// TCP state after the run has drained (http mode).
	TimeWait Sides `json:"time_wait"` // connections in TIME_WAIT on each side
	// TimeWaitBytes is the heap one TIME_WAIT entry holds in a full
	// TIME_WAIT table (its index and reserved room included), measured
	// (see TimeWaitBytes the function) with the demo's TCP configuration.
	TimeWaitBytes float64 `json:"time_wait_bytes_per_entry"`
	// LeftOpen counts connections in any state other than TIME_WAIT (and
	// listeners) once the run has drained: zero when every connection
	// closed cleanly.
	LeftOpen Sides        `json:"left_open"`
	TCP      TCPAnomalies `json:"tcp_anomalies"`
}

var (
	serverMAC = net.HardwareAddr{0x02, 0x50, 0x53, 0, 0, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0x50, 0x53, 0, 0, 0x02}
	server4   = netip.MustParsePrefix("198.18.0.1/24")
	client4   = netip.MustParsePrefix("198.18.0.2/24")
	server6   = netip.MustParsePrefix("2001:2::1/64")
	client6   = netip.MustParsePrefix("2001:2::2/64")
)

// Run runs the demo until the duration passes or ctx ends. progress, when
// not nil, is called once a second from Run's goroutine.
func Run(ctx context.Context, cfg Config, progress func(Progress)) (Result, error) {
	if err := cfg.fill(); err != nil {
		return Result{}, err
	}
	if cfg.Mode == ModePing {
		return runPing(ctx, cfg, progress)
	}
	return runHTTP(ctx, cfg, progress)
}

// CheckConfig reports what Run would refuse in cfg.
func CheckConfig(cfg Config) error { return cfg.fill() }

// fill applies the defaults and checks the limits.
func (cfg *Config) fill() error {
	if cfg.Mode == "" {
		cfg.Mode = ModeHTTP
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = DefaultWarmup
	}
	if cfg.Conns == 0 {
		cfg.Conns = DefaultConns
	}
	if cfg.Mix == "" {
		cfg.Mix = DefaultMix
	}
	if cfg.Requests == 0 {
		cfg.Requests = DefaultRequests
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	switch {
	case cfg.Mode != ModeHTTP && cfg.Mode != ModePing:
		return fmt.Errorf("demo: mode %q: want %s or %s", cfg.Mode, ModeHTTP, ModePing)
	case cfg.Duration < 0 || cfg.Warmup < 0 || cfg.Timeout < 0:
		return errors.New("demo: durations must be positive")
	case cfg.Conns < 1 || cfg.Conns > MaxConns:
		return fmt.Errorf("demo: conns %d: want 1..%d", cfg.Conns, MaxConns)
	case cfg.Requests < 1:
		return fmt.Errorf("demo: requests %d: want at least 1", cfg.Requests)
	case cfg.Window < 1 || cfg.Window > 512:
		return fmt.Errorf("demo: window %d: want 1..512", cfg.Window)
	case cfg.Size < 16 || cfg.Size > 1400:
		return fmt.Errorf("demo: size %d: want 16..1400", cfg.Size)
	}
	if _, _, err := ParseMix(cfg.Mix); err != nil {
		return err
	}
	if err := load.CheckPathAs("demo", cfg.Path); err != nil {
		return err
	}
	return nil
}

// ParseMix parses "SHORT:KEEPALIVE", two non-negative integers not both zero.
func ParseMix(s string) (short, keep int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if ok {
		short, err = strconv.Atoi(a)
		if err == nil {
			keep, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || short < 0 || keep < 0 || short+keep == 0 || short > 1e6 || keep > 1e6 {
		return 0, 0, fmt.Errorf("demo: mix %q: want SHORT:KEEPALIVE, e.g. 1:1, 1:0 or 0:1", s)
	}
	return short, keep, nil
}

// SplitConns returns how many of n connections are short under mix.
func SplitConns(n int, mix string) (short, keep int) {
	s, k, err := ParseMix(mix)
	if err != nil {
		return 0, n
	}
	short = (n*s + (s+k)/2) / (s + k)
	if s > 0 && short == 0 {
		short = 1
	}
	if k > 0 && short == n && n > 1 {
		short = n - 1
	}
	return short, n - short
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// measure runs a measured window of d, cut short when ctx ends: once a
// second it calls second with the time since the window opened and the
// length in seconds of the second just past; an error from second ends the
// window and is returned. It returns the instant the window opened.
func measure(ctx context.Context, d time.Duration, second func(elapsed time.Duration, sec float64) error) (time.Time, error) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return start, nil
		case <-deadline.C:
			return start, nil
		case now := <-tick.C:
			if err := second(now.Sub(start), now.Sub(lastAt).Seconds()); err != nil {
				return start, err
			}
			lastAt = now
		}
	}
}

// startLoops runs the server's and the client's work on two unpinned loops
// (CPU labels 0 and 1). stop stops both and may be called more than once.
func startLoops(server, client cores.Worker) (sl, cl *cores.Loop, stop func(), err error) {
	idle := cores.IdlePolicy{SleepAfter: 1024}
	sl = cores.NewLoop(0, false, server, idle)
	cl = cores.NewLoop(1, false, client, idle)
	if err := sl.Start(); err != nil {
		return nil, nil, nil, err
	}
	if err := cl.Start(); err != nil {
		sl.Stop()
		return nil, nil, nil, err
	}
	return sl, cl, func() { sl.Stop(); cl.Stop() }, nil
}
