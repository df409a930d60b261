package engine

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// IPv6 extension headers as RFC 8200, RFC 5095 and RFC 6946 ask and Linux
// does: a routing header with no segments left is skipped, one with
// segments left is refused with a parameter problem (we route nothing); an
// atomic fragment is a whole packet; a Hop-by-Hop Options header anywhere
// but first is refused with a parameter problem.

// ext6 is an extension header to insert: its type and its bytes (a
// multiple of 8; the first byte, the next header, is filled in).
type ext6 struct {
	typ  byte
	body []byte
}

// withExt6 returns the IPv6 frame f with hdrs inserted, in order, between
// its IPv6 header and its upper-layer header. The upper-layer checksum does
// not cover extension headers, so it stays right.
func withExt6(f []byte, hdrs ...ext6) []byte {
	at := ethHeaderLen + ipv6HeaderLen
	out := append([]byte(nil), f[:at]...)
	next := f[ethHeaderLen+6]
	out[ethHeaderLen+6] = hdrs[0].typ
	n := 0
	for i, h := range hdrs {
		b := append([]byte(nil), h.body...)
		b[0] = next
		if i+1 < len(hdrs) {
			b[0] = hdrs[i+1].typ
		}
		out = append(out, b...)
		n += len(b)
	}
	out = append(out, f[at:]...)
	put16(out[ethHeaderLen+4:], be16(f[ethHeaderLen+4:])+uint16(n))
	return out
}

// routing0 is a type 0 routing header with one address and segsLeft
// segments left.
func routing0(segsLeft byte) ext6 {
	b := make([]byte, 24)
	b[1], b[2], b[3] = 2, 0, segsLeft
	copy(b[8:], peerIP6.AsSlice())
	return ext6{43, b}
}

// fragment is a fragment header with the given offset (in 8-byte units)
// and M flag.
func fragment(offset uint16, more bool) ext6 {
	b := make([]byte, 8)
	v := offset << 3
	if more {
		v |= 1
	}
	put16(b[2:], v)
	b[4], b[7] = 0x12, 0x34 // identification
	return ext6{44, b}
}

// options is a Hop-by-Hop (0) or Destination Options (60) header holding
// only padding.
func options(typ byte) ext6 { return ext6{typ, []byte{0, 0, 1, 4, 0, 0, 0, 0}} }

// checkEcho6 feeds f (an echo request) to a fresh core and checks that it
// was processed (EchoRequestsIn) or else dropped, counted as drop, and
// answered with nothing.
func checkEcho6(t *testing.T, f []byte, processed bool, drop Counter) {
	t.Helper()
	c, l := newTestCore(t)
	free := c.pool.Free()
	out := run(c, l, 0, f)
	if processed {
		if c.stats[EchoRequestsIn] != 1 || c.stats.Drops() != 0 {
			t.Fatalf("not processed: echo requests %d, drops %d", c.stats[EchoRequestsIn], c.stats.Drops())
		}
		return
	}
	if c.stats[EchoRequestsIn] != 0 || c.stats[drop] != 1 || c.stats.Drops() != 1 || len(out) != 0 {
		t.Fatalf("echo requests %d, %v %d, drops %d, sent %d: want it dropped as %v",
			c.stats[EchoRequestsIn], drop, c.stats[drop], c.stats.Drops(), len(out), drop)
	}
	if c.pool.Free() != free {
		t.Fatalf("frame not returned to the pool: %d free, want %d", c.pool.Free(), free)
	}
}

// RFC 8200 4.4, RFC 5095 3: a routing header with Segments Left 0 is
// skipped, whatever its type (RH0 included); one with segments left is
// refused (Linux: parameter problem pointing at the routing type).
func TestIPv6RoutingHeaderSegmentsLeft0IsSkipped(t *testing.T) {
	echo := echo6Frame(t, peerIP6, ourIP6, []byte("payload"))
	t.Run("type 0, no segments left", func(t *testing.T) {
		checkEcho6(t, withExt6(echo, routing0(0)), true, 0)
	})
	t.Run("after hop-by-hop options", func(t *testing.T) {
		checkEcho6(t, withExt6(echo, options(0), routing0(0), options(60)), true, 0)
	})
	t.Run("type 0, one segment left", func(t *testing.T) {
		// Code 0 (erroneous header field), pointing at the routing type.
		checkParamProblem6(t, withExt6(echo, routing0(1)), DropMalformed, 0, ipv6HeaderLen+2)
	})
	t.Run("type 0, one segment left, after destination options", func(t *testing.T) {
		checkParamProblem6(t, withExt6(echo, options(60), routing0(1)), DropMalformed, 0, ipv6HeaderLen+8+2)
	})
}

// RFC 6946: a fragment header with offset 0 and M 0 (an atomic fragment)
// is processed as the whole packet it is; real fragments go to
// reassembly (frag.go), which holds them until their datagram is whole.
func TestIPv6AtomicFragmentIsProcessed(t *testing.T) {
	echo := echo6Frame(t, peerIP6, ourIP6, []byte("payload"))
	t.Run("atomic", func(t *testing.T) { checkEcho6(t, withExt6(echo, fragment(0, false)), true, 0) })
	t.Run("atomic, reserved byte set", func(t *testing.T) {
		f := fragment(0, false)
		f.body[1] = 0xff // reserved: ignored on receipt, not a length
		checkEcho6(t, withExt6(echo, f), true, 0)
	})
	held := func(t *testing.T, f []byte) {
		c, l := newTestCore(t)
		free := c.pool.Free()
		out := run(c, l, 0, f)
		if c.stats[EchoRequestsIn] != 0 || c.stats[IP6Fragments] != 1 || c.stats.Drops() != 0 || len(out) != 0 || c.reass6.pending() != 1 {
			t.Fatalf("echo requests %d, fragments %d, drops %d, sent %d, pending %d: want it held for reassembly",
				c.stats[EchoRequestsIn], c.stats[IP6Fragments], c.stats.Drops(), len(out), c.reass6.pending())
		}
		if c.pool.Free() != free {
			t.Fatalf("frame not returned to the pool: %d free, want %d", c.pool.Free(), free)
		}
	}
	long := echo6Frame(t, peerIP6, ourIP6, []byte("payload!")) // 16 bytes: a multiple of 8
	t.Run("first fragment", func(t *testing.T) { held(t, withExt6(long, fragment(0, true))) })
	t.Run("last fragment", func(t *testing.T) { held(t, withExt6(echo, fragment(1, false))) })
}

// RFC 8200 4.1: Hop-by-Hop Options may only follow the IPv6 header. As
// Linux, one found later is an unrecognized next header: a parameter
// problem of code 1 pointing at the next-header field that named it, and
// the packet is counted as unknown_protocol.
func TestIPv6HopByHopNotFirstIsDropped(t *testing.T) {
	echo := echo6Frame(t, peerIP6, ourIP6, []byte("payload"))
	t.Run("first", func(t *testing.T) { checkEcho6(t, withExt6(echo, options(0), options(60)), true, 0) })
	t.Run("after destination options", func(t *testing.T) {
		checkParamProblem6(t, withExt6(echo, options(60), options(0)), DropUnknownProtocol, 1, ipv6HeaderLen)
	})
	t.Run("after an atomic fragment", func(t *testing.T) {
		checkParamProblem6(t, withExt6(echo, fragment(0, false), options(0)), DropUnknownProtocol, 1, ipv6HeaderLen)
	})
	t.Run("to a multicast group: no answer", func(t *testing.T) {
		all := echo6Frame(t, peerIP6, netip.MustParseAddr("ff02::1"), []byte("payload"))
		checkEcho6(t, withExt6(all, options(60), options(0)), false, DropUnknownProtocol)
	})
}

// checkParamProblem6 feeds f to a core that knows the peer's MAC and checks
// that it was dropped, counted as drop, and answered with one ICMPv6
// Parameter Problem of the given code and pointer carrying the packet.
func checkParamProblem6(t *testing.T, f []byte, drop Counter, code byte, ptr uint32) {
	t.Helper()
	c, l := newTestCore(t)
	run(c, l, 0, nsFrame(t, peerIP6, ourIP6)) // learn the peer's MAC
	before := c.stats
	free := c.pool.Free()
	out := run(c, l, 0, f)
	if d := c.stats[drop] - before[drop]; d != 1 || c.stats.Drops()-before.Drops() != 1 || c.stats[EchoRequestsIn] != 0 {
		t.Fatalf("%v moved by %d, drops by %d, echo requests %d: want it dropped as %v",
			drop, d, c.stats.Drops()-before.Drops(), c.stats[EchoRequestsIn], drop)
	}
	if len(out) != 1 || c.stats[ParamProblemsOut]-before[ParamProblemsOut] != 1 {
		t.Fatalf("sent %d frames, %d parameter problems counted: want one", len(out), c.stats[ParamProblemsOut]-before[ParamProblemsOut])
	}
	r := out[0]
	ip, m := r[ethHeaderLen:ethHeaderLen+ipv6HeaderLen], r[ethHeaderLen+ipv6HeaderLen:]
	if !bytes.Equal(r[0:6], peerMAC) || be16(r[12:]) != etherTypeIPv6 ||
		!bytes.Equal(ip[8:24], ourIP6.AsSlice()) || !bytes.Equal(ip[24:40], peerIP6.AsSlice()) || ip[6] != protoICMPv6 ||
		int(be16(ip[4:])) != len(m) {
		t.Fatalf("not an ICMPv6 message from us to the peer: % x", r[:ethHeaderLen+ipv6HeaderLen])
	}
	if Checksum(m, pseudoSum6(ip[8:24], ip[24:40], protoICMPv6, len(m))) != 0 {
		t.Fatal("bad ICMPv6 checksum")
	}
	if m[0] != icmp6ParamProblem || m[1] != code || be32(m[4:]) != ptr {
		t.Fatalf("type %d code %d pointer %d: want %d %d %d", m[0], m[1], be32(m[4:]), icmp6ParamProblem, code, ptr)
	}
	if !bytes.Equal(m[8:], f[ethHeaderLen:]) {
		t.Fatal("the invoking packet is not quoted whole")
	}
	if c.pool.Free() != free {
		t.Fatalf("frames not returned to the pool: %d free, want %d", c.pool.Free(), free)
	}
}

// RFC 4443 2.4 (f): ICMPv6 errors are rate limited, icmp6ErrorsPerSec a
// core each second; an ICMPv6 error is never answered with one (2.4 (e)).
func TestIPv6ParamProblemLimits(t *testing.T) {
	c, l := newTestCore(t)
	run(c, l, 0, nsFrame(t, peerIP6, ourIP6))
	bad := withExt6(echo6Frame(t, peerIP6, ourIP6, []byte("payload")), routing0(1))
	sent := 0
	for i := 0; i < icmp6ErrorsPerSec+10; i++ {
		sent += len(run(c, l, 5e9, bad))
	}
	if sent != icmp6ErrorsPerSec || c.stats[DropMalformed] != icmp6ErrorsPerSec+10 {
		t.Fatalf("sent %d for %d packets (malformed %d): want %d", sent, icmp6ErrorsPerSec+10, c.stats[DropMalformed], icmp6ErrorsPerSec)
	}
	if n := len(run(c, l, 6e9, bad)); n != 1 {
		t.Fatalf("the next second: sent %d, want 1", n)
	}
	// An ICMPv6 error (a destination unreachable) behind the same header.
	unreach := icmp6Frame(t, ourMAC, peerIP6, ourIP6, 64,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, 0)},
		gopacket.Payload(make([]byte, 52)))
	if n := len(run(c, l, 7e9, withExt6(unreach, routing0(1)))); n != 0 {
		t.Fatalf("answered an ICMPv6 error with %d frames", n)
	}
}
