// Command proxycmp measures three proxies side by side in one run on one
// fresh test bed: pollstack proxy over AF_XDP, and HAProxy 2.6 and nginx on
// the Linux kernel, each pinned to the same CPU, with the same generator
// and the same backends pinned to the other. --mode tcp (the default)
// measures them as TCP (layer 4) proxies, --mode http as HTTP/1.1 reverse
// proxies (see "HTTP mode" below).
//
//	sudo go run ./perf/cmd/proxycmp [--mode tcp|http] [--rounds 3] [--duration 10s] [--connections 32] [--rate 5000] [--json]
//
// # The bed
//
// One 1-queue bed (internal/testbed): NAME-a holds the proxies' veth end,
// NAME-b the kernel's, where wrk, the backends and the bulk pair run.
// The proxies listen on 198.18.0.1, the backends on 198.18.0.2; each
// proxy has ports of its own (cps 8080+i, bulk 9080+i, backends
// 8180+2i and 8181+2i, sink 9180+i for the i-th of pollstack, haproxy,
// nginx), so that no proxy meets 4-tuples another left in TIME_WAIT on the
// backends' kernel with timestamps from another clock.
//
//   - pollstack: taskset -c P pollstack proxy --iface NAME-a --netns NAME-a
//     --cores P --config FILE --idle-sleep-after 64 --metrics 127.0.0.1:0,
//     the file holding two frontends (cps, bulk) and their backends. Its XDP
//     program owns NAME-a while it runs; it detaches it when it exits, which
//     the tool checks after every pollstack turn (a program left behind
//     fails the turn and is removed).
//   - haproxy: ip netns exec NAME-a taskset -c P haproxy -db -f FILE:
//     mode tcp, nbthread 1, cpu-map 1/1 P, maxconn 9000, the same timeouts
//     (connect 5s, client and server 60s), roundrobin over the same two
//     backends, and tcplog with dontlog-normal to stderr, so that each
//     session that ends abnormally is one line.
//   - nginx: ip netns exec NAME-a taskset -c P nginx -c FILE: load_module
//     ngx_stream_module.so (Debian's libnginx-mod-stream), one worker,
//     worker_cpu_affinity P, proxy_pass to an upstream of the same two
//     backends, default buffers and timeouts.
//
// For the kernel proxies NAME-a gets 198.18.0.1/24 on the kernel's side
// (before the turn, after checking that no XDP program is attached);
// for pollstack it has no address (pollstack answers ARP itself). Both ends
// get net.ipv4.tcp_tw_reuse=1 and ip_local_port_range 1024-65535: wrk
// usually closes first (as soon as the response is in, before the proxy
// passes the backend's FIN on), and without reuse its TIME_WAIT would use
// up the ports at thousands of connections/s; pollstack's backend legs
// reuse TIME_WAIT 4-tuples by default, the kernel proxies' get the same.
// GRO is on on both veth ends (--gro; veth has it off by default), TX
// checksum offload off on NAME-b (the bed's setting: AF_XDP receivers
// drop partial checksums), and TSO/GSO on NAME-a as veth has them (see
// --offload and the caveats).
//
// Everything but the proxy runs on the generator's CPU G: nginx backends
// (one worker, worker_cpu_affinity G, "hello\n" to every request) under
// taskset -c G, wrk under taskset -c G, and this program itself (taskset
// -a -p: its threads, so the bulk client and sink, and what it starts).
//
// # The workloads
//
// Each round gives every proxy a turn, the order rotating (pollstack,
// haproxy, nginx; then haproxy, nginx, pollstack; ...), so drift and the
// other tenants of the machine fall on all three. In a turn:
//
//   - cps: wrk -t1 -cN -dD --latency -H 'Connection: close' to the proxy's
//     cps port from NAME-b: every request a new connection to the proxy,
//     and through it a new connection to one of the two backends. A wrk run
//     of --warmup first, its result dropped. The figures: wrk's
//     Requests/sec (= connections/s) and the 99% of its latency
//     distribution, which is the time from writing the request to the whole
//     response (wrk starts the clock once connected, so the handshake with
//     the proxy is not in it; the proxy's connect to the backend, which
//     may start before the request arrives, is). A socket error or
//     non-2xx answer fails the run.
//   - bulk: one TCP connection from NAME-b through the proxy's bulk port to
//     a sink on 198.18.0.2, both in this program on kernel sockets
//     (internal/netns.Do), the client writing 256 KiB at a time, the sink
//     reading 256 KiB at a time and discarding. The first --warmup is not
//     counted; the rate is the bytes the sink read during the window. Then
//     the client half-closes and waits for the proxy to pass the sink's
//     close back; the sink must have read every byte the client wrote, and
//     both ends must see an orderly close (no reset, no error). Otherwise
//     the run fails.
//
// # CPU accounting
//
// Around each window the tool reads /proc/stat (every CPU's ticks) and
// utime+stime of the proxy's processes from /proc/PID/stat (nginx's master
// and worker; HAProxy's and pollstack's one process, all their threads),
// and for pollstack its Prometheus counters. Per window it reports:
//
//   - each CPU's busy share: all but idle and iowait, split into user,
//     system and irq+softirq;
//   - the proxy's processes' CPU time, in percent of the window, and per
//     proxied connection (µs/conn: CPU seconds / wrk's requests) or per 10^9
//     bytes (CPU-s/GB); also the proxy CPU's whole busy time per connection
//     ("CPU µs/c": whatever ran on it);
//   - which side saturated: a CPU at 95% busy or more is saturated;
//     "generator" when only the generator's CPU was, "proxy" when only the
//     proxy's, "both", or "neither" (latency or a window was the limit).
//     Where the generator saturated, the rate is what wrk and the backends
//     could drive, a lower bound of the proxy's: compare the CPU time per
//     connection instead.
//   - for pollstack, the share of its polls that found work
//     (pollstack_poll_busy_total against pollstack_poll_idle_total), and
//     after the cps workload its TCP segments sent and received per
//     proxied connection, both legs (pollstack_tcp_sndtotal_total and
//     pollstack_tcp_rcvtotal_total over the listeners' accepted
//     connections).
//
// What these numbers include: the kernel accounts CPU time by ticks
// (CONFIG_TICK_CPU_ACCOUNTING, no IRQ time accounting here), so softirq
// work that runs in a process's context (its syscalls) counts as that
// process's system time. On veth the receiving side's input runs in the
// sender's context: when a proxy sends, NAME-b's kernel receives (TCP input,
// waking the backend or the sink, and often the ACK-clocked transmit that
// follows) on the proxy's CPU, in the proxy's syscall; when wrk or the
// client send, NAME-a's input (the kernel proxies' TCP input, or the XDP
// redirect and copy into pollstack's UMEM) runs on the generator's CPU.
// This holds for all three proxies alike, but it means that neither CPU
// holds only its own side's work. (RPS could move the receive work to the
// other CPU, but its inter-processor interrupts cost far more than the work
// on this VM: in a trial HAProxy's connections/s fell from 10,000 to
// 3,400.)
//
// With --napi-threads each veth end's receive processing runs in a kernel
// thread of its own (threaded NAPI, which veth has with GRO on), NAME-a's
// pinned to the proxy's CPU and NAME-b's to the generator's, for every
// workload but bulk: each side's input then runs on its own CPU, as with
// peers on other machines. The proxy's CPU holds the proxy and its own
// input (a kernel proxy's TCP input; for pollstack the XDP program and the
// copy into its UMEM), and nothing of the peers'; "CPU µs/conn" is then
// the proxy's whole cost per connection and "proxy µs/conn" its processes'
// part of it. Bulk runs without the threads: with them HAProxy's one
// stream fell to 1.2 Gbit/s with both CPUs three quarters idle, a latency
// that a NIC would not add.
//
// pollstack busy-polls: a polling core counts 100% busy whether or not it
// finds work. With --idle-sleep-after N (64 here) its core sleeps in
// poll(2) after N empty polls, so an idle proxy is not counted busy; under
// load it seldom gets there, and its CPU time is then an upper bound of its
// work. The report says so and gives the share of polls that found work.
//
// # Abnormal session ends
//
// Each proxy's own count of sessions that ended abnormally: pollstack's
// pollstack_proxy_* counters (client_resets, and the failure counters:
// connect refused/timeout/reset/noport/other, retries, server resets,
// maxconn refusals, idle timeouts, no server, queue timeouts; any of the
// latter fails the turn), HAProxy's tcplog lines, nginx's error.log lines
// of level error and above. wrk ends every run with its connections
// mid-request, which each proxy sees as clients going away: up to
// --connections per wrk run is expected.
//
// # HTTP mode
//
// With --mode http the bed, the pinning, the rotation, the CPU accounting
// and the backends are the same; the proxies and the workloads differ.
// Each proxy listens on its cps port and balances round robin over its two
// cps backends, adds X-Forwarded-For and X-Forwarded-Proto, keeps idle
// backend connections for any client's next request, and limits neither
// leg's requests per connection:
//
//   - pollstack: the same command line, the file in mode http (frontend
//     web, backend web with pool-max-idle 256, the same timeouts, timeout
//     http-request 10s, http-keep-alive 60s). Its pool is per core; with
//     one core, one pool.
//   - haproxy: mode http, nbthread 1, cpu-map, option http-keep-alive,
//     option forwardfor and a set-header for X-Forwarded-Proto, http-reuse
//     always in the backend, the same timeouts; httplog with
//     dontlog-normal, so each request that ends abnormally is one line.
//   - nginx: the http module (no stream module needed), one worker,
//     worker_cpu_affinity, proxy_pass to an upstream of the two backends
//     with keepalive 256 and keepalive_requests 1000000,
//     proxy_http_version 1.1 and the Connection field cleared (what
//     upstream keepalive needs), keepalive_requests 1000000 on the client
//     side, access_log off; default buffers and timeouts otherwise.
//
// A turn runs three workloads, each after a --warmup of its own whose
// result is dropped, each window read as above:
//
//   - keepalive: wrk -t1 -cN -dD --latency, closed loop on N keep-alive
//     connections: requests/s and wrk's p99 (from the request's write to
//     the response's end).
//   - close: the same with -H 'Connection: close': every request a new
//     client connection, which the proxy closes after the response (so the
//     proxy takes the client leg's TIME_WAIT); the backend connections stay
//     pooled.
//   - open: --rate requests/s on a fixed schedule (request i at start +
//     i/rate) over N keep-alive connections, from a generator in this
//     program (net.Conn sockets opened in NAME-b, so on the generator's CPU
//     with the rest of this program). A scheduler goroutine queues each
//     request at its time; the first free connection sends it, writes the
//     request, reads the response (net/http's parser) and checks it is 200
//     with the backends' body on a connection that stays open. Latency runs
//     from the scheduled time to the response's end, so time spent waiting
//     for a free connection counts (coordinated omission corrected, as wrk2
//     does); a request that starts more than 1 ms after its time is "late".
//     Only requests scheduled in the window count, and each of them must be
//     answered: a failed request, or more than 65,536 requests waiting for
//     a connection, fails the run. Reported: p50, p90, p99, p99.9, max.
//     Debian's wrk has no rate option (wrk2's -R), and h2load reports no
//     percentiles, hence the generator of its own; it runs the same for
//     all three proxies.
//
// Each window also gives "other": the proxy CPU's busy share less the
// proxy's processes' share, which on a quiet machine is a few percent
// (softirq work outside their system calls); at 15% or more the report
// says that CPU was shared with other tenants, so that a "saturated" proxy
// CPU there is not the proxy's limit and CPU time per request is the
// figure to compare.
//
// CPU per request: the proxy's processes' CPU time in the window over the
// requests wrk completed in it (or the open loop's requests scheduled in
// it), and CPU P's whole busy time over the same. The summary gives the
// medians over the rounds, pollstack's ratios to each proxy and to the
// better of the two figure by figure (the higher rate, the lower p99 and
// CPU time), and judges the targets: keep-alive and close requests/s at
// least 2x the better peer's; where pollstack's windows saturated the
// generator's CPU (verdict generator or both) its rate is a lower bound,
// and the target becomes CPU time per request at most 0.5x the better
// peer's, on both measures (its processes' time, its CPU's busy time); and
// the open loop's p99 lower than the better peer's.
//
// pollstack's failure counters in HTTP mode also include its own 502, 503
// and 504 answers, refused requests and malformed responses; the report
// gives its backend connection reuse (pool_reused over the requests sent
// to the backends). wrk's stops may cut up to N connections per wrk run,
// four runs a turn with a warm-up; the open loop ends with every answer in.
//
// # Caveats
//
// The bed is veth on a 2-CPU VM shared with other work: read the load
// average. AF_XDP on veth runs in copy mode: every frame pollstack sends
// is copied into an skb by the kernel in its sendto (and the receive side's
// work follows, above), so pollstack pays per frame of 1,500 bytes, while a
// kernel proxy with TSO/GSO on NAME-a (veth's default, --offload) hands the
// veth 64 KiB segments that NAME-b's TCP takes whole: on a NIC the
// segmentation would be the NIC's, and the receive work another machine's.
// --offload=false shows the kernel proxies without that advantage.
package main
