package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/internal/nsproc"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// curlFar runs curl from the routed bed's third namespace to each URL at
// once and returns each one's output and error.
func curlFar(bed *testbed.Bed, timeout string, urls ...string) ([]string, []error) {
	outs, errs := make([]string, len(urls)), make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("ip", "netns", "exec", bed.NsC, "curl", "-sS", "-g", "-m", timeout, u)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			errs[i] = cmd.Run()
			outs[i] = stdout.String() + stderr.String()
		}()
	}
	wg.Wait()
	return outs, errs
}

// Acceptance: a third namespace (198.19.0.0/24, 2001:2:0:1::/64) reachable
// from pollstack only through a kernel router namespace. Without a gateway,
// curl's SYNs from there reach serve but the answers have no route: no_route
// counts them and curl gets nothing. With --gateway for both families serve
// answers curl from there over IPv4 and IPv6, stat shows the table, and
// bench rps --connect reaches nginx there.
func TestGatewayReachesTheNamespaceBeyondTheRouter(t *testing.T) {
	bedtest.NeedTools(t, "curl", "nginx")
	bed := bedtest.ForTestRouted(t, 1)
	urls := []string{"http://198.18.0.1:8080/", "http://[2001:2::1]:8080/"}

	// No gateway: no answer, and every answer serve owed is a no_route drop.
	s := startServe(t, bed, "--app", "http", "--port", "8080")
	outs, errs := curlFar(bed, "2", urls...)
	for i, err := range errs {
		if err == nil {
			t.Errorf("curl %s without a gateway: answered %q", urls[i], outs[i])
		}
	}
	var noRoute float64
	for i := 0; i < 50; i++ {
		if noRoute = metricValue(scrape(t, s.metrics), `pollstack_drops_total{core="0",reason="no_route"}`); noRoute >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if noRoute < 2 {
		t.Errorf("no_route %v after curl over both families without a gateway, want at least 2", noRoute)
	}
	t.Logf("without a gateway: curl %v; no_route %v", errs, noRoute)
	s.stop(t)

	// Gateways for both families: answered.
	s = startServe(t, bed, "--app", "http", "--port", "8080", "--gateway", testbed.PeerIPv4.String(), "--gateway", testbed.PeerIPv6.String())
	outs, errs = curlFar(bed, "5", urls...)
	for i, err := range errs {
		if err != nil || outs[i] != "hello\n" {
			t.Errorf("curl %s through the gateway: %v, %q", urls[i], err, outs[i])
		}
	}
	t.Logf("through the gateway: curl %s and %s from %s: %q, %q", urls[0], urls[1], bed.NsC, outs[0], outs[1])
	out, err := command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA).Output()
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, out)
	}
	t.Logf("stat:\n%s", out)
	for _, want := range []string{
		"198.18.0.0/24          connected",
		"0.0.0.0/0              via 198.18.0.2 (gateway)",
		"2001:2::/64            connected",
		"::/0                   via 2001:2::2 (gateway)",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("stat lacks %q:\n%s", want, out)
		}
	}
	if n := metricValue(scrape(t, s.metrics), `pollstack_drops_total{core="0",reason="no_route"}`); n != 0 {
		t.Errorf("no_route %v with gateways", n)
	}
	s.stop(t)

	// bench rps reaches nginx beyond the router, both families.
	n, err := nsproc.StartNginx(context.Background(), bed.NsC, t.TempDir(), nil, testbed.FarIPv4, testbed.FarIPv6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("nginx: %v", err)
		}
	})
	for _, target := range []string{"198.19.0.2:80", "[2001:2:0:1::2]:80"} {
		r := benchOnBed(t, bed, "rps", "--connect", target, "--duration", "1s", "--warmup", "300ms", "--conns", "8",
			"--gateway", testbed.PeerIPv4.String(), "--gateway", testbed.PeerIPv6.String())
		if r.Requests == 0 || r.ErrorsTotal != 0 {
			t.Errorf("bench rps --connect %s through the gateway: %d requests, errors %v", target, r.Requests, r.Errors)
		}
	}
	// Without a gateway bench has no route there and says so.
	var stderr bytes.Buffer
	cmd := command(context.Background(), "bench", "rps", "--connect", "198.19.0.2:80", "--duration", "1s",
		"--iface", bed.IfaceA, "--netns", bed.NsA, "--stats-interval", "0")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no route to 198.19.0.2") {
		t.Errorf("bench rps without a gateway: %v, %s", err, stderr.String())
	}
}

// linkLocal returns the kernel's link-local address on iface in ns.
func linkLocal(t *testing.T, ns, iface string) net.IP {
	t.Helper()
	out := inNetns(t, ns, "ip", "-j", "-6", "addr", "show", "dev", iface, "scope", "link")
	var v []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("link-local address of %s in %s: %v: %s", iface, ns, err, out)
	}
	for _, l := range v {
		for _, a := range l.AddrInfo { // ip -j can list empty entries
			if ip := net.ParseIP(a.Local); ip != nil {
				return ip
			}
		}
	}
	t.Fatalf("no link-local address on %s in %s: %s", iface, ns, out)
	return nil
}

// serve --accept-ra solicits routers at start and learns the router of a
// router advertisement (sent from the kernel router's end, from its
// link-local address: no radvd needed): with no IPv6 gateway flag, curl over
// IPv6 from beyond the router goes unanswered until the advertisement and
// is answered through the router after it, and stat shows the learned
// default route.
func TestAcceptRALearnsTheRouter(t *testing.T) {
	bedtest.NeedTools(t, "curl")
	bed := bedtest.ForTestRouted(t, 1)
	s := startServe(t, bed, "--app", "http", "--port", "8080", "--accept-ra")
	router := linkLocal(t, bed.NsB, bed.IfaceB)
	// No router advertised yet: no route back.
	if outs, errs := curlFar(bed, "1", "http://[2001:2::1]:8080/"); errs[0] == nil {
		t.Fatalf("curl over IPv6 before any router advertisement: answered %q", outs[0])
	}

	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: router, DstIP: net.ParseIP("ff02::1")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeRouterAdvertisement, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: bed.PeerMAC, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6},
		ip, icmp, &layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: 1800,
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: bed.PeerMAC}}}); err != nil {
		t.Fatal(err)
	}
	if err := bedtest.NewPacketWriter(t, bed.NsB, bed.IfaceB).Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}

	outs, errs := curlFar(bed, "5", "http://[2001:2::1]:8080/")
	if errs[0] != nil || outs[0] != "hello\n" {
		t.Fatalf("curl over IPv6 from beyond the advertised router: %v, %q", errs[0], outs[0])
	}
	metrics := scrape(t, s.metrics)
	for _, m := range []string{"pollstack_nd_router_solicits_out_total", "pollstack_nd_router_adverts_accepted_total"} {
		if v := metricValue(metrics, m+`{core="0"}`); v < 1 {
			t.Errorf("%s = %v, want at least 1", m, v)
		}
	}
	out, err := command(context.Background(), "stat", "--iface", bed.IfaceA, "--netns", bed.NsA).Output()
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, out)
	}
	if want := "via " + router.String() + " (router advertisement, "; !strings.Contains(string(out), want) {
		t.Errorf("stat lacks %q:\n%s", want, out)
	}
	t.Logf("curl from %s through the router %s: %q; stat:\n%s", bed.NsC, router, outs[0], out)
	s.stop(t)
}
