package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/pollstack/pollstack/internal/apps/httpapp"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// fetchFar runs curl in the routed bed's third namespace and returns the
// body it got from url.
func fetchFar(t *testing.T, bed *testbed.Bed, timeout, url string) ([]byte, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "body")
	var stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", bed.NsC, "curl", "-sS", "-g", "-m", timeout, "-o", out, url)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("curl %s: %v: %s", url, err, stderr.String())
	}
	return os.ReadFile(out)
}

// patternBody is the body serve --app http answers ?size=n with.
func patternBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = httpapp.Pattern[i%len(httpapp.Pattern)]
	}
	return b
}

// pmtuWire is what a pcap of serve shows of one family: the TCP frames
// serve sent with an IP packet above limit bytes, the path MTU errors it
// received, and where they fall.
type pmtuWire struct {
	icmp        int // fragmentation needed / packet too big received
	big, small  int // TCP segments sent above / within the limit
	bigAfter    int // of big, those sent after the last error was received
	smallBytes  int // TCP payload bytes in the small segments
	largestSent int // the largest IP packet of a TCP segment sent
}

// readPMTUWire reads serve's pcap and sorts its frames of family v6.
func readPMTUWire(t *testing.T, path string, v6 bool, local []byte, limit int) pmtuWire {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var w pmtuWire
	var bigAt []int
	lastICMP := -1
	for i := 0; ; i++ {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil {
			continue
		}
		sent := bytes.Equal(eth.SrcMAC, local)
		var ipLen int
		if v6 {
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if ip == nil {
				continue
			}
			ipLen = 40 + int(ip.Length)
			if icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); icmp != nil && !sent &&
				icmp.TypeCode.Type() == layers.ICMPv6TypePacketTooBig {
				w.icmp++
				lastICMP = i
			}
		} else {
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if ip == nil {
				continue
			}
			ipLen = int(ip.Length)
			if icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); icmp != nil && !sent &&
				icmp.TypeCode == layers.CreateICMPv4TypeCode(3, 4) {
				w.icmp++
				lastICMP = i
			}
			if tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp != nil && sent && ip.Flags&layers.IPv4DontFragment == 0 {
				t.Errorf("a TCP segment without DF: %v", ip)
			}
		}
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || !sent {
			continue
		}
		w.largestSent = max(w.largestSent, ipLen)
		if ipLen > limit {
			w.big++
			bigAt = append(bigAt, i)
		} else {
			w.small++
			w.smallBytes += len(tcp.Payload)
		}
	}
	for _, at := range bigAt {
		if at > lastICMP {
			w.bigAfter++
		}
	}
	return w
}

// Acceptance: path MTU discovery against the kernel router of a routed bed
// whose link toward the client has MTU 1280 on the router's side (the
// client's end keeps 1500 and offers MSS 1460). A 1 MiB response from
// serve to curl in the third namespace arrives intact over IPv4 and IPv6;
// the router's ICMP errors are counted and taken, every segment serve
// sends after the last of them is at most 1280 bytes on the wire, and no
// timeout was needed. Then with the router's errors dropped (a tc program
// on its egress toward serve) and a fresh serve (no host cache), black-hole
// detection completes both transfers, after retransmission timeouts.
func TestPathMTUDiscoveryThroughTheRouter(t *testing.T) {
	bedtest.NeedTools(t, "curl")
	bed := bedtest.ForTestRoutedWith(t, 1, testbed.RoutedConfig{RouterMTU: 1280})
	const size = 1 << 20
	want := patternBody(size)
	urls := []string{fmt.Sprintf("http://198.18.0.1:8080/?size=%d", size), fmt.Sprintf("http://[2001:2::1]:8080/?size=%d", size)}
	gateways := []string{"--gateway", testbed.PeerIPv4.String(), "--gateway", testbed.PeerIPv6.String()}

	pcap := filepath.Join(t.TempDir(), "serve.pcap")
	s := startServe(t, bed, append([]string{"--app", "http", "--port", "8080", "--pcap", pcap}, gateways...)...)
	for _, u := range urls {
		start := time.Now()
		body, err := fetchFar(t, bed, "10", u)
		if err != nil || !bytes.Equal(body, want) {
			t.Fatalf("%s: %v, %d bytes, intact %v", u, err, len(body), bytes.Equal(body, want))
		}
		t.Logf("with ICMP: %s: %d bytes intact in %v", u, len(body), time.Since(start).Round(time.Millisecond))
	}
	m := scrape(t, s.metrics)
	tooBig := metricValue(m, `pollstack_icmp_too_big_in_total{core="0"}`)
	accepted := metricValue(m, `pollstack_tcp_pmtud_icmp_accepted_total{core="0"}`)
	ignored := metricValue(m, `pollstack_tcp_pmtud_icmp_ignored_total{core="0"}`)
	resent := metricValue(m, `pollstack_tcp_mturesent_total{core="0"}`)
	rexmt := metricValue(m, `pollstack_tcp_rexmttimeo_total{core="0"}`)
	t.Logf("with ICMP: icmp_too_big_in %v, pmtud_icmp_accepted %v, pmtud_icmp_ignored %v, mturesent %v, rexmttimeo %v",
		tooBig, accepted, ignored, resent, rexmt)
	if tooBig < 2 || accepted < 2 || accepted > tooBig || resent < 2 || rexmt != 0 {
		t.Errorf("with ICMP: icmp_too_big_in %v, accepted %v, mturesent %v, rexmttimeo %v; want at least 2, 2, 2 and no timeout",
			tooBig, accepted, resent, rexmt)
	}
	s.stop(t)
	for _, v6 := range []bool{false, true} {
		w := readPMTUWire(t, pcap, v6, bed.LocalMAC, 1280)
		t.Logf("v6=%v on the wire: %d errors received, %d segments above 1280 bytes (%d after the last error), %d at most 1280 carrying %d bytes, largest %d",
			v6, w.icmp, w.big, w.bigAfter, w.small, w.smallBytes, w.largestSent)
		if w.icmp == 0 || w.big == 0 || w.bigAfter != 0 || w.smallBytes < size {
			t.Errorf("v6=%v: %d errors, %d big segments (%d after the last error), %d bytes in small ones", v6, w.icmp, w.big, w.bigAfter, w.smallBytes)
		}
	}

	// A black hole: the router drops what is too big and says nothing.
	if err := testbed.BlockPMTUICMP(bed.Name); err != nil {
		t.Fatal(err)
	}
	s = startServe(t, bed, append([]string{"--app", "http", "--port", "8080"}, gateways...)...)
	for _, u := range urls {
		start := time.Now()
		body, err := fetchFar(t, bed, "30", u)
		if err != nil || !bytes.Equal(body, want) {
			t.Fatalf("black hole: %s: %v, %d bytes, intact %v", u, err, len(body), bytes.Equal(body, want))
		}
		t.Logf("black hole: %s: %d bytes intact in %v", u, len(body), time.Since(start).Round(time.Millisecond))
	}
	m = scrape(t, s.metrics)
	tooBig = metricValue(m, `pollstack_icmp_too_big_in_total{core="0"}`)
	activated := metricValue(m, `pollstack_tcp_pmtud_blackhole_activated_total{core="0"}`)
	failed := metricValue(m, `pollstack_tcp_pmtud_blackhole_failed_total{core="0"}`)
	rexmt = metricValue(m, `pollstack_tcp_rexmttimeo_total{core="0"}`)
	t.Logf("black hole: icmp_too_big_in %v, pmtud_blackhole_activated %v, pmtud_blackhole_failed %v, rexmttimeo %v", tooBig, activated, failed, rexmt)
	if tooBig != 0 || activated < 2 || failed != 0 || rexmt < 4 {
		t.Errorf("black hole: icmp_too_big_in %v, activated %v, failed %v, rexmttimeo %v; want 0, 2, 0, at least 4", tooBig, activated, failed, rexmt)
	}
	s.stop(t)
}
