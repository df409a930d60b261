package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
)

// Behaviour that follows Linux and FreeBSD where the RFCs leave room.

// injectRawOpts hands the shard s with opts as its option bytes, written as
// they are (a multiple of 4 bytes), malformed or not.
func (p *peer) injectRawOpts(s *Segment, opts []byte) {
	p.t.Helper()
	if len(opts)%4 != 0 || len(opts) > MaxOptionsLen {
		p.t.Fatalf("raw options of %d bytes", len(opts))
	}
	bare := *s
	bare.Opts = Options{}
	h := Write(p.buf[:], &bare)
	h += copy(p.buf[h:], opts)
	p.buf[12] = byte(h/4) << 4
	n := copy(p.buf[h:], s.Payload)
	p.s.Receive(&p.tuple, p.buf[:h+n], p.now)
}

// A SYN whose options are malformed (a length byte of 0 or 1, one that runs
// past the header, a known option of the wrong length) opens a connection
// with the options read before the bad one, as Linux (tcp_parse_options)
// and FreeBSD (tcp_dooptions) do: a bad length byte ends the parsing, a
// known option of the wrong length is skipped.
func TestLinuxParity_SYNMalformedOptionLength(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   string
		mss    int   // the MSS the connection takes
		wscale uint8 // the peer's shift the connection takes
	}{
		{"length 0", "0204 05b4 fe00 0000", 1460, 0},
		{"length 1", "0204 05b4 fe01 0101", 1460, 0},
		{"runs past the header", "0204 05b4 0101 fe08", 1460, 0},
		{"kind in the last byte", "0204 05b4 0101 01fe", 1460, 0},
		{"length 0 before window scale", "0204 05b4 fe00 0303 0700 0000", 1460, 0},
		{"MSS of length 3, then window scale", "0203 0501 0303 0700", DefaultMSSDflt, 7},
		{"window scale of length 4, then MSS", "0304 0700 0204 05b4", 1460, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			before := *p.s.Stats()
			syn := p.mk(FlagSYN, p.iss, 0, nil)
			p.injectRawOpts(&syn, mustHex(t, tc.opts))
			p.nxt = p.iss + 1
			p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK && s.Ack == p.iss+1 })
			statsDelta(t, p.s, before, map[Stat]uint64{StatRcvBadOff: 0, StatRcvTotal: 1})
			p.advance(rtt)
			p.tsOn = false // the SYN offered no timestamps
			p.ack()
			c := tableConn(p.s, p.tuple)
			if c == nil || c.State() != Established {
				t.Fatalf("after the handshake: %v", c)
			}
			p.c, p.h = c, p.srv
			v := p.view()
			if v.MSS != tc.mss || v.SndScale != tc.wscale || v.TSOK {
				t.Fatalf("MSS %d, peer's shift %d, timestamps %v: want %d, %d, false", v.MSS, v.SndScale, v.TSOK, tc.mss, tc.wscale)
			}
		})
	}
}

// On an established connection a segment with a malformed option is
// processed all the same (Linux and FreeBSD stop parsing options there):
// its data is delivered and acknowledged, and the timestamp before the bad
// option is taken.
func TestLinuxParity_DataWithMalformedOption(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	p.open()
	before := *p.s.Stats()
	p.advance(rtt)
	seg := p.mk(FlagACK|FlagPSH, p.nxt, p.hi, []byte("hello"))
	opts := []byte{optNOP, optNOP, optTS, optTSLen, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0, 0, 0}
	be := func(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) }
	be(opts[4:], seg.Opts.TSVal)
	be(opts[8:], seg.Opts.TSEcr)
	p.injectRawOpts(&seg, opts)
	p.nxt = p.nxt.Add(5)
	if got := p.h.data.String(); got != "hello" {
		t.Fatalf("read %q, want hello", got)
	}
	p.advance(DefaultDelAckTime + timerTick)
	p.expect("ACK of the data", func(s sentSeg) bool { return s.Flags&FlagACK != 0 && s.Ack == p.nxt })
	if v := p.view(); v.TSRecent != seg.Opts.TSVal {
		t.Fatalf("ts_recent %d, want %d", v.TSRecent, seg.Opts.TSVal)
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatRcvBadOff: 0, StatRcvPack: 1})
}

// Out-of-order copies of the same bytes with different content: the bytes
// already held stay, a later segment adds only what no range holds yet, and
// the application reads the first copy when the hole is filled. Linux and
// FreeBSD keep the held bytes for a segment that starts inside them (the
// first two cases); for one that starts before held data, both keep the
// new copy of what it overlaps instead, pollstack still the first.
func TestReassemblyKeepsFirstCopy(t *testing.T) {
	rep := func(b byte, n int) string { return string(bytes.Repeat([]byte{b}, n)) }
	type piece struct {
		off  uint32
		data string
	}
	for _, tc := range []struct {
		name string
		ooo  []piece
		want string // bytes 10 on, after "0123456789" fills the hole
	}{
		{"tail overlap", []piece{{10, rep('A', 10)}, {15, rep('B', 10)}}, rep('A', 10) + rep('B', 5)},
		{"inside", []piece{{10, rep('A', 10)}, {12, rep('B', 4)}}, rep('A', 10)},
		{"across two ranges", []piece{{10, rep('A', 4)}, {18, rep('C', 4)}, {12, rep('B', 12)}},
			rep('A', 4) + rep('B', 4) + rep('C', 4) + rep('B', 2)},
		{"covering, from the hole's edge", []piece{{14, rep('A', 4)}, {10, rep('B', 12)}},
			rep('B', 4) + rep('A', 4) + rep('B', 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			p.open()
			for _, pc := range tc.ooo {
				s := p.mk(FlagACK, p.nxt.Add(pc.off), p.hi, []byte(pc.data))
				p.inject(&s)
			}
			if p.h.data.Len() != 0 {
				t.Fatalf("read %q before the hole was filled", p.h.data.String())
			}
			p.data([]byte("0123456789"))
			if got, want := p.h.data.String(), "0123456789"+tc.want; got != want {
				t.Fatalf("read %q, want %q", got, want)
			}
		})
	}
}

// RFC 9293 3.10.7.4 and RFC 5961 3.2: a RST is acceptable only when
// RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND, RCV.WND being the window the peer
// was given; one exactly at RCV.NXT+RCV.WND is outside and is dropped
// without a challenge ACK (FreeBSD; Linux's tcp_sequence takes the right
// edge in and challenges it). Right after the handshake the window we
// advertised (65535, unscaled in the SYN-ACK) is one byte short of the free
// buffer (65536): the edge is the advertised one.
func TestRFC9293_RSTAtRightEdgeDropped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       int32 // from RCV.NXT+RCV.WND
		challenge bool
	}{
		{"last byte of the window", -1, true},
		{"right edge", 0, false},
		{"right edge with ACK", 0, false},
		{"past the right edge", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			v := p.view()
			if v.RcvAdv == v.RcvNxt {
				t.Fatal("no window advertised")
			}
			before := *p.s.Stats()
			flags := FlagRST
			if tc.name == "right edge with ACK" {
				flags |= FlagACK
			}
			rst := p.mk(flags, v.RcvAdv+flow.Seq(tc.off), v.SndNxt, nil)
			p.inject(&rst)
			segs := p.take()
			if c.State() != Established || p.h.closed != 0 {
				t.Fatalf("after the RST: %v, Closed %d", c.State(), p.h.closed)
			}
			if tc.challenge {
				if len(segs) != 1 || segs[0].Flags != FlagACK || segs[0].Ack != v.RcvNxt {
					t.Fatalf("sent %v, want one challenge ACK", segs)
				}
				statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 1})
				return
			}
			if len(segs) != 0 {
				t.Fatalf("an out-of-window RST was answered: %v", segs)
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 0, StatDrops: 0})
		})
	}
}

// With a zero receive window only SEG.SEQ = RCV.NXT is acceptable for a
// RST (RFC 9293 3.10.7.4): it resets; RCV.NXT+1 is dropped silently.
func TestRFC9293_RSTZeroWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		off   int32
		reset bool
	}{
		{"at RCV.NXT", 0, true},
		{"RCV.NXT+1", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, DefaultConfig())
			c := p.open()
			p.srv.onReadable = func(*Conn) {} // nobody reads: the window closes
			chunk := bytes.Repeat([]byte{'x'}, 1460)
			for left := c.rcv.cap(); left > 0; left -= len(chunk) {
				p.data(chunk[:min(left, len(chunk))])
				p.advance(rtt)
				for _, s := range p.take() {
					p.hi = p.hi.Max(s.end())
				}
			}
			v := p.view()
			if v.RcvQueued != v.RcvCap || v.RcvAdv != v.RcvNxt {
				t.Fatalf("%d of %d bytes queued, %d advertised: want a zero window", v.RcvQueued, v.RcvCap, v.RcvAdv-v.RcvNxt)
			}
			before := *p.s.Stats()
			rst := p.mk(FlagRST, v.RcvNxt+flow.Seq(tc.off), v.SndNxt, nil)
			p.inject(&rst)
			segs := p.take()
			if tc.reset {
				if p.h.closed != 1 || p.s.Conns() != 0 {
					t.Fatalf("Closed %d, %d connections: want a reset", p.h.closed, p.s.Conns())
				}
				return
			}
			if c.State() != Established || p.h.closed != 0 || len(segs) != 0 {
				t.Fatalf("after the RST: %v, Closed %d, sent %v", c.State(), p.h.closed, segs)
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatChallengeAck: 0, StatDrops: 0})
		})
	}
}

// drop_synfin (FreeBSD's name and default, 1): a segment with both SYN and
// FIN set opens no connection on a listener (FreeBSD and Linux drop it
// there) and is counted as badsyn; drop_synfin=0 lets it open one.
func TestDropSynFin_Listener(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.DropSynFin = on
		p := newPeer(t, cfg)
		before := *p.s.Stats()
		syn := p.mk(FlagSYN|FlagFIN, p.iss, 0, nil)
		p.synOpts(&syn)
		p.inject(&syn)
		segs := p.take()
		if on {
			if len(segs) != 0 || p.s.Conns() != 0 {
				t.Fatalf("drop_synfin=1: sent %v, %d connections", segs, p.s.Conns())
			}
			statsDelta(t, p.s, before, map[Stat]uint64{StatBadSyn: 1, StatRSTSent: 0})
			continue
		}
		if len(segs) != 1 || segs[0].Flags != FlagSYN|FlagACK || p.s.Conns() != 1 {
			t.Fatalf("drop_synfin=0: sent %v, %d connections", segs, p.s.Conns())
		}
		statsDelta(t, p.s, before, map[Stat]uint64{StatBadSyn: 0})
	}
}

// A SYN+FIN that finds a TIME_WAIT entry (FreeBSD tcp_twcheck), even one RFC 6191 would let a SYN
// reopen, is dropped: the entry stays, nothing is sent, no connection opens.
// A plain SYN then reopens the 4-tuple as before.
func TestDropSynFin_TimeWait(t *testing.T) {
	p, _ := timeWaitPeer(t, 0)
	p.advance(time.Second)
	before := *p.s.Stats()
	p.iss = p.nxt + 1000
	syn := p.mk(FlagSYN|FlagFIN, p.iss, 0, nil)
	p.synOpts(&syn)
	p.inject(&syn)
	p.expectNone("a SYN+FIN in TIME_WAIT")
	if p.s.TimeWaitEntries() != 1 || p.s.Conns() != 0 {
		t.Fatalf("%d entries, %d connections: want the entry alone", p.s.TimeWaitEntries(), p.s.Conns())
	}
	statsDelta(t, p.s, before, map[Stat]uint64{StatBadSyn: 1, StatTWReopened: 0, StatTWResponds: 0})
	p.syn()
	p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK && s.Ack == p.iss+1 })
	if p.s.TimeWaitEntries() != 0 {
		t.Fatal("a plain SYN did not reopen the 4-tuple")
	}
}

func TestDropSynFin_Tunable(t *testing.T) {
	def := DefaultConfig()
	if v, err := Get(&def, "drop_synfin"); err != nil || v != "1" {
		t.Fatalf("drop_synfin = %q, %v; want 1", v, err)
	}
}
