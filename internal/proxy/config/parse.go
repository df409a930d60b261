package config

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads a configuration file; name is what errors call the file. It
// returns the first error found, one line: "NAME:LINE:COL: problem".
func Parse(name string, r io.Reader) (*Config, error) {
	lines, n, err := lex(name, r)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, lines: n, cfg: &Config{Drain: DefaultDrain}}
	for _, l := range lines {
		if err := p.line(l); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// Section kinds, as bits so a directive lists where it may be.
const (
	secGlobal = 1 << iota
	secDefaults
	secFrontend
	secBackend
	secListen

	secProxies   = secFrontend | secBackend | secListen
	secListeners = secFrontend | secListen
	secGroups    = secBackend | secListen
)

var sectionNames = map[string]int{
	"global": secGlobal, "defaults": secDefaults, "frontend": secFrontend,
	"backend": secBackend, "listen": secListen,
}

func sectionName(kind int) string {
	for n, k := range sectionNames {
		if k == kind {
			return n
		}
	}
	return "?"
}

// where lists the sections a directive belongs in, for an error.
func where(kinds int) string {
	var s []string
	for _, n := range []string{"global", "defaults", "frontend", "backend", "listen"} {
		if kinds&sectionNames[n] != 0 {
			s = append(s, n)
		}
	}
	if len(s) == 1 {
		return "a " + s[0] + " section"
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1] + " sections"
}

// opt is a setting that may be absent; at is where it was given and sec in
// which section (to find one given twice).
type opt[T any] struct {
	v   T
	set bool
	sec int
	at  token
}

// settings are what a defaults section gives the proxy sections after it,
// and what a proxy section sets for itself.
type settings struct {
	mode, balance                          opt[string]
	maxconn, queue                         opt[int]
	tConnect, tClient, tServer, tClientFin opt[time.Duration]
	tServerFin, tQueue, tCheck             opt[time.Duration]
	tHTTPRequest, tKeepAlive, tPoolIdle    opt[time.Duration]
	poolMaxIdle                            opt[int]
	forwardFor                             opt[forwardFor]
	health                                 opt[Health]
	sendProxy                              opt[ProxyVersion]
	smartConnect                           opt[bool]
	acceptProxy                            opt[time.Duration] // set: accept; v: its timeout (0: default)
	dfltWeight, dfltMaxconn                opt[int]
	dfltSendProxy                          opt[ProxyVersion]
	dfltNoCheck                            opt[bool]
}

type section struct {
	kind, id int
	name     string
	at       token
	s        *settings
	binds    []token
	bindsV   []Bind
	servers  []serverLine
	backend  opt[string]
	routes   []routeLine
}

// routeLine is a use_backend line.
type routeLine struct {
	r      Route
	at, to token
}

type serverLine struct {
	srv             Server
	at, addrAt      token
	weight, maxconn opt[int]
	sendProxy       opt[ProxyVersion]
	noCheck         opt[bool]
}

type parser struct {
	name  string
	lines int
	cfg   *Config
	defs  settings
	sec   *section
	secs  []*section
	// globals given, by directive, for "given twice".
	globals map[string]token
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{p.name, t.line, t.col, fmt.Sprintf(format, args...)}
}

func (p *parser) line(l []token) error {
	w := l[0]
	if kind, ok := sectionNames[w.s]; ok {
		return p.startSection(kind, l)
	}
	d, ok := directives[w.s]
	if !ok {
		return p.unknown(w)
	}
	if p.sec == nil {
		return p.errAt(w, "%s outside a section (the file begins with global, defaults, listen, frontend or backend)", w.s)
	}
	if d.in&p.sec.kind == 0 {
		return p.errAt(w, "%s is not allowed in a %s section (it belongs in %s)", w.s, sectionName(p.sec.kind), where(d.in))
	}
	return d.fn(p, l)
}

func (p *parser) unknown(w token) error {
	if hint, ok := haproxyHints[w.s]; ok {
		return p.errAt(w, "unknown directive %s: %s", w.s, hint)
	}
	var names []string
	for n, d := range directives {
		if p.sec == nil || d.in&p.sec.kind != 0 {
			names = append(names, n)
		}
	}
	for n := range sectionNames {
		names = append(names, n)
	}
	sort.Strings(names)
	if s := suggest(w.s, names); s != "" {
		return p.errAt(w, "unknown directive %s (did you mean %s?)", w.s, s)
	}
	return p.errAt(w, "unknown directive %s", w.s)
}

func (p *parser) startSection(kind int, l []token) error {
	p.sec = &section{kind: kind, id: len(p.secs) + 1, at: l[0]}
	p.secs = append(p.secs, p.sec)
	switch kind {
	case secGlobal:
		if len(l) > 1 {
			return p.errAt(l[1], "global takes no name")
		}
		return nil
	case secDefaults:
		// A defaults section starts afresh and applies to the proxy
		// sections after it, as in HAProxy; its name, if any, is not used.
		if len(l) > 2 {
			return p.errAt(l[2], "defaults takes at most a name")
		}
		if len(l) == 2 {
			if err := checkName(l[1].s); err != nil {
				return p.errAt(l[1], "defaults name %v", err)
			}
		}
		p.defs = settings{}
		p.sec.s = &p.defs
		return nil
	}
	what := sectionName(kind)
	if len(l) < 2 {
		return p.errAt(l[0], "%s wants a name", what)
	}
	if len(l) > 2 {
		return p.errAt(l[2], "%s %s: one name only (bind goes on a line of its own)", what, l[1].s)
	}
	if err := checkName(l[1].s); err != nil {
		return p.errAt(l[1], "%s name %v", what, err)
	}
	p.sec.name, p.sec.at = l[1].s, l[1]
	for _, o := range p.secs[:len(p.secs)-1] {
		if o.name != l[1].s {
			continue
		}
		if kind&secListeners != 0 && o.kind&secListeners != 0 {
			return p.errAt(l[1], "a listener named %s is already at line %d", o.name, o.at.line)
		}
		if kind&secGroups != 0 && o.kind&secGroups != 0 {
			return p.errAt(l[1], "a backend named %s is already at line %d", o.name, o.at.line)
		}
	}
	s := p.defs
	p.sec.s = &s
	return nil
}

// setOpt sets o from the directive at t, refusing it twice in one section.
func setOpt[T any](p *parser, o *opt[T], t token, v T) error {
	if o.set && o.sec == p.sec.id {
		return p.errAt(t, "%s given twice in this section (first at line %d)", t.s, o.at.line)
	}
	*o = opt[T]{v: v, set: true, sec: p.sec.id, at: t}
	return nil
}

type directive struct {
	in int
	fn func(p *parser, l []token) error
}

var directives map[string]directive

func init() {
	directives = map[string]directive{
		"iface":   {secGlobal, globalString(func(c *Config, s string) error { c.Iface = s; return checkIface(s) })},
		"netns":   {secGlobal, globalString(func(c *Config, s string) error { c.Netns = s; return checkNetns(s) })},
		"cores":   {secGlobal, globalString(func(c *Config, s string) error { c.Cores = s; return checkCores(s) })},
		"metrics": {secGlobal, globalString(func(c *Config, s string) error { c.Metrics = s; return checkHostPort(s) })},
		"drain": {secGlobal, globalString(func(c *Config, s string) error {
			d, err := parseDuration(s, true)
			c.Drain = d
			return err
		})},
		"addr":            {secGlobal, (*parser).addr},
		"sysctl":          {secGlobal, (*parser).sysctl},
		"route":           {secGlobal, (*parser).route},
		"gateway":         {secGlobal, (*parser).gateway},
		"mode":            {secDefaults | secProxies, (*parser).mode},
		"balance":         {secDefaults | secGroups, (*parser).balance},
		"maxconn":         {secDefaults | secListeners, intDirective(func(s *settings) *opt[int] { return &s.maxconn }, 0, MaxMaxConn)},
		"queue":           {secDefaults | secGroups, intDirective(func(s *settings) *opt[int] { return &s.queue }, 0, MaxQueue)},
		"timeout":         {secDefaults | secProxies, (*parser).timeout},
		"accept-proxy":    {secDefaults | secListeners, (*parser).acceptProxy},
		"send-proxy":      {secDefaults | secGroups, (*parser).sendProxy},
		"smart-connect":   {secDefaults | secGroups, (*parser).smartConnect},
		"health-check":    {secDefaults | secGroups, (*parser).healthCheck},
		"default-server":  {secDefaults | secGroups, (*parser).defaultServer},
		"server":          {secGroups, (*parser).server},
		"bind":            {secListeners, (*parser).bind},
		"default_backend": {secFrontend, (*parser).defaultBackend},
		"pool-max-idle":   {secDefaults | secGroups, intDirective(func(s *settings) *opt[int] { return &s.poolMaxIdle }, 0, MaxPoolIdle)},
		"forward-for":     {secDefaults | secListeners, (*parser).forwardFor},
		"use_backend":     {secListeners, (*parser).useBackend},
	}
}

// haproxyHints answer HAProxy directives that pollstack writes otherwise
// or does not have yet.
var haproxyHints = map[string]string{
	"option":          "HAProxy's options are not supported (for option httpchk, write health-check http GET /path expect 200; for option tcp-smart-connect, smart-connect on)",
	"log":             "logging is not configurable yet",
	"acl":             "ACLs are not supported yet",
	"http-request":    "HTTP rules are not supported yet",
	"http-response":   "HTTP rules are not supported yet",
	"retries":         "retries are not configurable yet",
	"stats":           "the stats page is the metrics endpoint: global metrics HOST:PORT",
	"nbthread":        "threads are cores: global cores LIST",
	"cpu-map":         "threads are cores: global cores LIST",
	"daemon":          "pollstack runs in the foreground; run it under a service manager",
	"fullconn":        "a backend's limits are per server: server ... maxconn N, or default-server maxconn N",
	"hash-type":       "maghash is the one hash; no hash-type",
	"grace":           "the stop's wait is global drain DURATION",
	"hard-stop-after": "the stop's wait is global drain DURATION",
}

// A value the flags give must also be one word of the file (Format writes
// it there): no white space, no '#' first.
func notAWord(s string) bool {
	return strings.ContainsAny(s, " \t\r\n") || strings.HasPrefix(s, "#")
}

func checkIface(s string) error {
	if len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/:") || notAWord(s) {
		return fmt.Errorf("%q: not an interface name (1..15 characters, no '/', ':' or spaces)", s)
	}
	return nil
}

func checkNetns(s string) error {
	if len(s) > 255 || s == "." || s == ".." || strings.ContainsAny(s, "/@") || notAWord(s) {
		return fmt.Errorf("%q: not a network namespace name (a name in /run/netns: no '/' or '@')", s)
	}
	return nil
}

// args checks a directive's word count: min..max words after it.
func (p *parser) args(l []token, min, max int, want string) error {
	n := len(l) - 1
	if n > max {
		return p.errAt(l[max+1], "%s: unexpected %q (want %s %s)", l[0].s, l[max+1].s, l[0].s, want)
	}
	if n < min {
		return p.errAt(l[0], "%s wants %s", l[0].s, want)
	}
	return nil
}

func globalString(set func(*Config, string) error) func(p *parser, l []token) error {
	return func(p *parser, l []token) error {
		if err := p.args(l, 1, 1, "a value"); err != nil {
			return err
		}
		if p.globals == nil {
			p.globals = map[string]token{}
		}
		if t, ok := p.globals[l[0].s]; ok {
			return p.errAt(l[0], "%s given twice (first at line %d)", l[0].s, t.line)
		}
		p.globals[l[0].s] = l[0]
		if err := set(p.cfg, l[1].s); err != nil {
			return p.errAt(l[1], "%s %v", l[0].s, err)
		}
		return nil
	}
}

func (p *parser) addr(l []token) error {
	if err := p.args(l, 1, 1, "an address in CIDR form"); err != nil {
		return err
	}
	a, err := parsePrefix(l[1].s)
	if err != nil {
		return p.errAt(l[1], "addr %v", err)
	}
	if slices.Contains(p.cfg.Addrs, a) {
		return p.errAt(l[1], "addr %s given twice", a)
	}
	p.cfg.Addrs = append(p.cfg.Addrs, a)
	return nil
}

func (p *parser) sysctl(l []token) error {
	if err := p.args(l, 1, 1, "NAME=VALUE"); err != nil {
		return err
	}
	if err := checkSysctl(l[1].s); err != nil {
		return p.errAt(l[1], "sysctl %v", err)
	}
	p.cfg.Sysctl = append(p.cfg.Sysctl, l[1].s)
	return nil
}

// route reads route PREFIX=NEXTHOP.
func (p *parser) route(l []token) error {
	if err := p.args(l, 1, 1, "PREFIX=NEXTHOP"); err != nil {
		return err
	}
	pfx, hop, ok := strings.Cut(l[1].s, "=")
	pp, err := netip.ParsePrefix(pfx)
	if err == nil && pp != pp.Masked() {
		err = fmt.Errorf("host bits set (want %v)", pp.Masked())
	}
	if !ok || err != nil {
		return p.errAt(l[1], "route %q: want PREFIX=NEXTHOP, as 198.19.0.0/24=198.18.0.2", l[1].s)
	}
	h, err := netip.ParseAddr(hop)
	if err != nil || h.Is4() != pp.Addr().Is4() {
		return p.errAt(l[1], "route %q: the next hop must be an IP address of the prefix's family", l[1].s)
	}
	p.cfg.Routes = append(p.cfg.Routes, l[1].s)
	return nil
}

// gateway reads gateway IP, at most one per family.
func (p *parser) gateway(l []token) error {
	if err := p.args(l, 1, 1, "IP"); err != nil {
		return err
	}
	a, err := netip.ParseAddr(l[1].s)
	if err != nil {
		return p.errAt(l[1], "gateway %q: want an IP address", l[1].s)
	}
	for _, g := range p.cfg.Gateways {
		if netip.MustParseAddr(g).Is4() == a.Is4() {
			return p.errAt(l[1], "gateway %s: a second gateway of its family (gateway %s came first)", l[1].s, g)
		}
	}
	p.cfg.Gateways = append(p.cfg.Gateways, l[1].s)
	return nil
}

func (p *parser) mode(l []token) error {
	if err := p.args(l, 1, 1, "tcp or http"); err != nil {
		return err
	}
	m, err := parseMode(l[1].s)
	if err != nil {
		return p.errAt(l[1], "mode %v", err)
	}
	return setOpt(p, &p.sec.s.mode, l[0], m)
}

func (p *parser) balance(l []token) error {
	if err := p.args(l, 1, 1, "roundrobin, leastconn, random2 or maghash"); err != nil {
		return err
	}
	b, err := parseBalance(l[1].s)
	if err != nil {
		return p.errAt(l[1], "balance %v", err)
	}
	return setOpt(p, &p.sec.s.balance, l[0], b)
}

func intDirective(get func(*settings) *opt[int], lo, hi int) func(p *parser, l []token) error {
	return func(p *parser, l []token) error {
		if err := p.args(l, 1, 1, "a number"); err != nil {
			return err
		}
		n, err := parseInt(l[1].s, lo, hi)
		if err != nil {
			return p.errAt(l[1], "%s %v", l[0].s, err)
		}
		return setOpt(p, get(p.sec.s), l[0], n)
	}
}

// timeouts: which sections each takes, whether 0 (never) is allowed.
var timeouts = map[string]struct {
	in     int
	zeroOK bool
	get    func(*settings) *opt[time.Duration]
}{
	"connect":         {secDefaults | secGroups, false, func(s *settings) *opt[time.Duration] { return &s.tConnect }},
	"server":          {secDefaults | secGroups, true, func(s *settings) *opt[time.Duration] { return &s.tServer }},
	"server-fin":      {secDefaults | secGroups, true, func(s *settings) *opt[time.Duration] { return &s.tServerFin }},
	"queue":           {secDefaults | secGroups, false, func(s *settings) *opt[time.Duration] { return &s.tQueue }},
	"check":           {secDefaults | secGroups, false, func(s *settings) *opt[time.Duration] { return &s.tCheck }},
	"client":          {secDefaults | secListeners, true, func(s *settings) *opt[time.Duration] { return &s.tClient }},
	"client-fin":      {secDefaults | secListeners, true, func(s *settings) *opt[time.Duration] { return &s.tClientFin }},
	"http-request":    {secDefaults | secListeners, true, func(s *settings) *opt[time.Duration] { return &s.tHTTPRequest }},
	"http-keep-alive": {secDefaults | secListeners, true, func(s *settings) *opt[time.Duration] { return &s.tKeepAlive }},
	"pool-idle":       {secDefaults | secGroups, false, func(s *settings) *opt[time.Duration] { return &s.tPoolIdle }},
}

// forwardFor is the forward-for directive's value.
type forwardFor struct {
	kind          string
	replace, host bool
}

// forwardFor reads forward-for x-forwarded-for|forwarded|none [host]
// [replace].
func (p *parser) forwardFor(l []token) error {
	const want = "forward-for x-forwarded-for [host] [replace], or forwarded [replace]"
	if err := p.args(l, 1, 3, "x-forwarded-for|forwarded|none [host] [replace]"); err != nil {
		return err
	}
	var f forwardFor
	switch l[1].s {
	case ForwardXFF, ForwardRFC7239, ForwardNone:
		f.kind = l[1].s
	default:
		return p.errAt(l[1], "forward-for %q: want x-forwarded-for, forwarded or none", l[1].s)
	}
	for _, t := range l[2:] {
		switch {
		case f.kind == ForwardNone:
			return p.errAt(t, "forward-for none: unexpected %q (want %s)", t.s, want)
		case t.s == "replace" && !f.replace:
			f.replace = true
		case t.s == "host" && !f.host && f.kind == ForwardXFF:
			f.host = true
		default:
			return p.errAt(t, "forward-for %s: unexpected %q (want %s)", f.kind, t.s, want)
		}
	}
	return setOpt(p, &p.sec.s.forwardFor, l[0], f)
}

func (p *parser) timeout(l []token) error {
	if err := p.args(l, 2, 2, "NAME DURATION"); err != nil {
		if len(l) == 2 {
			return p.errAt(l[0], "timeout %s wants a duration", l[1].s)
		}
		return err
	}
	t, ok := timeouts[l[1].s]
	if !ok {
		names := make([]string, 0, len(timeouts))
		for n := range timeouts {
			names = append(names, n)
		}
		sort.Strings(names)
		msg := fmt.Sprintf("unknown timeout %s (timeouts: %s)", l[1].s, strings.Join(names, ", "))
		if s := suggest(l[1].s, names); s != "" {
			msg = fmt.Sprintf("unknown timeout %s (did you mean %s?)", l[1].s, s)
		}
		return p.errAt(l[1], "%s", msg)
	}
	if t.in&p.sec.kind == 0 {
		return p.errAt(l[1], "timeout %s is not allowed in a %s section (it belongs in %s)", l[1].s, sectionName(p.sec.kind), where(t.in))
	}
	d, err := parseDuration(l[2].s, t.zeroOK)
	if err != nil {
		return p.errAt(l[2], "timeout %s %v", l[1].s, err)
	}
	name := l[1]
	name.s = "timeout " + name.s
	return setOpt(p, t.get(p.sec.s), name, d)
}

func (p *parser) acceptProxy(l []token) error {
	if err := p.args(l, 0, 2, "[timeout DURATION]"); err != nil {
		return err
	}
	var d time.Duration
	if len(l) > 1 {
		if l[1].s != "timeout" {
			return p.errAt(l[1], "accept-proxy: unexpected %q (want accept-proxy [timeout DURATION])", l[1].s)
		}
		if len(l) < 3 {
			return p.errAt(l[1], "accept-proxy timeout wants a duration")
		}
		var err error
		if d, err = parseDuration(l[2].s, false); err != nil {
			return p.errAt(l[2], "accept-proxy timeout %v", err)
		}
	}
	return setOpt(p, &p.sec.s.acceptProxy, l[0], d)
}

func (p *parser) sendProxy(l []token) error {
	if err := p.args(l, 1, 1, "v1, v2 or none"); err != nil {
		return err
	}
	v, err := parseProxyVersion(l[1].s, true)
	if err != nil {
		return p.errAt(l[1], "send-proxy %v", err)
	}
	return setOpt(p, &p.sec.s.sendProxy, l[0], v)
}

func (p *parser) smartConnect(l []token) error {
	if err := p.args(l, 1, 1, "on or off"); err != nil {
		return err
	}
	on, err := parseOnOff(l[1].s)
	if err != nil {
		return p.errAt(l[1], "smart-connect %v", err)
	}
	return setOpt(p, &p.sec.s.smartConnect, l[0], on)
}

// parseOnOff reads on or off.
func parseOnOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: want on or off", s)
}

// healthCheck reads health-check [off | tcp | http [METHOD] PATH [expect
// STATUS]] [inter D] [rise N] [fall N] [timeout D].
func (p *parser) healthCheck(l []token) error {
	h := Health{Type: "tcp", Inter: DefaultInter, Rise: DefaultRise, Fall: DefaultFall}
	var httpAt token
	i := 1
	if len(l) > 1 {
		switch l[1].s {
		case "off":
			if len(l) > 2 {
				return p.errAt(l[2], "health-check off: unexpected %q", l[2].s)
			}
			return setOpt(p, &p.sec.s.health, l[0], Health{})
		case "tcp":
			i = 2
		case "http":
			httpAt = l[1]
			h.Type, h.Method, h.Expect = "http", "GET", 200
			i = 2
			if i < len(l) && (l[i].s == "GET" || l[i].s == "HEAD" || l[i].s == "OPTIONS") {
				h.Method = l[i].s
				i++
			}
			if i >= len(l) || !strings.HasPrefix(l[i].s, "/") {
				at := l[len(l)-1]
				if i < len(l) {
					at = l[i]
				}
				return p.errAt(at, "health-check http wants [GET|HEAD|OPTIONS] /PATH")
			}
			h.Path = l[i].s
			i++
			if i < len(l) && l[i].s == "expect" {
				if i+1 >= len(l) {
					return p.errAt(l[i], "expect wants an HTTP status")
				}
				n, err := parseInt(l[i+1].s, 100, 599)
				if err != nil {
					return p.errAt(l[i+1], "expect %v", err)
				}
				h.Expect = n
				i += 2
			}
		}
	}
	seen := map[string]bool{}
	for ; i < len(l); i += 2 {
		k := l[i]
		if k.s != "inter" && k.s != "rise" && k.s != "fall" && k.s != "timeout" {
			msg := fmt.Sprintf("health-check: unexpected %q (want inter, rise, fall or timeout)", k.s)
			if s := suggest(k.s, []string{"inter", "rise", "fall", "timeout", "tcp", "http", "off"}); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return p.errAt(k, "%s", msg)
		}
		if seen[k.s] {
			return p.errAt(k, "health-check: %s given twice", k.s)
		}
		seen[k.s] = true
		if i+1 >= len(l) {
			return p.errAt(k, "health-check %s wants a value", k.s)
		}
		v := l[i+1]
		var err error
		switch k.s {
		case "inter":
			if h.Inter, err = parseDuration(v.s, false); err == nil && h.Inter < 100*time.Millisecond {
				err = fmt.Errorf("%s: want at least 100ms", v.s)
			}
		case "timeout":
			h.Timeout, err = parseDuration(v.s, false)
		case "rise":
			h.Rise, err = parseInt(v.s, 1, MaxRiseFall)
		case "fall":
			h.Fall, err = parseInt(v.s, 1, MaxRiseFall)
		}
		if err != nil {
			return p.errAt(v, "health-check %s %v", k.s, err)
		}
	}
	if h.Type == "http" {
		for _, c := range []byte(h.Path) {
			if c < 0x21 || c > 0x7e {
				return p.errAt(httpAt, "health-check http: path %q: want printable ASCII without spaces (percent-encode the rest)", h.Path)
			}
		}
	}
	return setOpt(p, &p.sec.s.health, l[0], h)
}

// serverOpts reads a server line's (or default-server's) options into sl.
func (p *parser) serverOpts(l []token, sl *serverLine) error {
	for i := 0; i < len(l); i++ {
		k := l[i]
		value := func() (token, error) {
			if i+1 >= len(l) {
				return token{}, p.errAt(k, "%s wants a value", k.s)
			}
			i++
			return l[i], nil
		}
		var err error
		switch k.s {
		case "weight":
			v, verr := value()
			if verr != nil {
				return verr
			}
			n, perr := parseInt(v.s, 0, MaxWeight)
			if perr != nil {
				return p.errAt(v, "weight %v", perr)
			}
			err = setOpt(p, &sl.weight, k, n)
		case "maxconn":
			v, verr := value()
			if verr != nil {
				return verr
			}
			n, perr := parseInt(v.s, 0, MaxMaxConn)
			if perr != nil {
				return p.errAt(v, "maxconn %v", perr)
			}
			err = setOpt(p, &sl.maxconn, k, n)
		case "send-proxy":
			v, verr := value()
			if verr != nil {
				return verr
			}
			pv, perr := parseProxyVersion(v.s, true)
			if perr != nil {
				return p.errAt(v, "send-proxy %v", perr)
			}
			err = setOpt(p, &sl.sendProxy, k, pv)
		case "no-check":
			err = setOpt(p, &sl.noCheck, k, true)
		case "send-proxy-v2":
			return p.errAt(k, "write send-proxy v2")
		case "check", "inter", "rise", "fall":
			return p.errAt(k, "%s: health checks are set for the group: health-check inter 2s rise 2 fall 3 (no-check exempts a server)", k.s)
		default:
			msg := fmt.Sprintf("unknown server option %s (options: weight, maxconn, send-proxy, no-check)", k.s)
			if s := suggest(k.s, []string{"weight", "maxconn", "send-proxy", "no-check"}); s != "" {
				msg = fmt.Sprintf("unknown server option %s (did you mean %s?)", k.s, s)
			}
			return p.errAt(k, "%s", msg)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) server(l []token) error {
	if len(l) < 3 {
		return p.errAt(l[0], "server wants NAME IP:PORT [weight W] [maxconn N] [send-proxy v1|v2|none] [no-check]")
	}
	if err := checkName(l[1].s); err != nil {
		return p.errAt(l[1], "server name %v", err)
	}
	sl := serverLine{at: l[1], addrAt: l[2]}
	sl.srv.Name = l[1].s
	for _, o := range p.sec.servers {
		if o.srv.Name == sl.srv.Name {
			return p.errAt(l[1], "a server named %s is already at line %d", o.srv.Name, o.at.line)
		}
	}
	a, err := parseServerAddr(l[2].s)
	if err != nil {
		return p.errAt(l[2], "server address %v", err)
	}
	for _, o := range p.sec.servers {
		if o.srv.Addr == a {
			return p.errAt(l[2], "server %s has the address of server %s (line %d)", sl.srv.Name, o.srv.Name, o.at.line)
		}
	}
	sl.srv.Addr = a
	if err := p.serverOpts(l[3:], &sl); err != nil {
		return err
	}
	p.sec.servers = append(p.sec.servers, sl)
	return nil
}

func (p *parser) defaultServer(l []token) error {
	if err := p.args(l, 1, 100, "weight W, maxconn N, send-proxy v1|v2|none or no-check"); err != nil {
		return err
	}
	var sl serverLine
	if err := p.serverOpts(l[1:], &sl); err != nil {
		return err
	}
	s := p.sec.s
	if s.dfltWeight.sec == p.sec.id || s.dfltMaxconn.sec == p.sec.id || s.dfltSendProxy.sec == p.sec.id || s.dfltNoCheck.sec == p.sec.id {
		return p.errAt(l[0], "default-server given twice in this section (write one line)")
	}
	for _, c := range []struct {
		set bool
		do  func()
	}{
		{sl.weight.set, func() { s.dfltWeight = sl.weight }},
		{sl.maxconn.set, func() { s.dfltMaxconn = sl.maxconn }},
		{sl.sendProxy.set, func() { s.dfltSendProxy = sl.sendProxy }},
		{sl.noCheck.set, func() { s.dfltNoCheck = sl.noCheck }},
	} {
		if c.set {
			c.do()
		}
	}
	return nil
}

func (p *parser) bind(l []token) error {
	if err := p.args(l, 1, 1, "[ADDR]:PORT"); err != nil {
		return err
	}
	b, err := parseBind(l[1].s)
	if err != nil {
		return p.errAt(l[1], "bind %v", err)
	}
	for _, o := range p.secs {
		for i, ob := range o.bindsV {
			if ob.overlaps(b) {
				return p.errAt(l[1], "bind %s overlaps bind %s of %s %s (line %d)", b, ob, sectionName(o.kind), o.name, o.binds[i].line)
			}
		}
	}
	p.sec.binds = append(p.sec.binds, l[1])
	p.sec.bindsV = append(p.sec.bindsV, b)
	return nil
}

func (p *parser) defaultBackend(l []token) error {
	if err := p.args(l, 1, 1, "a backend's name"); err != nil {
		return err
	}
	return setOpt(p, &p.sec.backend, l[1], l[1].s)
}

// useBackend reads use_backend NAME [host HOST] [path PREFIX].
func (p *parser) useBackend(l []token) error {
	const want = "use_backend NAME [host HOST] [path /PREFIX] (one of host and path at least)"
	for _, t := range l[1:] {
		if t.s == "if" || t.s == "unless" {
			return p.errAt(t, "use_backend: HAProxy's ACL conditions are not supported; write %s", want)
		}
	}
	if len(l) < 4 || len(l)%2 != 0 {
		return p.errAt(l[0], "want %s", want)
	}
	rl := routeLine{r: Route{Backend: l[1].s}, at: l[0], to: l[1]}
	for i := 2; i < len(l); i += 2 {
		k, v := l[i], l[i+1]
		switch k.s {
		case "host":
			if rl.r.Host != "" {
				return p.errAt(k, "use_backend: host given twice")
			}
			h := strings.ToLower(v.s)
			if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil && !validHostname(h) {
				return p.errAt(v, "use_backend host %q: want a host name or an IP address, without a port", v.s)
			}
			rl.r.Host = h
		case "path":
			if rl.r.PathPrefix != "" {
				return p.errAt(k, "use_backend: path given twice")
			}
			if !strings.HasPrefix(v.s, "/") || strings.ContainsFunc(v.s, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
				return p.errAt(v, "use_backend path %q: want a prefix beginning with / in printable ASCII", v.s)
			}
			rl.r.PathPrefix = v.s
		default:
			return p.errAt(k, "use_backend: unexpected %q (want %s)", k.s, want)
		}
	}
	p.sec.routes = append(p.sec.routes, rl)
	return nil
}

// validHostname reports whether h is a DNS name of letters, digits, '-'
// and '.' (as Host carries one).
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// finish checks what needs the whole file and builds the Config.
func (p *parser) finish() error {
	groups := map[string]*section{}
	for _, s := range p.secs {
		if s.kind&secGroups == 0 {
			continue
		}
		groups[s.name] = s
		g, err := p.group(s)
		if err != nil {
			return err
		}
		p.cfg.Backends = append(p.cfg.Backends, g)
	}
	for _, s := range p.secs {
		if s.kind&secListeners == 0 {
			continue
		}
		if len(s.binds) == 0 {
			return p.errAt(s.at, "%s %s has no bind", sectionName(s.kind), s.name)
		}
		set := s.s
		l := Listener{
			Name:          s.name,
			Binds:         s.bindsV,
			Mode:          val(set.mode, ModeTCP),
			MaxConn:       val(set.maxconn, 0),
			AcceptProxy:   set.acceptProxy.set,
			ClientTimeout: val(set.tClient, DefaultClientTimeout),
		}
		l.ClientFinTimeout = val(set.tClientFin, l.ClientTimeout)
		if l.Mode == ModeHTTP {
			l.HTTPRequestTimeout = val(set.tHTTPRequest, DefaultHTTPRequestTimeout)
			l.KeepAliveTimeout = val(set.tKeepAlive, DefaultKeepAliveTimeout)
			ff := val(set.forwardFor, forwardFor{kind: ForwardXFF})
			l.ForwardFor, l.ForwardReplace, l.ForwardHost = ff.kind, ff.replace, ff.host
		} else if err := httpOnly(p, s, set.tHTTPRequest.at, set.tHTTPRequest.sec, set.tKeepAlive.at, set.tKeepAlive.sec, set.forwardFor.at, set.forwardFor.sec); err != nil {
			return err
		}
		if l.AcceptProxy {
			l.AcceptProxyTimeout = set.acceptProxy.v
			if l.AcceptProxyTimeout == 0 {
				l.AcceptProxyTimeout = DefaultAcceptProxyTimeout
			}
		}
		var gs *section
		var refAt token
		if s.kind == secListen {
			gs, l.Backend, refAt = s, s.name, s.at
		} else {
			if !s.backend.set {
				return p.errAt(s.at, "frontend %s has no default_backend", s.name)
			}
			l.Backend, refAt = s.backend.v, s.backend.at
			if gs = groups[l.Backend]; gs == nil {
				names := make([]string, 0, len(groups))
				for n := range groups {
					names = append(names, n)
				}
				sort.Strings(names)
				msg := fmt.Sprintf("default_backend %s: no backend or listen section of that name", l.Backend)
				if h := suggest(l.Backend, names); h != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", h)
				}
				return p.errAt(refAt, "%s", msg)
			}
		}
		for _, rl := range s.routes {
			if l.Mode != ModeHTTP {
				return p.errAt(rl.at, "use_backend chooses by Host and path: mode http only (%s %s is mode %s)", sectionName(s.kind), s.name, l.Mode)
			}
			rs := groups[rl.r.Backend]
			if rs == nil {
				names := make([]string, 0, len(groups))
				for n := range groups {
					names = append(names, n)
				}
				sort.Strings(names)
				msg := fmt.Sprintf("use_backend %s: no backend or listen section of that name", rl.r.Backend)
				if h := suggest(rl.r.Backend, names); h != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", h)
				}
				return p.errAt(rl.to, "%s", msg)
			}
			if m := val(rs.s.mode, ModeTCP); m != ModeHTTP {
				return p.errAt(rl.to, "use_backend %s: backend %s is mode %s (routes go to mode http backends)", rl.r.Backend, rs.name, m)
			}
			l.Routes = append(l.Routes, rl.r)
		}
		if gm := val(gs.s.mode, ModeTCP); gm != l.Mode {
			at := refAt
			if gs.s.mode.set && gs.s.mode.sec == gs.id {
				at = gs.s.mode.at
			} else if set.mode.set && set.mode.sec == s.id {
				at = set.mode.at
			}
			return p.errAt(at, "frontend %s is mode %s but backend %s is mode %s (a listener and its backend have one mode)", s.name, l.Mode, gs.name, gm)
		}
		p.cfg.Listeners = append(p.cfg.Listeners, l)
	}
	if len(p.cfg.Listeners) == 0 {
		return &Error{p.name, max(p.lines, 1), 1, "no listen or frontend section: nothing to proxy"}
	}
	return nil
}

// httpOnly refuses HTTP settings given in a mode tcp section itself (at
// and sec in pairs; a defaults section may hold them for the http sections
// after it).
func httpOnly(p *parser, s *section, x ...any) error {
	for i := 0; i+1 < len(x); i += 2 {
		at, sec := x[i].(token), x[i+1].(int)
		if at.s != "" && sec == s.id {
			return p.errAt(at, "%s applies to mode http only (%s %s is mode tcp)", at.s, sectionName(s.kind), s.name)
		}
	}
	return nil
}

func val[T any](o opt[T], d T) T {
	if o.set {
		return o.v
	}
	return d
}

func (p *parser) group(s *section) (BackendGroup, error) {
	set := s.s
	if len(s.servers) == 0 {
		return BackendGroup{}, p.errAt(s.at, "%s %s has no server", sectionName(s.kind), s.name)
	}
	g := BackendGroup{
		Name:           s.name,
		Mode:           val(set.mode, ModeTCP),
		Balance:        val(set.balance, BalanceRoundRobin),
		Health:         val(set.health, Health{}),
		SendProxy:      val(set.sendProxy, ProxyNone),
		SmartConnect:   val(set.smartConnect, false),
		Queue:          val(set.queue, 0),
		ConnectTimeout: val(set.tConnect, DefaultConnectTimeout),
		ServerTimeout:  val(set.tServer, DefaultServerTimeout),
	}
	g.QueueTimeout = val(set.tQueue, g.ConnectTimeout)
	if g.Mode == ModeHTTP {
		g.PoolMaxIdle = val(set.poolMaxIdle, DefaultPoolMaxIdle)
		g.PoolIdleTimeout = val(set.tPoolIdle, DefaultPoolIdleTimeout)
	} else if err := httpOnly(p, s, set.poolMaxIdle.at, set.poolMaxIdle.sec, set.tPoolIdle.at, set.tPoolIdle.sec); err != nil {
		return g, err
	}
	g.ServerFinTimeout = val(set.tServerFin, g.ServerTimeout)
	if g.Health.Type != "" && g.Health.Timeout == 0 {
		g.Health.Timeout = val(set.tCheck, g.Health.Inter)
	}
	limited := false
	for _, sl := range s.servers {
		srv := sl.srv
		srv.Weight = val(sl.weight, val(set.dfltWeight, DefaultWeight))
		srv.MaxConn = val(sl.maxconn, val(set.dfltMaxconn, 0))
		srv.SendProxy = val(sl.sendProxy, val(set.dfltSendProxy, g.SendProxy))
		srv.Check = g.Health.Type != "" && !val(sl.noCheck, val(set.dfltNoCheck, false))
		limited = limited || srv.MaxConn > 0
		g.Servers = append(g.Servers, srv)
	}
	if g.Queue > 0 && !limited {
		return g, p.errAt(set.queue.at, "queue %d in %s %s, but no server has a maxconn: nothing would ever wait", g.Queue, sectionName(s.kind), s.name)
	}
	return g, nil
}
