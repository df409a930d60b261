package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/testbed"
)

func runTestbed(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down" && args[0] != "impair") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(stdout, testbedUsage)
			return nil
		}
		return usagef("testbed: want 'testbed up', 'testbed down' or 'testbed impair' (see 'pollstack testbed --help')")
	}
	verb := args[0]
	synopsis := map[string]string{
		"up":     " [--queues N] [--rss] [--routed [--router-mtu N]] [--relay] [--loss P] [--delay D [--jitter J]] [--reorder P] [--duplicate P] [--seed N] [--rate R] [--ecn-mark-above BYTES] [--relay-rate R [--relay-ecn-mark-above BYTES]]",
		"down":   "",
		"impair": " [--loss P] [--delay D [--jitter J]] [--reorder P] [--duplicate P] [--seed N] [--rate R] [--ecn-mark-above BYTES] [--relay-rate R [--relay-ecn-mark-above BYTES]]",
	}[verb]
	fs := newFlags("testbed "+verb, "testbed "+verb+" [--name NAME]"+synopsis, stdout)
	name := fs.String("name", "pst", "bed name: namespaces and veth ends NAME-a and NAME-b (letters, digits, '-'; at most 12)")
	var queues, routerMTU *int
	var rss, routed, relay *bool
	if verb == "up" {
		relay = fs.Bool("relay", false, "put a middle namespace NAME-d between NAME-a and NAME-b with a relay process that passes every frame unchanged, so that 'testbed impair --delay/--reorder/--duplicate' can act on them later (--delay, --reorder and --duplicate imply it)")
		routerMTU = fs.Int("router-mtu", 0, fmt.Sprintf("with --routed: the MTU of NAME-r, the router's end of the link toward NAME-c (%d..1500; NAME-c keeps 1500), so that the router answers bigger packets from pollstack with ICMP fragmentation needed / packet too big (0: 1500)", testbed.MinRouterMTU))
		routed = fs.Bool("routed", false, "add a third namespace NAME-c (198.19.0.2/24, 2001:2:0:1::2/64) behind NAME-b, which forwards between its two links: pollstack reaches it only through the gateway 198.18.0.2 / 2001:2::2 (serve --gateway)")
		queues = fs.Int("queues", 1, "rx and tx queues on each veth end (1..64)")
		rss = fs.Bool("rss", false, "steer the kernel's TCP and UDP frames as an RSS NIC with the engine's key and default table for N cores would: each flow arrives on pollstack's rx queue of its owner core, so serve/bench/proxy with --cores listing N CPUs steer nothing in software (needs --queues N, N >= 2)")
	}
	var imf *impairFlags
	if verb != "down" {
		imf = addImpairFlags(fs)
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := testbed.ValidName(*name); err != nil {
		return &usageError{err.Error()}
	}
	if queues != nil && (*queues < 1 || *queues > 64) {
		return usagef("testbed up: --queues %d: want 1..64", *queues)
	}
	if routerMTU != nil && *routerMTU != 0 {
		if !*routed {
			return usagef("testbed up: --router-mtu needs --routed (it is the MTU of the router's link toward NAME-c)")
		}
		if *routerMTU < testbed.MinRouterMTU || *routerMTU > 1500 {
			return usagef("testbed up: --router-mtu %d: want %d..1500 (0: 1500)", *routerMTU, testbed.MinRouterMTU)
		}
	}
	var steer *testbed.RSS
	if rss != nil && *rss {
		if *queues < 2 {
			return usagef("testbed up: --rss needs --queues 2 or more (with %d queue there is nothing to steer)", *queues)
		}
		var err error
		if steer, err = testbed.NewRSS(cores.SymmetricRSSKey[:], engine.DefaultRSSTable(*queues), *queues); err != nil {
			return err
		}
	}
	var im testbed.Impairment
	if imf != nil {
		var err error
		if im, err = imf.impairment("testbed " + verb); err != nil {
			return err
		}
	}
	err := func() error {
		switch verb {
		case "down":
			if stats, err := testbed.RelayStats(*name); err == nil {
				fmt.Fprintf(stdout, "testbed %s: %s\n", *name, stats)
			}
			if err := testbed.Down(*name); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "testbed %s: removed (netns %s-a, %s-b, %s-c if routed, %s-d and its relay if relayed, and the veth pairs)\n", *name, *name, *name, *name, *name)
			return nil
		case "impair":
			if err := testbed.Impair(*name, im); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "testbed %s: %v\n", *name, im)
			return nil
		}
		var opt testbed.Options
		if *routed {
			opt.Routed = &testbed.RoutedConfig{RouterMTU: *routerMTU}
		}
		opt.Relay = *relay || im.NeedsRelay()
		bed, err := testbed.UpWith(*name, *queues, opt)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, bed)
		if steer != nil {
			if err := testbed.SetRSS(*name, cores.SymmetricRSSKey[:], engine.DefaultRSSTable(*queues), *queues); err != nil {
				return errors.Join(err, testbed.Down(*name))
			}
			on := bed.IfaceB
			if bed.Relayed() {
				on = bed.IfaceDA // the relay sends what the kernel sent
			}
			fmt.Fprintf(stdout, "testbed %s: RSS on %s's egress: %v; each flow the kernel sends arrives on %s's rx queue of its owner core in an engine with --cores listing %d CPUs\n",
				*name, on, steer, bed.IfaceA, *queues)
		}
		if im.Zero() {
			return nil
		}
		if err := testbed.Impair(*name, im); err != nil {
			return errors.Join(err, testbed.Down(*name))
		}
		fmt.Fprintf(stdout, "testbed %s: %v\n", *name, im)
		return nil
	}()
	if errors.Is(err, testbed.ErrNotRoot) {
		return usagef("testbed %s: must run as root", verb)
	}
	return err
}

// impairFlags are the flags of an impaired bed (testbed up and impair).
type impairFlags struct {
	loss   *float64
	delay  *time.Duration
	jitter *time.Duration
	rate   *string
	// reorder, duplicate and seed are the relay's draws.
	reorder, duplicate *float64
	seed               *uint64
	// ecnMark is --ecn-mark-above (bytes; 0 off).
	ecnMark *uint64
	// relayRate and relayMark are the relay's bottleneck.
	relayRate *string
	relayMark *uint64
}

func addImpairFlags(fs *flag.FlagSet) *impairFlags {
	return &impairFlags{
		loss:      fs.Float64("loss", 0, "probability 0..1 that a frame is dropped, in both directions"),
		delay:     fs.Duration("delay", 0, "delay added to the round trip, 0..5s: the relay in NAME-d holds every frame D/2 in each direction (needs a relayed bed: testbed up --delay or --relay)"),
		jitter:    fs.Duration("jitter", 0, "with --delay: spread each frame's hold over D/2 ± J/2, uniform, never sending a frame before the one ahead of it (0..D)"),
		reorder:   fs.Float64("reorder", 0, fmt.Sprintf("probability 0..1 that the relay holds a frame back behind the next frame of its direction (it leaves right after it, or alone %v past its time when none follows), both directions (needs a relayed bed: testbed up --reorder or --relay)", testbed.ReorderWait)),
		duplicate: fs.Float64("duplicate", 0, "probability 0..1 that the relay sends a frame twice, the copy right behind it, both directions (needs a relayed bed: testbed up --duplicate or --relay)"),
		seed:      fs.Uint64("seed", 0, "seed of the relay's draws (jitter, reordering, duplication), so that the same frames meet the same choices; 0: from the clock (written to the relay's log). Loss is drawn by the kernel and not seeded"),
		rate:      fs.String("rate", "0", "cap on the kernel's sending (kernel -> pollstack): 100mbit, 1gbit (bits/s), 500kbps (bytes/s, tc's spelling) or bytes/s; 0: none"),
		ecnMark:   fs.Uint64("ecn-mark-above", 0, "mark ECN-capable frames CE, both ways, while a phantom queue draining at --rate holds more than this many bytes (a tc BPF program per direction; needs --rate; 0: off)"),
		relayRate: fs.String("relay-rate", "0", "a bottleneck link in the relay, each direction, whichever stack sends: frames wait in its queue and leave at this rate (same units as --rate), a frame that finds 100 ms of the rate queued (at least 64 KiB) is dropped; 0: none (needs a relayed bed: testbed up --relay-rate or --relay)"),
		relayMark: fs.Uint64("relay-ecn-mark-above", 0, "with --relay-rate: mark an ECN-capable frame CE when it finds more than this many bytes in the relay's bottleneck queue (a switch's ECN threshold, DCTCP's K); 0: off"),
	}
}

func (f *impairFlags) impairment(cmd string) (testbed.Impairment, error) {
	var im testbed.Impairment
	if err := checkFloat(cmd, "loss", *f.loss, 0, 1, "a probability in 0..1"); err != nil {
		return im, err
	}
	if err := checkFloat(cmd, "reorder", *f.reorder, 0, 1, "a probability in 0..1"); err != nil {
		return im, err
	}
	if err := checkFloat(cmd, "duplicate", *f.duplicate, 0, 1, "a probability in 0..1"); err != nil {
		return im, err
	}
	if err := checkDuration(cmd, "delay", *f.delay, true, 0, "0.."+testbed.MaxDelay.String()); err != nil {
		return im, err
	}
	if *f.delay > testbed.MaxDelay {
		return im, usagef("%s: --delay %v: want 0..%v", cmd, *f.delay, testbed.MaxDelay)
	}
	if *f.jitter < 0 || *f.jitter > *f.delay {
		return im, usagef("%s: --jitter %v: want 0..the delay (%v)", cmd, *f.jitter, *f.delay)
	}
	rate, err := testbed.ParseRate(*f.rate)
	if err != nil {
		return im, usagef("%s: --rate %q: want 0, or a number with bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), or bytes/s", cmd, *f.rate)
	}
	relayRate, err := testbed.ParseRate(*f.relayRate)
	if err != nil {
		return im, usagef("%s: --relay-rate %q: want 0, or a number with bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), or bytes/s", cmd, *f.relayRate)
	}
	im = testbed.Impairment{Loss: *f.loss, Delay: *f.delay, Jitter: *f.jitter, Reorder: *f.reorder, Duplicate: *f.duplicate,
		Seed: *f.seed, Rate: rate, ECNMarkAbove: *f.ecnMark, RelayRate: relayRate, RelayECNMarkAbove: *f.relayMark}
	if err := im.Validate(); err != nil {
		return im, &usageError{cmd + ": " + err.Error()}
	}
	return im, nil
}

const testbedUsage = `Usage:
  pollstack testbed up [--name NAME] [--queues N] [--rss] [--routed [--router-mtu N]] [--relay] [--loss P] [--delay D [--jitter J]] [--reorder P] [--duplicate P] [--seed N] [--rate R] [--ecn-mark-above BYTES] [--relay-rate R [--relay-ecn-mark-above BYTES]]
  pollstack testbed impair [--name NAME] [--loss P] [--delay D [--jitter J]] [--reorder P] [--duplicate P] [--seed N] [--rate R] [--ecn-mark-above BYTES] [--relay-rate R [--relay-ecn-mark-above BYTES]]
  pollstack testbed down [--name NAME]

up makes two network namespaces NAME-a and NAME-b joined by a veth pair whose
ends are NAME-a (in NAME-a, no kernel address: pollstack owns it) and NAME-b
(in NAME-b, with 198.18.0.2/24 and 2001:2::2/64, TX checksum offload off).
down removes all of it. Both are idempotent. NAME defaults to pst.

up --relay (and up --delay D, --reorder P, --duplicate P or --relay-rate
R, which imply it) puts a middle namespace
NAME-d between the ends: NAME-a's and NAME-b's veth peers, NAME-da and
NAME-db, are both in NAME-d, where a relay process (started by up, stopped
by down, pidfile and log in /run/pollstack/testbed/NAME/) copies every frame
unchanged from one to the other (MACs, ARP/ND, VLAN tags), held for the
delay, reordered and duplicated as told. TSO, GSO and UDP segmentation are
off on NAME-a and NAME-b, so that frames stay within the MTU. down prints
the relay's counters: frames passed, dropped (its ring of 4096 frames per
direction full), too big, refused by the other end, reordered, held for
reordering with no frame to follow (held-alone), duplicated, and how late
they left against their due time.

up --routed adds a third namespace NAME-c behind a router: the kernel in
NAME-b forwards (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding) between
NAME-b and a second veth pair, NAME-r (in NAME-b, 198.19.0.1/24 and
2001:2:0:1::1/64) and NAME-c (in NAME-c, 198.19.0.2/24 and 2001:2:0:1::2/64,
default routes through NAME-r, TX checksum offload off on both ends). pollstack
reaches NAME-c only through the gateway: serve --gateway 198.18.0.2
--gateway 2001:2::2; without one, NAME-c's packets are answered by nothing
(no_route).

up --rss (with --queues N, N >= 2) makes the kernel's end act as an RSS NIC
for what it sends: a tc BPF program on NAME-b's clsact egress hashes each
TCP and UDP frame's 4-tuple (IPv4, and IPv6 without extension headers) with
Toeplitz and cores.SymmetricRSSKey, looks the hash up in the engine's default
indirection table for N cores (128 entries, entry i -> queue i mod N) and has
the kernel send the frame on that queue, so it arrives on NAME-a's rx queue
of the flow's owner core: serve, bench and proxy with --cores listing N CPUs
then hand nothing from core to core. It clears XPS on NAME-b (XPS would pick
first); other frames go where the kernel puts them. impair leaves it alone.
In a relayed bed the program and the XPS clearing are on NAME-da, the
relay's end toward NAME-a, instead.

impair replaces the impairment of a running bed (a flag left out is 0;
--loss 0 --delay 0 --rate 0 clears it); up's impairment flags do the same on
the new bed. Loss, rate and marks are the kernel's own parts on NAME-b, the
kernel's end, and delay, reordering and duplication the relay, so whichever
stack is on NAME-a faces the same path:
  --loss P   drop each frame with probability P (0..1), both directions:
             tc BPF programs on NAME-b's clsact ingress and egress
  --delay D  grow the round trip by D (0..5s): the relay holds each frame
             D/2 in each direction, in arrival order. Needs a relayed bed;
             on a bed without NAME-d impair says so and leaves the path clean
  --jitter J with --delay: each frame's hold is D/2 ± J/2 (uniform, J <= D),
             never before the frame that arrived ahead of it (no reordering)
  --reorder P
             hold each frame back with probability P (0..1), both
             directions, behind the next frame of its direction: the two
             leave in swapped order (displaced by one, as a path with two
             lanes would). With no frame following within 1ms of its due
             time it leaves alone, late but in order. A frame that
             overtook a held one is not drawn. Needs a relayed bed
  --duplicate P
             send each frame twice with probability P (0..1), both
             directions, the copy right behind it. Needs a relayed bed
  --seed N   seed of the relay's draws (jitter, reorder, duplicate; one
             stream per direction), for runs that meet the same choices
             for the same frames; 0 (the default) takes the clock's, which
             the relay writes to its log. Loss is tc's and not seeded
  --rate R   cap what the kernel sends at R: a token bucket (tbf) at NAME-b's
             root. R is 100mbit, 1gbit (bits/s), 500kbps (bytes/s, as tc
             spells it) or bytes/s
  --ecn-mark-above BYTES
             mark ECN-capable (ECT) IPv4 and IPv6 frames CE instead of
             letting a queue build, both directions, as a switch's ECN
             threshold does (DCTCP's K). Needs --rate. This kernel has no
             marking qdisc and a tc program cannot see a qdisc's backlog, so
             a tc BPF program on each hook keeps a phantom queue: each frame
             adds its length, it drains at R, and a frame that finds more
             than BYTES in it is marked. Kernel -> pollstack it follows the
             tbf's queue; pollstack -> kernel (not shaped) it marks what
             pollstack sends faster than R. Nothing is dropped
  --relay-rate R [--relay-ecn-mark-above BYTES]
             a bottleneck in the relay (a relayed bed; up --relay-rate
             implies it), each direction: every frame waits until those
             ahead of it have left at R (its length over R each), then
             the delay; a frame that finds more than 100 ms of R queued
             (at least 64 KiB) is dropped. Unlike --rate it holds what
             either stack sends, so two pollstacks (AF_XDP on NAME-a and
             on NAME-b) meet it too. With --relay-ecn-mark-above an
             ECN-capable IPv4 or IPv6 frame that finds more than BYTES
             queued is marked CE (a switch's ECN threshold, DCTCP's K).
             The relay writes the queue of each direction to its log
             every 100 ms ("relay queue:" lines: backlog now, mean and max
             found by the frames since the last line, marked, dropped)
`
