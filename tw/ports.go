package tw

// portCounts counts a table's entries by local port, so that bind() can
// ask whether TIME_WAIT holds a port without walking the table. Its arrays
// (512 KB) are made at the first entry.
type portCounts struct {
	all         *[1 << 16]uint32 // entries on each port
	noReusePort *[1 << 16]uint32 // of them, those whose socket lacked SO_REUSEPORT
}

func (p *portCounts) add(port uint16, reusePort bool) {
	if p.all == nil {
		p.all, p.noReusePort = new([1 << 16]uint32), new([1 << 16]uint32)
	}
	p.all[port]++
	if !reusePort {
		p.noReusePort[port]++
	}
}

func (p *portCounts) del(port uint16, reusePort bool) {
	p.all[port]--
	if !reusePort {
		p.noReusePort[port]--
	}
}

// PortUse returns how many entries have local port port, and how many of
// them were made by sockets without SO_REUSEPORT (bind() may share a port
// with TIME_WAIT entries only when both sides set SO_REUSEPORT, or the new
// socket sets SO_REUSEADDR).
func (t *Table) PortUse(port uint16) (entries, noReusePort int) {
	if t.ports.all == nil {
		return 0, 0
	}
	return int(t.ports.all[port]), int(t.ports.noReusePort[port])
}
