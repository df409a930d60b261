package pps

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/pollstack/pollstack/rings"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 2}
	testSrc6   = netip.MustParseAddr("2001:2::1")
	testDst6   = netip.MustParseAddr("2001:2::2")
)

// checkFrame decodes b with gopacket and checks that it is the UDP frame cfg
// describes, with the given source port, and that its lengths and checksums
// are right: gopacket re-serialises the decoded layers computing lengths and
// checksums itself, and the bytes must come out the same.
func checkFrame(t *testing.T, b []byte, cfg GenConfig, srcPort uint16) {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if eth == nil || udp == nil {
		t.Fatalf("no Ethernet or UDP layer in %v", pkt)
	}
	if !bytes.Equal(eth.SrcMAC, cfg.SrcMAC) || !bytes.Equal(eth.DstMAC, cfg.DstMAC) {
		t.Errorf("MACs %v > %v, want %v > %v", eth.SrcMAC, eth.DstMAC, cfg.SrcMAC, cfg.DstMAC)
	}
	if uint16(udp.SrcPort) != srcPort || uint16(udp.DstPort) != cfg.DstPort {
		t.Errorf("ports %d > %d, want %d > %d", udp.SrcPort, udp.DstPort, srcPort, cfg.DstPort)
	}
	var net gopacket.SerializableLayer
	if cfg.SrcIP.Is6() {
		ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil {
			t.Fatal("no IPv6 layer")
		}
		if ip.SrcIP.String() != cfg.SrcIP.String() || ip.DstIP.String() != cfg.DstIP.String() {
			t.Errorf("addresses %v > %v, want %v > %v", ip.SrcIP, ip.DstIP, cfg.SrcIP, cfg.DstIP)
		}
		udp.SetNetworkLayerForChecksum(ip)
		net = ip
	} else {
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatal("no IPv4 layer")
		}
		if ip.SrcIP.String() != cfg.SrcIP.String() || ip.DstIP.String() != cfg.DstIP.String() {
			t.Errorf("addresses %v > %v, want %v > %v", ip.SrcIP, ip.DstIP, cfg.SrcIP, cfg.DstIP)
		}
		if got := checksum(b[ethLen : ethLen+ipv4Len]); got != 0 {
			t.Errorf("IPv4 header checksum does not verify (residue %#04x)", got)
		}
		udp.SetNetworkLayerForChecksum(ip)
		net = ip
	}
	if udp.Checksum == 0 {
		t.Error("UDP checksum is zero")
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, net, udp, gopacket.Payload(udp.Payload)); err != nil {
		t.Fatal(err)
	}
	if want := buf.Bytes(); !bytes.Equal(b, want) {
		t.Errorf("frame differs from gopacket's re-serialisation\n got %x\nwant %x", b, want)
	}
	if len(b) != cfg.Size {
		t.Errorf("frame of %d bytes, want %d", len(b), cfg.Size)
	}
}

func TestTemplateParsesWithGopacket(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, size := range []int{MinSize, 65, 128, 1000, MaxSize} {
			for _, flows := range []int{1, 3, 1000} {
				cfg := GenConfig{Size: size, SrcMAC: testSrcMAC, DstMAC: testDstMAC, SrcPort: 1000, DstPort: 7, Flows: flows}
				if v6 {
					cfg.SrcIP, cfg.DstIP = testSrc6, testDst6
				}
				t.Run(fmt.Sprintf("v6=%v/size=%d/flows=%d", v6, size, flows), func(t *testing.T) {
					tpl, err := NewTemplate(cfg)
					if err != nil {
						t.Fatal(err)
					}
					full, _ := cfg.withDefaults()
					buf := make([]byte, size)
					for _, f := range []int{0, 1, flows - 1, flows, 2*flows + 1} {
						if n := tpl.Write(buf, f); n != size {
							t.Fatalf("Write returned %d, want %d", n, size)
						}
						checkFrame(t, buf, full, uint16(1000+f%flows))
					}
				})
			}
		}
	}
}

// TestIncrementalChecksumEveryPort checks the per-flow UDP checksum against
// a full recomputation for every source port of the widest flow range,
// including the ports whose sum comes out as zero (sent as 0xffff, RFC 768).
func TestIncrementalChecksumEveryPort(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cfg := GenConfig{SrcPort: 1, Flows: 65535}
		if v6 {
			cfg.SrcIP, cfg.DstIP = testSrc6, testDst6
		}
		tpl, err := NewTemplate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, tpl.Len())
		ipLen := ipv4Len
		if v6 {
			ipLen = ipv6Len
		}
		udp := buf[ethLen+ipLen:]
		ones := 0
		for f := 0; f < cfg.Flows; f++ {
			tpl.Write(buf, f)
			got := binary.BigEndian.Uint16(udp[6:])
			var ps uint32
			if v6 {
				ps = sum(buf[ethLen+8:ethLen+40], 0)
			} else {
				ps = sum(buf[ethLen+12:ethLen+20], 0)
			}
			ps += uint32(len(udp)) + 17
			binary.BigEndian.PutUint16(udp[6:], 0)
			want := ^fold(sum(udp, ps))
			if want == 0 {
				want = 0xffff
				ones++
			}
			if got != want {
				t.Fatalf("v6=%v port %d: checksum %#04x, want %#04x", v6, binary.BigEndian.Uint16(udp), got, want)
			}
		}
		if ones == 0 {
			t.Errorf("v6=%v: no port had a zero checksum sum; the 0xffff case went untested", v6)
		}
	}
}

func TestGenConfigRejects(t *testing.T) {
	for name, cfg := range map[string]GenConfig{
		"size below 64":     {Size: 63},
		"size above 1514":   {Size: 1515},
		"mixed families":    {SrcIP: testSrc6},
		"ports would wrap":  {SrcPort: 65000, Flows: 1000},
		"negative rate":     {Rate: -1},
		"short MAC":         {SrcMAC: net.HardwareAddr{1, 2, 3}},
		"negative interval": {Interval: -time.Second},
	} {
		if _, err := NewTemplate(cfg); err == nil {
			t.Errorf("%s: NewTemplate(%+v) accepted it", name, cfg)
		}
	}
}

// TestGenerateSinkCounts runs the generator and the sink on two goroutines
// over an in-memory link pair and checks that what one sent the other
// received, frame for frame.
func TestGenerateSinkCounts(t *testing.T) {
	for _, tc := range []struct {
		size  int
		count uint64
		rate  float64
	}{
		{64, 100_000, 0},
		{1514, 20_000, 0},
		{64, 2_000, 20_000}, // paced: about 0.1 s
	} {
		t.Run(fmt.Sprintf("size=%d/rate=%v", tc.size, tc.rate), func(t *testing.T) {
			a, b := newPair(t)
			cfg := GenConfig{Size: tc.size, Count: tc.count, Rate: tc.rate, Flows: 17, SrcMAC: testSrcMAC, DstMAC: testDstMAC}
			var (
				wg             sync.WaitGroup
				gen, sink      Result
				genErr         error
				genSamples     int
				genFinal       Sample
				live           Live
				sinkSampleSeen bool
			)
			cfg.Live = &live
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			wg.Add(1)
			go func() {
				defer wg.Done()
				gen, genErr = Generate(ctx, a, cfg, func(s Sample) { genSamples++; genFinal = s })
			}()
			s, err := NewSinker(b, SinkConfig{Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			sink = s.Run(ctx, func(Sample) { sinkSampleSeen = true })
			wg.Wait()
			if genErr != nil {
				t.Fatal(genErr)
			}
			if ctx.Err() != nil {
				t.Fatalf("timed out: sent %d, received %d", gen.Packets, sink.Packets)
			}
			if gen.Packets != tc.count || sink.Packets != tc.count {
				t.Errorf("sent %d, received %d, want %d", gen.Packets, sink.Packets, tc.count)
			}
			if want := tc.count * uint64(tc.size); gen.Bytes != want || sink.Bytes != want {
				t.Errorf("sent %d bytes, received %d, want %d", gen.Bytes, sink.Bytes, want)
			}
			if p, by := live.Load(); p != tc.count || by != gen.Bytes {
				t.Errorf("Live shows %d packets, %d bytes; want %d, %d", p, by, tc.count, gen.Bytes)
			}
			if genSamples == 0 || !genFinal.Final || genFinal.TotalPackets != tc.count {
				t.Errorf("generator samples: %d, last %+v", genSamples, genFinal)
			}
			if !sinkSampleSeen {
				t.Error("sink never called onSample")
			}
			if a.Pool().Free() != a.Pool().Frames() || b.Pool().Free() != b.Pool().Frames() {
				t.Errorf("frames leaked: free %d/%d and %d/%d", a.Pool().Free(), a.Pool().Frames(), b.Pool().Free(), b.Pool().Frames())
			}
			if tc.rate > 0 {
				want := time.Duration(float64(tc.count) / tc.rate * float64(time.Second))
				if gen.Duration < want*8/10 {
					t.Errorf("paced run took %v, want about %v", gen.Duration, want)
				}
				if gen.PPS > tc.rate*1.3 {
					t.Errorf("paced run at %.0f pps, want about %.0f", gen.PPS, tc.rate)
				}
			}
		})
	}
}

// TestReceivedFramesParse checks frames after a trip through the link.
func TestReceivedFramesParse(t *testing.T) {
	a, b := newPair(t)
	cfg := GenConfig{Size: 100, Flows: 5, SrcPort: 2000, DstPort: 4000, SrcMAC: testSrcMAC, DstMAC: testDstMAC,
		SrcIP: testSrc6, DstIP: testDst6, Count: 12}
	if _, err := Generate(context.Background(), a, cfg, nil); err != nil {
		t.Fatal(err)
	}
	full, _ := cfg.withDefaults()
	descs := make([]rings.Desc, 64)
	got := 0
	for deadline := time.Now().Add(5 * time.Second); got < 12 && time.Now().Before(deadline); {
		n := b.Receive(descs)
		for _, d := range descs[:n] {
			checkFrame(t, b.Pool().Bytes(d), full, uint16(2000+got%5))
			b.Pool().Put(d.Addr)
			got++
		}
	}
	if got != 12 {
		t.Fatalf("received %d frames, want 12", got)
	}
}

// TestSteadyStateAllocs checks that a generator turn and a sink turn
// allocate nothing once running.
func TestSteadyStateAllocs(t *testing.T) {
	a, b := newPair(t)
	g, err := NewGenerator(a, GenConfig{Flows: 100})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSinker(b, SinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var moved int
	allocs := testing.AllocsPerRun(1000, func() {
		moved += g.Turn(time.Now())
		for s.Turn() > 0 {
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per generate+sink turn, want 0", allocs)
	}
	if sent, _ := g.Totals(); moved == 0 || sent != uint64(moved) {
		t.Errorf("generator moved %d frames (totals %d)", moved, sent)
	}
	if got, _ := s.Totals(); got != uint64(moved) {
		t.Errorf("sink received %d, want %d", got, moved)
	}
}

// TestSamplesOncePerInterval checks the sample cadence with a short interval.
func TestSamplesOncePerInterval(t *testing.T) {
	a, _ := newPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	var samples []Sample
	_, err := Generate(ctx, a, GenConfig{Rate: 10_000, Interval: 50 * time.Millisecond}, func(s Sample) { samples = append(samples, s) })
	if err != nil {
		t.Fatal(err)
	}
	if n := len(samples); n < 4 || n > 7 {
		t.Fatalf("%d samples in 250 ms at 50 ms intervals", n)
	}
	last := samples[len(samples)-1]
	if !last.Final {
		t.Error("last sample not marked final")
	}
	var total uint64
	for _, s := range samples {
		total += s.Packets
	}
	if total != last.TotalPackets {
		t.Errorf("interval counts add up to %d, total says %d", total, last.TotalPackets)
	}
}

// BenchmarkGenerateSink measures generator and sink on two goroutines over
// the in-memory pair; one op is one packet.
func BenchmarkGenerateSink(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			la, lb := newPair(b)
			g, err := NewGenerator(la, GenConfig{Size: size, Count: uint64(b.N)})
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewSinker(lb, SinkConfig{Count: uint64(b.N)})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.Run(context.Background(), nil)
			}()
			s.Run(context.Background(), nil)
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
		})
	}
}

// BenchmarkGeneratorTurn measures the generator alone: template copy,
// checksum stamp and a Transmit into a link that drops everything.
func BenchmarkGeneratorTurn(b *testing.B) {
	la, _ := newPair(b)
	l := dropLink{la}
	g, err := NewGenerator(l, GenConfig{Flows: 1000})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var sent int
	for sent < b.N {
		sent += g.Turn(time.Time{})
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "pps")
}

// sum, fold and checksum are the test's own Internet checksum (RFC 1071),
// 16 bits at a time, to check the engine's against.
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func checksum(b []byte) uint16 { return ^fold(sum(b, 0)) }
