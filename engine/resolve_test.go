package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// serveDNS answers A and AAAA queries for the names in zone over pc (a
// small authoritative server on the other engine); other names get
// NXDOMAIN. It counts the queries.
func serveDNS(t testing.TB, pc *UDPConn, zone map[string][]netip.Addr, queries *atomic.Int64) {
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || errors.Is(err, ErrEngineStopped) {
					return
				}
				continue
			}
			var q layers.DNS
			if err := q.DecodeFromBytes(buf[:n], gopacket.NilDecodeFeedback); err != nil || len(q.Questions) != 1 {
				continue
			}
			queries.Add(1)
			qn := q.Questions[0]
			a := q
			a.QR, a.AA, a.RA = true, true, false
			a.Answers, a.Authorities, a.Additionals = nil, nil, nil
			addrs, ok := zone[strings.ToLower(string(qn.Name))]
			if !ok {
				a.ResponseCode = layers.DNSResponseCodeNXDomain
			}
			for _, ip := range addrs {
				rr := layers.DNSResourceRecord{Name: qn.Name, Class: layers.DNSClassIN, TTL: 60, IP: ip.AsSlice()}
				switch {
				case ip.Is4() && qn.Type == layers.DNSTypeA:
					rr.Type = layers.DNSTypeA
				case ip.Is6() && qn.Type == layers.DNSTypeAAAA:
					rr.Type = layers.DNSTypeAAAA
				default:
					continue
				}
				a.Answers = append(a.Answers, rr)
			}
			a.ANCount = uint16(len(a.Answers))
			a.NSCount, a.ARCount = 0, 0
			out := gopacket.NewSerializeBuffer()
			if err := a.SerializeTo(out, gopacket.SerializeOptions{FixLengths: true}); err != nil {
				continue
			}
			pc.WriteToUDPAddrPort(out.Bytes(), from)
		}
	}()
	t.Cleanup(func() { pc.Close() })
}

// Dial("tcp", "name:port") resolves the name through package net's
// resolver over the engine's own UDP, to the servers of Config.DNS (here a
// DNS server on the other engine), and connects to the address found, of
// the network's family.
func TestDialResolvesNamesOverTheEngine(t *testing.T) {
	p := newSockPairWith(t, nil, func(c *Config) {
		if c.MAC.String() == peerMAC.String() {
			c.DNS = []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:53")}
		}
	})
	pc, err := p.srv.ListenUDP("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	var queries atomic.Int64
	serveDNS(t, pc, map[string][]netip.Addr{
		"echo.test": {netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:2::1")},
	}, &queries)
	l, err := p.srv.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, l)
	for _, c := range []struct{ network, want string }{
		{"tcp4", "198.18.0.1:7"}, {"tcp6", "[2001:2::1]:7"}, {"tcp", ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := p.cli.DialContext(ctx, c.network, "echo.test:7")
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.network, err)
		}
		if c.want != "" && conn.RemoteAddr().String() != c.want {
			t.Fatalf("%s: connected to %v, want %s", c.network, conn.RemoteAddr(), c.want)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := conn.Read(buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: echo %q, %v", c.network, buf, err)
		}
		conn.Close()
	}
	if queries.Load() == 0 {
		t.Fatal("the DNS server saw no query")
	}
	// A name the server does not know: a *net.OpError around a *net.DNSError.
	_, err = p.cli.Dial("tcp", "nosuch.test:7")
	var de *net.DNSError
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("dial an unknown name: %v, want a not-found DNSError in a *net.OpError", err)
	}
	// UDP dials resolve too.
	u, err := p.cli.Dial("udp4", "echo.test:53")
	if err != nil || u.RemoteAddr().String() != "198.18.0.1:53" {
		t.Fatalf("udp dial by name: %v, %v", u, err)
	}
	u.Close()
}
