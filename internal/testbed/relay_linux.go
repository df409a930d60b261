package testbed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/mono"
)

// The relay runs as a process of its own, the program that made the bed
// (pollstack, a test binary, a perf command) started again with relayEnv
// set and argv[0] relayArg0: init below turns it into the relay before
// main runs.
const (
	relayEnv  = "POLLSTACK_TESTBED_RELAY"
	relayArg0 = "pollstack-testbed-relay"
)

// StateDir holds a bed's run-time state: the relay's pidfile (relay.pid)
// and log (relay.log) under StateDir/NAME. Down removes it.
const StateDir = "/run/pollstack/testbed"

func init() {
	if os.Getenv(relayEnv) != "1" || len(os.Args) != 2+relayFields || os.Args[0] != relayArg0 {
		return
	}
	if err := relayMain(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", relayArg0, os.Args[1], err)
		os.Exit(1)
	}
	os.Exit(0)
}

// relayNames are the names of a relayed bed's middle namespace and its two
// veth ends there: NAME-da, NAME-a's peer, and NAME-db, NAME-b's.
func relayNames(name string) (nsD, ifDA, ifDB string) {
	return name + "-d", name + "-da", name + "-db"
}

func statePath(name, file string) string { return filepath.Join(StateDir, name, file) }

// hasRelay reports whether the bed name has its middle namespace.
func hasRelay(name string) bool {
	nsD, _, _ := relayNames(name)
	_, err := os.Stat(filepath.Join(netns.Dir, nsD))
	return err == nil
}

// relaySettings are what a relay does to the frames of each direction:
// hold them oneWay ± jitter, hold one back behind the next with
// probability reorder, send one twice with probability duplicate, each
// draw from seed (0: the clock's).
type relaySettings struct {
	oneWay, jitter     time.Duration
	reorder, duplicate float64
	seed               uint64
	// rate and markAbove: the bottleneck (Impairment.RelayRate,
	// RelayECNMarkAbove).
	rate, markAbove uint64
}

// relayFields is how many fields relaySettings has in the relay's argv and
// pidfile.
const relayFields = 7

// settingsFor is the relay's part of im.
func settingsFor(im Impairment) relaySettings {
	return relaySettings{oneWay: im.Delay / 2, jitter: im.Jitter / 2, reorder: im.Reorder, duplicate: im.Duplicate, seed: im.Seed,
		rate: im.RelayRate, markAbove: im.RelayECNMarkAbove}
}

// fields writes rs as relayFields words.
func (rs relaySettings) fields() []string {
	return []string{strconv.FormatInt(int64(rs.oneWay), 10), strconv.FormatInt(int64(rs.jitter), 10),
		strconv.FormatFloat(rs.reorder, 'g', -1, 64), strconv.FormatFloat(rs.duplicate, 'g', -1, 64),
		strconv.FormatUint(rs.seed, 10), strconv.FormatUint(rs.rate, 10), strconv.FormatUint(rs.markAbove, 10)}
}

// parseRelaySettings reads what fields wrote.
func parseRelaySettings(f []string) (relaySettings, error) {
	if len(f) != relayFields {
		return relaySettings{}, fmt.Errorf("want %d relay settings, have %d", relayFields, len(f))
	}
	ow, err1 := strconv.ParseInt(f[0], 10, 64)
	j, err2 := strconv.ParseInt(f[1], 10, 64)
	ro, err3 := strconv.ParseFloat(f[2], 64)
	du, err4 := strconv.ParseFloat(f[3], 64)
	seed, err5 := strconv.ParseUint(f[4], 10, 64)
	rate, err6 := strconv.ParseUint(f[5], 10, 64)
	mark, err7 := strconv.ParseUint(f[6], 10, 64)
	rs := relaySettings{oneWay: time.Duration(ow), jitter: time.Duration(j), reorder: ro, duplicate: du, seed: seed, rate: rate, markAbove: mark}
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil || ow < 0 || j < 0 || !(ro >= 0 && ro <= 1) || !(du >= 0 && du <= 1) {
		return relaySettings{}, fmt.Errorf("bad relay settings %q", f)
	}
	return rs, nil
}

// startRelay starts the relay of the bed name with the settings rs and
// returns once it has opened its sockets. The relay's pid and settings go
// to relay.pid.
func startRelay(name string, rs relaySettings) error {
	dir := filepath.Join(StateDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("testbed: relay state: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("testbed: relay: %w", err)
	}
	logf, err := os.OpenFile(statePath(name, "relay.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testbed: relay log: %w", err)
	}
	defer logf.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("testbed: relay: %w", err)
	}
	defer rd.Close()
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       append([]string{relayArg0, name}, rs.fields()...),
		Env:        append(os.Environ(), relayEnv+"=1"),
		Stdout:     logf,
		Stderr:     logf,
		ExtraFiles: []*os.File{wr}, // fd 3: "ready" once the sockets are open
		// A session of its own: the terminal's ^C does not reach it, and
		// it outlives 'testbed up'.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("testbed: start the relay: %w", err)
	}
	// Reap it when it ends while this process lives (a test binary);
	// after this process it is init's.
	go func() { _ = cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(rd).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			_ = cmd.Process.Kill()
			return fmt.Errorf("testbed: the relay did not start: %s", lastLines(statePath(name, "relay.log"), 3))
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		return errors.New("testbed: the relay did not start within 10s")
	}
	pid := fmt.Sprintf("%d %s\n", cmd.Process.Pid, strings.Join(rs.fields(), " "))
	if err := os.WriteFile(statePath(name, "relay.pid"), []byte(pid), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("testbed: relay pidfile: %w", err)
	}
	return nil
}

// lastLines returns up to n last lines of the file at path, joined by "; ".
func lastLines(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// runningRelay returns the pid of the bed name's relay and its settings,
// or pid 0 when none runs. A pid whose process is not that bed's relay
// (the pid was reused) counts as none.
func runningRelay(name string) (pid int, rs relaySettings) {
	b, err := os.ReadFile(statePath(name, "relay.pid"))
	if err != nil {
		return 0, relaySettings{}
	}
	f := strings.Fields(string(b))
	if len(f) != 1+relayFields {
		return 0, relaySettings{}
	}
	pid, _ = strconv.Atoi(f[0])
	if rs, err = parseRelaySettings(f[1:]); err != nil {
		return 0, relaySettings{}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.HasPrefix(cmdline, []byte(relayArg0+"\x00"+name+"\x00")) {
		return 0, relaySettings{}
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && zombie(st) {
		return 0, relaySettings{}
	}
	return pid, rs
}

// zombie reports whether a /proc/PID/stat says the process has ended.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// stopRelay ends the bed name's relay, if one runs: SIGTERM, then SIGKILL
// after 3 s. It waits until the process has gone.
func stopRelay(name string) error {
	pid, _ := runningRelay(name)
	defer os.Remove(statePath(name, "relay.pid"))
	if pid == 0 {
		return nil
	}
	_ = unix.Kill(pid, unix.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || zombie(st) {
			return nil
		}
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL)
			deadline = time.Now().Add(3 * time.Second)
			if err := unix.Kill(pid, 0); err != nil {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RelayStats asks the relay of the bed name for its counters (SIGUSR1)
// and returns the line it writes to its log: per direction the frames
// passed, dropped for a full queue, too big and refused by the other end,
// and how late frames left against their due time.
func RelayStats(name string) (string, error) {
	pid, _ := runningRelay(name)
	if pid == 0 {
		return "", fmt.Errorf("testbed: bed %s has no relay running", name)
	}
	path := statePath(name, "relay.log")
	count := func() int {
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte("relay stats:"))
	}
	before := count()
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		return "", fmt.Errorf("testbed: signal the relay: %w", err)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if count() > before {
			b, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			for i := len(lines) - 1; i >= 0; i-- {
				if strings.Contains(lines[i], "relay stats:") {
					return lines[i], nil
				}
			}
		}
	}
	return "", errors.New("testbed: the relay did not report its counters within 3s")
}

// relayEnd is one of the relay's packet sockets and what it has read.
type relayEnd struct {
	iface string
	fd    int
	q     *frameQueue // frames read here, to leave by the other end
	late  lateness    // of the frames q sent out of the other end

	oversize, txDrop uint64
	// runt counts frames shorter than an Ethernet header, dropped.
	runt uint64
	// partial counts frames read with a checksum left to the device
	// (TP_STATUS_CSUMNOTREADY): passed on as they are, they arrive with
	// a wrong one. A bed's ends have TX checksum offload off.
	partial uint64

	csumPartial bool     // of the frame recv read last
	rxTime      int64    // its arrival (SO_TIMESTAMPNS), CLOCK_REALTIME ns; 0: none
	lag         lateness // how long frames waited in the socket before the relay read them

	msg unix.Msghdr
	iov unix.Iovec
	oob [128]byte

	// A batch of recvmmsg into the queue's free slots, and of sendmmsg
	// from the frames of the other end's queue that are due.
	rmsgs [relayBatch]unix.Mmsghdr
	riovs [relayBatch]unix.Iovec
	roobs [relayBatch][128]byte
	rbufs [relayBatch][]byte
	smsgs [relayBatch]unix.Mmsghdr
	siovs [relayBatch]unix.Iovec
}

// openRelayEnd opens a packet socket on iface in the calling thread's
// namespace that reads every frame arriving there (not what it sends) with
// the VLAN tag the kernel took off (PACKET_AUXDATA).
func openRelayEnd(iface string, q *frameQueue) (*relayEnd, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	e := newRelayEnd(iface, fd, q)
	for _, o := range []struct{ level, opt, val int }{
		{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1},
		{unix.SOL_PACKET, unix.PACKET_AUXDATA, 1},
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16 << 20},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 16 << 20},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: setsockopt %d/%d: %w", iface, o.level, o.opt, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: bind: %w", iface, err)
	}
	return e, nil
}

// newRelayEnd makes the relay's end of the socket fd (named iface), whose
// frames go into q.
func newRelayEnd(iface string, fd int, q *frameQueue) *relayEnd {
	e := &relayEnd{iface: iface, fd: fd, q: q}
	e.msg.Iov = &e.iov
	e.msg.Iovlen = 1
	for i := range relayBatch {
		e.rmsgs[i].Hdr.Iov, e.rmsgs[i].Hdr.Iovlen = &e.riovs[i], 1
		e.smsgs[i].Hdr.Iov, e.smsgs[i].Hdr.Iovlen = &e.siovs[i], 1
	}
	return e
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// recv reads one frame into buf. n is the frame's whole length (more than
// len(buf) when it did not fit); tagged, tpid and tci are the VLAN tag the
// kernel took off it.
func (e *relayEnd) recv(buf []byte) (n int, tagged bool, tpid, tci uint16, err error) {
	e.iov.Base = &buf[0]
	e.iov.SetLen(len(buf))
	e.msg.Control = &e.oob[0]
	e.msg.SetControllen(len(e.oob))
	r, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.msg)), unix.MSG_TRUNC)
	if errno != 0 {
		return 0, false, 0, 0, errno
	}
	tagged, tpid, tci = e.auxdata(e.oob[:e.msg.Controllen])
	return int(r), tagged, tpid, tci, nil
}

// auxdata reads the VLAN tag the kernel took off a frame, and whether its
// checksum was left to the device, from its control messages.
func (e *relayEnd) auxdata(ctl []byte) (tagged bool, tpid, tci uint16) {
	e.csumPartial, e.rxTime = false, 0
	for len(ctl) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		if int(h.Len) < unix.SizeofCmsghdr || int(h.Len) > len(ctl) {
			break
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.TpacketAuxdata{}))) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
			e.csumPartial = aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				tagged, tci, tpid = true, aux.Vlan_tci, unix.ETH_P_8021Q
				if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = aux.Vlan_tpid
				}
			}
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
			e.rxTime = ts.Nano()
		}
		l := unix.CmsgSpace(int(h.Len) - unix.CmsgLen(0))
		if l > len(ctl) {
			break
		}
		ctl = ctl[l:]
	}
	return tagged, tpid, tci
}

// relay is the relay's loop: two ends, each one's frames queued for the
// other. Owned by one locked OS thread.
type relay struct {
	ends    [2]*relayEnd
	scratch []byte
	epoch   time.Time
	// wallEpoch is epoch on the wall clock (ns), to turn the kernel's
	// arrival stamps into the relay's clock.
	wallEpoch int64
	wake      int // eventfd: a signal arrived
	stop      atomic.Bool
	// queueEvery, when not 0, is how often the relay writes its
	// bottleneck's queue to its log (logQueue); nextQueue is when next.
	queueEvery time.Duration
	nextQueue  mono.Time
	ts         unix.Timespec
	fds        [3]unix.PollFd
}

func newRelay() *relay {
	r := &relay{scratch: make([]byte, RelaySlotSize), epoch: time.Now()}
	r.wallEpoch = r.epoch.UnixNano()
	return r
}

func (r *relay) now() mono.Time { return mono.Time(time.Since(r.epoch)) }

// relayBatch bounds the frames read from one end in one turn, so that
// sending what is due is not held up by a busy end.
const relayBatch = 64

// relaySpin is how long before a frame is due the relay stops sleeping and
// polls its sockets without a timeout until the frame leaves: waking from
// a sleep on an idle CPU of this VM takes up to ~90 µs. (Measured with 200
// pings 5 ms apart through 10 ms: with no spin 79% of the frames left
// within 100 µs of their time, with 50 µs 97.5%.)
const relaySpin = 50 * time.Microsecond

func (r *relay) run() error {
	r.fds = [3]unix.PollFd{{Fd: int32(r.ends[0].fd), Events: unix.POLLIN}, {Fd: int32(r.ends[1].fd), Events: unix.POLLIN}, {Fd: int32(r.wake), Events: unix.POLLIN}}
	var evbuf [8]byte
	for {
		now := r.now()
		next, pending := mono.Time(0), false
		for i, e := range r.ends {
			out := r.ends[1-i]
			if err := r.send(e.q, out, &e.late, now); err != nil {
				return err
			}
			if due, ok := e.q.Due(); ok && (!pending || due.Before(next)) {
				next, pending = due, true
			}
		}
		if r.queueEvery > 0 && !now.Before(r.nextQueue) {
			r.logQueue()
			r.nextQueue = now.Add(r.queueEvery)
		}
		wait := time.Duration(-1) // none: until a frame or a signal comes
		if pending {
			// Sleep until relaySpin before the frame is due, then poll
			// without sleeping.
			wait = max(next.Sub(r.now())-relaySpin, 0)
		}
		if r.queueEvery > 0 {
			if q := max(r.nextQueue.Sub(r.now()), 0); wait < 0 || q < wait {
				wait = q
			}
		}
		tsp := (*unix.Timespec)(nil)
		if wait >= 0 {
			r.ts = unix.NsecToTimespec(int64(wait))
			tsp = &r.ts
		}
		_, err := unix.Ppoll(r.fds[:], tsp, nil)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("ppoll: %w", err)
		}
		if r.fds[2].Revents != 0 {
			_, _ = unix.Read(r.wake, evbuf[:])
			if r.stop.Load() {
				return nil
			}
			r.logStats()
		}
		now = r.now()
		for i, e := range r.ends {
			re := r.fds[i].Revents
			if re&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
				serr, _ := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_ERROR)
				return fmt.Errorf("%s: socket error: %v", e.iface, syscall.Errno(serr))
			}
			if re&unix.POLLIN != 0 {
				if err := r.read(e, now); err != nil {
					return err
				}
			}
		}
	}
}

// read takes up to relayBatch frames from e into its queue: one recvmmsg
// into the queue's free slots, or with the queue full one frame at a time
// into scratch, dropped.
func (r *relay) read(e *relayEnd, now mono.Time) error {
	k := min(e.q.Free(), relayBatch)
	if k == 0 {
		for range relayBatch {
			_, _, _, _, err := e.recv(r.scratch)
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
				return nil
			case err != nil:
				return fmt.Errorf("%s: recvmsg: %w", e.iface, err)
			}
			e.q.Drop()
		}
		return nil
	}
	for i := range k {
		buf := e.q.SlotAt(i)
		e.rbufs[i] = buf
		e.riovs[i].Base = &buf[0]
		e.riovs[i].SetLen(len(buf))
		h := &e.rmsgs[i].Hdr
		h.Control = &e.roobs[i][0]
		h.SetControllen(len(e.roobs[i]))
	}
	got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.rmsgs[0])), uintptr(k),
		unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return nil
	case errno != 0:
		return fmt.Errorf("%s: recvmmsg: %w", e.iface, errno)
	}
	for i := range int(got) {
		m := &e.rmsgs[i]
		n, buf := int(m.Len), e.rbufs[i]
		tagged, tpid, tci := e.auxdata(e.roobs[i][:m.Hdr.Controllen])
		switch {
		case n > len(buf) || tagged && n+vlanRoom > len(buf):
			e.oversize++
			continue
		case n < 14:
			e.runt++
			continue
		}
		if e.csumPartial {
			e.partial++
		}
		// The frame is due its hold after it arrived, not after the
		// relay read it. The arrival is the wall clock's: one far off
		// (the clock stepped) counts as now.
		at := now
		if e.rxTime != 0 {
			if a := mono.Time(e.rxTime - r.wallEpoch); a <= now && now.Sub(a) < time.Second {
				at = a
			}
		}
		e.lag.add(now.Sub(at))
		// After a frame left out, the next ones move up a slot: the
		// queue's slots stay in arrival order with no holes.
		if dst := e.q.Slot(); &dst[0] != &buf[0] {
			copy(dst, buf[:n])
		}
		e.q.Commit(n, at, tagged, tpid, tci)
	}
	return nil
}

// send writes the frames of q that are due by now to out, up to
// relayBatch at a time with sendmmsg; a duplicated frame takes two
// messages, its copy right behind it.
func (r *relay) send(q *frameQueue, out *relayEnd, late *lateness, now mono.Time) error {
	for {
		m := 0
		for k := 0; m < relayBatch && k < q.Len() && !q.DueAt(k).After(now); k++ {
			f := q.At(k)
			for c := q.CopiesAt(k); c > 0 && m < relayBatch; c-- {
				out.siovs[m].Base = &f[0]
				out.siovs[m].SetLen(len(f))
				m++
			}
		}
		if m == 0 {
			return nil
		}
		sent, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(out.fd), uintptr(unsafe.Pointer(&out.smsgs[0])), uintptr(m),
			unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == 0 && sent > 0:
			t := r.now()
			for range int(sent) {
				due, _ := q.Due()
				if q.Sent() {
					late.add(t.Sub(due))
				}
			}
		case errno == unix.ENXIO || errno == unix.ENODEV || errno == unix.ENETDOWN || errno == unix.EBADF:
			return fmt.Errorf("%s: sendmmsg: %w", out.iface, errno) // the end is gone
		default:
			// A full queue there, or a frame the kernel refuses: the
			// first frame is lost (a partial batch leaves the rest for
			// the next call, which reports the error).
			out.txDrop++
			q.Pop()
		}
	}
}

// relayQueueEvery is how often a relay with a bottleneck writes its queue
// to its log.
const relayQueueEvery = 100 * time.Millisecond

// logQueue writes one line of the bottleneck's queue in each direction to
// the log: the wall clock (Unix seconds), then per direction the backlog
// now and the mean and largest backlog the frames since the last line
// found (bytes), with the frames marked and dropped so far.
func (r *relay) logQueue() {
	var b strings.Builder
	now := r.now()
	fmt.Fprintf(&b, "relay queue: %.3f", float64(r.wallEpoch+int64(now))/1e9)
	for i, e := range r.ends {
		q := &e.q.window
		fmt.Fprintf(&b, " %s->%s backlog %d mean %d max %d frames %d marked %d dropped %d;",
			e.iface, r.ends[1-i].iface, e.q.Backlog(now), q.mean(), q.max, q.n, e.q.Marked, e.q.LinkDropped)
		*q = depthStats{}
	}
	fmt.Println(strings.TrimSuffix(b.String(), ";"))
}

// logStats writes the relay's counters as one line to its log (stdout).
func (r *relay) logStats() {
	var b strings.Builder
	b.WriteString("relay stats:")
	for i, e := range r.ends {
		out := r.ends[1-i]
		l := &e.late
		var sent uint64
		for _, c := range l.count {
			sent += c
		}
		mean := time.Duration(0)
		if sent > 0 {
			mean = l.sum / time.Duration(sent)
		}
		lagMean := time.Duration(0)
		if n := e.q.Passed + uint64(e.q.Len()); n > 0 {
			lagMean = e.lag.sum / time.Duration(n)
		}
		fmt.Fprintf(&b, " %s->%s passed %d dropped(full) %d oversize %d runt %d txdrop %d csum-partial %d reordered %d held-alone %d duplicated %d",
			e.iface, out.iface, e.q.Passed, e.q.Dropped, e.oversize, e.runt, out.txDrop, e.partial, e.q.Reordered, e.q.HeldAlone, e.q.Duplicated)
		if e.q.rate > 0 {
			fmt.Fprintf(&b, " bottleneck: marked %d dropped(limit) %d queue mean %d max %d bytes", e.q.Marked, e.q.LinkDropped, e.q.depth.mean(), e.q.depth.max)
		}
		fmt.Fprintf(&b, " late: <=100µs %.2f%% <=1ms %.2f%% mean %v max %v, read lag mean %v max %v;",
			100*l.within(2), 100*l.within(5), mean, l.max, lagMean, e.lag.max)
	}
	fmt.Println(strings.TrimSuffix(b.String(), ";"))
}

// relayMain is the relay process: it enters NAME-d, opens a packet socket
// on each of its veth ends and relays frames between them as the settings
// in args (relaySettings.fields) say, until SIGTERM or an end goes away.
func relayMain(name string, args []string) error {
	runtime.LockOSThread() // the namespace and the loop stay on this thread
	rs, err := parseRelaySettings(args)
	if err != nil {
		return err
	}
	nsD, ifDA, ifDB := relayNames(name)
	h, err := unix.Open(filepath.Join(netns.Dir, nsD), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Setns(h, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter %s: %w", nsD, err)
	}
	unix.Close(h)
	// Wake-ups to the nanosecond, not the default 50 µs slack, and the
	// lowest real-time priority (SCHED_FIFO 1) for this thread, so that a
	// machine busy with the stacks under test does not hold frames back:
	// in the fair class, even at nice -20, a busy 2-CPU machine kept
	// frames of a bulk transfer 1 to 3 ms past their time on average, with
	// SCHED_FIFO 0.25 ms. The relay sleeps whenever no frame is due within
	// relaySpin, and the kernel's real-time throttling (95%) bounds it
	// anyway. Where the class is refused, nice -20.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	sched := "SCHED_FIFO 1"
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
		sched = fmt.Sprintf("nice -20 (SCHED_FIFO: %v)", err)
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -20)
	}
	seed := rs.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	r := newRelay()
	for i, iface := range []string{ifDA, ifDB} {
		// One stream of draws per direction: NAME-da's frames from
		// seed, NAME-db's from seed+1.
		q := newFrameQueue(RelaySlots, rs.oneWay, rs.jitter, seed+uint64(i))
		q.setShuffle(rs.reorder, rs.duplicate)
		if rs.rate > 0 {
			q.setBottleneck(rs.rate, rs.markAbove, relayLimit(rs.rate))
		}
		if r.ends[i], err = openRelayEnd(iface, q); err != nil {
			return err
		}
	}
	if r.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return err
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1)
	go func() {
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		for s := range sig {
			if s != unix.SIGUSR1 {
				r.stop.Store(true)
			}
			_, _ = unix.Write(r.wake, one)
		}
	}()
	fmt.Printf("%s relay: %s <-> %s in netns %s, each frame held %v ± %v each way, reorder %g, duplicate %g, seed %d, bottleneck %s mark above %d limit %d, %d frames per direction, %s\n",
		time.Now().UTC().Format(time.RFC3339), ifDA, ifDB, nsD, rs.oneWay, rs.jitter, rs.reorder, rs.duplicate, seed,
		FormatRate(rs.rate), rs.markAbove, relayLimit(rs.rate), RelaySlots, sched)
	if rs.rate > 0 {
		r.queueEvery = relayQueueEvery
	}
	ready := os.NewFile(3, "ready")
	_, _ = ready.WriteString("ready\n")
	ready.Close()
	err = r.run()
	r.logStats()
	fmt.Printf("%s relay: stopped\n", time.Now().UTC().Format(time.RFC3339))
	return err
}
