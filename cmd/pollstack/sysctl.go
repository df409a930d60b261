package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/tcp"
)

// sysctlFlags are --sysctl and --config of the commands that build an
// engine: settings applied to its TCP configuration before it starts.
type sysctlFlags struct {
	sets     listFlag
	file     string
	settings []engine.SysctlSetting // --config's lines, then --sysctl's
}

func (s *sysctlFlags) register(fs *flag.FlagSet) {
	s.registerSets(fs)
	fs.StringVar(&s.file, "config", "", "read NAME=VALUE lines (# comments) from FILE before start; --sysctl applies after them")
}

// registerSets registers --sysctl alone.
func (s *sysctlFlags) registerSets(fs *flag.FlagSet) {
	fs.Var(&s.sets, "sysctl", "set a TCP tunable before start, NAME=VALUE (net.inet.tcp.*, see 'pollstack sysctl'; repeatable)")
}

// check reads --config and checks every setting against the defaults.
func (s *sysctlFlags) check(cmd string) error {
	s.settings = nil
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			return usagef("%s: --config: %v", cmd, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			set, err := parseSetting(line)
			if err != nil {
				return usagef("%s: --config %s:%d: %v", cmd, s.file, n, err)
			}
			s.settings = append(s.settings, set)
		}
	}
	for _, a := range s.sets {
		set, err := parseSetting(a)
		if err != nil {
			return usagef("%s: --sysctl: %v", cmd, err)
		}
		s.settings = append(s.settings, set)
	}
	cfg := tcp.DefaultConfig()
	var ecfg engine.Config
	for _, set := range s.settings {
		if engine.IsIPSysctl(set.Name) {
			if err := engine.SetIPSysctl(&ecfg, set.Name, set.Value); err != nil {
				return usagef("%s: %v", cmd, err)
			}
			continue
		}
		if err := tcp.Set(&cfg, set.Name, set.Value); err != nil {
			return usagef("%s: %v", cmd, err)
		}
	}
	return nil
}

// apply applies the settings to cfg's TCP configuration (a copy) and
// sends log_in_vain's lines to stderr.
func (s *sysctlFlags) apply(cfg *engine.Config, cmd string) error {
	var tcpSets []engine.SysctlSetting
	for _, set := range s.settings {
		if !engine.IsIPSysctl(set.Name) {
			tcpSets = append(tcpSets, set)
			continue
		}
		if err := engine.SetIPSysctl(cfg, set.Name, set.Value); err != nil {
			return usagef("%s: %v", cmd, err)
		}
	}
	if cfg.TCP == nil {
		if len(tcpSets) > 0 {
			return usagef("%s: --sysctl and --config need TCP (not with a raw sink)", cmd)
		}
		return nil
	}
	t := *cfg.TCP
	for _, set := range tcpSets {
		if err := tcp.Set(&t, set.Name, set.Value); err != nil {
			return usagef("%s: %v", cmd, err)
		}
	}
	if t.Log == nil {
		t.Log = func(line string) { fmt.Fprintf(os.Stderr, "pollstack: log_in_vain: %s\n", line) }
	}
	cfg.TCP = &t
	return nil
}

// parseSetting parses NAME=VALUE.
func parseSetting(s string) (engine.SysctlSetting, error) {
	name, value, ok := strings.Cut(s, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return engine.SysctlSetting{}, fmt.Errorf("%q: want NAME=VALUE", s)
	}
	return engine.SysctlSetting{Name: name, Value: value}, nil
}

// sysctlError is what the control endpoint answers a refused request with.
type sysctlError struct {
	Error string `json:"error"`
}

// serveSysctl answers GET /v1/sysctl[?name=N...] with the tunables asked
// for (all by default) and POST /v1/sysctl, whose body is a JSON list of
// {"name","value"} settings applied all or none, with the new values.
func serveSysctl(e *engine.Engine) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fail := func(code int, err error) {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(sysctlError{Error: err.Error()}) // the client has gone if this fails
		}
		var names []string
		if r.Method == http.MethodPost {
			var sets []engine.SysctlSetting
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&sets); err != nil {
				fail(http.StatusBadRequest, fmt.Errorf("bad request body: %v", err))
				return
			}
			if err := e.SetSysctls(sets); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			for _, s := range sets {
				names = append(names, s.Name)
			}
		} else {
			names = r.URL.Query()["name"]
		}
		all := e.Sysctls()
		if all == nil {
			fail(http.StatusNotFound, fmt.Errorf("this engine has no TCP"))
			return
		}
		if len(names) == 0 {
			_ = json.NewEncoder(w).Encode(all) // the client has gone if this fails
			return
		}
		var out []engine.SysctlValue
		for _, n := range names {
			s, err := tcp.LookupSysctl(n)
			if err != nil {
				fail(http.StatusNotFound, err)
				return
			}
			for _, v := range all {
				if v.Name == s.Name {
					out = append(out, v)
				}
			}
		}
		_ = json.NewEncoder(w).Encode(out) // the client has gone if this fails
	}
}

const sysctlSynopsis = `sysctl [--iface IF [--netns NS] | --control PATH] [--json] [NAME[=VALUE] ...]

Reads and sets a running engine's TCP tunables (net.inet.tcp.*, FreeBSD's
names and units; see docs/tunables.md). With no NAME it lists them all;
NAME prints one (net.inet.tcp.msl or just msl); NAME=VALUE sets it on every
core and prints "NAME: OLD -> NEW". Several settings are applied all or
none: a read-only tunable or a value out of its limits prints one line,
exits 1 and changes nothing. Finds the engine like 'pollstack stat' (and
removes a stale control socket like it); with no engine running it prints
one line and exits 3; a bad flag exits 2.

Flags:`

func runSysctl(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sysctl", sysctlSynopsis, stdout)
	var target controlTarget
	target.register(fs, "interface of the engine", "control socket of the engine (overrides --iface/--netns)")
	jsonOut := fs.Bool("json", false, "print name, value, unit, read_only and description as JSON")
	// Flags and names may come in any order.
	var words []string
	for {
		if err := parseQuiet(fs, args); err != nil {
			if err == flag.ErrHelp {
				return err // the flag set printed the usage
			}
			return usagef("sysctl: %v (see 'pollstack sysctl --help')", err)
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	var gets []string
	var sets []engine.SysctlSetting
	for _, w := range words {
		if strings.Contains(w, "=") {
			s, err := parseSetting(w)
			if err != nil {
				return usagef("sysctl: %v", err)
			}
			sets = append(sets, s)
		} else {
			gets = append(gets, w)
		}
	}
	if len(sets) > 0 && len(gets) > 0 {
		return usagef("sysctl: either read (NAME ...) or set (NAME=VALUE ...), not both at once")
	}
	path, err := target.find("sysctl", stderr)
	if err != nil {
		return err
	}
	c := controlClient(path)
	var old []engine.SysctlValue
	if len(sets) > 0 {
		var names []string
		for _, s := range sets {
			names = append(names, s.Name)
		}
		if old, err = getSysctls(c, path, names); err != nil {
			return err
		}
	}
	var vals []engine.SysctlValue
	if len(sets) > 0 {
		body, _ := json.Marshal(sets)
		vals, err = doSysctl(c, path, http.MethodPost, "http://pollstack/v1/sysctl", bytes.NewReader(body))
	} else {
		vals, err = getSysctls(c, path, gets)
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(stdout, vals)
	}
	for i, v := range vals {
		if old != nil && i < len(old) {
			fmt.Fprintf(stdout, "%s: %s -> %s\n", v.Name, old[i].Value, v.Value)
		} else {
			fmt.Fprintf(stdout, "%s: %s\n", v.Name, v.Value)
		}
	}
	return nil
}

func controlClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
}

func getSysctls(c *http.Client, path string, names []string) ([]engine.SysctlValue, error) {
	q := url.Values{"name": names}
	return doSysctl(c, path, http.MethodGet, "http://pollstack/v1/sysctl?"+q.Encode(), nil)
}

// doSysctl makes one request to the control endpoint; a refusal comes
// back as the engine's one-line error.
func doSysctl(c *http.Client, path, method, u string, body io.Reader) ([]engine.SysctlValue, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, controlErr("sysctl", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e sysctlError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, fmt.Errorf("sysctl: %s", e.Error)
		}
		return nil, fmt.Errorf("sysctl: control socket %s: %s", path, resp.Status)
	}
	var vals []engine.SysctlValue
	if err := json.NewDecoder(resp.Body).Decode(&vals); err != nil {
		return nil, fmt.Errorf("sysctl: control socket %s: %w", path, err)
	}
	return vals, nil
}
