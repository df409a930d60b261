package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Op is what a Change did.
type Op int

const (
	Added Op = iota
	Removed
	Changed
)

func (o Op) String() string {
	switch o {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return "changed"
}

// Kinds of what a Change is about.
const (
	KindGlobal   = "global"
	KindListener = "listener"
	KindBackend  = "backend"
	KindServer   = "server"
)

// Change is one difference between two configurations: a listener, a
// backend group or a server (Name "GROUP/SERVER") added or removed, or one
// of its fields (or a global value) changed from Old to New.
type Change struct {
	Op       Op
	Kind     string
	Name     string
	Field    string
	Old, New string
	// Restart: a reload cannot apply it (the engine's interface,
	// namespace, addresses, cores, metrics address and tunables are set at
	// start).
	Restart bool
}

func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s", c.Op, c.Kind, c.Name)
	if c.Op == Changed {
		s = fmt.Sprintf("changed %s %s: %s -> %s", c.Kind, c.Name, quoteEmpty(c.Old), quoteEmpty(c.New))
		if c.Kind != KindGlobal {
			s = fmt.Sprintf("changed %s %s %s: %s -> %s", c.Kind, c.Name, c.Field, quoteEmpty(c.Old), quoteEmpty(c.New))
		}
	}
	if c.Restart {
		s += " (needs a restart)"
	}
	return s
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// field is a named value of a listener, group or server, as text.
type field struct{ name, v string }

// Diff lists what changed from old to new: global values first, then
// listeners, backend groups and their servers, each in the order of new's
// file (removed ones in old's order, after). A reload applies it to new
// connections; connections open keep what they began with.
func Diff(old, new *Config) []Change {
	var out []Change
	for _, f := range pairFields(globalFields(old), globalFields(new)) {
		out = append(out, Change{Op: Changed, Kind: KindGlobal, Name: f.name, Field: f.name, Old: f.old, New: f.new, Restart: f.name != "drain"})
	}
	out = append(out, diffNamed(KindListener, old.Listeners, new.Listeners,
		func(l Listener) string { return l.Name }, listenerFields, nil)...)
	out = append(out, diffNamed(KindBackend, old.Backends, new.Backends,
		func(g BackendGroup) string { return g.Name }, groupFields,
		func(o, n BackendGroup) []Change {
			ch := diffNamed(KindServer, o.Servers, n.Servers,
				func(s Server) string { return s.Name }, serverFields, nil)
			for i := range ch {
				ch[i].Name = n.Name + "/" + ch[i].Name
			}
			return ch
		})...)
	return out
}

type fieldPair struct{ name, old, new string }

// pairFields returns the fields whose values differ (both lists hold the
// same names in the same order).
func pairFields(a, b []field) []fieldPair {
	var out []fieldPair
	for i := range a {
		if a[i].v != b[i].v {
			out = append(out, fieldPair{a[i].name, a[i].v, b[i].v})
		}
	}
	return out
}

func diffNamed[T any](kind string, old, new []T, name func(T) string, fields func(T) []field, inner func(o, n T) []Change) []Change {
	var out []Change
	find := func(list []T, n string) (T, bool) {
		i := slices.IndexFunc(list, func(t T) bool { return name(t) == n })
		if i < 0 {
			var zero T
			return zero, false
		}
		return list[i], true
	}
	for _, n := range new {
		o, ok := find(old, name(n))
		if !ok {
			out = append(out, Change{Op: Added, Kind: kind, Name: name(n)})
			continue
		}
		for _, f := range pairFields(fields(o), fields(n)) {
			out = append(out, Change{Op: Changed, Kind: kind, Name: name(n), Field: f.name, Old: f.old, New: f.new})
		}
		if inner != nil {
			out = append(out, inner(o, n)...)
		}
	}
	for _, o := range old {
		if _, ok := find(new, name(o)); !ok {
			out = append(out, Change{Op: Removed, Kind: kind, Name: name(o)})
		}
	}
	return out
}

func dstr(d fmt.Stringer) string { return d.String() }

func globalFields(c *Config) []field {
	addrs := ""
	for i, a := range c.Addrs {
		if i > 0 {
			addrs += ","
		}
		addrs += a.String()
	}
	return []field{
		{"iface", c.Iface}, {"netns", c.Netns}, {"addr", addrs}, {"cores", c.Cores},
		{"metrics", c.Metrics}, {"drain", dur(c.Drain)}, {"sysctl", strings.Join(c.Sysctl, " ")},
		{"route", strings.Join(c.Routes, " ")}, {"gateway", strings.Join(c.Gateways, " ")},
	}
}

func listenerFields(l Listener) []field {
	binds := ""
	for i, b := range l.Binds {
		if i > 0 {
			binds += ","
		}
		binds += b.String()
	}
	ap := "off"
	if l.AcceptProxy {
		ap = "timeout " + dur(l.AcceptProxyTimeout)
	}
	routes := ""
	for i, r := range l.Routes {
		if i > 0 {
			routes += "; "
		}
		routes += r.describe()
	}
	ff := l.forwardWords()
	return []field{
		{"bind", binds}, {"mode", l.Mode}, {"maxconn", strconv.Itoa(l.MaxConn)},
		{"backend", l.Backend}, {"accept-proxy", ap},
		{"timeout client", dur(l.ClientTimeout)}, {"timeout client-fin", dur(l.ClientFinTimeout)},
		{"timeout http-request", dur(l.HTTPRequestTimeout)}, {"timeout http-keep-alive", dur(l.KeepAliveTimeout)},
		{"forward-for", ff}, {"use_backend", routes},
	}
}

func groupFields(g BackendGroup) []field {
	h := "off"
	if g.Health.Type != "" {
		h = fmt.Sprintf("%s inter %s rise %d fall %d timeout %s", g.Health.describe(), dur(g.Health.Inter), g.Health.Rise, g.Health.Fall, dur(g.Health.Timeout))
	}
	return []field{
		{"mode", g.Mode}, {"balance", g.Balance}, {"health-check", h},
		{"send-proxy", dstr(g.SendProxy)}, {"smart-connect", onOff(g.SmartConnect)}, {"queue", strconv.Itoa(g.Queue)},
		{"timeout queue", dur(g.QueueTimeout)}, {"timeout connect", dur(g.ConnectTimeout)},
		{"timeout server", dur(g.ServerTimeout)}, {"timeout server-fin", dur(g.ServerFinTimeout)},
		{"pool-max-idle", strconv.Itoa(g.PoolMaxIdle)}, {"timeout pool-idle", dur(g.PoolIdleTimeout)},
	}
}

func serverFields(s Server) []field {
	return []field{
		{"address", s.Addr.String()}, {"weight", strconv.Itoa(s.Weight)},
		{"maxconn", strconv.Itoa(s.MaxConn)}, {"send-proxy", dstr(s.SendProxy)},
		{"check", strconv.FormatBool(s.Check)},
	}
}
