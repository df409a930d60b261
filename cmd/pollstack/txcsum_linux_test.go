package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// With --tx-checksum offload and kernel-sw, serve's TCP segments leave
// their checksums to the kernel through AF_XDP transmit metadata. kernel-sw
// has the kernel compute each one in software as it takes the frame, so
// the kernel peer verifies what comes: a request for the wrong bytes, or a
// field seeded wrongly, would be dropped as a bad checksum there
// (TcpInCsumErrors) and the echo would not come back whole. offload leaves
// a partial checksum, which the peer's kernel takes as checked, as from its
// own stack over veth. Both echo a file byte-exact, and every segment
// serve sent was offloaded.
func TestTxChecksumOffloadEchoesByteExact(t *testing.T) {
	bedtest.NeedTools(t, "socat", "nstat")
	bed := bedtest.ForTest(t, 1)
	size := 8 << 20
	if raceEnabled {
		size = 2 << 20
	}
	in, sum := randomFile(t, size)
	csumErrors := func() int {
		out := inNetns(t, bed.NsB, "nstat", "-az", "TcpInCsumErrors")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "TcpInCsumErrors" {
				n, err := strconv.Atoi(f[1])
				if err != nil {
					t.Fatalf("nstat: %q", line)
				}
				return n
			}
		}
		t.Fatalf("nstat printed no TcpInCsumErrors: %q", out)
		return 0
	}
	for _, mode := range []string{"kernel-sw", "offload"} {
		s := startServe(t, bed, "--app", "echo", "--port", "7", "--tx-checksum", mode)
		before := csumErrors()
		out := filepath.Join(t.TempDir(), mode+".bin")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", bed.NsB, "socat", "-b", "65536", "-t", "30", "-T", "30", "TCP:198.18.0.1:7,connect-timeout=10", "STDIO")
		var stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = src, f, &stderr
		err = cmd.Run()
		src.Close()
		f.Close()
		if err != nil {
			t.Fatalf("%s: socat through echo: %v\n%s", mode, err, stderr.String())
		}
		m := scrape(t, s.metrics)
		sent := metricSum(m, "pollstack_tcp_segments_out_total")
		offloaded := metricSum(m, "pollstack_tcp_checksum_offloaded_total")
		bad := csumErrors() - before
		s.stop(t)
		if got := fileSum(t, out); got != sum {
			t.Fatalf("%s: the echo differs from the file (peer's TcpInCsumErrors +%d)", mode, bad)
		}
		if bad != 0 {
			t.Fatalf("%s: the peer counted %d bad TCP checksums", mode, bad)
		}
		if sent == 0 || offloaded != sent {
			t.Fatalf("%s: %.0f of %.0f segments sent had their checksum offloaded, want all", mode, offloaded, sent)
		}
		t.Logf("%s: %d MiB echoed byte-exact, %.0f segments sent, all offloaded, 0 bad checksums at the peer", mode, size>>20, sent)
	}
}
