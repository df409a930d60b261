package testbed

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/pollstack/pollstack/internal/netns"
	"golang.org/x/sys/unix"
)

// tc direct-action verdicts.
const (
	tcActOK     = 0
	tcActShot   = 2
	tcActStolen = 4
)

// impairProg builds a tc (SchedCLS, direct-action) program that drops a
// frame with probability loss. It drops with drop: on egress
// TC_ACT_STOLEN, which the sender takes for a frame sent, as on a real path
// (TC_ACT_SHOT there, like an iptables DROP in OUTPUT, fails the send with
// ENOBUFS, and ping and TCP send again at once); on ingress TC_ACT_SHOT.
func impairProg(loss float64, drop int32) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if loss > 0 {
		// A frame is dropped when a random u32 is below loss * 2^32
		// (2^32 itself, loss 1, drops every frame).
		thr := int64(math.Round(loss * (1 << 32)))
		insns = append(insns,
			asm.FnGetPrandomU32.Call(),
			asm.LoadImm(asm.R1, thr, asm.DWord),
			asm.JLT.Reg(asm.R0, asm.R1, "drop"),
		)
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, tcActOK),
		asm.Return(),
		asm.Mov.Imm(asm.R0, drop).WithSymbol("drop"),
		asm.Return(),
	)
}

// Impair sets the impairment of the bed name to im, replacing what was
// there; the zero Impairment clears it. Loss, rate and ECN marks live on
// the kernel's veth end NAME-b, in netns NAME-b (see Impairment for what
// goes where), and go with the bed. Its BPF filters have preference 20 on
// the clsact hooks, after RSS's (SetRSS), which it leaves alone. A relayed
// bed's relay is started again with the new delay, jitter, reordering,
// duplication and seed when they change (the frames it held are lost); a
// bed without the relay refuses them. On error the path is left clean.
func Impair(name string, im Impairment) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if err := im.Validate(); err != nil {
		return err
	}
	if err := bedExists(name); err != nil {
		return err
	}
	_, ifB, _, nsB := names(name)
	relayed := hasRelay(name)
	if im.NeedsRelay() && !relayed {
		clearImpairment(nsB, ifB)
		nsD, _, _ := relayNames(name)
		return fmt.Errorf("testbed: bed %s has no relay (netns %s) to delay, reorder, duplicate or queue frames with (this kernel has neither netem nor fq): make it with 'testbed up --relay' (or up with --delay, --reorder, --duplicate or --relay-rate)", name, nsD)
	}
	clearImpairment(nsB, ifB)
	err := impair(nsB, ifB, im)
	if err == nil && relayed {
		err = setRelay(name, settingsFor(im))
	}
	if err != nil {
		clearImpairment(nsB, ifB)
		if relayed {
			err = errors.Join(err, setRelay(name, relaySettings{}))
		}
		return err
	}
	return nil
}

// setRelay gives the bed name's relay the settings rs, starting it again
// unless it already has them.
func setRelay(name string, rs relaySettings) error {
	if pid, now := runningRelay(name); pid != 0 && now == rs {
		return nil
	}
	if err := stopRelay(name); err != nil {
		return err
	}
	return startRelay(name, rs)
}

// bedExists says whether the bed name's kernel end is there.
func bedExists(name string) error {
	_, ifB, _, nsB := names(name)
	if err := netns.Do(nsB, func() error {
		_, err := net.InterfaceByName(ifB)
		return err
	}); err != nil {
		return fmt.Errorf("testbed: no bed %s (%s in netns %s): %w", name, ifB, nsB, err)
	}
	return nil
}

// clearImpairment removes the impairment's BPF filters and the root qdisc
// from ifB, and the clsact qdisc when no other filter (RSS) is left on it;
// the veth goes back to no queue. Absent ones are no error.
func clearImpairment(nsB, ifB string) {
	for _, hook := range []string{"ingress", "egress"} {
		_ = run("tc", "-n", nsB, "filter", "del", "dev", ifB, hook, "pref", strconv.Itoa(impairPref))
		_ = run("tc", "-n", nsB, "filter", "del", "dev", ifB, hook, "pref", strconv.Itoa(ecnPref))
	}
	_ = run("tc", "-n", nsB, "qdisc", "del", "dev", ifB, "root") // fails on noqueue: nothing to remove
	dropEmptyClsact(nsB, ifB)
}

// ensureClsact gives ifB a clsact qdisc unless it has one.
func ensureClsact(nsB, ifB string) error {
	out, err := runOutput("tc", "-n", nsB, "qdisc", "show", "dev", ifB)
	if err != nil {
		return err
	}
	if strings.Contains(out, "qdisc clsact") {
		return nil
	}
	return run("tc", "-n", nsB, "qdisc", "add", "dev", ifB, "clsact")
}

// dropEmptyClsact removes ifB's clsact qdisc when neither hook has a filter
// left, so that a bed without RSS and impairment is as Up made it.
func dropEmptyClsact(nsB, ifB string) {
	for _, hook := range []string{"ingress", "egress"} {
		out, err := runOutput("tc", "-n", nsB, "filter", "show", "dev", ifB, hook)
		if err != nil || strings.TrimSpace(out) != "" {
			return // no clsact, or a filter still on it
		}
	}
	_ = run("tc", "-n", nsB, "qdisc", "del", "dev", ifB, "clsact")
}

func impair(nsB, ifB string, im Impairment) error {
	if im.Rate > 0 {
		// The bucket holds 5 ms at the rate (at least 4 KiB, above one
		// frame); the queue 100 ms (at least 64 KiB).
		burst := max(im.Rate/200, 4096)
		limit := max(im.Rate/10, 65536, 3*burst)
		if err := run("tc", "-n", nsB, "qdisc", "replace", "dev", ifB, "root", "tbf",
			"rate", FormatRate(im.Rate), "burst", fmt.Sprint(burst), "limit", fmt.Sprint(limit)); err != nil {
			return err
		}
	}
	if im.Loss == 0 && im.ECNMarkAbove == 0 {
		return nil
	}
	if err := ensureClsact(nsB, ifB); err != nil {
		return err
	}
	if im.ECNMarkAbove > 0 {
		for _, hook := range []string{"ingress", "egress"} {
			if err := attachECNMark(nsB, ifB, hook, im.Rate, im.ECNMarkAbove); err != nil {
				return err
			}
		}
	}
	if im.Loss == 0 {
		return nil
	}
	if err := attach(nsB, ifB, "egress", impairPref, "bed_egress", impairProg(im.Loss, tcActStolen)); err != nil {
		return err
	}
	return attach(nsB, ifB, "ingress", impairPref, "bed_ingress", impairProg(im.Loss, tcActShot))
}

// attach loads insns as the program name and makes it ifB's direct-action
// filter of preference pref on hook (ingress or egress of clsact). tc(8)
// takes the program from a pin in a bpf file system mounted for the
// moment; once the filter holds it the pin goes, and the program lives as
// long as the filter (or the veth).
func attach(nsB, ifB, hook string, pref int, name string, insns asm.Instructions) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.SchedCLS,
		Instructions: insns,
		License:      "GPL",
	})
	if err != nil {
		return fmt.Errorf("testbed: load the %s program: %w", hook, err)
	}
	defer prog.Close()
	dir, err := os.MkdirTemp("", "pollstack-bed-bpf")
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	defer os.Remove(dir)
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("testbed: mount a bpf file system on %s: %w", dir, err)
	}
	defer func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }() // the pin goes with it
	pin := filepath.Join(dir, "prog")
	if err := prog.Pin(pin); err != nil {
		return fmt.Errorf("testbed: pin the %s program: %w", hook, err)
	}
	return run("tc", "-n", nsB, "filter", "add", "dev", ifB, hook, "pref", strconv.Itoa(pref), "bpf", "direct-action", "object-pinned", pin)
}
