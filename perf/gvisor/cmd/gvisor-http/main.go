//go:build linux

// Command gvisor-http serves HTTP/1.1 from gVisor's netstack on one network
// interface, with the answers of pollstack's `serve --app http`: the Go peer
// of the benchmark scoreboard. See perf/gvisor/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

const nicID = 1

type config struct {
	link    linkConfig
	netns   string
	addrs   []netip.Prefix
	port    int
	http    string // "loop" or "std"
	qdisc   string // "fifo" or "none"
	cpus    []int
	cpusArg string
}

const usageText = `usage: gvisor-http --iface IF --addr CIDR [--addr CIDR ...] [flags]

Serves HTTP/1.1 from gVisor's netstack (gvisor.dev/gvisor/pkg/tcpip: stack,
ipv4, ipv6, arp, tcp) on network interface IF, with the answers of pollstack's
'serve --app http': "hello\n" for any target, N bytes of the pattern
ABC...xyz0123456789.\n for ?size=N (N <= 2^30), 405 for methods other than
GET and HEAD, keep-alive unless the request says Connection: close (or is
HTTP/1.0 without keep-alive). The Linux kernel must have no address on IF:
netstack answers ARP and neighbour discovery itself.

Links (--link):
  xdp     gVisor's AF_XDP link endpoint (pkg/tcpip/link/xdp) on queue 0 of IF.
          gVisor's endpoint loads no XDP program, so this command attaches
          its own (redirect every frame on queue i to XSKMAP[i], XDP_PASS
          when the queue has no socket) through a BPF link, removed when the
          process ends. Frames arriving on other queues go to the kernel:
          give IF one queue, or steer everything to queue 0.
  packet  FALLBACK: gVisor's fdbased endpoint on an AF_PACKET socket
          (recvmmsg). Not AF_XDP: any comparison must say so.

Ready: once serving, one line "gvisor-http: serving on IF ..." goes to
stderr; it names the link used. SIGUSR1 prints netstack's and the AF_XDP
socket's counters on stderr; SIGINT or SIGTERM print them and stop (exit 0).

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("gvisor-http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.link.iface, "iface", "", "network interface to attach to (required)")
	fs.StringVar(&cfg.netns, "netns", "", "network namespace (a name in /run/netns) that holds IF;\nempty: the namespace the command runs in (e.g. under 'ip netns exec NS')")
	fs.Func("addr", "address with prefix length for netstack on IF, IPv4 or IPv6,\ne.g. 198.18.0.1/24 or 2001:2::1/64; repeat for more (at least one)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		cfg.addrs = append(cfg.addrs, p)
		return nil
	})
	fs.IntVar(&cfg.port, "port", 80, "TCP port to serve HTTP on")
	fs.StringVar(&cfg.link.kind, "link", "xdp", "link endpoint: xdp (AF_XDP) or packet (AF_PACKET fallback)")
	fs.StringVar(&cfg.link.xdpMode, "xdp-mode", "native", "XDP attach mode with --link xdp: native (driver) or generic (skb)")
	fs.StringVar(&cfg.http, "http", "loop", "HTTP server: loop (a minimal hand-written HTTP/1.1 loop per gonet.TCPConn)\nor std (net/http's Server on gonet.TCPListener)")
	fs.StringVar(&cfg.qdisc, "qdisc", "none", "queueing discipline between netstack and the link: none, or fifo (gVisor's\nqdisc/fifo, runsc's default: about 7-10% more requests/s for small answers\non the test bed, but its batches of 47 overrun link/xdp's TX ring and frames\n(tx_dropped), and bulk answers (MBs) then stall for seconds)")
	fs.StringVar(&cfg.cpusArg, "cpus", "", "CPU list (e.g. 0 or 0-1,3): pin every thread of the process to these\nCPUs (sched_setaffinity) and set GOMAXPROCS to their count; empty: no pinning")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Example (test bed from 'pollstack testbed up --name gv', as root):
  ip netns exec gv-a gvisor-http --iface gv-a --addr 198.18.0.1/24 --addr 2001:2::1/64 --cpus 0
  gvisor-http --netns gv-a --iface gv-a --addr 198.18.0.1/24 --cpus 0
`)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch {
	case cfg.link.iface == "":
		return nil, errors.New("--iface is required")
	case len(cfg.addrs) == 0:
		return nil, errors.New("--addr is required")
	case cfg.port <= 0 || cfg.port > 65535:
		return nil, fmt.Errorf("--port %d out of range", cfg.port)
	case cfg.link.kind != "xdp" && cfg.link.kind != "packet":
		return nil, fmt.Errorf("--link %q: want xdp or packet", cfg.link.kind)
	case cfg.link.xdpMode != "native" && cfg.link.xdpMode != "generic":
		return nil, fmt.Errorf("--xdp-mode %q: want native or generic", cfg.link.xdpMode)
	case cfg.http != "loop" && cfg.http != "std":
		return nil, fmt.Errorf("--http %q: want loop or std", cfg.http)
	case cfg.qdisc != "fifo" && cfg.qdisc != "none":
		return nil, fmt.Errorf("--qdisc %q: want fifo or none", cfg.qdisc)
	case strings.ContainsRune(cfg.netns, '/') || cfg.netns == "." || cfg.netns == "..":
		return nil, fmt.Errorf("--netns %q: want a name in /run/netns", cfg.netns)
	}
	if cfg.cpusArg != "" {
		cpus, err := parseCPUList(cfg.cpusArg)
		if err != nil {
			return nil, fmt.Errorf("--cpus: %w", err)
		}
		cfg.cpus = cpus
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gvisor-http: %v (see --help)\n", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "gvisor-http: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg *config) error {
	if cfg.cpus != nil {
		if err := pinProcess(cfg.cpus); err != nil {
			return err
		}
		runtime.GOMAXPROCS(len(cfg.cpus))
	}

	var l *openedLink
	if err := inNetns(cfg.netns, func() (err error) {
		l, err = openLink(cfg.link)
		return err
	}); err != nil {
		return err
	}
	defer l.close()

	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("enable SACK: %v", err)
	}
	opts := stack.NICOptions{Name: cfg.link.iface}
	if cfg.qdisc == "fifo" {
		opts.QDisc = fifo.New(l.ep, runtime.GOMAXPROCS(0), 1000)
	}
	if err := s.CreateNICWithOptions(nicID, l.ep, opts); err != nil {
		return fmt.Errorf("create NIC: %v", err)
	}
	v6 := false
	var routes []tcpip.Route
	for _, p := range cfg.addrs {
		proto := ipv4.ProtocolNumber
		if p.Addr().Is6() {
			proto, v6 = ipv6.ProtocolNumber, true
		}
		awp := tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(p.Addr().AsSlice()), PrefixLen: p.Bits()}
		if err := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: awp}, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("add address %s: %v", p, err)
		}
		routes = append(routes, tcpip.Route{Destination: awp.Subnet(), NIC: nicID})
	}
	s.SetRouteTable(routes)

	// With an IPv6 address, one dual-stack listener takes both families.
	proto := ipv4.ProtocolNumber
	if v6 {
		proto = ipv6.ProtocolNumber
	}
	ln, err := gonet.ListenTCP(s, tcpip.FullAddress{Port: uint16(cfg.port)}, proto)
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.port, err)
	}

	served := make(chan error, 1)
	go func() {
		if cfg.http == "std" {
			served <- serveStd(ln)
		} else {
			served <- serveLoop(ln)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	addrs := make([]string, len(cfg.addrs))
	for i, p := range cfg.addrs {
		addrs[i] = p.String()
	}
	where := cfg.link.iface
	if cfg.netns != "" {
		where += " (netns " + cfg.netns + ")"
	}
	cpus := "unpinned"
	if cfg.cpus != nil {
		cpus = cfg.cpusArg
	}
	httpDesc := map[string]string{"loop": "hand-written HTTP/1.1 loop", "std": "net/http"}[cfg.http]
	fmt.Fprintf(os.Stderr, "gvisor-http: serving on %s mac %s addrs %s port %d link %s qdisc %s http %s cpus %s GOMAXPROCS %d\n",
		where, net.HardwareAddr(l.mac), strings.Join(addrs, ","), cfg.port, l.desc, cfg.qdisc, httpDesc, cpus, runtime.GOMAXPROCS(0))
	if cfg.link.kind == "packet" {
		fmt.Fprintln(os.Stderr, "gvisor-http: WARNING: link is the AF_PACKET fallback (fdbased), not AF_XDP")
	}

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	printStats := func() {
		fmt.Fprintf(os.Stderr, "gvisor-http: stats: %s\n", statsLine(s, l))
	}
wait:
	for {
		select {
		case <-usr1:
			printStats()
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "gvisor-http: %v, stopping\n", sig)
			break wait
		case err := <-served:
			ln.Close()
			return fmt.Errorf("serve: %v", err)
		}
	}
	printStats()
	ln.Close()
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		fmt.Fprintln(os.Stderr, "gvisor-http: netstack did not close within 2s; exiting anyway")
	}
	if err := l.close(); err != nil {
		fmt.Fprintf(os.Stderr, "gvisor-http: closing link: %v\n", err)
	}
	fmt.Fprintln(os.Stderr, "gvisor-http: stopped")
	return nil
}

// statsLine summarises netstack's and the link's counters.
func statsLine(s *stack.Stack, l *openedLink) string {
	st := s.Stats()
	line := fmt.Sprintf("tcp active_opens %d passive_opens %d retransmits %d timeouts %d segments_sent %d valid_segments_received %d checksum_errors %d; nic rx %d tx %d tx_dropped %d",
		st.TCP.ActiveConnectionOpenings.Value(), st.TCP.PassiveConnectionOpenings.Value(),
		st.TCP.Retransmits.Value(), st.TCP.Timeouts.Value(), st.TCP.SegmentsSent.Value(),
		st.TCP.ValidSegmentsReceived.Value(), st.TCP.ChecksumErrors.Value(),
		st.NICs.Rx.Packets.Value(), st.NICs.Tx.Packets.Value(), st.NICs.TxPacketsDroppedNoBufferSpace.Value())
	if l.stats != nil {
		line += "; " + l.stats()
	}
	return line
}
