package tcp

import (
	"reflect"
	"testing"
)

// CloseAll closes the listeners at its first call and the connections max
// at a time, each once, and says it is done once every connection the
// shard had at that first call is closed (a FIN sent: FIN_WAIT_1); a
// connection freed in between is left alone.
func TestCloseAllClosesAFewConnectionsEachCall(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	const n = 10
	var conns []*Conn
	for i := range n {
		p.tuple.RemotePort, p.hiSet = peerPort+uint16(i), false // a connection of its own
		conns = append(conns, p.open())
	}
	count := func(st State) int {
		k := 0
		for _, c := range conns {
			if c.State() == st {
				k++
			}
		}
		return k
	}
	if p.s.CloseAll(4) {
		t.Fatal("done after the first call")
	}
	if got := count(FinWait1); got != 4 {
		t.Fatalf("after the first call: %d connections closed, want 4", got)
	}
	if len(p.s.listeners) != 0 {
		t.Fatalf("after the first call: %d listeners left", len(p.s.listeners))
	}
	// One not closed yet goes away (the peer resets it) before the drain
	// reaches it; its control block is free.
	var gone *Conn
	for _, c := range conns {
		if c.State() == Established {
			gone = c
			break
		}
	}
	p.tuple = gone.Tuple()
	p.nxt = p.iss + 1
	p.send(FlagRST, nil)
	if gone.State() != Closed {
		t.Fatalf("the reset connection is %v", gone.State())
	}
	p.take()
	if p.s.CloseAll(4) {
		t.Fatal("done after the second call")
	}
	if !p.s.CloseAll(4) {
		t.Fatal("not done after the third call (10 connections, 4 a call)")
	}
	if got := count(FinWait1); got != n-1 {
		t.Fatalf("%d connections closed, want %d", got, n-1)
	}
	if gone.State() != Closed {
		t.Fatalf("the connection reset before its turn is %v", gone.State())
	}
	if fins := len(p.take()); fins < n-1-4 {
		t.Fatalf("%d segments sent for the last %d closes", fins, n-1-4)
	}
	if !p.s.CloseAll(4) {
		t.Fatal("a call after the last one is not done")
	}
}

// With max <= 0 CloseAll closes every connection at once.
func TestCloseAllWithoutABoundClosesAll(t *testing.T) {
	p := newPeer(t, DefaultConfig())
	var conns []*Conn
	for i := range 5 {
		p.tuple.RemotePort, p.hiSet = peerPort+uint16(i), false // a connection of its own
		conns = append(conns, p.open())
	}
	if !p.s.CloseAll(0) {
		t.Fatal("CloseAll(0) not done")
	}
	for i, c := range conns {
		if c.State() != FinWait1 {
			t.Errorf("connection %d: %v, want FIN_WAIT_1", i, c.State())
		}
	}
}

// Once most connections are gone the shard moves the rest to a new table
// (a Go map keeps the room it grew to), and every one left is still
// found: a segment reaches it.
func TestConnectionTableShrinksOnceMostConnectionsAreGone(t *testing.T) {
	defer func(peak int) { connsShrinkPeak = peak }(connsShrinkPeak)
	connsShrinkPeak = 1024
	p := newPeer(t, DefaultConfig())
	const n, keep = 1100, 10
	var conns []*Conn
	for i := range n {
		p.tuple.RemotePort, p.hiSet = uint16(1024+i), false // a connection of its own
		conns = append(conns, p.open())
	}
	p.s.Tick(p.now) // the shard sees its peak
	table := reflect.ValueOf(p.s.conns).Pointer()
	for _, c := range conns[keep:] {
		p.tuple = c.Tuple()
		p.nxt = p.iss + 1
		p.send(FlagRST, nil)
	}
	p.take()
	if len(p.s.conns) != keep {
		t.Fatalf("%d connections in the table, want %d", len(p.s.conns), keep)
	}
	p.s.Tick(p.now)
	if reflect.ValueOf(p.s.conns).Pointer() == table {
		t.Fatal("the table was not made anew")
	}
	for i, c := range conns[:keep] {
		if tableConn(p.s, c.Tuple()) != c {
			t.Fatalf("connection %d is not in the new table", i)
		}
	}
	// A segment still finds its connection: the peer's data arrives.
	p.tuple, p.c, p.hi, p.hiSet = conns[0].Tuple(), conns[0], conns[0].sndNxt, true
	p.nxt = p.iss + 1
	p.data([]byte("after"))
	if got := p.srv.data.String(); got != "after" {
		t.Fatalf("the application read %q, want %q", got, "after")
	}
}

// The table shrinks again when the connections fall further: the room it
// was made with counts as its peak (one move after a million left a table
// for 31,250 for good).
func TestConnectionTableShrinksAgain(t *testing.T) {
	defer func(peak int) { connsShrinkPeak = peak }(connsShrinkPeak)
	connsShrinkPeak = 64
	p := newPeer(t, DefaultConfig())
	const n = 1100
	var conns []*Conn
	for i := range n {
		p.tuple.RemotePort, p.hiSet = uint16(1024+i), false
		conns = append(conns, p.open())
	}
	p.s.Tick(p.now)
	reset := func(cs []*Conn) {
		for _, c := range cs {
			p.tuple = c.Tuple()
			p.nxt = p.iss + 1
			p.send(FlagRST, nil)
		}
		p.take()
		p.s.Tick(p.now)
	}
	first := reflect.ValueOf(p.s.conns).Pointer()
	reset(conns[n/connsShrinkFactor:]) // 17 left: the first move, into a table for TCBHashSize
	second := reflect.ValueOf(p.s.conns).Pointer()
	if second == first || len(p.s.conns) != n/connsShrinkFactor {
		t.Fatalf("after the first fall: %d connections, table made anew %v", len(p.s.conns), second != first)
	}
	reset(conns[TCBHashSize/connsShrinkFactor+1 : n/connsShrinkFactor]) // 9 left: still more than 512/64
	if reflect.ValueOf(p.s.conns).Pointer() != second {
		t.Fatal("the table was made anew with more than 1/64 of its room in use")
	}
	reset(conns[TCBHashSize/connsShrinkFactor : TCBHashSize/connsShrinkFactor+1]) // 8 left
	if reflect.ValueOf(p.s.conns).Pointer() == second {
		t.Fatal("the table was not made anew a second time")
	}
	for i, c := range conns[:TCBHashSize/connsShrinkFactor] {
		if tableConn(p.s, c.Tuple()) != c {
			t.Fatalf("connection %d is not in the new table", i)
		}
	}
}
