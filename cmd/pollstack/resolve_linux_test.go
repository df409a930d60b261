package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/engine"
	"github.com/pollstack/pollstack/internal/netns"
	"github.com/pollstack/pollstack/internal/testbed"
	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// kernelDNS is a small DNS server on a kernel UDP socket: A and AAAA for
// the names of zone, NXDOMAIN for the rest. It counts the queries.
func kernelDNS(pc net.PacketConn, zone map[string][]netip.Addr, queries *atomic.Int64) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q layers.DNS
		if q.DecodeFromBytes(buf[:n], gopacket.NilDecodeFeedback) != nil || len(q.Questions) != 1 {
			continue
		}
		queries.Add(1)
		qn := q.Questions[0]
		a := q
		a.QR, a.AA = true, true
		a.Answers, a.Authorities, a.Additionals = nil, nil, nil
		addrs, ok := zone[strings.ToLower(string(qn.Name))]
		if !ok {
			a.ResponseCode = layers.DNSResponseCodeNXDomain
		}
		for _, ip := range addrs {
			if ip.Is4() != (qn.Type == layers.DNSTypeA) || qn.Type != layers.DNSTypeA && qn.Type != layers.DNSTypeAAAA {
				continue
			}
			a.Answers = append(a.Answers, layers.DNSResourceRecord{Name: qn.Name, Type: qn.Type, Class: layers.DNSClassIN, TTL: 60, IP: ip.AsSlice()})
		}
		a.ANCount, a.NSCount, a.ARCount = uint16(len(a.Answers)), 0, 0
		out := gopacket.NewSerializeBuffer()
		if a.SerializeTo(out, gopacket.SerializeOptions{FixLengths: true}) == nil {
			pc.WriteTo(out.Bytes(), from)
		}
	}
}

// Engine.Dial("tcp", "name:port") resolves the name over pollstack's own
// UDP, asking a DNS server on the kernel's side of the bed (Config.DNS),
// and connects to the kernel's listener at the address it got, both
// families.
func TestDialResolvesNamesOnTheBed(t *testing.T) {
	bed := bedtest.ForTest(t, 1)
	var pc net.PacketConn
	var ln net.Listener
	if err := netns.Do(bed.NsB, func() (err error) {
		if pc, err = net.ListenPacket("udp", ":53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", ":7007")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	var queries atomic.Int64
	go kernelDNS(pc, map[string][]netip.Addr{"peer.test": {testbed.PeerIPv4, testbed.PeerIPv6}}, &queries)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	e := openBedEngineConfig(t, bed, nil, func(c *engine.Config) {
		c.DNS = []netip.AddrPort{netip.AddrPortFrom(testbed.PeerIPv4, 53), netip.AddrPortFrom(testbed.PeerIPv6, 53)}
	})
	for _, c := range []struct{ network, want string }{{"tcp4", "198.18.0.2:7007"}, {"tcp6", "[2001:2::2]:7007"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := e.DialContext(ctx, c.network, "peer.test:7007")
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.network, err)
		}
		if conn.RemoteAddr().String() != c.want {
			t.Fatalf("%s: connected to %v, want %s", c.network, conn.RemoteAddr(), c.want)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte("resolved"))
		buf := make([]byte, 8)
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "resolved" {
			t.Fatalf("%s: echo %q, %v", c.network, buf, err)
		}
		conn.Close()
	}
	_, err := e.Dial("tcp", "nosuch.test:7007")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("dial an unknown name: %v, want a not-found DNSError", err)
	}
	t.Logf("%d queries answered by the kernel-side server", queries.Load())
}
