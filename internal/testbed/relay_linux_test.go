package testbed

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pollstack/pollstack/internal/netns"
)

// pingRTT pings dst from netns ns and returns the replies and the rtt
// line's min and avg.
func pingRTT(t *testing.T, ns string, args ...string) (got int, min, avg time.Duration) {
	t.Helper()
	out, _ := exec.Command("ip", append([]string{"netns", "exec", ns, "ping"}, args...)...).CombinedOutput()
	m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("ping %v: no summary:\n%s", args, out)
	}
	got, _ = strconv.Atoi(m[1])
	if r := regexp.MustCompile(`= ([\d.]+)/([\d.]+)/`).FindStringSubmatch(string(out)); r != nil {
		ms := func(s string) time.Duration {
			f, _ := strconv.ParseFloat(s, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		min, avg = ms(r[1]), ms(r[2])
	}
	t.Logf("ping %s: %d received, rtt min %v avg %v", strings.Join(args, " "), got, min, avg)
	return got, min, avg
}

// A relayed bed joins its two ends as one link: with the kernel on both
// (an address on NAME-a for the test), ARP, neighbour discovery and pings
// pass the relay both ways, each round trip longer by the delay (the relay
// holds each frame half of it each way). A change of delay starts the
// relay again, the same delay keeps it, and a VLAN tag the kernel takes off
// on the relay's end is back on the frame on the other side.
func TestRelayDelaysBothWays(t *testing.T) {
	requirePrivileged(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not installed")
	}
	name := Unique("tr")
	t.Cleanup(func() {
		if err := Down(name); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	b, err := UpWith(name, 1, Options{Relay: true})
	if err != nil {
		t.Fatalf("UpWith relay: %v", err)
	}
	t.Log(b)
	for _, a := range []string{"198.18.0.1/24", "2001:2::1/64"} {
		if out, err := exec.Command("ip", "-n", b.NsA, "addr", "add", a, "dev", b.IfaceA, "nodad").CombinedOutput(); err != nil {
			t.Fatalf("address %s on %s: %v\n%s", a, b.IfaceA, err, out)
		}
	}
	// Without delay the relay passes frames at once.
	if got, _, avg := pingRTT(t, b.NsB, "-c", "20", "-i", "0.01", "-W", "2", "198.18.0.1"); got != 20 || avg > 5*time.Millisecond {
		t.Errorf("relay without delay: %d/20, rtt avg %v; want 20/20 under 5ms", got, avg)
	}
	pid, _ := runningRelay(name)

	const d = 10 * time.Millisecond
	if err := Impair(name, Impairment{Delay: d}); err != nil {
		t.Fatalf("Impair delay %v: %v", d, err)
	}
	pid2, rs := runningRelay(name)
	ow := rs.oneWay
	if pid2 == 0 || pid2 == pid || ow != d/2 {
		t.Errorf("after delay %v: relay pid %d (was %d), holding %v; want a new relay holding %v", d, pid2, pid, ow, d/2)
	}
	for _, dst := range [][]string{{"198.18.0.1"}, {"-6", "2001:2::1"}} {
		got, min, avg := pingRTT(t, b.NsB, append([]string{"-c", "20", "-i", "0.05", "-W", "2"}, dst...)...)
		// A timing check of correctness: every round trip at least the
		// delay, and on average not far above it even on a busy machine.
		if got < 19 || min < d || avg > 30*time.Millisecond {
			t.Errorf("ping %v with delay %v: %d/20, rtt min %v avg %v; want 20/20 (one may wait for the neighbour), min >= %v, avg <= 30ms", dst, d, got, min, avg, d)
		}
	}
	stats, err := RelayStats(name)
	if err != nil {
		t.Fatalf("RelayStats: %v", err)
	}
	t.Log(stats)
	if strings.Contains(stats, "passed 0 ") || !strings.Contains(stats, "dropped(full) 0 oversize 0 runt 0 txdrop 0 csum-partial 0") {
		t.Errorf("relay stats %q: want frames passed both ways and none dropped", stats)
	}

	// The same delay again keeps the relay; loss alone is NAME-b's.
	if err := Impair(name, Impairment{Delay: d, Loss: 0.01}); err != nil {
		t.Fatalf("Impair loss with the same delay: %v", err)
	}
	if pid3, _ := runningRelay(name); pid3 != pid2 {
		t.Errorf("same delay: relay %d, want %d kept", pid3, pid2)
	}

	// A tagged frame from NAME-b reaches NAME-a with its tag.
	if err := Impair(name, Impairment{}); err != nil {
		t.Fatalf("Impair clear: %v", err)
	}
	checkVLANThrough(t, b)

	// Down ends the relay and removes its state.
	pid4, _ := runningRelay(name)
	if err := Down(name); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid4) + "/cmdline"); err == nil {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid4) + "/stat"); !zombie(st) {
			t.Errorf("relay %d still running after Down", pid4)
		}
	}
	if _, err := os.Stat(filepath.Join(StateDir, name)); err == nil {
		t.Errorf("state directory %s left after Down", filepath.Join(StateDir, name))
	}
	if _, err := os.Stat(filepath.Join(netns.Dir, b.NsD)); err == nil {
		t.Errorf("netns %s left after Down", b.NsD)
	}
}

// checkVLANThrough writes a frame tagged VLAN 100 on NAME-b and reads it on
// NAME-a, where the kernel reports the tag it took off (PACKET_AUXDATA).
func checkVLANThrough(t *testing.T, b *Bed) {
	t.Helper()
	var rfd int
	if err := netns.Do(b.NsA, func() error {
		ifi, err := net.InterfaceByName(b.IfaceA)
		if err != nil {
			return err
		}
		if rfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(rfd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		// Every frame: a socket bound to one EtherType is handed frames
		// after the kernel has dropped their tag (no VLAN device here).
		return unix.Bind(rfd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatalf("packet socket on %s: %v", b.IfaceA, err)
	}
	defer unix.Close(rfd)
	_ = unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	frame := append(append([]byte{}, b.LocalMAC...), b.PeerMAC...)
	frame = append(frame, 0x81, 0x00, 0x00, 100, 0x88, 0xb5) // VLAN 100, local experimental EtherType
	frame = append(frame, []byte("relay vlan test, padded to the minimum frame size....")...)
	if err := netns.Do(b.NsB, func() error {
		ifi, err := net.InterfaceByName(b.IfaceB)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	}); err != nil {
		t.Fatalf("send on %s: %v", b.IfaceB, err)
	}
	buf, oob := make([]byte, 2048), make([]byte, 256)
	var n, oobn int
	for {
		var err error
		n, oobn, _, _, err = unix.Recvmsg(rfd, buf, oob, 0)
		if err != nil {
			t.Fatalf("no tagged frame on %s: %v", b.IfaceA, err)
		}
		if n >= 14 && buf[12] == 0x88 && buf[13] == 0xb5 {
			break
		}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no auxdata: %v", err)
	}
	var tci uint16
	var tagged bool
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 {
			status := uint32(m.Data[0]) | uint32(m.Data[1])<<8 | uint32(m.Data[2])<<16 | uint32(m.Data[3])<<24
			tagged = status&unix.TP_STATUS_VLAN_VALID != 0
			tci = uint16(m.Data[16]) | uint16(m.Data[17])<<8
		}
	}
	if !tagged || tci != 100 || string(buf[14:n]) != string(frame[18:]) {
		t.Errorf("frame on %s: tagged %v vlan %d, payload %q; want VLAN 100 and %q", b.IfaceA, tagged, tci, buf[14:n], frame[18:])
	}
}

// The relay's loop moves frames from one socket to the other in batches,
// unchanged and in order, held for the delay, and allocates nothing per
// frame. Datagram socket pairs stand in for the veth ends (no root needed).
func TestRelayReadSendNoAlloc(t *testing.T) {
	pair := func() [2]int {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		return fds
	}
	in, out := pair(), pair()
	// The delay is long enough that no frame can come due before the first
	// send, however long the test is descheduled (1 ms failed under -race
	// on a loaded machine); the second send is told the time is d later.
	const d = 10 * time.Second
	r := newRelay()
	r.ends[0] = newRelayEnd("in", in[1], newFrameQueue(64, d, 0, 1))
	r.ends[1] = newRelayEnd("out", out[1], newFrameQueue(64, d, 0, 2))
	if err := unix.SetsockoptInt(in[1], unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		t.Fatal(err)
	}
	frame, got := make([]byte, 1514), make([]byte, 2048)
	var seq byte
	step := func() {
		for i := range 3 { // a batch of three
			frame[0], frame[1513] = seq+byte(i), byte(i)
			if _, err := unix.Write(in[0], frame); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.read(r.ends[0], r.now()); err != nil {
			t.Fatal(err)
		}
		if q := r.ends[0].q; q.Len() != 3 {
			t.Fatalf("queued %d frames, want 3", q.Len())
		}
		if err := r.send(r.ends[0].q, r.ends[1], &r.ends[0].late, r.now()); err != nil {
			t.Fatal(err)
		}
		if q := r.ends[0].q; q.Len() != 3 {
			t.Fatalf("%d frames left before their time, want none", 3-q.Len())
		}
		if err := r.send(r.ends[0].q, r.ends[1], &r.ends[0].late, r.now().Add(d)); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			n, err := unix.Read(out[0], got)
			if err != nil || n != len(frame) || got[0] != seq+byte(i) || got[1513] != byte(i) {
				t.Fatalf("frame %d out: %d bytes, %v, first byte %d", i, n, err, got[0])
			}
		}
		seq += 3
	}
	step()
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("%v allocations per batch of 3 frames, want 0", allocs)
	}
	// 102 batches: the first step, AllocsPerRun's warm-up and its 100.
	if e := r.ends[0]; e.q.Passed != 306 || e.q.Dropped != 0 || e.runt != 0 || e.oversize != 0 {
		t.Errorf("passed %d dropped %d runt %d oversize %d; want 306 passed, nothing dropped", e.q.Passed, e.q.Dropped, e.runt, e.oversize)
	}
}

// The relay's send writes a duplicated frame twice, the copy right behind
// it, and a reordered pair swapped, over socket pairs standing in for the
// veth ends.
func TestRelaySendShuffled(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	r := newRelay()
	q := newFrameQueue(64, 0, 0, 1)
	out := newRelayEnd("out", fds[1], nil)
	var late lateness
	read := func() []byte {
		var got []byte
		buf := make([]byte, 64)
		for {
			n, err := unix.Read(fds[0], buf)
			if err != nil {
				return got
			}
			got = append(got, buf[:n]...)
		}
	}
	commit := func(b byte) { q.Commit(copy(q.Slot(), []byte{b}), r.now(), false, 0, 0) }

	q.setShuffle(0, 1)
	for i := range relayBatch { // a batch of 64 frames is 128 messages
		commit(byte(i))
	}
	if err := r.send(q, out, &late, r.now()); err != nil {
		t.Fatal(err)
	}
	got := read()
	if len(got) != 2*relayBatch || q.Len() != 0 {
		t.Fatalf("%d frames sent, %d left; want %d and none", len(got), q.Len(), 2*relayBatch)
	}
	for i := range relayBatch {
		if got[2*i] != byte(i) || got[2*i+1] != byte(i) {
			t.Fatalf("sent %v: frame %d not twice in a row", got, i)
		}
	}

	q.setShuffle(1, 0)
	commit(1)
	if err := r.send(q, out, &late, r.now()); err != nil {
		t.Fatal(err)
	}
	if got := read(); len(got) != 0 {
		t.Fatalf("held frame sent before its follower: %v", got)
	}
	commit(2)
	if err := r.send(q, out, &late, r.now()); err != nil {
		t.Fatal(err)
	}
	if got := read(); !bytes.Equal(got, []byte{2, 1}) {
		t.Fatalf("sent %v, want [2 1]", got)
	}
}
