package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/pollstack/pollstack/flow"
)

// FuzzSegmentInEachState brings a connection into one of the states of RFC
// 9293's diagram, feeds it one arbitrary segment (flags, sequence and
// acknowledgment numbers relative to the connection's, window, options,
// payload), runs the timers for a while, then lets both sides go quiet (the
// application closes, the peer says nothing more) and runs the timers until
// the connection is gone. Throughout it checks:
//
//   - no panic;
//   - SND.UNA ≤ SND.NXT ≤ SND.MAX, and no more in flight than the send
//     buffer holds plus SYN and FIN;
//   - the receive buffer's in-order bytes, plus the out-of-order data beyond
//     them, never exceed its capacity;
//   - the shard's per-state counts match the connections in its table;
//   - the connection leaves the table once both sides stop.
//
// Run it by execution count (go.dev/issue/75804):
//
//	go test -run '^$' -fuzz FuzzSegmentInEachState -fuzztime 200000x ./tcp
func FuzzSegmentInEachState(f *testing.F) {
	type seed struct {
		st             State
		flags          Flags
		seqOff, ackOff int32
		win            uint16
		opts           uint8
		payload        string
	}
	const (
		oMSS    = 1 << 0
		oWS     = 1 << 1
		oSACKOK = 1 << 2
		oTS     = 1 << 3
		oSACK   = 1 << 4
		oECN    = 1 << 5 // the connection agreed on ECN; wscale's top two bits are the segment's IP ECN codepoint
		oDCTCP  = 1 << 6 // with oECN: dctcp
		oSmall  = 1 << 7 // small buffers
	)
	var seeds []seed
	for st := Listen; st < NumStates; st++ {
		seeds = append(seeds,
			seed{st, FlagACK, 0, 0, 65535, oTS, ""},
			seed{st, FlagACK | FlagPSH, 0, 0, 65535, oTS, "hello"},
			seed{st, FlagACK, 0, 1000, 0, oTS, ""},                   // ACK with a zero window
			seed{st, FlagACK, 0, 1 << 20, 65535, oTS, ""},            // ACK of unsent data
			seed{st, FlagACK, 0, -100000, 65535, oTS, ""},            // ACK far too old
			seed{st, FlagACK | FlagFIN, 0, 0, 65535, oTS, ""},        // FIN
			seed{st, FlagACK | FlagFIN, 0, 1 << 20, 65535, oTS, "x"}, // FIN with a bad ACK
			seed{st, FlagRST, 0, 0, 0, 0, ""},                        // exact RST
			seed{st, FlagRST | FlagACK, 100, 0, 0, oTS, ""},          // in-window RST
			seed{st, FlagSYN, 0, 0, 65535, oMSS | oWS | oSACKOK | oTS, ""},
			seed{st, FlagSYN | FlagACK, -1, 0, 65535, oMSS | oWS | oSACKOK | oTS, ""},
			seed{st, FlagSYN | FlagFIN | FlagRST | FlagACK, 0, 0, 1, 0xff, "all"},
			seed{st, FlagACK, 3000, 0, 65535, oTS | oSACK, "out of order"},
			seed{st, FlagACK, -3, 0, 65535, oTS, "overlapping start"},
			seed{st, FlagACK, 0, 0, 65535, oTS | oSmall, string(make([]byte, 9000))}, // beyond the window
			seed{st, FlagACK, 0, 0, 65535, oTS, ""},
			seed{st, FlagACK | FlagECE | FlagCWR, 0, 1000, 65535, oTS | oECN, "ce"},
			seed{st, FlagACK | FlagECE, 0, 1000, 65535, oTS | oECN | oDCTCP, "ce"},
		)
	}
	for i, s := range seeds {
		tsOff := int32(0)
		if i%16 == 15 {
			tsOff = -5000 // an old timestamp (PAWS)
		}
		wscale := uint8(7)
		if s.opts&oECN != 0 {
			wscale |= 3 << 6 // CE
		}
		f.Add(uint8(s.st), uint8(s.flags), s.seqOff, s.ackOff, s.win, s.opts, uint16(1460), wscale, tsOff,
			int32(100), uint16(500), []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, st, flags uint8, seqOff, ackOff int32, win uint16, opts uint8,
		mss uint16, wscale uint8, tsOff int32, sackOff int32, sackLen uint16, payload []byte) {
		if len(payload) > 16384 {
			payload = payload[:16384]
		}
		cfg := DefaultConfig()
		if opts&oSmall != 0 {
			cfg.SendSpace, cfg.RecvSpace = 4096, 4096
		}
		if opts&oECN != 0 && opts&oDCTCP != 0 {
			cfg.CCAlgorithm = "dctcp"
		}
		state := Listen + State(st)%(NumStates-Listen)
		p, app := fuzzSetup(t, cfg, state)
		if opts&oECN != 0 {
			p.s.tos = tosCapture{p.out}
			if p.c != nil && state.synchronized() {
				p.c.ecnOK = true
			}
		}
		seqBase, ackBase := p.nxt, flow.Seq(0)
		if p.c != nil {
			ackBase = viewOf(p.c).SndUna
			if state != SynSent {
				seqBase = viewOf(p.c).RcvNxt
			}
		} else if v, ok := timeWaitOf(p.s, p.tuple); ok {
			seqBase, ackBase = v.RcvNxt, v.SndNxt
		}
		check := func(when string) {
			t.Helper()
			checkShardInvariants(t, p.s, when)
		}
		check("before the segment")

		seg := p.mk(Flags(flags), seqBase+flow.Seq(seqOff), ackBase+flow.Seq(ackOff), payload)
		seg.Window = win
		seg.Opts = Options{}
		if opts&oMSS != 0 {
			seg.Opts.HasMSS, seg.Opts.MSS = true, mss
		}
		if opts&oWS != 0 {
			seg.Opts.HasWScale, seg.Opts.WScale = true, min(wscale, MaxWScale)
		}
		seg.Opts.SACKPermitted = opts&oSACKOK != 0
		if opts&oTS != 0 {
			seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, p.tsVal()+uint32(tsOff), p.echo
		}
		if opts&oSACK != 0 && seg.Flags&FlagSYN == 0 {
			l := ackBase + flow.Seq(sackOff)
			seg.Opts.NumSACK = 1
			seg.Opts.SACK[0] = SACKBlock{Left: l, Right: l.Add(uint32(sackLen))}
		}
		p.injectECN(&seg, wscale>>6)
		check("after the segment")

		// Timers for a while, the peer silent.
		for i := 0; i < 40; i++ {
			p.advance(50e6)
			check(fmt.Sprintf("%.2f s after the segment", float64(i+1)*0.05))
		}
		for i := 0; i < 12; i++ {
			p.advance(5e9)
			check("timers")
		}
		// Both sides stop: the application closes what it holds.
		for c := range app.live {
			c.Close()
			check("after Close")
		}
		const limit = DefaultKeepIdle + 3600e9
		for waited := time.Duration(0); (p.s.Conns() > 0 || p.s.TimeWaitEntries() > 0) && waited < limit; waited += 60e9 {
			p.advance(60e9)
			check("winding down")
		}
		if p.s.Conns() != 0 {
			stuck := tableConns(p.s)
			for _, c := range stuck {
				if v := viewOf(c); v.SndWnd == 0 && v.PersistArmed {
					t.Fatalf("a connection whose zero-window probes go unanswered is never dropped (%v, after a %v segment in %v)", v.State, Flags(flags), state)
				}
			}
			t.Fatalf("%d connections left %.0f s after both sides stopped: %+v", len(stuck), float64(limit)/1e9, viewOf(stuck[0]))
		}
		if got := p.s.StateCounts(); got != [NumStates]int{Listen: 1} {
			t.Fatalf("state counts %v with an empty table", got)
		}
	})
}

// fuzzApp is the application: it reads what arrives and remembers the
// connections it holds (dialled, or established from the listener) until
// it hears Closed.
type fuzzApp struct {
	recorder
	live map[*Conn]bool
}

func (a *fuzzApp) Established(c *Conn) { a.recorder.Established(c); a.live[c] = true }

func (a *fuzzApp) Closed(c *Conn, err error) { a.recorder.Closed(c, err); delete(a.live, c) }

// fuzzSetup returns a peer whose connection is in state (none for LISTEN).
func fuzzSetup(t *testing.T, cfg Config, state State) (*peer, *fuzzApp) {
	p := newPeer(t, cfg)
	app := &fuzzApp{live: map[*Conn]bool{}}
	p.srv = &app.recorder
	p.app = app
	p.s.listeners[serverPort].handler = app
	switch state {
	case Listen:
		return p, app
	case SynSent:
		app.live[p.dial()] = true
		return p, app
	case SynReceived:
		p.syn()
		p.c = tableConn(p.s, p.tuple)
		return p, app
	}
	c := p.open()
	switch state {
	case Established:
		c.Write(make([]byte, 3000)) // in flight
		p.data([]byte("some data"))
	case FinWait1:
		c.Write(make([]byte, 1000))
		c.Close()
	case FinWait2:
		c.Close()
		p.advance(rtt)
		p.ack()
	case CloseWait:
		p.fin()
		c.Write(make([]byte, 1000))
	case Closing:
		c.Close()
		s := p.mk(FlagFIN|FlagACK, p.nxt, viewOf(c).SndUna, nil)
		p.inject(&s)
		p.nxt++
	case LastAck:
		p.fin()
		c.Close()
	case TimeWait:
		c.Close()
		p.advance(rtt)
		p.fin()
	}
	if got := stateOf(p.s, c, p.tuple); got != state {
		t.Fatalf("setup for %v reached %v", state, got)
	}
	if state == TimeWait {
		p.c = nil // the Conn is freed; the shard keeps a TIME_WAIT entry
	}
	p.take()
	return p, app
}

// checkShardInvariants checks every connection in the shard's table and the
// shard's per-state counts.
func checkShardInvariants(t *testing.T, s *Shard, when string) {
	t.Helper()
	var want [NumStates]int
	for _, c := range tableConns(s) {
		v := viewOf(c)
		want[v.State]++
		if v.State == Closed || v.State == Listen || v.State >= NumStates {
			t.Fatalf("%s: a connection in %v in the table", when, v.State)
		}
		if !v.SndUna.LEQ(v.SndNxt) || !v.SndNxt.LEQ(v.SndMax) {
			t.Fatalf("%s (%v): snd_una %d snd_nxt %d snd_max %d out of order", when, v.State, v.SndUna, v.SndNxt, v.SndMax)
		}
		if v.State != SynSent && v.SndMax.Sub(v.SndUna) > uint32(v.SndQueued)+2 {
			t.Fatalf("%s (%v): %d in flight, %d in the send buffer", when, v.State, v.SndMax.Sub(v.SndUna), v.SndQueued)
		}
		if v.SndQueued < 0 || v.SndQueued > v.SndCap {
			t.Fatalf("%s (%v): %d bytes in a %d-byte send buffer", when, v.State, v.SndQueued, v.SndCap)
		}
		if v.RcvQueued < 0 || v.RcvQueued > v.RcvCap {
			t.Fatalf("%s (%v): %d bytes in a %d-byte receive buffer", when, v.State, v.RcvQueued, v.RcvCap)
		}
		if ooo := v.ReasEnd.Sub(v.RcvNxt); v.ReasEnd.LT(v.RcvNxt) || int(ooo)+v.RcvQueued > v.RcvCap {
			t.Fatalf("%s (%v): %d in-order bytes and out-of-order data to %d past rcv_nxt in a %d-byte buffer",
				when, v.State, v.RcvQueued, int32(ooo), v.RcvCap)
		}
	}
	if got := rawStateCounts(s); got != want {
		t.Fatalf("%s: state counts %v, the table holds %v", when, got, want)
	}
}
