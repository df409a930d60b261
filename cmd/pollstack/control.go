package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pollstack/pollstack/engine"
)

// controlDir holds the control sockets of running engines.
const controlDir = "/run/pollstack"

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
}

// serveControl serves the engine's control endpoint on a Unix socket and
// returns a function that stops it and removes the socket.
func serveControl(path string, e *engine.Engine, f *engineFlags, app string, stderr io.Writer) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, usagef("%s: control socket %s is in use by a running engine (use --control)", f.cmd, path)
	}
	os.Remove(path) // a stale socket from an engine that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("%s: control socket: %w", f.cmd, err)
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(statReply{Iface: f.iface, Netns: f.netns, App: app,
			Uptime: time.Since(start).Seconds(), Sampled: time.Now(), Engine: e.Snapshot()})
	})
	mux.Handle("GET /v1/sysctl", serveSysctl(e))
	mux.Handle("POST /v1/sysctl", serveSysctl(e))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
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

Shows a running engine's state: per core, the packet and byte rates, TCP
connections by state (TIME_WAIT included), drops by reason, and the TCP
counters that moved. Reads the control socket serve opens (by default
/run/pollstack/[NS@]IF.sock; with one engine running, no flag is needed).

Flags:`

func runStat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stat", statSynopsis, stdout)
	iface := fs.String("iface", "", "interface of the engine to read")
	netns := fs.String("netns", "", "network namespace of that interface")
	control := fs.String("control", "", "control socket to read (overrides --iface/--netns)")
	jsonOut := fs.Bool("json", false, "print the engine's state as JSON")
	watch := fs.Duration("watch", 0, "print again every D (rates over D) until interrupted or --count")
	count := fs.Int("count", 0, "with --watch: stop after N reports (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *watch < 0 || *count < 0 {
		return usagef("stat: --watch and --count must not be negative")
	}
	path := *control
	if path == "" && *iface != "" {
		path = controlPath(*iface, *netns)
	}
	if path == "" {
		socks, _ := filepath.Glob(filepath.Join(controlDir, "*.sock"))
		switch len(socks) {
		case 0:
			return usagef("stat: no running engine found (no control socket in %s)", controlDir)
		case 1:
			path = socks[0]
		default:
			return usagef("stat: %d engines running, pick one with --iface/--netns or --control: %s", len(socks), strings.Join(socks, " "))
		}
	}
	prev, err := fetchStat(path)
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if *jsonOut && *watch == 0 {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(prev)
	}
	interval := *watch
	if interval == 0 {
		interval = 500 * time.Millisecond // one report, rates over half a second
	}
	for n := 1; ; n++ {
		time.Sleep(interval)
		cur, err := fetchStat(path)
		if err != nil {
			return fmt.Errorf("stat: %w", err)
		}
		if *jsonOut {
			json.NewEncoder(stdout).Encode(cur)
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
