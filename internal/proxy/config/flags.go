package config

import (
	"fmt"
	"strings"
	"time"
)

// Flags are the proxy command's values, as parsed by its flag set; a zero
// field is a flag not given. The command passes them to FromFlags.
type Flags struct {
	// The engine's: --iface, --netns, --addr (repeatable), --cores,
	// --metrics. With --config they override the file's global section.
	Iface, Netns string
	Addrs        []string
	Cores        string
	Metrics      string

	// The proxy's: one listener on every address at --listen and one
	// backend group of the --backend IP:PORT[,weight=W] servers. They
	// cannot be given with --config.
	Listen      int
	Backends    []string
	Mode        string
	Balance     string
	HealthCheck time.Duration // the check's interval; 0: no checks
	SendProxy   string        // "", "v1" or "v2"
	AcceptProxy bool
	MaxConn     int
	// SmartConnect is --smart-connect.
	SmartConnect bool

	// Config is --config FILE.
	Config string
}

// FlagName is the name the listener and the backend group made from flags
// take.
const FlagName = "proxy"

// FromFlags builds the Config the command line describes: the file's
// (Load) with the engine flags over its global section when --config is
// given, else one listener and one backend group from the flags. An error
// is one line naming the flag (or FILE:LINE:COL for the file's).
func FromFlags(f Flags) (*Config, error) {
	var c *Config
	if f.Config != "" {
		if given := f.proxyFlags(); len(given) > 0 {
			return nil, fmt.Errorf("--config %s and %s: the file says what to proxy; give one or the other (the engine's flags --iface, --netns, --addr, --route, --gateway, --cores and --metrics may go with --config)", f.Config, strings.Join(given, ", "))
		}
		var err error
		if c, err = Load(f.Config); err != nil {
			return nil, err
		}
	} else {
		var err error
		if c, err = f.proxy(); err != nil {
			return nil, err
		}
	}
	if err := f.engine(c); err != nil {
		return nil, err
	}
	if c.Iface == "" {
		if f.Config != "" {
			return nil, fmt.Errorf("--iface is required (or iface in the global section of %s)", f.Config)
		}
		return nil, fmt.Errorf("--iface is required")
	}
	return c, nil
}

// proxyFlags lists the proxy flags given, which --config excludes.
func (f Flags) proxyFlags() []string {
	var s []string
	add := func(given bool, name string) {
		if given {
			s = append(s, name)
		}
	}
	add(f.Listen != 0, "--listen")
	add(len(f.Backends) > 0, "--backend")
	add(f.Mode != "", "--mode")
	add(f.Balance != "", "--balance")
	add(f.HealthCheck != 0, "--health-check")
	add(f.SendProxy != "", "--send-proxy")
	add(f.AcceptProxy, "--accept-proxy")
	add(f.MaxConn != 0, "--maxconn")
	add(f.SmartConnect, "--smart-connect")
	return s
}

// engine sets the engine flags given over c's global values.
func (f Flags) engine(c *Config) error {
	if f.Iface != "" {
		if err := checkIface(f.Iface); err != nil {
			return fmt.Errorf("--iface %v", err)
		}
		c.Iface = f.Iface
	}
	if f.Netns != "" {
		if err := checkNetns(f.Netns); err != nil {
			return fmt.Errorf("--netns %v", err)
		}
		c.Netns = f.Netns
	}
	if len(f.Addrs) > 0 {
		c.Addrs = nil
		for _, s := range f.Addrs {
			a, err := parsePrefix(s)
			if err != nil {
				return fmt.Errorf("--addr %v", err)
			}
			c.Addrs = append(c.Addrs, a)
		}
	}
	if f.Cores != "" {
		if err := checkCores(f.Cores); err != nil {
			return fmt.Errorf("--cores: %v", err)
		}
		c.Cores = f.Cores
	}
	if f.Metrics != "" {
		if err := checkHostPort(f.Metrics); err != nil {
			return fmt.Errorf("--metrics %v", err)
		}
		c.Metrics = f.Metrics
	}
	return nil
}

// proxy builds the one listener and backend group of the proxy flags.
func (f Flags) proxy() (*Config, error) {
	if f.Listen == 0 {
		return nil, fmt.Errorf("--listen PORT is required (or --config FILE)")
	}
	if f.Listen < 0 || f.Listen > 65535 {
		return nil, fmt.Errorf("--listen %d: want a port in 1..65535", f.Listen)
	}
	if len(f.Backends) == 0 {
		return nil, fmt.Errorf("--backend IP:PORT[,weight=W] is required, once per server")
	}
	l := Listener{
		Name: FlagName, Binds: []Bind{{Port: uint16(f.Listen)}}, Mode: ModeTCP, Backend: FlagName,
		ClientTimeout: DefaultClientTimeout, ClientFinTimeout: DefaultClientTimeout,
	}
	g := BackendGroup{
		Name: FlagName, Mode: ModeTCP, Balance: BalanceRoundRobin,
		ConnectTimeout: DefaultConnectTimeout, QueueTimeout: DefaultConnectTimeout,
		ServerTimeout: DefaultServerTimeout, ServerFinTimeout: DefaultServerTimeout,
	}
	var err error
	if f.Mode != "" {
		if l.Mode, err = parseMode(f.Mode); err != nil {
			return nil, fmt.Errorf("--mode %v", err)
		}
		g.Mode = l.Mode
		if l.Mode == ModeHTTP {
			l.HTTPRequestTimeout, l.KeepAliveTimeout, l.ForwardFor = DefaultHTTPRequestTimeout, DefaultKeepAliveTimeout, ForwardXFF
			g.PoolMaxIdle, g.PoolIdleTimeout = DefaultPoolMaxIdle, DefaultPoolIdleTimeout
		}
	}
	if f.Balance != "" {
		if g.Balance, err = parseBalance(f.Balance); err != nil {
			return nil, fmt.Errorf("--balance %v", err)
		}
	}
	if f.MaxConn < 0 || f.MaxConn > MaxMaxConn {
		return nil, fmt.Errorf("--maxconn %d: want 0 (no limit) .. %d", f.MaxConn, MaxMaxConn)
	}
	l.MaxConn = f.MaxConn
	g.SmartConnect = f.SmartConnect
	if f.AcceptProxy {
		l.AcceptProxy, l.AcceptProxyTimeout = true, DefaultAcceptProxyTimeout
	}
	if f.SendProxy != "" {
		if g.SendProxy, err = parseProxyVersion(f.SendProxy, false); err != nil {
			return nil, fmt.Errorf("--send-proxy %v", err)
		}
	}
	switch {
	case f.HealthCheck < 0:
		return nil, fmt.Errorf("--health-check %v: want 0 (off) or at least 100ms", f.HealthCheck)
	case f.HealthCheck > 0 && f.HealthCheck < 100*time.Millisecond:
		return nil, fmt.Errorf("--health-check %v: want 0 (off) or at least 100ms", f.HealthCheck)
	case f.HealthCheck > 0:
		g.Health = Health{Type: "tcp", Inter: f.HealthCheck, Timeout: f.HealthCheck, Rise: DefaultRise, Fall: DefaultFall}
	}
	for _, b := range f.Backends {
		s, err := parseBackendFlag(b)
		if err != nil {
			return nil, fmt.Errorf("--backend %v", err)
		}
		for _, o := range g.Servers {
			if o.Addr == s.Addr {
				return nil, fmt.Errorf("--backend %s given twice", s.Addr)
			}
		}
		s.SendProxy, s.Check = g.SendProxy, g.Health.Type != ""
		g.Servers = append(g.Servers, s)
	}
	return &Config{Drain: DefaultDrain, Listeners: []Listener{l}, Backends: []BackendGroup{g}}, nil
}

// parseBackendFlag reads IP:PORT[,weight=W]; the server is named by its
// address (without an IPv6 address's brackets), so that a reload's diff
// follows the server, not its place among the flags.
func parseBackendFlag(v string) (Server, error) {
	addr, opts, hasOpts := strings.Cut(v, ",")
	a, err := parseServerAddr(addr)
	if err != nil {
		return Server{}, err
	}
	s := Server{Name: strings.NewReplacer("[", "", "]", "").Replace(a.String()), Addr: a, Weight: DefaultWeight}
	if hasOpts {
		w, ok := strings.CutPrefix(opts, "weight=")
		if !ok {
			return Server{}, fmt.Errorf("%q: want IP:PORT[,weight=W]", v)
		}
		if s.Weight, err = parseInt(w, 0, MaxWeight); err != nil {
			return Server{}, fmt.Errorf("%q: weight %v", v, err)
		}
	}
	return s, nil
}
