package tcp

import "testing"

// The window of a SYN-ACK is never scaled (RFC 7323 2.2), even when the
// SYN-ACK agrees a scale for the segments after it: an active open that
// shifted it thought the peer offered 2^scale times what it did, and could
// send past the peer's window until its first ACK.
func TestSYNACKWindowIsNotScaled(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	c := p.dial()
	p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	s := p.mk(FlagSYN|FlagACK, p.iss, p.hi, nil)
	p.synOpts(&s)
	s.Opts.WScale = 7
	s.Window = 1000
	p.inject(&s)
	if c.State() != Established {
		t.Fatalf("not established: %v", c.State())
	}
	if v := p.view(); v.SndWnd != 1000 || v.SndScale != 7 {
		t.Fatalf("send window %d (scale %d) after a SYN-ACK offering 1000 with scale 7", v.SndWnd, v.SndScale)
	}
}
