package tcp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
	"github.com/pollstack/pollstack/mono"
)

// A scripted peer for one shard. The tests play the remote end by hand: they
// build each segment with Write, hand it to Shard.Receive, and read what the
// shard sent from a capturing Sender. The clock is virtual and moves only in
// advance, which fires every timer at its exact deadline.

// sentSeg is a segment the shard sent, parsed.
type sentSeg struct {
	at    mono.Time
	tuple flow.Tuple // as the shard names the connection
	tos   uint8      // the IP TOS byte asked for (tcp.TOSSender), 0 otherwise
	Segment
}

func (s sentSeg) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.3fs %s seq=%d", float64(s.at)/1e9, s.Flags, s.Seq)
	if s.Flags&FlagACK != 0 {
		fmt.Fprintf(&b, " ack=%d", s.Ack)
	}
	fmt.Fprintf(&b, " win=%d len=%d", s.Window, len(s.Payload))
	for i := 0; i < s.Opts.NumSACK; i++ {
		fmt.Fprintf(&b, " sack=%d-%d", s.Opts.SACK[i].Left, s.Opts.SACK[i].Right)
	}
	return b.String()
}

// end is the sequence number after the segment (SYN and FIN count one).
func (s *sentSeg) end() flow.Seq {
	n := uint32(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return s.Seq.Add(n)
}

// capture is a Sender that keeps every segment.
type capture struct {
	p    *peer
	buf  [4096]byte
	segs []sentSeg
}

func (c *capture) Buffer(*flow.Tuple) []byte { return c.buf[:] }

func (c *capture) Send(t *flow.Tuple, n int) {
	s := sentSeg{at: c.p.now, tuple: *t}
	if e := Parse(bytes.Clone(c.buf[:n]), &s.Segment); e != ParseOK {
		c.p.t.Errorf("the shard sent a segment Parse rejects (%v): % x", e, c.buf[:n])
		return
	}
	c.segs = append(c.segs, s)
	if *t != c.p.tuple || s.Flags&FlagRST != 0 {
		return
	}
	if e := s.end(); !c.p.hiSet || e.GT(c.p.hi) {
		c.p.hi, c.p.hiSet = e, true
	}
	if s.Opts.HasTS {
		c.p.echo = s.Opts.TSVal
	}
}

// peer is the remote end of one connection (or of the port it talks to).
type peer struct {
	t     testing.TB
	s     *Shard
	out   *capture
	now   mono.Time
	tuple flow.Tuple // the connection as the shard names it: local = the shard
	srv   *recorder
	c     *Conn
	h     *recorder // the connection's handler
	app   Handler   // the handler dial gives the shard; a new recorder when nil

	// The peer's side of the connection.
	iss, nxt flow.Seq // its ISN and the next sequence number it sends
	tsOn     bool     // it sends timestamps
	tsBase   uint32   // its timestamp clock reads tsBase + now in ms
	wnd      uint16   // the window it advertises
	hi       flow.Seq // the end of the highest segment the shard sent
	hiSet    bool
	echo     uint32 // the shard's latest TSVal
	buf      [HeaderLen + MaxOptionsLen + 65536]byte
}

const (
	peerPort   = 40000
	serverPort = 80
	rtt        = 10 * time.Millisecond // the round trip the peer plays
)

// newPeer returns a shard listening on port 80 (handler p.srv) and a peer at
// addrB:40000 that has not yet said anything.
func newPeer(t testing.TB, cfg Config) *peer {
	p := &peer{t: t, now: 1e9, srv: &recorder{}, iss: 1_000_000, tsOn: true, tsBase: 7_000_000, wnd: 65535}
	p.out = &capture{p: p}
	var err error
	if p.s, err = NewShard(cfg, p.out); err != nil {
		t.Fatal(err)
	}
	p.s.SetNow(p.now)
	if _, err := p.s.Listen(serverPort, 0, p.srv); err != nil {
		t.Fatal(err)
	}
	p.tuple = flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, LocalPort: serverPort, RemotePort: peerPort}
	p.nxt = p.iss
	return p
}

// tsVal is the peer's timestamp clock now.
func (p *peer) tsVal() uint32 { return p.tsBase + uint32(p.now/1e6) }

// mk returns a segment from the peer with its ports, window and (when the
// peer uses them) timestamps filled in.
func (p *peer) mk(flags Flags, seq, ack flow.Seq, payload []byte) Segment {
	s := Segment{SrcPort: p.tuple.RemotePort, DstPort: p.tuple.LocalPort, Seq: seq, Ack: ack,
		Flags: flags, Window: p.wnd, Payload: payload}
	if p.tsOn {
		s.Opts.HasTS, s.Opts.TSVal, s.Opts.TSEcr = true, p.tsVal(), p.echo
	}
	return s
}

// inject writes s with Write and hands it to the shard.
func (p *peer) inject(s *Segment) {
	h := Write(p.buf[:], s)
	n := copy(p.buf[h:], s.Payload)
	p.s.Receive(&p.tuple, p.buf[:h+n], p.now)
}

// synOpts are the options of the peer's SYN: MSS 1460, window scale 0,
// SACK permitted and timestamps when the peer uses them.
func (p *peer) synOpts(s *Segment) {
	s.Opts.HasMSS, s.Opts.MSS = true, 1460
	s.Opts.HasWScale, s.Opts.WScale = true, 0
	s.Opts.SACKPermitted = true
}

// syn sends the peer's SYN (seq = its ISN).
func (p *peer) syn() {
	s := p.mk(FlagSYN, p.iss, 0, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
}

// ack sends a pure ACK of everything the shard sent.
func (p *peer) ack() { p.send(FlagACK, nil) }

// data sends b in order, acknowledging everything the shard sent.
func (p *peer) data(b []byte) { p.send(FlagACK|FlagPSH, b) }

// fin sends the peer's FIN, acknowledging everything the shard sent.
func (p *peer) fin() { p.send(FlagFIN|FlagACK, nil) }

// send sends a segment at p.nxt acknowledging p.hi and advances p.nxt.
func (p *peer) send(flags Flags, b []byte) {
	s := p.mk(flags, p.nxt, p.hi, b)
	p.inject(&s)
	p.nxt = p.nxt.Add(uint32(len(b)))
	if flags&FlagFIN != 0 {
		p.nxt++
	}
}

// open completes a passive open: SYN, the shard's SYN-ACK, and one round
// trip later the ACK. It returns the established connection.
func (p *peer) open() *Conn {
	p.t.Helper()
	p.syn()
	p.expect("SYN-ACK", func(s sentSeg) bool { return s.Flags == FlagSYN|FlagACK && s.Ack == p.iss+1 })
	p.advance(rtt)
	p.ack()
	c := tableConn(p.s, p.tuple)
	if c == nil || c.State() != Established {
		p.t.Fatalf("passive open: connection %v", c)
	}
	if len(p.srv.conns) == 0 || p.srv.conns[len(p.srv.conns)-1] != c {
		p.t.Fatal("passive open: the listener's handler did not hear Established")
	}
	p.c, p.h = c, p.srv
	p.take()
	return c
}

// dial makes the shard open a connection to the peer (port 80 on the peer's
// side) and returns it in SYN_SENT; the shard's SYN is captured.
func (p *peer) dial() *Conn {
	p.t.Helper()
	var h Handler = p.app
	if h == nil {
		p.h = &recorder{}
		h = p.h
	}
	c, err := p.s.Dial(flow.Tuple{LocalAddr: addrA, RemoteAddr: addrB, RemotePort: serverPort}, h, p.now)
	if err != nil {
		p.t.Fatal(err)
	}
	p.tuple, p.hiSet = c.Tuple(), false
	p.c = c
	// Replay the SYN through the capture's bookkeeping for the new tuple.
	for i := range p.out.segs {
		if s := &p.out.segs[i]; s.tuple == p.tuple && s.Flags&FlagSYN != 0 {
			p.hi, p.hiSet = s.end(), true
			if s.Opts.HasTS {
				p.echo = s.Opts.TSVal
			}
		}
	}
	return c
}

// connect completes an active open: the shard dials, the peer answers with
// a SYN-ACK one round trip later.
func (p *peer) connect() *Conn {
	p.t.Helper()
	c := p.dial()
	p.answerSYN()
	p.take()
	return c
}

// answerSYN takes the shard's SYN and answers it with a SYN-ACK one round
// trip later; the connection must be established then. What the shard
// sends in answer stays captured.
func (p *peer) answerSYN() {
	p.t.Helper()
	p.expect("SYN", func(s sentSeg) bool { return s.Flags == FlagSYN })
	p.advance(rtt)
	s := p.mk(FlagSYN|FlagACK, p.iss, p.hi, nil)
	p.synOpts(&s)
	p.inject(&s)
	p.nxt = p.iss + 1
	if st := p.c.State(); st != Established {
		p.t.Fatalf("active open: %v", st)
	}
}

// advance moves the clock by d, firing every timer at its deadline.
func (p *peer) advance(d time.Duration) {
	if d < 0 {
		p.t.Fatalf("advance(%d): the clock does not go back", d)
	}
	end := p.now.Add(d)
	for i := 0; ; i++ {
		if i > 1e6 {
			p.t.Fatal("advance: timers keep firing")
		}
		at, ok := p.s.NextTimer()
		if !ok || at > end {
			break
		}
		if at <= p.now {
			// Due within a tick the wheel already passed: the next tick.
			at = p.now.Add(1).Ceil(timerTick)
			if at > end {
				break
			}
		}
		p.now = at
		p.s.Tick(at)
	}
	p.now = end
	p.s.Tick(end)
}

// take returns the segments captured since the last take and forgets them.
func (p *peer) take() []sentSeg {
	s := p.out.segs
	p.out.segs = nil
	return s
}

// expect takes the captured segments and fails unless exactly one matches.
func (p *peer) expect(what string, match func(sentSeg) bool) sentSeg {
	p.t.Helper()
	segs := p.take()
	var found []sentSeg
	for _, s := range segs {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		p.t.Fatalf("want one %s, the shard sent %d segments: %v", what, len(segs), segs)
	}
	return found[0]
}

// expectNone fails if the shard sent anything.
func (p *peer) expectNone(why string) {
	p.t.Helper()
	if segs := p.take(); len(segs) > 0 {
		p.t.Fatalf("%s: the shard sent %v", why, segs)
	}
}

// view is the connection's current state.
func (p *peer) view() connView { return viewOf(p.c) }

// timeWait is the shard's TIME_WAIT entry for the connection.
func (p *peer) timeWait() twView {
	p.t.Helper()
	v, ok := timeWaitOf(p.s, p.tuple)
	if !ok {
		p.t.Fatalf("%v has no TIME_WAIT entry", p.tuple)
	}
	return v
}

// statsDelta checks that the shard's counters moved by exactly want since
// before (counters not named in want are not checked).
func statsDelta(t testing.TB, s *Shard, before Stats, want map[Stat]uint64) {
	t.Helper()
	now := s.Stats()
	for k, w := range want {
		if d := now[k] - before[k]; d != w {
			t.Errorf("%s moved by %d, want %d", k, d, w)
		}
	}
}

// stateCountsMatch checks the shard's per-state counts against its table.
func stateCountsMatch(t testing.TB, s *Shard) {
	t.Helper()
	var want [NumStates]int
	for _, c := range tableConns(s) {
		want[c.State()]++
	}
	if got := rawStateCounts(s); got != want {
		t.Errorf("state counts %v, table holds %v", got, want)
	}
}
