package tcp

import "github.com/pollstack/pollstack/flow"

// PortFilter is an optional interface of a Sender. When the Sender of a
// shard implements it, the shard's ephemeral port pick (Dial with a zero
// local port) takes only ports for which AcceptPort(t) is true, t carrying
// the candidate as its LocalPort. The engine uses it so that the replies of
// a connection hash (RSS) to the core that dialled it.
type PortFilter interface {
	AcceptPort(t flow.Tuple) bool
}

// Owner is an optional interface of a Sender: Owns reports whether the
// shard is the one that owns t, the core all of t's segments are steered
// to. Under the pollstackdebug build tag every state change of a
// connection asserts it (see owner_debug.go).
type Owner interface {
	Owns(t *flow.Tuple) bool
}

// portAllowed reports whether the shard's port filter, if any, accepts t.
func (s *Shard) portAllowed(t *flow.Tuple) bool {
	f, ok := s.send.(PortFilter)
	return !ok || f.AcceptPort(*t)
}
