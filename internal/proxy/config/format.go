package config

import (
	"fmt"
	"strings"
	"time"
)

// Format writes c as a configuration file that Parse reads back to the
// same Config: a global section, then every listener as a frontend and
// every backend group as a backend, with every value written out.
func (c *Config) Format() string {
	var b strings.Builder
	line := func(indent bool, format string, args ...any) {
		if indent {
			b.WriteString("    ")
		}
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line(false, "global")
	if c.Iface != "" {
		line(true, "iface %s", c.Iface)
	}
	if c.Netns != "" {
		line(true, "netns %s", c.Netns)
	}
	for _, a := range c.Addrs {
		line(true, "addr %s", a)
	}
	if c.Cores != "" {
		line(true, "cores %s", c.Cores)
	}
	if c.Metrics != "" {
		line(true, "metrics %s", c.Metrics)
	}
	line(true, "drain %s", dur(c.Drain))
	for _, s := range c.Sysctl {
		line(true, "sysctl %s", s)
	}
	for _, r := range c.Routes {
		line(true, "route %s", r)
	}
	for _, g := range c.Gateways {
		line(true, "gateway %s", g)
	}
	for _, l := range c.Listeners {
		b.WriteByte('\n')
		line(false, "frontend %s", l.Name)
		for _, bd := range l.Binds {
			line(true, "bind %s", bd)
		}
		line(true, "mode %s", l.Mode)
		line(true, "maxconn %d", l.MaxConn)
		line(true, "timeout client %s", dur(l.ClientTimeout))
		line(true, "timeout client-fin %s", dur(l.ClientFinTimeout))
		if l.AcceptProxy {
			line(true, "accept-proxy timeout %s", dur(l.AcceptProxyTimeout))
		}
		if l.Mode == ModeHTTP {
			line(true, "timeout http-request %s", dur(l.HTTPRequestTimeout))
			line(true, "timeout http-keep-alive %s", dur(l.KeepAliveTimeout))
			line(true, "forward-for %s", l.forwardWords())
		}
		for _, r := range l.Routes {
			line(true, "use_backend %s", r.describe())
		}
		line(true, "default_backend %s", l.Backend)
	}
	for _, g := range c.Backends {
		b.WriteByte('\n')
		line(false, "backend %s", g.Name)
		line(true, "mode %s", g.Mode)
		line(true, "balance %s", g.Balance)
		line(true, "timeout connect %s", dur(g.ConnectTimeout))
		line(true, "timeout server %s", dur(g.ServerTimeout))
		line(true, "timeout server-fin %s", dur(g.ServerFinTimeout))
		line(true, "timeout queue %s", dur(g.QueueTimeout))
		line(true, "queue %d", g.Queue)
		line(true, "send-proxy %s", g.SendProxy)
		line(true, "smart-connect %s", onOff(g.SmartConnect))
		if g.Mode == ModeHTTP {
			line(true, "pool-max-idle %d", g.PoolMaxIdle)
			line(true, "timeout pool-idle %s", dur(g.PoolIdleTimeout))
		}
		if h := g.Health; h.Type == "" {
			line(true, "health-check off")
		} else {
			line(true, "health-check %s inter %s rise %d fall %d timeout %s", h.describe(), dur(h.Inter), h.Rise, h.Fall, dur(h.Timeout))
		}
		for _, s := range g.Servers {
			check := ""
			if !s.Check && g.Health.Type != "" {
				check = " no-check"
			}
			line(true, "server %s %s weight %d maxconn %d send-proxy %s%s", s.Name, s.Addr, s.Weight, s.MaxConn, s.SendProxy, check)
		}
	}
	return b.String()
}

// dur writes a duration as Parse reads it, without the trailing zero
// units time.Duration.String adds ("1m0s" is "1m").
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// describe is the check's kind as the file writes it: tcp, or http with
// its request and expected status.
func (h Health) describe() string {
	if h.Type == "http" {
		return fmt.Sprintf("http %s %s expect %d", h.Method, h.Path, h.Expect)
	}
	return h.Type
}

// describe is a route as a use_backend line's arguments.
func (r Route) describe() string {
	s := r.Backend
	if r.Host != "" {
		s += " host " + r.Host
	}
	if r.PathPrefix != "" {
		s += " path " + r.PathPrefix
	}
	return s
}

// forwardWords is the forward-for directive's arguments for l.
func (l Listener) forwardWords() string {
	s := l.ForwardFor
	if l.ForwardHost {
		s += " host"
	}
	if l.ForwardReplace {
		s += " replace"
	}
	return s
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
