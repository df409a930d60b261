package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/internal/nsproc"
)

// setNAPIThreads gives each veth end's receive processing (its NAPI poll:
// GRO, and the kernel's input of what arrives, or the XDP program and the
// copy into pollstack's UMEM) a kernel thread of its own, pinned to that
// side's CPU: NAME-a's to the proxy's, NAME-b's to the generator's
// (--napi-threads); off, it puts the processing back in the softirqs.
// Without the threads veth runs the receiving side's input in the sender's
// context, so the proxy's CPU pays for the peers' input of what it sends,
// and the generator's CPU for the proxy's input of what they send.
func (b *bench) setNAPIThreads(ctx context.Context, on bool) error {
	for _, end := range []struct {
		ns, ifc string
		cpu     int
	}{{b.bed.NsA, b.bed.IfaceA, b.o.ProxyCPU}, {b.bed.NsB, b.bed.IfaceB, b.o.GenCPU}} {
		path := "/sys/class/net/" + end.ifc + "/threaded"
		// Off first: turned on again, the threads are made anew, and the
		// new ones are the end's.
		if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(end.ns, "sh", "-c", "echo 0 > "+path)...); err != nil {
			return fmt.Errorf("threaded NAPI off on %s: %w", end.ifc, err)
		}
		if !on {
			continue
		}
		before := napiKthreads()
		if _, err := nsproc.Run(ctx, nsproc.NetnsArgs(end.ns, "sh", "-c", "echo 1 > "+path)...); err != nil {
			return fmt.Errorf("threaded NAPI on %s: %w", end.ifc, err)
		}
		var pids []int
		for deadline := time.Now().Add(2 * time.Second); len(pids) == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			for pid := range napiKthreads() {
				if !before[pid] {
					pids = append(pids, pid)
				}
			}
		}
		if len(pids) == 0 {
			return fmt.Errorf("threaded NAPI on %s: no napi/ kernel thread appeared (is GRO on? veth has NAPI only with GRO or XDP)", end.ifc)
		}
		for _, pid := range pids {
			if err := cores.PinThread(pid, end.cpu); err != nil {
				return fmt.Errorf("%s's NAPI thread: %w", end.ifc, err)
			}
		}
	}
	return nil
}

// napiKthreads returns the PIDs of the kernel's threaded-NAPI threads
// (comm "napi/IF-ID", cut at 15 bytes).
func napiKthreads() map[int]bool {
	out := map[int]bool{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "napi/") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			out[pid] = true
		}
	}
	return out
}
