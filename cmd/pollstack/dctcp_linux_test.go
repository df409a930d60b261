package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// traceGoodput reads a --trace file's ACK records (trace dump --csv) of the
// connection to port and returns the bytes acknowledged over the time from
// the first ACK to the last, and srtt's smallest and mean (µs).
func traceGoodput(t *testing.T, file string, port int) (bytesPerSec float64, minSRTT, meanSRTT float64) {
	t.Helper()
	out, err := command(context.Background(), "trace", "dump", file, "--csv").Output()
	if err != nil {
		t.Fatalf("trace dump %s: %v", file, err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("trace dump %s --csv: %v, %d lines", file, err, len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, c := range []string{"time_s", "remote", "event", "srtt_us", "snd_una"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("trace dump --csv has no column %s: %v", c, recs[0])
		}
	}
	var t0, t1 float64
	var acked uint64
	var prev uint32
	var n int
	var sum float64
	minSRTT = -1
	for _, r := range recs[1:] {
		if r[col["event"]] != "ack" || !strings.HasSuffix(r[col["remote"]], ":"+strconv.Itoa(port)) {
			continue
		}
		ts, _ := strconv.ParseFloat(r[col["time_s"]], 64)
		una, _ := strconv.ParseUint(r[col["snd_una"]], 10, 32)
		srtt, _ := strconv.ParseFloat(r[col["srtt_us"]], 64)
		if n == 0 {
			t0, prev = ts, uint32(una)
		}
		acked += uint64(uint32(una) - prev) // modulo 2^32
		prev = uint32(una)
		t1 = ts
		n++
		sum += srtt
		if srtt > 0 && (minSRTT < 0 || srtt < minSRTT) {
			minSRTT = srtt
		}
	}
	if n < 2 || t1 <= t0 {
		t.Fatalf("trace %s: %d ACK records to port %d", file, n, port)
	}
	return float64(acked) / (t1 - t0), minSRTT, sum / float64(n)
}

// relayQueue reads the "relay queue:" lines of the bed's relay log for the
// direction from (an interface of NAME-d, e.g. NAME-da): per 100 ms line,
// the mean and largest backlog the frames of that interval found, for the
// lines with frames.
func relayQueue(t *testing.T, name, from string) (means, maxes []float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbed.StateDir, name, "relay.log"))
	if err != nil {
		t.Fatalf("relay log: %v", err)
	}
	re := regexp.MustCompile(regexp.QuoteMeta(from) + `->\S+ backlog \d+ mean (\d+) max (\d+) frames (\d+)`)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "relay queue:") {
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("relay queue line without %s: %s", from, line)
		}
		if frames, _ := strconv.Atoi(m[3]); frames == 0 {
			continue
		}
		mean, _ := strconv.ParseFloat(m[1], 64)
		mx, _ := strconv.ParseFloat(m[2], 64)
		means, maxes = append(means, mean), append(maxes, mx)
	}
	return means, maxes
}

// relayBottleneck reads the relay's counters of its bottleneck in the
// direction from: frames marked, dropped at the limit, the mean and largest
// backlog frames found.
func relayBottleneck(t *testing.T, name, from string) (marked, dropped, mean, max uint64) {
	t.Helper()
	line, err := testbed.RelayStats(name)
	if err != nil {
		t.Fatalf("relay stats: %v", err)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(from) + `->\S+ .*? bottleneck: marked (\d+) dropped\(limit\) (\d+) queue mean (\d+) max (\d+) bytes`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("relay stats without %s's bottleneck: %s", from, line)
	}
	v := make([]uint64, 4)
	for i := range v {
		v[i], _ = strconv.ParseUint(m[i+1], 10, 64)
	}
	return v[0], v[1], v[2], v[3]
}

// dctcpBytes is the size of each transfer of TestRelayBottleneckDCTCP
// (POLLSTACK_DCTCP=BYTES; a few MiB in CI).
func dctcpBytes(t *testing.T) int {
	if raceEnabled {
		return envCount(t, "POLLSTACK_DCTCP", 4<<20)
	}
	return envCount(t, "POLLSTACK_DCTCP", 16<<20)
}

// DCTCP between two pollstack stacks, each on AF_XDP at one end of a
// relayed bed whose relay is a 100 Mbit/s bottleneck in each direction
// ('testbed impair --relay-rate 100mbit --relay-ecn-mark-above 30000'; 20
// Mbit/s under the race detector): the
// kernel in NAME-b has its addresses taken away and a pollstack serve
// --app discard takes NAME-b; pollstack bench bulk in NAME-a sends to it.
// With ECN and dctcp at both ends the relay marks, the sender reacts, and
// the queue stays near the threshold: its mean over the transfer within
// 3 K and nothing dropped at its limit (1.25 MB). The same transfer with
// ECN off (cubic) fills the queue far beyond K, so the queue is real and
// the marks are what keeps it short. Both ends get 4 MiB buffers. The goodput
// from the sender's trace, srtt, and the queue over time are logged.
func TestRelayBottleneckDCTCP(t *testing.T) {
	bedtest.NeedTools(t, "tc")
	bed := bedtest.ForTestWith(t, 1, testbed.Options{Relay: true})
	const k = 30000               // bytes
	rate, mbit := 12_500_000, 100 // bytes/s
	if raceEnabled {
		// The race detector slows both stacks several times: a lower
		// rate keeps the bottleneck in the relay, not in the sender.
		rate, mbit = 2_500_000, 20
	}
	out, _ := impairBed(t, bed, true, "--relay-rate", fmt.Sprintf("%dmbit", mbit), "--relay-ecn-mark-above", strconv.Itoa(k))
	if !strings.Contains(out, fmt.Sprintf("a bottleneck of %d000000bit both ways in the relay", mbit)) || !strings.Contains(out, "more than 30000 bytes queued") {
		t.Errorf("impair's description %q lacks the bottleneck", out)
	}
	// NAME-b is pollstack's now: the kernel there keeps no address.
	inNetns(t, bed.NsB, "ip", "addr", "flush", "dev", bed.IfaceB)
	peer := &testbed.Bed{Name: bed.Name, IfaceA: bed.IfaceB, NsA: bed.NsB}
	size := dctcpBytes(t)
	from := bed.Name + "-da" // pollstack in NAME-a sends; its frames enter the relay on NAME-da

	run := func(label string, sysctls ...string) (marked, dropped, mean, max uint64) {
		// Buffers far above the path's (32 KiB and 64 KiB by default),
		// so that congestion control, not a buffer, bounds what is in
		// flight.
		args := []string{"--sysctl", "sendspace=4194304", "--sysctl", "recvspace=4194304"}
		for _, s := range sysctls {
			args = append(args, "--sysctl", s)
		}
		s := startServe(t, peer, append([]string{"--app", "discard", "--addr", "198.18.0.2/24", "--addr", "2001:2::2/64"}, args...)...)
		m0, d0, _, _ := relayBottleneck(t, bed.Name, from)
		q0, _ := relayQueue(t, bed.Name, from)
		trace := filepath.Join(t.TempDir(), label+".trace")
		bargs := append([]string{"bench", "bulk", "--iface", bed.IfaceA, "--netns", bed.NsA, "--connect", "198.18.0.2:8080",
			"--bytes", strconv.Itoa(size), "--stats-interval", "0", "--trace", trace, "--timeout", "2m"}, args...)
		res, err := command(context.Background(), bargs...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: bench bulk: %v\n%s", label, err, res)
		}
		s.stop(t)
		marked, dropped, _, _ = relayBottleneck(t, bed.Name, from)
		marked, dropped = marked-m0, dropped-d0
		gp, minRTT, meanRTT := traceGoodput(t, trace, 8080)
		means, maxes := relayQueue(t, bed.Name, from)
		means, maxes = means[len(q0):], maxes[len(q0):] // this run's
		var sum float64
		for _, m := range means {
			sum += m
		}
		for _, m := range maxes {
			max = uint64(math.Max(float64(max), m))
		}
		if len(means) > 0 {
			mean = uint64(sum / float64(len(means)))
		}
		var series []string
		for i, m := range means {
			series = append(series, fmt.Sprintf("%.0f/%.0f", m/1000, maxes[i]/1000))
		}
		t.Logf("%s: %s", label, lastLines(string(res), 1))
		t.Logf("%s: goodput from the sender's trace %.1f Mbit/s = %.1f%% of the %d Mbit/s bottleneck; srtt min %.0f µs mean %.0f µs; relay: %d frames marked, %d dropped at the limit; queue over 100 ms intervals mean %d bytes, max %d bytes (K %d)",
			label, gp*8/1e6, 100*gp/float64(rate), mbit, minRTT, meanRTT, marked, dropped, mean, max, k)
		t.Logf("%s: queue per 100 ms, mean/max KB: %s", label, strings.Join(series, " "))
		return marked, dropped, mean, max
	}

	marked, dropped, mean, _ := run("dctcp", "cc.algorithm=dctcp", "ecn.enable=1")
	if marked == 0 || dropped != 0 || mean > 3*k {
		t.Errorf("dctcp: %d marked, %d dropped at the limit, queue mean %d bytes; want marks, no drops, a mean within 3 K (%d)", marked, dropped, mean, 3*k)
	}
	marked, _, mean, _ = run("cubic-noecn", "cc.algorithm=cubic", "ecn.enable=0")
	if marked != 0 || mean <= 3*k {
		t.Errorf("cubic without ECN: %d marked, queue mean %d bytes; want no marks and a mean above 3 K (%d): a queue that fills", marked, mean, 3*k)
	}
}
