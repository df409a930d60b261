//go:build pollstackdebug

package tcp

import (
	"strings"
	"testing"

	"github.com/pollstack/pollstack/flow"
)

// ownerSender is a Sender that owns the tuples own says it does.
type ownerSender struct {
	buf [4096]byte
	own func(t *flow.Tuple) bool
}

func (s *ownerSender) Buffer(*flow.Tuple) []byte  { return s.buf[:] }
func (s *ownerSender) Send(*flow.Tuple, int)      {}
func (s *ownerSender) Owns(t *flow.Tuple) bool    { return s.own(t) }
func (s *ownerSender) AcceptPort(flow.Tuple) bool { return true }

// Under pollstackdebug a state change on a shard that does not own the
// connection's 4-tuple panics, naming the connection; on the owner it does
// not.
func TestDebugOwnerAssertion(t *testing.T) {
	cfg := DefaultConfig()
	snd := &ownerSender{own: func(t *flow.Tuple) bool { return t.LocalPort != 5555 }}
	s, err := NewShard(cfg, snd)
	if err != nil {
		t.Fatal(err)
	}
	tu := flow.Tuple{LocalAddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1},
		RemoteAddr: [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}, LocalPort: 4444, RemotePort: 80}
	if _, err := s.Dial(tu, nil, 1); err != nil {
		t.Fatal(err)
	}
	tu.LocalPort = 5555
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "198.18.0.1:5555") || !strings.Contains(msg, "does not own") {
			t.Fatalf("dial on a shard that does not own the flow: recovered %v", r)
		}
	}()
	s.Dial(tu, nil, 1)
}
