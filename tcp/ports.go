package tcp

// PortUse is what holds a local port on one shard, for bind().
type PortUse struct {
	Listener bool // a listener
	Conns    int  // connections (any state but TIME_WAIT)
	// TimeWait counts TIME_WAIT entries; TimeWaitNoReusePort those made by
	// sockets without SO_REUSEPORT.
	TimeWait, TimeWaitNoReusePort int
}

// PortUse returns what holds local port port on the shard. It walks the
// connection table (bind is not on the packet path); TIME_WAIT entries are
// counted per port as they come and go.
func (s *Shard) PortUse(port uint16) PortUse {
	var u PortUse
	_, u.Listener = s.listeners[port]
	for t := range s.conns {
		if t.LocalPort == port {
			u.Conns++
		}
	}
	u.TimeWait, u.TimeWaitNoReusePort = s.tw.PortUse(port)
	return u
}
