package engine

import (
	"github.com/pollstack/pollstack/cores"
	"github.com/pollstack/pollstack/tcp"
)

// CoreSnapshot is what a running core published last, by name.
type CoreSnapshot struct {
	Core     int               `json:"core"`
	CPU      int               `json:"cpu"`
	Counters map[string]uint64 `json:"counters"`
	Drops    map[string]uint64 `json:"drops"`
	TCP      map[string]uint64 `json:"tcp,omitempty"`
	States   map[string]int64  `json:"tcp_states,omitempty"`
}

// Snapshot is an engine's published state: one entry per core.
type Snapshot struct {
	Cores []CoreSnapshot `json:"cores"`
	// Routes is the routing table: connected prefixes, static routes
	// and gateways.
	Routes []RouteInfo `json:"routes"`
}

// Snapshot returns what the cores published last (at most 10 ms old). Safe
// from any goroutine; it allocates, so it is for control paths only.
func (e *Engine) Snapshot() Snapshot {
	s := Snapshot{Routes: e.routes.Entries()}
	if e.acceptRA {
		// Every core learns every router (steer.go): core 0's list is the
		// engine's.
		now := cores.Now()
		for _, r := range e.cores[0].LearnedRouters() {
			if left := r.Expires.Sub(now); left > 0 {
				s.Routes = append(s.Routes, RouteInfo{Prefix: "::/0", Via: r.Addr.String(), Kind: "router advertisement",
					Expires: left.Seconds()})
			}
		}
	}
	for i, c := range e.cores {
		v := c.pub.Load()
		cs := CoreSnapshot{Core: c.id, CPU: e.loops[i].CPU(), Counters: map[string]uint64{}, Drops: map[string]uint64{}}
		for k := Counter(0); k < numCounters; k++ {
			if k.IsDrop() {
				cs.Drops[k.String()] = v[k]
			} else {
				cs.Counters[k.String()] = v[k]
			}
		}
		if c.tcp != nil {
			ts := c.TCPPublished()
			cs.TCP = map[string]uint64{}
			for k := tcp.Stat(0); k < tcp.Stat(tcp.NumStats); k++ {
				cs.TCP[k.String()] = ts.Stats[k]
			}
			cs.States = map[string]int64{}
			for st := tcp.State(0); st < tcp.NumStates; st++ {
				cs.States[st.String()] = ts.States[st]
			}
		}
		s.Cores = append(s.Cores, cs)
	}
	return s
}
