package pps

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/pollstack/pollstack/engine"
)

// Template is one UDP frame ready to be copied into pool frames. Write
// stamps flow i's source port and the matching UDP checksum into the copy.
// A Template is read-only once built and may be shared.
type Template struct {
	frame   []byte
	srcPort uint16
	flows   int
	portOff int    // offset of the UDP source port in the frame
	csumOff int    // offset of the UDP checksum
	sumBase uint64 // one's complement sum (folded) of the UDP pseudo header, header and payload, source port zeroed
}

// NewTemplate builds the frame that cfg describes (see GenConfig for the
// defaults of zero fields).
func NewTemplate(cfg GenConfig) (*Template, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v6 := cfg.SrcIP.Is6()
	ipLen := ipv4Len
	if v6 {
		ipLen = ipv6Len
	}
	b := make([]byte, cfg.Size)
	copy(b[0:6], cfg.DstMAC)
	copy(b[6:12], cfg.SrcMAC)
	ip := b[ethLen:]
	udpOff := ethLen + ipLen
	udp := b[udpOff:]
	ulen := cfg.Size - udpOff
	src, dst := cfg.SrcIP.AsSlice(), cfg.DstIP.AsSlice()
	if v6 {
		binary.BigEndian.PutUint16(b[12:14], 0x86dd)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:6], uint16(ulen))
		ip[6] = 17 // UDP
		ip[7] = DefaultTTL
		copy(ip[8:24], src)
		copy(ip[24:40], dst)
	} else {
		binary.BigEndian.PutUint16(b[12:14], 0x0800)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:4], uint16(cfg.Size-ethLen))
		binary.BigEndian.PutUint16(ip[6:8], 0x4000) // DF
		ip[8] = DefaultTTL
		ip[9] = 17
		copy(ip[12:16], src)
		copy(ip[16:20], dst)
		binary.BigEndian.PutUint16(ip[10:12], engine.Checksum(ip[:ipv4Len], 0))
	}
	binary.BigEndian.PutUint16(udp[2:4], cfg.DstPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(ulen))
	payload := udp[udpLen:ulen]
	for i := range payload {
		payload[i] = byte(i)
	}
	t := &Template{
		frame:   b,
		srcPort: cfg.SrcPort,
		flows:   cfg.Flows,
		portOff: udpOff,
		csumOff: udpOff + 6,
		sumBase: uint64(^engine.Checksum(udp[:ulen], engine.PseudoSum(src, dst, 17, ulen))), // source port and checksum still zero
	}
	t.Write(b, 0)
	return t, nil
}

// Len returns the frame's length in bytes.
func (t *Template) Len() int { return len(t.frame) }

// Bytes returns the template frame (flow 0); do not modify it.
func (t *Template) Bytes() []byte { return t.frame }

// Flows returns the number of flows the template cycles through.
func (t *Template) Flows() int { return t.flows }

// Write copies the frame into dst, which must hold Len bytes, with the source
// port of flow % Flows, and returns Len. It does not allocate.
func (t *Template) Write(dst []byte, flow int) int {
	n := copy(dst, t.frame)
	t.stamp(dst, flow)
	return n
}

// stamp writes flow's source port and UDP checksum into a copy of the frame.
func (t *Template) stamp(dst []byte, flow int) {
	if t.flows > 1 {
		flow %= t.flows
	} else {
		flow = 0
	}
	port := t.srcPort + uint16(flow)
	c := engine.Checksum(nil, t.sumBase+uint64(port))
	if c == 0 {
		c = 0xffff // 0 means "no checksum" in UDP over IPv4 and is invalid over IPv6
	}
	binary.BigEndian.PutUint16(dst[t.portOff:], port)
	binary.BigEndian.PutUint16(dst[t.csumOff:], c)
}

// withDefaults fills the zero fields of cfg and checks the rest.
func (cfg GenConfig) withDefaults() (GenConfig, error) {
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.SrcMAC == nil {
		cfg.SrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	}
	if cfg.DstMAC == nil {
		cfg.DstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	}
	if !cfg.SrcIP.IsValid() {
		cfg.SrcIP = DefaultSrcIP
	}
	if !cfg.DstIP.IsValid() {
		cfg.DstIP = DefaultDstIP
	}
	cfg.SrcIP, cfg.DstIP = cfg.SrcIP.Unmap(), cfg.DstIP.Unmap()
	if cfg.SrcPort == 0 {
		cfg.SrcPort = DefaultSrcPort
	}
	if cfg.DstPort == 0 {
		cfg.DstPort = DefaultDstPort
	}
	if cfg.Flows == 0 {
		cfg.Flows = DefaultFlows
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case cfg.Size < MinSize || cfg.Size > MaxSize:
		return cfg, fmt.Errorf("pps: frame size %d: want %d..%d", cfg.Size, MinSize, MaxSize)
	case len(cfg.SrcMAC) != 6 || len(cfg.DstMAC) != 6:
		return cfg, fmt.Errorf("pps: MAC addresses %v, %v: want 6 bytes each", cfg.SrcMAC, cfg.DstMAC)
	case cfg.SrcIP.Is4() != cfg.DstIP.Is4():
		return cfg, fmt.Errorf("pps: addresses %v and %v are of different families", cfg.SrcIP, cfg.DstIP)
	case cfg.Flows < 1 || cfg.Flows > 65536-int(cfg.SrcPort):
		return cfg, fmt.Errorf("pps: %d flows from source port %d: the ports would wrap", cfg.Flows, cfg.SrcPort)
	case cfg.Rate < 0:
		return cfg, fmt.Errorf("pps: negative rate %v", cfg.Rate)
	case cfg.Batch < 0:
		return cfg, fmt.Errorf("pps: negative batch %d", cfg.Batch)
	case cfg.Interval < 0:
		return cfg, fmt.Errorf("pps: negative sample interval %v", cfg.Interval)
	}
	return cfg, nil
}
