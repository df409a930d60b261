package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/engine"
)

// controlDir holds the control sockets of running engines (a variable for
// the tests).
var controlDir = "/run/pollstack"

// controlPath is the default control socket of an engine on iface in netns.
func controlPath(iface, netns string) string {
	name := iface
	if netns != "" {
		name = netns + "@" + iface
	}
	return filepath.Join(controlDir, name+".sock")
}

// statReply is what GET /v1/stat returns.
type statReply struct {
	Iface   string          `json:"iface"`
	Netns   string          `json:"netns,omitempty"`
	App     string          `json:"app,omitempty"`
	Uptime  float64         `json:"uptime_seconds"`
	Sampled time.Time       `json:"sampled"`
	Engine  engine.Snapshot `json:"engine"`
	// Proxy is a proxy's counters, per core and server (pollstack proxy).
	Proxy []proxyStat `json:"proxy,omitempty"`
}

// serveControl serves the engine's control endpoint on a Unix socket and
// returns a function that stops it and removes the socket.
// It creates the default directory (/run/pollstack, as a daemon's run
// directory) but no other: an explicit --control's directory must exist.
func serveControl(path string, e *engine.Engine, f *engineFlags, app string, stderr io.Writer) (func(), error) {
	if filepath.Dir(path) == controlDir {
		if err := os.MkdirAll(controlDir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: control socket: %w", f.cmd, err)
		}
	}
	switch st, err := probeControl(path); st {
	case probeLive:
		return nil, usagef("%s: control socket %s is in use by a running engine (use --control)", f.cmd, path)
	case probeStale:
		os.Remove(path) // left by an engine that died
	case probeError:
		return nil, fmt.Errorf("%s: control socket %s: %v", f.cmd, path, errText(err))
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("%s: control socket: %w", f.cmd, err)
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// A failed write means the client has gone; nothing to tell it.
		reply := statReply{Iface: f.iface, Netns: f.netns, App: app,
			Uptime: time.Since(start).Seconds(), Sampled: time.Now(), Engine: e.Snapshot()}
		if f.proxyStat != nil {
			reply.Proxy = f.proxyStat()
		}
		_ = json.NewEncoder(w).Encode(reply)
	})
	mux.Handle("GET /v1/sysctl", serveSysctl(e))
	mux.Handle("POST /v1/sysctl", serveSysctl(e))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "pollstack: control socket %s: %v\n", path, err)
		}
	}()
	fmt.Fprintf(stderr, "pollstack: control socket %s ('pollstack stat' reads it)\n", path)
	return func() { srv.Close(); os.Remove(path) }, nil
}

// fetchStat asks the engine behind the control socket for its state.
func fetchStat(path string) (*statReply, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	resp, err := c.Get("http://pollstack/v1/stat")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("control socket %s: %s", path, resp.Status)
	}
	var r statReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &r, nil
}

const statSynopsis = `stat [--iface IF [--netns NS] | --control PATH] [--json] [--watch D] [--count N]

Shows a running engine's state: its routing table (connected prefixes,
--route, --gateway, routers learned with --accept-ra), then per core the packet and byte rates, TCP
connections by state (TIME_WAIT included), drops by reason (no_route: no
route to the destination), and the TCP counters that moved. Reads the control socket serve opens (by default
/run/pollstack/[NS@]IF.sock; with one engine running, no flag is needed).

A control socket nobody listens on (its serve was killed) is removed, with a
note on stderr. With no engine running it prints one line and exits 3; a bad
flag exits 2, any other failure 1.

Flags:`

func runStat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stat", statSynopsis, stdout)
	var target controlTarget
	target.register(fs, "interface of the engine to read", "control socket to read (overrides --iface/--netns)")
	jsonOut := fs.Bool("json", false, "print the engine's state as JSON")
	watch := fs.Duration("watch", 0, "print again every D, at least 100ms (rates over D) until interrupted or --count (0: one report, rates over 500ms)")
	count := fs.Int("count", 0, "with --watch: stop after N reports (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkDuration("stat", "watch", *watch, true, 100*time.Millisecond, "0 (one report) or at least 100ms"); err != nil {
		return err
	}
	if *count < 0 {
		return usagef("stat: --count %d: must not be negative", *count)
	}
	if *count > 0 && *watch == 0 {
		return usagef("stat: --count needs --watch")
	}
	path, err := target.find("stat", stderr)
	if err != nil {
		return err
	}
	prev, err := fetchStat(path)
	if err != nil {
		return controlErr("stat", path, err)
	}
	if *jsonOut && *watch == 0 {
		return writeJSON(stdout, prev)
	}
	interval := *watch
	if interval == 0 {
		interval = 500 * time.Millisecond // one report, rates over half a second
	}
	for n := 1; ; n++ {
		time.Sleep(interval)
		cur, err := fetchStat(path)
		if err != nil {
			return controlErr("stat", path, err)
		}
		if *jsonOut {
			if err := json.NewEncoder(stdout).Encode(cur); err != nil {
				return err
			}
		} else {
			printStat(stdout, prev, cur)
		}
		if *watch == 0 || (*count > 0 && n >= *count) {
			return nil
		}
		prev = cur
	}
}

// printStat prints cur with rates against prev.
func printStat(w io.Writer, prev, cur *statReply) {
	secs := cur.Sampled.Sub(prev.Sampled).Seconds()
	if secs <= 0 {
		secs = 1
	}
	where := cur.Iface
	if cur.Netns != "" {
		where += " (netns " + cur.Netns + ")"
	}
	app := cur.App
	if app == "" {
		app = "none"
	}
	fmt.Fprintf(w, "pollstack on %s, app %s, up %.1f s, %d core(s)\n", where, app, cur.Uptime, len(cur.Engine.Cores))
	printRoutes(w, cur.Engine.Routes)
	for i, c := range cur.Engine.Cores {
		var p engine.CoreSnapshot
		if i < len(prev.Engine.Cores) {
			p = prev.Engine.Cores[i]
		}
		rate := func(m, pm map[string]uint64, k string) float64 { return float64(m[k]-pm[k]) / secs }
		busy, idle := rate(c.Counters, p.Counters, "poll_busy"), rate(c.Counters, p.Counters, "poll_idle")
		busyPct := 0.0
		if busy+idle > 0 {
			busyPct = 100 * busy / (busy + idle)
		}
		fmt.Fprintf(w, "core %d (CPU %d): rx %.0f pps %.1f Mbit/s, tx %.0f pps %.1f Mbit/s, %.0f%% of polls busy, %d neighbours\n",
			c.Core, c.CPU, rate(c.Counters, p.Counters, "rx_packets"), rate(c.Counters, p.Counters, "rx_bytes")*8/1e6,
			rate(c.Counters, p.Counters, "tx_packets"), rate(c.Counters, p.Counters, "tx_bytes")*8/1e6, busyPct,
			c.Counters["neighbour_entries"])
		if c.States != nil {
			var parts []string
			for _, st := range []string{"LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
				"CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"} {
				if n := c.States[st]; n != 0 || st == "ESTABLISHED" || st == "TIME_WAIT" {
					parts = append(parts, fmt.Sprintf("%s %d", st, n))
				}
			}
			fmt.Fprintf(w, "  tcp connections: %s\n", strings.Join(parts, ", "))
			fmt.Fprintf(w, "  tcp rates: %.0f connects/s, %.0f closed/s, %.0f segments/s in, %.0f out\n",
				rate(c.TCP, p.TCP, "connects"), rate(c.TCP, p.TCP, "closed"),
				rate(c.TCP, p.TCP, "rcvtotal"), rate(c.TCP, p.TCP, "sndtotal"))
			fmt.Fprintf(w, "  tcp totals: %s\n", nonZero(c.TCP, "connects", "accepts", "closed", "drops", "conndrops",
				"sndrexmitpack", "rexmttimeo", "tlp", "listendrop", "sc_sendcookie", "challengeack", "tw_reopened", "tw_recycled", "persistdrop", "keepdrops"))
		}
		if d := nonZero(c.Drops); d != "none" {
			fmt.Fprintf(w, "  drops: %s\n", d)
		} else {
			fmt.Fprintf(w, "  drops: none\n")
		}
		fmt.Fprintf(w, "  rings now: rx %d waiting, tx %d queued, fill %d lent, pool %d frames free\n",
			c.Counters["rx_ring_used"], c.Counters["tx_ring_used"], c.Counters["fill_ring_used"], c.Counters["pool_free_frames"])
		if r := nonZero(c.Counters, "rx_ring_empty", "tx_ring_full", "fill_ring_empty", "kernel_rx_dropped",
			"kernel_rx_invalid", "kernel_tx_invalid", "steered_out", "steered_in", "handoff_full"); r != "none" {
			fmt.Fprintf(w, "  rings: %s\n", r)
		}
	}
	printProxyStat(w, prev.Proxy, cur.Proxy, secs)
}

// printRoutes prints the routing table, one route a line, longest prefixes
// of each family first, as the lookup ranks them.
func printRoutes(w io.Writer, routes []engine.RouteInfo) {
	rs := slices.Clone(routes)
	sort.SliceStable(rs, func(i, j int) bool {
		pi, _ := netip.ParsePrefix(rs[i].Prefix)
		pj, _ := netip.ParsePrefix(rs[j].Prefix)
		if pi.Addr().Is4() != pj.Addr().Is4() {
			return pi.Addr().Is4()
		}
		return pi.Bits() > pj.Bits()
	})
	fmt.Fprintf(w, "routes (longest prefix first):\n")
	for _, r := range rs {
		switch {
		case r.Via == "":
			fmt.Fprintf(w, "  %-22s %s\n", r.Prefix, r.Kind)
		case r.Expires > 0:
			fmt.Fprintf(w, "  %-22s via %s (%s, %.0f s left)\n", r.Prefix, r.Via, r.Kind, r.Expires)
		default:
			fmt.Fprintf(w, "  %-22s via %s (%s)\n", r.Prefix, r.Via, r.Kind)
		}
	}
	if len(rs) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
}

// nonZero formats the named counters of m that are not zero (all of them,
// sorted, when no names are given).
func nonZero(m map[string]uint64, names ...string) string {
	if len(names) == 0 {
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	var parts []string
	for _, k := range names {
		if v := m[k]; v != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// probeState is what a connection attempt on a control socket finds.
type probeState int

const (
	probeMissing probeState = iota // no file at the path
	probeLive                      // an engine accepted the connection
	probeStale                     // a socket nobody listens on: its engine died
	probeError                     // anything else (permission, not a socket...)
)

// probeControl connects to the control socket at path and says what is
// there. A Unix socket refuses a connection (ECONNREFUSED) when nothing
// listens on it; a live engine whose backlog is full answers EAGAIN
// instead, so it is never taken for stale. A refused socket is tried once
// more after a pause, and must be the same file both times, so that a
// serve that has just bound it (and is about to listen) is not taken for
// a dead one.
func probeControl(path string) (probeState, error) {
	var first os.FileInfo
	for try := 0; ; try++ {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return probeMissing, err
		}
		c, err := net.DialTimeout("unix", path, 2*time.Second)
		if err == nil {
			c.Close()
			return probeLive, nil
		}
		switch {
		case errors.Is(err, syscall.ENOENT):
			return probeMissing, err
		case !errors.Is(err, syscall.ECONNREFUSED), st == nil:
			return probeError, err
		case st.Mode()&os.ModeSocket == 0:
			// connect(2) refuses a file that is no socket too: not ours.
			return probeError, errors.New("not a socket")
		case try > 0 && os.SameFile(first, st):
			return probeStale, err
		case try > 2:
			return probeError, err // replaced again and again: leave it
		}
		first = st
		time.Sleep(100 * time.Millisecond)
	}
}

// errText is err's innermost cause for a one-line message: "connection
// refused" rather than the whole chain of a dial.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// controlTarget is how stat and sysctl name the engine they talk to:
// --iface and --netns, or --control.
type controlTarget struct{ iface, netns, control string }

// register adds the flags, with the command's own help for --iface and
// --control.
func (t *controlTarget) register(fs *flag.FlagSet, ifaceHelp, controlHelp string) {
	fs.StringVar(&t.iface, "iface", "", ifaceHelp)
	fs.StringVar(&t.netns, "netns", "", "network namespace of that interface")
	fs.StringVar(&t.control, "control", "", controlHelp)
}

// find finds the control socket of the engine that stat or sysctl (cmd)
// talks to: --control, else --iface/--netns's default path, else the one
// socket in /run/pollstack that an engine answers on. A socket nobody
// listens on (its serve was killed) is removed on the way, with a note on
// stderr; no engine is a noEngineError (exit code 3).
func (t *controlTarget) find(cmd string, stderr io.Writer) (string, error) {
	control, iface, netns := t.control, t.iface, t.netns
	if control == "" && iface != "" {
		if err := checkIfaceName(cmd, iface); err != nil {
			return "", err
		}
		if err := checkNetnsName(cmd, netns); err != nil {
			return "", err
		}
		control = controlPath(iface, netns)
	}
	if control != "" {
		switch st, err := probeControl(control); st {
		case probeLive:
			return control, nil
		case probeMissing:
			return "", &noEngineError{fmt.Sprintf("%s: no engine running: no control socket %s", cmd, control)}
		case probeStale:
			if err := os.Remove(control); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("%s: no engine answers on %s and it cannot be removed: %v", cmd, control, errText(err))
			}
			return "", &noEngineError{fmt.Sprintf("%s: no engine running: removed the stale control socket %s (nothing listened on it)", cmd, control)}
		default:
			return "", controlErr(cmd, control, err)
		}
	}
	socks, _ := filepath.Glob(filepath.Join(controlDir, "*.sock"))
	var live, stale []string
	var firstErr error
	for _, p := range socks {
		switch st, err := probeControl(p); st {
		case probeStale:
			if os.Remove(p) == nil {
				stale = append(stale, p)
			}
		case probeError: // not ours to judge or remove: left alone
			if firstErr == nil {
				firstErr = controlErr(cmd, p, err)
			}
		case probeLive:
			live = append(live, p)
		}
	}
	switch len(live) {
	case 0:
		if firstErr != nil {
			return "", firstErr
		}
		if len(stale) > 0 {
			return "", &noEngineError{fmt.Sprintf("%s: no running engine found (removed %d stale control socket(s) in %s: %s)",
				cmd, len(stale), controlDir, strings.Join(stale, " "))}
		}
		return "", &noEngineError{fmt.Sprintf("%s: no running engine found (no control socket in %s)", cmd, controlDir)}
	case 1:
		for _, p := range stale {
			fmt.Fprintf(stderr, "pollstack: %s: removed stale control socket %s (nothing listened on it)\n", cmd, p)
		}
		return live[0], nil
	}
	return "", usagef("%s: %d engines running, pick one with --iface/--netns or --control: %s", cmd, len(live), strings.Join(live, " "))
}

// controlErr turns a failure to talk to the engine at path into one line:
// an engine gone since (no socket, or nobody listening) is a
// noEngineError.
func controlErr(cmd, path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return &noEngineError{fmt.Sprintf("%s: no engine answers on %s (%s)", cmd, path, errText(err))}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: control socket %s: permission denied (run as root)", cmd, path)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: control socket %s: the engine did not answer in time", cmd, path)
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return fmt.Errorf("%s: control socket %s: the engine did not answer in time", cmd, path)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("%s: control socket %s: %v", cmd, path, errno)
	}
	return fmt.Errorf("%s: control socket %s: %w", cmd, path, err)
}
