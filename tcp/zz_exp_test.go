package tcp

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestZZLossExperiment(t *testing.T) {
	for _, loss := range []float64{0.05} {
		for seed := uint64(1); seed <= 4; seed++ {
			cfg := DefaultConfig()
			cfg.SendSpace, cfg.RecvSpace = 4<<20, 4<<20
			n := newTestNet(t, cfg, cfg)
			n.rng = rand.New(rand.NewPCG(seed, 7))
			n.delay = 50 * time.Microsecond
			var hist []string
			n.filter = func(p *packet) bool {
				h := p.b
				off := int(h[12]>>4) * 4
				payload := len(h) - off
				seq := uint32(h[4])<<24 | uint32(h[5])<<16 | uint32(h[6])<<8 | uint32(h[7])
				ack := uint32(h[8])<<24 | uint32(h[9])<<16 | uint32(h[10])<<8 | uint32(h[11])
				drop := n.rng.Float64() < loss
				dir := "A<-B data"
				if payload == 0 {
					dir = "B<-A ack "
				}
				sack := ""
				for i := 20; i+1 < off; {
					k := h[i]
					if k == 0 || k == 1 {
						i++
						continue
					}
					l := int(h[i+1])
					if k == 5 {
						for j := i + 2; j+8 <= i+l; j += 8 {
							le := uint32(h[j])<<24 | uint32(h[j+1])<<16 | uint32(h[j+2])<<8 | uint32(h[j+3])
							re := uint32(h[j+4])<<24 | uint32(h[j+5])<<16 | uint32(h[j+6])<<8 | uint32(h[j+7])
							sack += fmt.Sprintf(" [%d,%d)", le%1000000, re%1000000)
						}
					}
					if l < 2 {
						break
					}
					i += l
				}
				s := fmt.Sprintf("%9.3fms %s seq %d ack %d len %d%s", float64(n.now)/1e6, dir, seq%1000000, ack%1000000, payload, sack)
				if drop {
					s += "  LOST"
				}
				hist = append(hist, s)
				if len(hist) > 40 {
					hist = hist[1:]
				}
				return !drop
			}
			srv := &recorder{closeOnEOF: true}
			n.a.Listen(80, 0, srv)
			payload := make([]byte, 4<<20)
			cli := &recorder{toSend: payload}
			cli.onWritable = func(cc *Conn) {
				cli.pushSend(cc)
				if len(cli.toSend) == 0 {
					cc.CloseWrite()
				}
			}
			n.b.Dial(tupleAB(80), cli, n.now)
			var rtos uint64
			dumped := 0
			for n.now < 600e9 && srv.closed == 0 {
				n.step(time.Second)
				if r := n.b.Stats()[StatRexmtTimeo]; r != rtos {
					rtos = r
					if dumped < 4 && seed == 1 && len(cli.conns) > 0 {
						dumped++
						c := cli.conns[0]
						t.Logf("RTO %d at %.3f ms: cwnd %d ssthresh %d inflight %d inRecovery %v srtt %v rto %v\n%s", r, float64(n.now)/1e6, c.cwnd, c.ssthresh, c.inFlight(), c.inRecovery, c.srtt, c.rto, join(hist))
					}
				}
			}
			st := n.b.Stats()
			t.Logf("seed %d: rto %d tlp %d", seed, st[StatRexmtTimeo], st[StatTLP])
		}
	}
}

func join(h []string) string {
	s := ""
	for _, l := range h {
		s += "    " + l + "\n"
	}
	return s
}
