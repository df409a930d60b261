package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// DESIGN.md: zero allocations per packet in steady state. An established
// connection takes in-order data segments and pure ACKs through
// Shard.Receive, the application reads and writes, and nothing allocates.

// discardSender is a Sender that drops what it is given.
type discardSender struct {
	buf  [4096]byte
	sent int
}

func (d *discardSender) Buffer(*flow.Tuple) []byte { return d.buf[:] }
func (d *discardSender) Send(*flow.Tuple, int)     { d.sent++ }

func TestSteadyStateAllocs(t *testing.T) {
	const runs = 1000
	setup := func(t *testing.T) (*peer, *Conn, *discardSender) {
		p := newPeer(t, DefaultConfig())
		c := p.open()
		var scratch [4096]byte
		p.h.onReadable = func(c *Conn) {
			for c.Read(scratch[:]) > 0 {
			}
		}
		d := &discardSender{}
		setSender(p.s, d)
		return p, c, d
	}
	data := make([]byte, 1000)

	t.Run("receive data and read it", func(t *testing.T) {
		p, c, d := setup(t)
		allocs := testing.AllocsPerRun(runs, func() {
			p.now += 1e6
			s := p.mk(FlagACK|FlagPSH, p.nxt, viewOf(c).SndNxt, data)
			p.inject(&s)
			p.nxt = p.nxt.Add(uint32(len(data)))
			p.s.Tick(p.now)
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per data segment received", allocs)
		}
		if v := viewOf(c); v.RcvNxt != p.nxt || v.RcvQueued != 0 || d.sent < runs/2 {
			t.Fatalf("rcv_nxt %d (want %d), %d unread, %d ACKs sent", v.RcvNxt, p.nxt, v.RcvQueued, d.sent)
		}
		if st := p.s.Stats(); st[StatRcvPack] < runs {
			t.Fatalf("rcvpack %d", st[StatRcvPack])
		}
	})

	t.Run("send data and receive ACKs", func(t *testing.T) {
		p, c, d := setup(t)
		allocs := testing.AllocsPerRun(runs, func() {
			p.now += 1e6
			p.s.SetNow(p.now)
			if n, err := c.Write(data); n != len(data) || err != nil {
				t.Fatalf("Write: %d %v", n, err)
			}
			p.now += 1e6
			s := p.mk(FlagACK, p.nxt, viewOf(c).SndNxt, nil)
			p.inject(&s)
			p.s.Tick(p.now)
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per data segment sent and ACK received", allocs)
		}
		if v := viewOf(c); v.SndUna != v.SndMax || v.SndQueued != 0 || d.sent < runs {
			t.Fatalf("snd_una %d snd_max %d, %d queued, %d segments sent", v.SndUna, v.SndMax, v.SndQueued, d.sent)
		}
	})

	t.Run("both ways", func(t *testing.T) {
		p, c, d := setup(t)
		allocs := testing.AllocsPerRun(runs, func() {
			p.now += 1e6
			s := p.mk(FlagACK|FlagPSH, p.nxt, viewOf(c).SndNxt, data)
			p.inject(&s)
			p.nxt = p.nxt.Add(uint32(len(data)))
			c.Write(data[:100]) // the answer
			p.s.Tick(p.now)
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per exchange", allocs)
		}
		if v := viewOf(c); v.RcvNxt != p.nxt || d.sent < runs {
			t.Fatalf("rcv_nxt %d (want %d), %d segments sent", v.RcvNxt, p.nxt, d.sent)
		}
	})

	// Loss recovery: each round sends four segments, the first is lost,
	// SACKs for the others make RACK mark it and PRR send it again, the
	// cumulative ACK ends recovery; a duplicate from the peer draws a
	// D-SACK. The transmit map, RACK, PRR and the D-SACK allocate nothing.
	t.Run("SACK recovery with RACK and D-SACK", func(t *testing.T) {
		p, c, d := setup(t)
		seg := make([]byte, p.view().MSS-12)
		allocs := testing.AllocsPerRun(runs, func() {
			p.now += 1e6
			p.s.SetNow(p.now)
			una := viewOf(c).SndUna
			for i := 0; i < 4; i++ {
				c.Write(seg)
			}
			p.now += 1e6
			for i := 2; i <= 4; i++ {
				s := p.mk(FlagACK, p.nxt, una, nil)
				s.Opts.NumSACK = 1
				s.Opts.SACK[0] = SACKBlock{Left: una.Add(uint32(len(seg))), Right: una.Add(uint32(i * len(seg)))}
				p.inject(&s)
			}
			p.now += 1e6
			s := p.mk(FlagACK, p.nxt, viewOf(c).SndMax, nil)
			p.inject(&s)
			in := p.mk(FlagACK|FlagPSH, p.nxt, viewOf(c).SndMax, data[:10])
			p.inject(&in)
			p.inject(&in) // again: a duplicate
			p.nxt = p.nxt.Add(10)
			p.s.Tick(p.now)
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per recovery", allocs)
		}
		st := p.s.Stats()
		if st[StatSACKRecoveryEpisode] < runs || st[StatSACKRexmits] < runs || st[StatDSACKSent] < runs || d.sent < runs {
			t.Fatalf("%d episodes, %d retransmissions, %d D-SACKs sent, %d segments", st[StatSACKRecoveryEpisode], st[StatSACKRexmits], st[StatDSACKSent], d.sent)
		}
	})
}
