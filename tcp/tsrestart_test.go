package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// A client that restarts (a new shard with a new ISN key) and dials a
// 4-tuple the server still holds in TIME_WAIT: with the timestamp key and
// clock kept across the restart its SYN carries a newer timestamp and
// reopens the entry at once (RFC 6191); with a timestamp offset that went
// down, the server answers the SYN with an ACK and the connection waits.
func TestRestartedClientReopensTimeWaitByTimestamp(t *testing.T) {
	tsKey := [16]byte{7}
	for _, c := range []struct {
		name      string
		newTSKey  [16]byte
		wantQuick bool
	}{
		{"same timestamp key", tsKey, true},
		{"timestamp offset went down", lowerOffsetKey(t, tsKey), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cli := DefaultConfig()
			cli.ISNKey, cli.TSKey = [16]byte{1}, tsKey
			n := newTestNet(t, DefaultConfig(), cli)
			srv := &recorder{}
			srv.onReadable = func(c *Conn) {
				c.Consume(c.Readable())
				c.Close() // the server closes first and keeps the TIME_WAIT
			}
			n.a.Listen(80, 0, srv)
			tu := tupleAB(80)
			tu.LocalPort = 40000
			first := &recorder{toSend: []byte("x"), closeOnEOF: true}
			n.b.Dial(tu, first, n.now)
			if !n.run(5e9, func() bool { return first.closed == 1 }) {
				t.Fatal("the first connection did not complete")
			}
			n.run(100e6, nil)
			// The client restarts: a new shard, a new ISN key.
			restarted := cli
			restarted.ISNKey, restarted.TSKey = [16]byte{2}, c.newTSKey
			sb := &netSender{n: n, self: &n.b, peer: &n.a}
			var err error
			if n.b, err = NewShard(restarted, sb); err != nil {
				t.Fatal(err)
			}
			second := &recorder{}
			start := n.now
			n.b.Dial(tu, second, n.now)
			quick := n.run(500e6, func() bool { return second.established == 1 })
			if quick != c.wantQuick {
				t.Fatalf("established within 500 ms: %v, want %v (tw_reopened %d, after %d ms)",
					quick, c.wantQuick, n.a.Stats()[StatTWReopened], (n.now-start)/1e6)
			}
		})
	}
}

// lowerOffsetKey finds a timestamp key that gives tupleAB's client side a
// lower offset than key does: the case of a restart with a random key.
func lowerOffsetKey(t *testing.T, key [16]byte) [16]byte {
	tu := tupleAB(80)
	tu.LocalPort = 40000
	ct := flow.Tuple{LocalAddr: tu.LocalAddr, RemoteAddr: tu.RemoteAddr, LocalPort: tu.LocalPort, RemotePort: tu.RemotePort}
	off := func(k [16]byte) uint32 {
		s := &Shard{cfg: DefaultConfig()}
		s.cfg.TSKey = k
		return s.tsOffset(&ct)
	}
	base := off(key)
	for i := 1; i < 1000; i++ {
		k := [16]byte{byte(i), byte(i >> 8), 9}
		if o := off(k); int32(o-base) < -1e6 {
			return k
		}
	}
	t.Fatal("no key with a lower offset")
	return key
}
