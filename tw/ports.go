package tw

// portCounts counts a table's entries by local port, so that bind() can
// ask whether TIME_WAIT holds a port without walking the table. The counts
// live in pages of 256 ports, made when a port of the page first gets an
// entry: a server's entries (one port) cost one 2 KB page, a client's
// spread over the whole ephemeral range 64 pages.
type portCounts struct {
	pages [256]*portPage
}

type portPage struct {
	all         [256]uint32 // entries on each port
	noReusePort [256]uint32 // of them, those whose socket lacked SO_REUSEPORT
}

func (p *portCounts) add(port uint16, reusePort bool) {
	pg := p.pages[port>>8]
	if pg == nil {
		pg = new(portPage)
		p.pages[port>>8] = pg
	}
	pg.all[port&0xff]++
	if !reusePort {
		pg.noReusePort[port&0xff]++
	}
}

func (p *portCounts) del(port uint16, reusePort bool) {
	pg := p.pages[port>>8]
	pg.all[port&0xff]--
	if !reusePort {
		pg.noReusePort[port&0xff]--
	}
}

// PortUse returns how many entries have local port port, and how many of
// them were made by sockets without SO_REUSEPORT (bind() may share a port
// with TIME_WAIT entries only when both sides set SO_REUSEPORT, or the new
// socket sets SO_REUSEADDR).
func (t *Table) PortUse(port uint16) (entries, noReusePort int) {
	pg := t.ports.pages[port>>8]
	if pg == nil {
		return 0, 0
	}
	return int(pg.all[port&0xff]), int(pg.noReusePort[port&0xff])
}
