package sinkcmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pollstack/pollstack/perf/internal/harness"
)

// testpmd runs dpdk-testpmd in rxonly mode on an interface with the
// net_af_xdp PMD and reads its port counters over DPDK's telemetry socket,
// which gives exact counts at moments this program chooses.
type testpmd struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	args    []string
	sock    string // telemetry socket
	ready   chan struct{}
	exited  chan struct{}
	waitErr error
	mu      sync.Mutex
	tail    []string // last lines of output, for errors
	netns   string
	iface   string
	conn    *net.UnixConn
}

// testpmdConfig says how to run it.
type testpmdConfig struct {
	Path   string // dpdk-testpmd
	Netns  string
	Iface  string
	CPU    int
	Prefix string   // --file-prefix, unique per run
	Extra  []string // appended to testpmd's own arguments
	// BusyBudget is the PMD's busy_budget devarg (0 turns busy polling
	// off); < 0 leaves the PMD's default.
	BusyBudget int
	Nice       int // niceness (nice -n)
	Log        io.Writer
}

// portStats is the part of /ethdev/stats this program uses.
type portStats struct {
	IPackets uint64 `json:"ipackets"`
	IBytes   uint64 `json:"ibytes"`
	IMissed  uint64 `json:"imissed"`
	IErrors  uint64 `json:"ierrors"`
	RxNoMbuf uint64 `json:"rx_nombuf"`
}

// testpmdArgs returns the command line: ip netns exec NS nice -n N taskset -c CPU
// stdbuf -oL -eL dpdk-testpmd EAL-args -- app-args. The main lcore (0) and the forwarding
// lcore (1) are both placed on the one CPU: the main lcore only waits for
// the newline that ends the run.
func testpmdArgs(c testpmdConfig) []string {
	cpu := strconv.Itoa(c.CPU)
	vdev := "net_af_xdp0,iface=" + c.Iface
	if c.BusyBudget >= 0 {
		vdev += ",busy_budget=" + strconv.Itoa(c.BusyBudget)
	}
	// stdbuf: testpmd's stdout is block-buffered on a pipe, and the line
	// that says it forwards would arrive only at exit.
	args := []string{"ip", "netns", "exec", c.Netns, "nice", "-n", strconv.Itoa(c.Nice), "taskset", "-c", cpu, "stdbuf", "-oL", "-eL", c.Path,
		"--no-huge", "-m", "1024", "--no-pci", "--vdev", vdev,
		"--lcores", "0@" + cpu + ",1@" + cpu, "--main-lcore", "0",
		"--file-prefix", c.Prefix, "--log-level", "lib.eal:warning",
		"--", "--forward-mode=rxonly", "--nb-cores=1", "--rxq=1", "--txq=1"}
	return append(args, c.Extra...)
}

// startTestpmd starts testpmd and waits until it forwards and its telemetry
// answers. On error nothing is left running.
func startTestpmd(ctx context.Context, c testpmdConfig) (*testpmd, error) {
	if _, err := exec.LookPath(c.Path); err != nil {
		return nil, fmt.Errorf("testpmd: %w", err)
	}
	t := &testpmd{
		args: testpmdArgs(c), ready: make(chan struct{}), exited: make(chan struct{}),
		sock:  filepath.Join("/var/run/dpdk", c.Prefix, "dpdk_telemetry.v2"),
		netns: c.Netns, iface: c.Iface,
	}
	t.cmd = exec.Command(t.args[0], t.args[1:]...)
	// Die with this process, whatever kills it.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var err error
	if t.stdin, err = t.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t.cmd.Stderr = t.cmd.Stdout
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testpmd: start: %w", err)
	}
	go t.read(out, c.Log)
	go func() {
		t.waitErr = t.cmd.Wait()
		close(t.exited)
	}()
	if err := t.waitReady(ctx); err != nil {
		_ = t.stop() // it did not come up; err says why
		return nil, err
	}
	return t, nil
}

// read copies testpmd's output to log and watches for the line that says it
// is forwarding.
func (t *testpmd) read(r io.Reader, log io.Writer) {
	sc := bufio.NewScanner(r)
	once := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		if log != nil {
			fmt.Fprintf(log, "  testpmd| %s\n", line)
		}
		t.mu.Lock()
		if t.tail = append(t.tail, line); len(t.tail) > 20 {
			t.tail = t.tail[1:]
		}
		t.mu.Unlock()
		if strings.Contains(line, "Press enter to exit") {
			once.Do(func() { close(t.ready) })
		}
	}
	_, _ = io.Copy(io.Discard, r) // drain the rest so testpmd never blocks on its output
}

func (t *testpmd) output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.tail, "\n")
}

func (t *testpmd) waitReady(ctx context.Context) error {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case <-t.ready:
	case <-t.exited:
		return fmt.Errorf("testpmd exited before forwarding (%v):\n%s", t.waitErr, t.output())
	case <-timeout.C:
		return fmt.Errorf("testpmd not forwarding after 30s:\n%s", t.output())
	case <-ctx.Done():
		return ctx.Err()
	}
	// The telemetry socket is up before the ports start.
	var err error
	for i := 0; i < 50; i++ {
		if t.conn, err = dialTelemetry(t.sock); err == nil {
			_, err = t.stats()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("testpmd telemetry at %s: %w", t.sock, err)
}

// dialTelemetry connects to DPDK's telemetry v2 socket and reads its
// greeting.
func dialTelemetry(path string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16384)
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.Read(buf); err != nil {
		c.Close()
		return nil, fmt.Errorf("telemetry greeting: %w", err)
	}
	return c, nil
}

// stats asks telemetry for port 0's counters.
func (t *testpmd) stats() (portStats, error) {
	if t.conn == nil {
		return portStats{}, errors.New("testpmd: telemetry not connected")
	}
	if _, err := t.conn.Write([]byte("/ethdev/stats,0")); err != nil {
		return portStats{}, err
	}
	buf := make([]byte, 65536)
	if err := t.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return portStats{}, err
	}
	n, err := t.conn.Read(buf)
	if err != nil {
		return portStats{}, err
	}
	return parseEthdevStats(buf[:n])
}

func parseEthdevStats(b []byte) (portStats, error) {
	var reply map[string]json.RawMessage
	if err := json.Unmarshal(b, &reply); err != nil {
		return portStats{}, fmt.Errorf("telemetry reply %q: %w", b, err)
	}
	raw, ok := reply["/ethdev/stats"]
	if !ok || string(raw) == "null" {
		return portStats{}, fmt.Errorf("telemetry reply %q: no /ethdev/stats", b)
	}
	var s portStats
	if err := json.Unmarshal(raw, &s); err != nil {
		return portStats{}, fmt.Errorf("telemetry reply %q: %w", b, err)
	}
	return s, nil
}

// stop ends testpmd the polite way (a newline: it stops the port, which
// unloads its XDP program), then with SIGTERM, then with SIGKILL, and
// makes sure no XDP program stays on the interface.
func (t *testpmd) stop() error {
	if t.conn != nil {
		t.conn.Close()
	}
	_, _ = t.stdin.Write([]byte("\n")) // asks testpmd to quit; the waits below handle one that does not
	t.stdin.Close()
	var err error
	select {
	case <-t.exited:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Signal(syscall.SIGTERM) // it may have exited meanwhile
		select {
		case <-t.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL) // as above
			<-t.exited
			err = errors.New("testpmd: had to be killed")
		}
	}
	if _, xerr := harness.DetachXDP(context.Background(), t.netns, t.iface); xerr != nil {
		err = errors.Join(err, xerr)
	}
	os.RemoveAll(filepath.Dir(t.sock))
	return err
}
