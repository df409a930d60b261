package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// The proxies, in the order of the first round.
const (
	pxPollstack = "pollstack"
	pxHAProxy   = "haproxy"
	pxNginx     = "nginx"
)

var allProxies = []string{pxPollstack, pxHAProxy, pxNginx}

// maxConnections bounds --connections: HAProxy takes two descriptors per
// proxied connection and this machine's hard limit may be as low as 20000,
// so its maxconn is 9000 (and nginx's worker_connections the same).
const maxConnections = 4000

// The modes: the proxies in TCP (layer 4) or HTTP mode.
const (
	modeTCP  = "tcp"
	modeHTTP = "http"
)

// maxRate bounds --rate, the open loop's requests/s.
const maxRate = 1000000

// options are the command's flags.
type options struct {
	Mode        string        `json:"mode"`
	Rounds      int           `json:"rounds"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Connections int           `json:"connections"`
	Rate        float64       `json:"open_rate"` // --mode http: the open loop's requests/s
	Proxies     []string      `json:"proxies"`
	ProxyCPU    int           `json:"proxy_cpu"`
	GenCPU      int           `json:"gen_cpu"`
	SleepAt     int           `json:"idle_sleep_after"` // pollstack proxy --idle-sleep-after
	GRO         bool          `json:"gro"`              // GRO on both veth ends
	Offload     bool          `json:"offload"`          // TSO/GSO left on on NAME-a for the kernel proxies
	// SmartConnect: smart-connect on in pollstack's configuration and
	// option tcp-smart-connect in HAProxy's (--mode tcp).
	SmartConnect bool `json:"smart_connect"`
	// NAPIThreads: each veth end's receive processing in a kernel thread
	// pinned to its side's CPU (napi.go).
	NAPIThreads bool   `json:"napi_threads"`
	Pollstack   string `json:"pollstack"` // binary; "" builds one
	KeepBed     bool   `json:"keep_bed"`
	JSON        bool   `json:"-"`
	Verbose     bool   `json:"-"`
}

const usageText = `usage: sudo proxycmp [--mode tcp|http] [flags]

Three proxies side by side in one run, on one fresh test bed, each pinned
to the same CPU (--proxy-cpu), with the same generator and the same
backends on the other CPU (--gen-cpu). --mode tcp (the default) measures
them as TCP (layer 4) proxies:

  pollstack  pollstack proxy (its own TCP stack over AF_XDP) on the bed's
             NAME-a veth end
  haproxy    Debian's HAProxy 2.6, mode tcp, nbthread 1, cpu-map and taskset,
             on the Linux kernel in NAME-a (the same veth end)
  nginx      Debian's nginx stream module (libnginx-mod-stream), one worker,
             worker_cpu_affinity and taskset, on the kernel in NAME-a

--mode http measures them as HTTP/1.1 reverse proxies: pollstack proxy in
mode http (per-core pools of backend keep-alive connections), HAProxy in
mode http with http-reuse always, nbthread 1, and nginx's http module with
proxy_pass to an upstream with keepalive, one worker. All three add
X-Forwarded-For and X-Forwarded-Proto and keep idle backend connections.

The generator and the backends (nginx, one worker, "hello\n") are in
NAME-b on the kernel. Each round gives every proxy one turn, the order
rotating (A B C, B C A, C A B, ...); in a turn the proxy is started, then
measured on the mode's workloads. --mode tcp:

  cps   connections/s: wrk -t1 --latency -H 'Connection: close' through the
        proxy to nginx HTTP backends (one request per connection), and the
        p99 latency wrk reports
  bulk  Gbit/s through one TCP connection: a client in this process writes
        256 KiB at a time through the proxy to a sink that discards

--mode http:

  keepalive  requests/s: wrk -t1 --latency on --connections keep-alive
             connections, closed loop, and wrk's p99
  close      requests/s: the same with -H 'Connection: close' (a new client
             connection per request; the proxy's backend connections stay
             pooled)
  open       latency at a fixed rate: --rate requests/s on a fixed schedule
             (open loop) over --connections keep-alive connections, from a
             generator in this process; latency runs from each request's
             scheduled time to its response's end, so waiting for a free
             connection counts; p50, p99, p99.9

For each window it reads every CPU's utilisation from /proc/stat and the
proxy's CPU time (utime+stime of its processes, /proc/PID/stat) and says
which side saturated; CPU time per connection (and per GB) shows the
proxies' costs where the generator side is the limit. The report gives every
turn, and per proxy the median, min and max over the rounds and the ratios
of pollstack's medians to the others' (in HTTP mode also to the better of
the two, against the targets). See doc.go for the method.

Must run as root from inside the module (it builds ./cmd/pollstack unless
--pollstack is given); needs AF_XDP, ip, ethtool, wrk, curl, taskset, nginx
(the backends), haproxy and, in TCP mode,
/usr/lib/nginx/modules/ngx_stream_module.so (Debian: libnginx-mod-stream)
for the proxies measured. Progress goes to
stderr. Everything it started is stopped by PID and the bed removed at the
end, on error and on SIGINT (but see --keep-bed). Exit status: 0 every turn
moved traffic without an error, 1 a turn failed or the run could not start,
2 bad flags.

Flags:
`

// parseFlags parses args. It returns flag.ErrHelp for --help and another
// error for bad flags, having printed the reason and the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := harness.NewFlagSet("proxycmp", usageText, stderr)
	fs.StringVar(&o.Mode, "mode", modeTCP, "tcp: the proxies as TCP (layer 4) proxies, workloads cps and bulk; http: as HTTP/1.1 reverse proxies, workloads keepalive, close and open")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each gives every proxy one turn (cps, then bulk; or keepalive, close, open), the order rotating")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured window of each workload in a turn, whole seconds (wrk -d; the bulk stream's and the open loop's measured part)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "before each window, whole seconds or 0: a wrk run of this length whose result is dropped; the bulk stream's and the open loop's first part, not counted")
	fs.IntVar(&o.Connections, "connections", 32, fmt.Sprintf("wrk connections (wrk -c) for cps, keepalive and close, and the open loop's keep-alive connections, 1..%d", maxConnections))
	fs.Float64Var(&o.Rate, "rate", 5000, fmt.Sprintf("--mode http: the open loop's fixed rate, requests/s over all its connections, 1..%d", maxRate))
	proxies := fs.String("proxies", strings.Join(allProxies, ","), "the proxies to measure, comma-separated, in the first round's order: pollstack, haproxy, nginx")
	fs.IntVar(&o.ProxyCPU, "proxy-cpu", 0, "CPU of the proxy under test (all its threads)")
	fs.IntVar(&o.GenCPU, "gen-cpu", 1, "CPU of the generator (wrk, the open loop), the nginx backends, the bulk client and sink, and this program")
	fs.IntVar(&o.SleepAt, "idle-sleep-after", 64, "pollstack proxy --idle-sleep-after: its core sleeps in poll(2) after this many empty polls, so idle time is not busy time (0: busy-poll always)")
	fs.BoolVar(&o.GRO, "gro", true, "turn GRO on on both veth ends (ethtool -K IF gro on), as on a NIC: the kernel's receive then coalesces the frames of a bulk stream (veth has it off by default)")
	fs.BoolVar(&o.Offload, "offload", true, "leave TSO and GSO on on NAME-a (veth's default), so the kernel proxies hand the veth 64 KiB segments that reach NAME-b unsplit; false turns them off (ethtool -K NAME-a tso off gso off) and the kernel proxies send MTU-sized frames, as pollstack does over AF_XDP")
	fs.BoolVar(&o.SmartConnect, "smart-connect", true, "--mode tcp: let the request carry the last ACK of each backend handshake: smart-connect on for pollstack, option tcp-smart-connect for HAProxy (nginx stream has no such setting); false leaves both at their default, off")
	fs.BoolVar(&o.NAPIThreads, "napi-threads", false, "give each veth end's receive processing a kernel thread of its own (threaded NAPI), NAME-a's pinned to --proxy-cpu and NAME-b's to --gen-cpu, so each side's input runs on its own CPU as with peers on other machines; without it the kernel runs the receiving side's input in the sender's system call, and the proxy's CPU pays for the peers' input of what it sends. For every workload but bulk (with the threads HAProxy's one stream fell to 1.2 Gbit/s with both CPUs mostly idle)")
	fs.StringVar(&o.Pollstack, "pollstack", "", "pollstack binary to run (default: go build ./cmd/pollstack into a temporary directory; run from inside the module)")
	fs.BoolVar(&o.KeepBed, "keep-bed", false, "leave the bed's namespaces and the configuration files in place at the end (the processes are stopped all the same); it prints how to remove them")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout instead of the table")
	fs.BoolVar(&o.Verbose, "v", false, "copy wrk's and the proxies' output to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var perr error
	o.Proxies, perr = parseProxies(*proxies)
	ncpu := runtime.NumCPU()
	return o, harness.Check(fs, harness.NoArgs(fs.Args()), perr,
		harness.Want(o.Mode == modeTCP || o.Mode == modeHTTP, "--mode %q: want tcp or http", o.Mode),
		harness.Want(o.Rate >= 1 && o.Rate <= maxRate, "--rate %v: want 1..%d requests/s", o.Rate, maxRate),
		harness.Rounds(o.Rounds),
		harness.Duration(o.Duration), harness.Warmup(o.Warmup),
		harness.Want(o.Connections >= 1 && o.Connections <= maxConnections, "--connections %d: want 1..%d", o.Connections, maxConnections),
		harness.CPU("proxy-cpu", o.ProxyCPU), harness.CPU("gen-cpu", o.GenCPU),
		harness.Want(o.ProxyCPU < ncpu, "--proxy-cpu %d: this machine has CPUs 0..%d", o.ProxyCPU, ncpu-1),
		harness.Want(o.GenCPU < ncpu, "--gen-cpu %d: this machine has CPUs 0..%d", o.GenCPU, ncpu-1),
		harness.Want(o.GenCPU != o.ProxyCPU, "--gen-cpu and --proxy-cpu are both %d: the proxy and the generator want a CPU each", o.GenCPU),
		harness.Want(o.SleepAt >= 0, "--idle-sleep-after %d: must not be negative", o.SleepAt))
}

// parseProxies reads --proxies: known names, each once, at least one.
func parseProxies(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allProxies, p) {
			return nil, fmt.Errorf("--proxies %q: unknown proxy %q (want pollstack, haproxy, nginx)", s, p)
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("--proxies %q: %s twice", s, p)
		}
		out = append(out, p)
	}
	return out, nil
}
