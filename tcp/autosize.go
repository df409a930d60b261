package tcp

// Buffer autosizing. A connection's buffers start at recvspace and
// sendspace and grow, doubling, up to recvbuf_max and sendbuf_max while
// they are what limits the transfer, as FreeBSD's recvbuf_auto and
// sendbuf_auto make them; a socket that sets SO_RCVBUF or SO_SNDBUF keeps
// the size it chose. Growing costs nothing until bytes come: the memory is
// the chunks the data holds (buffer.go), so a large buffer that is not
// used holds none. Buffers never shrink while the connection lives.
//
// The receive side measures as Linux's receive buffer moderation does:
// the bytes the application took over at least one smoothed round trip,
// scaled to one. A reader that keeps up with a sender the window limits
// takes nearly a buffer each round trip; when it takes more than half of
// one the buffer doubles, ahead of a sender in slow start. A slow reader,
// or one behind an idle sender, takes little and leaves the size alone,
// so a proxy leg whose other side is slow does not grow.
//
// The send side grows a buffer the application keeps full (7/8 or more),
// when the windows would take every byte in it that is not in flight yet,
// and it holds less than two of min(cwnd, the peer's window): one window
// in flight and one for the writer to fill while the first is
// acknowledged. (FreeBSD asks the same of the windows.)
//
// Neither grows under buffer memory pressure (buffer_memory).

// autoGrow is the size a buffer of size bytes grows to: double, at least
// want, at most limit.
func autoGrow(size, want, limit int) int {
	n := 2 * size
	for n < want {
		n *= 2
	}
	return min(n, limit)
}

// rcvAutoSize accounts n bytes the application took from the receive
// buffer and grows the buffer once a round trip's reading says it limits.
func (c *Conn) rcvAutoSize(n int) {
	if !c.rcvAuto || n <= 0 {
		return
	}
	if c.srtt <= 0 {
		// No round trip measured yet (a timestamp-less peer that has
		// sent nothing we timed): nothing to scale by.
		c.rfStart = 0
		return
	}
	now := c.shard.now
	if c.rfStart == 0 {
		c.rfStart, c.rfCnt = now, 0
	}
	c.rfCnt += uint32(min(n, 1<<30))
	elapsed := now.Sub(c.rfStart)
	if elapsed < c.srtt && c.rfCnt < 1<<31 {
		return
	}
	// In float: 2^31 bytes times an SRTT of seconds in ns passes int64.
	perRTT := int(float64(c.rfCnt) * float64(c.srtt) / float64(max(elapsed, c.srtt)))
	c.rfStart, c.rfCnt = now, 0
	size, limit := c.rcv.cap(), c.shard.cfg.RecvBufMax
	if !c.wsOK {
		// Without window scaling the window stops at 64 KiB.
		limit = min(limit, 0xffff)
	}
	if size >= limit || 2*perRTT <= size || c.rcv.pool.pressure() {
		return
	}
	c.rcv.grow(autoGrow(size, 2*perRTT, limit))
	c.shard.stats[StatRcvBufAutoGrow]++
}

// sndAutoSize grows a send buffer the application keeps full while it
// holds less than two windows.
func (c *Conn) sndAutoSize() {
	size := c.snd.cap()
	if 8*c.snd.n < 7*size || size >= c.shard.cfg.SendBufMax || !c.state.synchronized() {
		return
	}
	// Only the buffer holds the sender back when what it has not sent
	// yet fits in the room the windows leave: a peer that stopped
	// reading, or a congestion window still growing, is no reason to
	// buffer more.
	win := min(c.cwnd, c.sndWnd)
	inFlight := c.inFlight()
	if unsent := uint32(c.snd.n) - min(inFlight, uint32(c.snd.n)); inFlight > win || unsent > win-inFlight {
		return
	}
	want := 2 * int(win)
	if want <= size || c.snd.pool.pressure() {
		return
	}
	c.snd.grow(autoGrow(size, want, c.shard.cfg.SendBufMax))
	c.shard.stats[StatSndBufAutoGrow]++
}
