package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// vlanFrame is a frame from another host on the bed's link: an ARP request
// for target or, with echo, an ICMP echo request to it, tagged with VLAN
// vid (0: untagged).
func vlanFrame(t *testing.T, dstMAC net.HardwareAddr, vid uint16, target netip.Addr, echo bool) []byte {
	t.Helper()
	src := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	srcIP := netip.MustParseAddr("198.18.100.99")
	typ := layers.EthernetTypeARP
	if echo {
		typ = layers.EthernetTypeIPv4
	}
	var ls []gopacket.SerializableLayer
	if vid != 0 {
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dstMAC, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: vid, Type: typ})
	} else {
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dstMAC, EthernetType: typ})
	}
	if echo {
		ls = append(ls, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: srcIP.AsSlice(), DstIP: target.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload("vlan"))
	} else {
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: src, SourceProtAddress: srcIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// Acceptance: serve --vlan 100 on the bed whose kernel end is on VLAN 100
// (a VLAN subinterface NAME-b.100, or its tc emulation on a kernel without
// 802.1Q: testbed.AddVLAN) answers ping and curl over IPv4 and IPv6, ARP
// and ND resolving over the VLAN, and a 1 MiB response arrives intact in
// full-sized tagged frames; untagged frames and VLAN 200's are dropped,
// counted, and not answered.
func TestServeOnAVLAN(t *testing.T) {
	bedtest.NeedTools(t, "curl", "ping")
	bed := bedtest.ForTest(t, 1)
	peer, err := testbed.AddVLAN(bed.Name, 100, netip.MustParsePrefix("198.18.100.2/24"), netip.MustParsePrefix("2001:2:0:100::2/64"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the kernel's end of VLAN 100: %s (emulated with tc: %v)", peer.Iface, peer.Emulated)
	s := startServe(t, bed, "--app", "http", "--port", "8080", "--vlan", "100",
		"--addr", "198.18.100.1/24", "--addr", "2001:2:0:100::1/64")

	for _, args := range [][]string{{"198.18.100.1"}, {"-6", "2001:2:0:100::1"}} {
		out := inNetns(t, bed.NsB, append([]string{"ping", "-c", "20", "-i", "0.01", "-W", "2"}, args...)...)
		if !strings.Contains(out, "20 packets transmitted, 20 received") {
			t.Fatalf("ping %v over VLAN 100: not 20/20:\n%s", args, out)
		}
		t.Logf("ping %v: %s", args, lastLines(out, 2))
	}
	neigh := inNetns(t, bed.NsB, "ip", "neigh", "show", "dev", peer.Iface)
	for _, ip := range []string{"198.18.100.1", "2001:2:0:100::1"} {
		if !strings.Contains(neigh, ip+" lladdr "+bed.LocalMAC.String()) {
			t.Errorf("the kernel did not resolve %s to %s over the VLAN:\n%s", ip, bed.LocalMAC, neigh)
		}
	}
	const size = 1 << 20
	want := patternBody(size)
	for _, u := range []string{"http://198.18.100.1:8080/", "http://[2001:2:0:100::1]:8080/"} {
		out, err := exec.Command("ip", "netns", "exec", bed.NsB, "curl", "-sS", "-g", "-m", "5", u).CombinedOutput()
		if err != nil || string(out) != "hello\n" {
			t.Errorf("curl %s: %v, %q", u, err, out)
		}
		out, err = exec.Command("ip", "netns", "exec", bed.NsB, "curl", "-sS", "-g", "-m", "10", fmt.Sprintf("%s?size=%d", u, size)).Output()
		if err != nil || !bytes.Equal(out, want) {
			t.Errorf("curl %s?size=%d: %v, %d bytes, intact %v", u, size, err, len(out), bytes.Equal(out, want))
		}
	}
	m := scrape(t, s.metrics)
	rx, tx := metricValue(m, `pollstack_rx_packets_total{core="0"}`), metricValue(m, `pollstack_tx_packets_total{core="0"}`)
	t.Logf("over VLAN 100: %v frames received, %v sent; vlan_untagged %v, vlan_mismatch %v", rx, tx,
		metricValue(m, `pollstack_drops_total{core="0",reason="vlan_untagged"}`), metricValue(m, `pollstack_drops_total{core="0",reason="vlan_mismatch"}`))

	// Untagged frames and VLAN 200's, from another host on the link: ARP
	// requests and echo requests for our address.
	untagged0 := metricValue(m, `pollstack_drops_total{core="0",reason="vlan_untagged"}`)
	mismatch0 := metricValue(m, `pollstack_drops_total{core="0",reason="vlan_mismatch"}`)
	arpOut0 := metricValue(m, `pollstack_arp_replies_out_total{core="0"}`)
	echoOut0 := metricValue(m, `pollstack_echo_replies_out_total{core="0"}`)
	w := bedtest.NewPacketWriter(t, bed.NsB, bed.IfaceB)
	ours := netip.MustParseAddr("198.18.100.1")
	const n = 20
	for i := 0; i < n; i++ {
		for _, f := range [][]byte{
			vlanFrame(t, layers.EthernetBroadcast, 0, ours, false), vlanFrame(t, bed.LocalMAC, 0, ours, true),
			vlanFrame(t, layers.EthernetBroadcast, 200, ours, false), vlanFrame(t, bed.LocalMAC, 200, ours, true),
		} {
			if err := w.Write(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	var untagged, mismatch float64
	for i := 0; i < 100; i++ {
		m = scrape(t, s.metrics)
		untagged = metricValue(m, `pollstack_drops_total{core="0",reason="vlan_untagged"}`) - untagged0
		mismatch = metricValue(m, `pollstack_drops_total{core="0",reason="vlan_mismatch"}`) - mismatch0
		if untagged >= 2*n && mismatch >= 2*n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d untagged and %d VLAN 200 frames written: vlan_untagged +%v, vlan_mismatch +%v", 2*n, 2*n, untagged, mismatch)
	// The kernel may send untagged frames of its own on NAME-b (IPv6
	// multicast listener reports); only our writer sends VLAN 200.
	if untagged < 2*n || mismatch != 2*n {
		t.Errorf("vlan_untagged +%v, vlan_mismatch +%v; want at least %d and %d", untagged, mismatch, 2*n, 2*n)
	}
	if a, e := metricValue(m, `pollstack_arp_replies_out_total{core="0"}`)-arpOut0, metricValue(m, `pollstack_echo_replies_out_total{core="0"}`)-echoOut0; a != 0 || e != 0 {
		t.Errorf("answered frames off the VLAN: %v ARP replies, %v echo replies", a, e)
	}
	s.stop(t)
}
