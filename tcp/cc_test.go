package tcp

import (
	"testing"
	"time"
)

// ccConn is a connection in congestion avoidance with a 10 ms RTT.
func ccConn(t *testing.T, cc CongestionControl) (*Shard, *Conn) {
	t.Helper()
	s, err := NewShard(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{shard: s, mss: 1000, cc: cc, srtt: 10e6}
	c.cwnd, c.ssthresh = 100000, 50000
	return s, c
}

// ackRound acknowledges one window, a segment at a time, over one RTT.
func ackRound(s *Shard, c *Conn) {
	n := c.cwnd / uint32(c.mss)
	for i := uint32(0); i < n; i++ {
		s.now = s.now.Add(c.srtt / time.Duration(n))
		c.cc.OnAck(c, uint32(c.mss))
	}
}

func TestNewRenoCongestionAvoidanceAddsOneSegmentPerRTT(t *testing.T) {
	s, c := ccConn(t, NewReno{})
	before := c.cwnd
	ackRound(s, c)
	if d := int(c.cwnd) - int(before); d < 900 || d > 1100 {
		t.Fatalf("cwnd grew by %d bytes in one RTT, want about one MSS", d)
	}
	c.sndMax = c.sndUna.Add(80000)
	if got := (NewReno{}).OnCongestion(c); got != 40000 {
		t.Fatalf("ssthresh after loss %d, want half the flight (40000)", got)
	}
}

func TestSlowStartAppropriateByteCounting(t *testing.T) {
	_, c := ccConn(t, NewReno{})
	c.cwnd, c.ssthresh = 10000, 1<<30
	c.cc.OnAck(c, 5000)
	if c.cwnd != 12000 {
		t.Fatalf("one ACK of 5 segments grew cwnd to %d, want +2 MSS (RFC 3465 L=2)", c.cwnd)
	}
}

// RFC 9438: after a loss cwnd drops to beta*cwnd, grows back towards W_max
// (concave), plateaus around it, then probes beyond it (convex).
func TestCubicReturnsToWmaxThenProbesBeyond(t *testing.T) {
	s, c := ccConn(t, Cubic{})
	// A 100 ms RTT: long enough that the cubic function, not the
	// Reno-friendly estimate, sets the window (RFC 9438 4.3).
	c.srtt = 100e6
	c.cwnd = 100000 // 100 segments
	c.ssthresh = (Cubic{}).OnCongestion(c)
	if c.ssthresh != 70000 || c.cubicWMax != 100 {
		t.Fatalf("after loss: ssthresh %d, W_max %v", c.ssthresh, c.cubicWMax)
	}
	c.cwnd = c.ssthresh
	k := c.cwnd
	var atK, later uint32
	start := s.now
	for s.now-start < 12e9 {
		ackRound(s, c)
		el := s.now - start
		if atK == 0 && el >= 4e9 {
			atK = c.cwnd // K = cbrt(100*0.3/0.4) ≈ 4.2 s
		}
		if el >= 11e9 && later == 0 {
			later = c.cwnd
		}
	}
	if atK < 95000 || atK > 105000 {
		t.Fatalf("cwnd %d around K, want near W_max (100000)", atK)
	}
	if later <= 110000 {
		t.Fatalf("cwnd %d well after K, want growth beyond W_max", later)
	}
	if k >= atK {
		t.Fatal("no growth after the loss")
	}
}

func TestBulkTransferWithEachCongestionControl(t *testing.T) {
	for name := range CongestionControls {
		cfg := DefaultConfig()
		cfg.CCAlgorithm = name
		n := newTestNet(t, cfg, cfg)
		n.loss = 0.01
		srv := &recorder{closeOnEOF: true}
		n.a.Listen(80, 0, srv)
		payload := make([]byte, 1<<20)
		for i := range payload {
			payload[i] = byte(i * 13)
		}
		cli := &recorder{toSend: payload}
		cli.onWritable = func(cc *Conn) {
			cli.pushSend(cc)
			if len(cli.toSend) == 0 {
				cc.CloseWrite()
			}
		}
		c, _ := n.b.Dial(tupleAB(80), cli, n.now)
		if c.CongestionControl().Name() != name {
			t.Fatalf("connection uses %s, want %s", c.CongestionControl().Name(), name)
		}
		if !n.run(100e9, func() bool { return srv.closed == 1 }) || srv.data.Len() != len(payload) {
			t.Fatalf("%s: got %d of %d bytes", name, srv.data.Len(), len(payload))
		}
	}
	if _, err := LookupCongestionControl("vegas"); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}
