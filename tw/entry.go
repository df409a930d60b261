package tw

import "github.com/pollstack/pollstack/flow"

// v4Prefix is the first 12 bytes of an IPv4-mapped address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// State is what TIME_WAIT keeps of a connection. Sequence numbers and
// timestamps are the raw 32-bit values.
type State struct {
	SndNxt   uint32 // our next sequence number: the SEQ of every ACK we send
	RcvNxt   uint32 // the peer's next sequence number (after its FIN)
	TSRecent uint32 // the peer's last timestamp (RFC 7323), when TS is set
	// Window is the window field of the last segment we sent, as it went
	// on the wire (already shifted by our window scale), so that the ACKs
	// TIME_WAIT sends need no scale.
	Window    uint16
	TS        bool // timestamps were in use on the connection
	ReuseAddr bool // SO_REUSEADDR was set on the socket (for bind())
	ReusePort bool // SO_REUSEPORT was set on the socket (for bind())
}

// Entry flags.
const (
	flagLive      = 1 << 0 // the slot holds an entry (else a tombstone)
	flagTS        = 1 << 1
	flagReuseAddr = 1 << 2
	flagReusePort = 1 << 3
)

func (st *State) flags() uint8 {
	f := uint8(flagLive)
	if st.TS {
		f |= flagTS
	}
	if st.ReuseAddr {
		f |= flagReuseAddr
	}
	if st.ReusePort {
		f |= flagReusePort
	}
	return f
}

func stateOf(snd, rcv, ts uint32, win uint16, flags uint8) State {
	return State{SndNxt: snd, RcvNxt: rcv, TSRecent: ts, Window: win,
		TS: flags&flagTS != 0, ReuseAddr: flags&flagReuseAddr != 0, ReusePort: flags&flagReusePort != 0}
}

// entry4 is an IPv4 entry: 24 bytes. The local address is an index into
// the table's list of local addresses (a core has few); the timestamp
// offset is derived from the 4-tuple by the caller and the expiry is kept
// per run of entries (see store), so neither is stored.
type entry4 struct {
	raddr    [4]byte
	sndNxt   uint32
	rcvNxt   uint32
	tsRecent uint32
	lport    uint16
	rport    uint16
	win      uint16
	local    uint8
	flags    uint8
}

// entry6 is an IPv6 entry (and one whose addresses are of mixed
// families): 36 bytes.
type entry6 struct {
	raddr    [16]byte
	sndNxt   uint32
	rcvNxt   uint32
	tsRecent uint32
	lport    uint16
	rport    uint16
	win      uint16
	local    uint8
	flags    uint8
}

// entryPtr is what a store needs of its entries.
type entryPtr[E any] interface {
	*E
	live() bool
	kill()
	localIdx() uint8
	port() uint16
	reusePort() bool
	set(t *flow.Tuple, local uint8, st *State)
	state() State
	match(t flow.Tuple, locals *[256][16]byte) bool
	tuple(locals *[256][16]byte) flow.Tuple
}

func (e *entry4) live() bool      { return e.flags&flagLive != 0 }
func (e *entry4) kill()           { e.flags &^= flagLive }
func (e *entry4) localIdx() uint8 { return e.local }
func (e *entry4) port() uint16    { return e.lport }
func (e *entry4) reusePort() bool { return e.flags&flagReusePort != 0 }
func (e *entry4) state() State    { return stateOf(e.sndNxt, e.rcvNxt, e.tsRecent, e.win, e.flags) }

func (e *entry4) set(t *flow.Tuple, local uint8, st *State) {
	*e = entry4{raddr: [4]byte(t.RemoteAddr[12:]), sndNxt: st.SndNxt, rcvNxt: st.RcvNxt,
		tsRecent: st.TSRecent, lport: t.LocalPort, rport: t.RemotePort, win: st.Window,
		local: local, flags: st.flags()}
}

func (e *entry4) match(t flow.Tuple, locals *[256][16]byte) bool {
	return e.lport == t.LocalPort && e.rport == t.RemotePort &&
		e.raddr == [4]byte(t.RemoteAddr[12:]) && locals[e.local] == t.LocalAddr
}

func (e *entry4) tuple(locals *[256][16]byte) flow.Tuple {
	t := flow.Tuple{LocalAddr: locals[e.local], LocalPort: e.lport, RemotePort: e.rport}
	copy(t.RemoteAddr[:12], v4Prefix[:])
	copy(t.RemoteAddr[12:], e.raddr[:])
	return t
}

func (e *entry6) live() bool      { return e.flags&flagLive != 0 }
func (e *entry6) kill()           { e.flags &^= flagLive }
func (e *entry6) localIdx() uint8 { return e.local }
func (e *entry6) port() uint16    { return e.lport }
func (e *entry6) reusePort() bool { return e.flags&flagReusePort != 0 }
func (e *entry6) state() State    { return stateOf(e.sndNxt, e.rcvNxt, e.tsRecent, e.win, e.flags) }

func (e *entry6) set(t *flow.Tuple, local uint8, st *State) {
	*e = entry6{raddr: t.RemoteAddr, sndNxt: st.SndNxt, rcvNxt: st.RcvNxt,
		tsRecent: st.TSRecent, lport: t.LocalPort, rport: t.RemotePort, win: st.Window,
		local: local, flags: st.flags()}
}

func (e *entry6) match(t flow.Tuple, locals *[256][16]byte) bool {
	return e.lport == t.LocalPort && e.rport == t.RemotePort &&
		e.raddr == t.RemoteAddr && locals[e.local] == t.LocalAddr
}

func (e *entry6) tuple(locals *[256][16]byte) flow.Tuple {
	return flow.Tuple{LocalAddr: locals[e.local], RemoteAddr: e.raddr, LocalPort: e.lport, RemotePort: e.rport}
}
