package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pollstack/pollstack/internal/nsproc"
)

// clockTicks is USER_HZ, the unit of /proc/stat and /proc/PID/stat: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// cpuTimes is one CPU's line of /proc/stat, in clock ticks.
type cpuTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

func (t cpuTimes) total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// readCPUTimes reads every "cpuN" line of /proc/stat (not the "cpu" sum).
func readCPUTimes() (map[int]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCPUTimes(b)
}

func parseCPUTimes(b []byte) (map[int]cpuTimes, error) {
	out := map[int]cpuTimes{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat: %s: %w", f[0], err)
			}
		}
		out[n] = cpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/proc/stat: no cpuN line")
	}
	return out, nil
}

// cpuUse is one CPU's use over a window, in percent of the window.
type cpuUse struct {
	CPU     int     `json:"cpu"`
	Busy    float64 `json:"busy_pct"`    // everything but idle and iowait
	User    float64 `json:"user_pct"`    // user + nice
	System  float64 `json:"system_pct"`  // system
	SoftIRQ float64 `json:"softirq_pct"` // irq + softirq
}

// usage returns the use of cpu between two readings (zero if unknown).
func usage(cpu int, a, b map[int]cpuTimes) cpuUse {
	x, ok1 := a[cpu]
	y, ok2 := b[cpu]
	u := cpuUse{CPU: cpu}
	if !ok1 || !ok2 || y.total() <= x.total() {
		return u
	}
	tot := float64(y.total() - x.total())
	pct := func(v uint64) float64 { return 100 * float64(v) / tot }
	u.Busy = pct(y.total() - x.total() - (y.Idle - x.Idle) - (y.IOWait - x.IOWait))
	u.User = pct(y.User + y.Nice - x.User - x.Nice)
	u.System = pct(y.System - x.System)
	u.SoftIRQ = pct(y.IRQ + y.SoftIRQ - x.IRQ - x.SoftIRQ)
	return u
}

// procStat is what is read from /proc/PID/stat: the parent and the CPU time.
type procStat struct {
	PPID         int
	UTime, STime uint64 // clock ticks, every thread of the process
}

// parseProcStat reads a /proc/PID/stat line; the command name, in
// parentheses, may hold spaces and parentheses itself.
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("no ')' in %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("short stat line %q", s)
	}
	var p procStat
	var err1, err2, err3 error
	p.PPID, err1 = strconv.Atoi(f[1])
	p.UTime, err2 = strconv.ParseUint(f[11], 10, 64)
	p.STime, err3 = strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("bad stat line %q", s)
	}
	return p, nil
}

// treeTicks returns utime+stime of pid and all its descendants (nginx's
// master and worker), in clock ticks. Processes that ended are not
// counted; the proxies' processes live through a turn.
func treeTicks(pid int) (uint64, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	stats := map[int]procStat{}
	for _, d := range dirs {
		n, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if p, err := parseProcStat(string(b)); err == nil {
			stats[n] = p
		}
	}
	if _, ok := stats[pid]; !ok {
		return 0, fmt.Errorf("process %d not found", pid)
	}
	return sumTree(pid, stats), nil
}

// sumTree adds the CPU time of pid and its descendants in stats.
func sumTree(pid int, stats map[int]procStat) uint64 {
	children := map[int][]int{}
	for n, p := range stats {
		children[p.PPID] = append(children[p.PPID], n)
	}
	var sum uint64
	seen := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		sum += stats[n].UTime + stats[n].STime
		queue = append(queue, children[n]...)
	}
	return sum
}

// pinSelf sets the CPU affinity of every thread of this process to cpu
// (taskset -a: threads made later inherit it from the thread that makes
// them) and returns what restores the affinity the process had. The
// programs this process starts inherit it too, unless started under
// taskset.
func pinSelf(ctx context.Context, cpu int) (restore func(), err error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return func() {}, err
	}
	old := ""
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			old = strings.TrimSpace(v)
		}
	}
	if old == "" {
		return func() {}, fmt.Errorf("no Cpus_allowed_list in /proc/self/status")
	}
	pid := fmt.Sprint(os.Getpid())
	if _, err := nsproc.Run(ctx, "taskset", "-a", "-p", "-c", fmt.Sprint(cpu), pid); err != nil {
		return func() {}, err
	}
	return func() {
		_, _ = nsproc.Run(context.Background(), "taskset", "-a", "-p", "-c", old, pid) // best effort: the process ends soon after
	}, nil
}
