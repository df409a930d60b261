package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// parseMetrics reads Prometheus's text format and sums every sample of a
// metric over its labels: name -> sum. Comments and unreadable lines are
// skipped.
func parseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		m[strings.TrimSpace(name)] += v
	}
	return m
}

// proxyCounters keeps pollstack's proxy and TCP counters (pollstack_proxy_*
// and pollstack_tcp_* ending in _total) that are not zero, and its poll
// counts.
func proxyCounters(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		keep := (strings.HasPrefix(k, "pollstack_proxy_") || strings.HasPrefix(k, "pollstack_tcp_")) && strings.HasSuffix(k, "_total")
		keep = keep || k == "pollstack_poll_busy_total" || k == "pollstack_poll_idle_total"
		if keep && v != 0 {
			out[k] = v
		}
	}
	return out
}

// segmentsPerConn is pollstack's TCP segments sent and received (both
// legs) per client connection its listeners accepted; 0, 0 before any.
func segmentsPerConn(m map[string]float64) (out, in float64) {
	n := m["pollstack_proxy_listener_accepted_total"]
	if n <= 0 {
		return 0, 0
	}
	return m["pollstack_tcp_sndtotal_total"] / n, m["pollstack_tcp_rcvtotal_total"] / n
}

// pollstackFailures are pollstack proxy's counters of connections that
// failed on its side (internal/proxy/fwd's counters): any of them is an
// error of the turn. Client resets are not among them: wrk ends each run
// with its connections mid-request.
var pollstackFailures = []string{
	"pollstack_proxy_server_connect_refused_total",
	"pollstack_proxy_server_connect_timeout_total",
	"pollstack_proxy_server_connect_reset_total",
	"pollstack_proxy_server_connect_noport_total",
	"pollstack_proxy_server_connect_other_total",
	"pollstack_proxy_server_retries_total",
	"pollstack_proxy_server_resets_total",
	"pollstack_proxy_listener_refused_maxconn_total",
	"pollstack_proxy_listener_idle_timeouts_total",
	"pollstack_proxy_backend_no_server_total",
	"pollstack_proxy_backend_queue_timeouts_total",
}

// pollstackHTTPFailures are the HTTP mode's failures beside those: the
// proxy's own 502, 503 and 504 answers, requests it refused, and
// malformed responses.
var pollstackHTTPFailures = []string{
	"pollstack_proxy_listener_http_refused_total",
	"pollstack_proxy_listener_http_502_total",
	"pollstack_proxy_listener_http_503_total",
	"pollstack_proxy_listener_http_504_total",
	"pollstack_proxy_server_http_bad_responses_total",
}

// failuresOf returns the failure counters of mode.
func failuresOf(mode string) []string {
	if mode == modeHTTP {
		return append(append([]string(nil), pollstackFailures...), pollstackHTTPFailures...)
	}
	return pollstackFailures
}

// pollstackErrors lists mode's failure counters that are not zero, or "".
func pollstackErrors(c map[string]float64, mode string) string {
	var parts []string
	for _, k := range failuresOf(mode) {
		if v := c[k]; v != 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimSuffix(strings.TrimPrefix(k, "pollstack_proxy_"), "_total"), v))
		}
	}
	return strings.Join(parts, ", ")
}

// haproxyLog matches a tcplog line (with dontlog-normal, only sessions
// that ended abnormally are logged): "198.18.0.2:41234 [date] cps cps/h1 ...".
var haproxyLog = regexp.MustCompile(`(?m)^\d+\.\d+\.\d+\.\d+:\d+ \[`)

// nginxErrors matches the error log's lines of level error and above.
var nginxErrors = regexp.MustCompile(`(?m)\[(error|crit|alert|emerg)\]`)

// abnormal counts the sessions the proxy itself saw end abnormally in its
// turn, and says where the count comes from: pollstack's counters (client
// resets and the failures above), HAProxy's log (tcplog, dontlog-normal)
// and nginx's error log (level error and above, e.g. "recv() failed (104:
// Connection reset by peer)").
func (b *bench) abnormal(px string, counters map[string]float64, output string) (uint64, string) {
	switch px {
	case pxPollstack:
		n := counters["pollstack_proxy_listener_client_resets_total"]
		for _, k := range failuresOf(b.o.Mode) {
			n += counters[k]
		}
		return uint64(n), "pollstack_proxy_* counters: client_resets and the failure counters"
	case pxHAProxy:
		return uint64(len(haproxyLog.FindAllStringIndex(output, -1))), "HAProxy's tcplog lines (option dontlog-normal)"
	default:
		log := filepath.Join(filepath.Dir(b.confPath(pxNginx)), "error.log")
		text, _ := os.ReadFile(log) // no log: no error
		n := uint64(len(nginxErrors.FindAllIndex(text, -1)))
		// The log lives across turns: count only what this turn added.
		if err := os.Truncate(log, 0); err != nil && !os.IsNotExist(err) {
			return n, "nginx's error.log ([error] and above); could not truncate it: " + err.Error()
		}
		return n, "nginx's error.log ([error] and above)"
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// wrkP99 reads the 99% line of wrk's --latency distribution, in µs.
var wrkP99Line = regexp.MustCompile(`(?m)^\s*99%\s+([0-9.]+)(us|ms|s|m)\s*$`)

func wrkP99(out string) (float64, error) {
	m := wrkP99Line.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk: no 99%% line in its --latency report:\n%s", strings.TrimSpace(out))
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("wrk: 99%% line %q: %w", m[0], err)
	}
	return v * map[string]float64{"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m[2]], nil
}
