package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/perf/load"
	"github.com/pollstack/pollstack/perf/pps"
	"github.com/pollstack/pollstack/rings"
)

const benchUsage = `Usage: pollstack bench MODE [flags]

Modes:
  pps    raw UDP frames over AF_XDP as fast as the link takes them (or at --rate)
  bulk   one TCP connection streaming a file or a pattern to a peer
  rps    HTTP/1.1 keep-alive requests per second against a server (closed or open loop)
  cps    HTTP connections per second: connect, one request, close (closed or open loop)

Run 'pollstack bench MODE --help' for a mode's flags.
`

const benchPPSSynopsis = `bench pps --iface IF [--netns NS] [--cores LIST] [--dst-mac MAC] [--size N] [--rate PPS] [--duration D] [--pcap FILE]

Sends UDP frames on IF over AF_XDP (TX only: the interface keeps receiving
through the kernel), one pinned generator per CPU in --cores on its own queue,
and reports packets and bytes per second per core once a second.

Flags:`

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("bench: want a mode: pps, bulk, rps or cps (see 'pollstack bench --help')")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	case "pps":
		return runBenchPPS(args[1:], stdout, stderr)
	case "bulk":
		return runBenchBulk(args[1:], stdout, stderr)
	case "rps":
		return runBenchHTTP(load.RPS, args[1:], stdout, stderr)
	case "cps":
		return runBenchHTTP(load.CPS, args[1:], stdout, stderr)
	default:
		return usagef("bench: unknown mode %q (modes: pps, bulk, rps, cps)", args[0])
	}
}

func runBenchPPS(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench pps", benchPPSSynopsis, stdout)
	iface := fs.String("iface", "", "interface to send on (required)")
	ns := fs.String("netns", "", "named network namespace that holds the interface")
	cpuList := fs.String("cores", "0", "CPU list, one generator and one interface queue per CPU")
	dstMAC := fs.String("dst-mac", "ff:ff:ff:ff:ff:ff", "destination MAC address")
	srcIP := fs.String("src-ip", "198.18.0.2", "source IP address (IPv4 or IPv6)")
	dstIP := fs.String("dst-ip", "198.18.0.1", "destination IP address (same family as --src-ip)")
	size := fs.Int("size", pps.DefaultSize, fmt.Sprintf("Ethernet frame size without FCS, %d..%d", pps.MinSize, pps.MaxSize))
	rate := fs.Float64("rate", 0, "target packets per second per core, up to 1e9 (0: as fast as possible)")
	flows := fs.Int("flows", 1, "number of flows (source ports) to cycle through, 1..65535")
	duration := fs.Duration("duration", 10*time.Second, "how long to send (more than 0)")
	jsonOut := fs.Bool("json", false, "print the result as JSON on stdout")
	pcapPath := fs.String("pcap", "", "write every frame sent to this pcap file (frames the writer cannot keep up with are left out and counted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *iface == "" {
		return usagef("bench pps: --iface is required (see 'pollstack bench pps --help')")
	}
	if err := checkIfaceName("bench pps", *iface); err != nil {
		return err
	}
	if err := checkNetnsName("bench pps", *ns); err != nil {
		return err
	}
	dst, err := net.ParseMAC(*dstMAC)
	if err != nil || len(dst) != 6 {
		return usagef("bench pps: --dst-mac %q: not an Ethernet address", *dstMAC)
	}
	sip, err1 := netip.ParseAddr(*srcIP)
	dip, err2 := netip.ParseAddr(*dstIP)
	if err1 != nil || err2 != nil || sip.Is4() != dip.Is4() || sip.Zone() != "" || dip.Zone() != "" {
		return usagef("bench pps: --src-ip %q and --dst-ip %q: want two addresses of one family", *srcIP, *dstIP)
	}
	if *size < pps.MinSize || *size > pps.MaxSize {
		return usagef("bench pps: --size %d: want %d..%d", *size, pps.MinSize, pps.MaxSize)
	}
	if err := checkFloat("bench pps", "rate", *rate, 0, 1e9, "0 (as fast as possible) or a rate up to 1e9 per second"); err != nil {
		return err
	}
	if *flows < 1 || *flows > 65535 {
		return usagef("bench pps: --flows %d: want 1..65535", *flows)
	}
	if *duration <= 0 {
		return usagef("bench pps: --duration %v: want a positive duration", *duration)
	}
	if err := checkOutputFile("bench pps", "pcap", *pcapPath); err != nil {
		return err
	}
	cpus, err := cores.ParseList(*cpuList)
	if err != nil {
		return usagef("bench pps: --cores: %v", err)
	}
	if err := requireRoot("bench pps"); err != nil {
		return err
	}
	src, queues, err := ifaceInfo(*iface, *ns)
	if err != nil {
		return err
	}
	if len(cpus) > queues {
		return usagef("bench pps: --cores lists %d CPUs but %s has %d queue(s)", len(cpus), *iface, queues)
	}
	links := make([]rings.Link, len(cpus))
	var capture *pcapFile
	defer func() {
		for _, l := range links {
			if l != nil {
				l.Close()
			}
		}
		if capture != nil {
			capture.Close()
		}
	}()
	if *pcapPath != "" {
		if capture, err = createPcap(*pcapPath, stderr); err != nil {
			return err
		}
	}
	for q := range cpus {
		xl, err := rings.OpenXDP(rings.XDPConfig{Iface: *iface, Netns: *ns, Queue: q})
		if err != nil {
			return err
		}
		links[q] = xl
		if capture != nil {
			links[q] = capture.w.Wrap(xl)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	results := make([]pps.Result, len(cpus))
	errs := make([]error, len(cpus))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			if errs[i] = cores.Pin(cpu); errs[i] != nil {
				return
			}
			cfg := pps.GenConfig{Size: *size, SrcMAC: src, DstMAC: dst, SrcIP: sip, DstIP: dip,
				Flows: *flows, Rate: *rate, SrcPort: uint16(pps.DefaultSrcPort + i*4096%60000)}
			results[i], errs[i] = pps.Generate(ctx, links[i], cfg, func(s pps.Sample) {
				if *jsonOut || s.Final {
					return
				}
				mu.Lock()
				fmt.Fprintf(stderr, "core %d (CPU %d): %9.0f pps %8.1f Mbit/s  total %d\n", i, cpu, s.PPS, s.BitsPerSec/1e6, s.TotalPackets)
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	var total pps.Result
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("bench pps: core %d: %w", i, err)
		}
		total.Packets += results[i].Packets
		total.Bytes += results[i].Bytes
		total.PPS += results[i].PPS
		total.BitsPerSec += results[i].BitsPerSec
	}
	if *jsonOut {
		return writeJSON(stdout, map[string]any{"mode": "pps", "size": *size, "cores": cpus, "per_core": results, "pps": total.PPS,
			"bits_per_sec": total.BitsPerSec, "packets": total.Packets, "bytes": total.Bytes})
	}
	fmt.Fprintf(stdout, "bench pps: %d packets, %d bytes, %.0f pps, %.1f Mbit/s over %d core(s), %d-byte frames\n",
		total.Packets, total.Bytes, total.PPS, total.BitsPerSec/1e6, len(cpus), *size)
	return nil
}
