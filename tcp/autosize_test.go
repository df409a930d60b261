package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// bulk sends size bytes from B's client to A's server over a path of rtt
// and returns the server's connection, the client's, and how long it took.
func bulk(t *testing.T, cfg Config, rtt time.Duration, size int, srv *recorder, o *SockOptions) (sc, cc *Conn, took time.Duration) {
	t.Helper()
	n := newTestNet(t, cfg, cfg)
	n.delay = rtt / 2
	if _, err := n.a.Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	cli := &recorder{toSend: data}
	var err error
	if o != nil {
		cc, err = n.b.DialWith(tupleAB(80), cli, o, n.now)
	} else {
		cc, err = n.b.Dial(tupleAB(80), cli, n.now)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := n.now
	if !n.run(10*time.Minute, func() bool { return srv.data.Len() == size }) {
		t.Fatalf("%d of %d bytes arrived", srv.data.Len(), size)
	}
	if !bytes.Equal(srv.data.Bytes(), data) {
		t.Fatal("the bytes differ")
	}
	return srv.conns[0], cc, n.now.Sub(start)
}

// A reader that keeps up with the sender grows its receive buffer from
// recvspace towards recvbuf_max, so the window stops limiting the
// transfer; with recvbuf_auto off the 64 KiB window caps it at a window a
// round trip.
func TestRecvBufAutoGrowsForAReaderThatKeepsUp(t *testing.T) {
	const rtt, size = 20 * time.Millisecond, 16 << 20
	off := DefaultConfig()
	off.RecvBufAuto, off.SendBufAuto = false, false
	_, _, tookOff := bulk(t, off, rtt, size, &recorder{}, nil)

	on := DefaultConfig()
	on.SendBufAuto = false
	on.SendSpace = 4 << 20 // the sender is not what limits here
	sc, _, tookOn := bulk(t, on, rtt, size, &recorder{}, nil)
	if got := sc.Info().RcvSpace; got != on.RecvBufMax {
		t.Errorf("receive buffer %d after 16 MiB, want recvbuf_max %d", got, on.RecvBufMax)
	}
	if g := sc.shard.Stats()[StatRcvBufAutoGrow]; g != 5 {
		t.Errorf("rcvbuf_autogrow %d, want 5 (64 KiB doubled to 2 MiB)", g)
	}
	// 16 MiB in 64 KiB windows is 256 round trips at least.
	if tookOff < 256*rtt {
		t.Fatalf("without autosizing: %v, less than 256 round trips", tookOff)
	}
	if tookOn*4 > tookOff {
		t.Errorf("with recvbuf_auto: %v, without: %v; want at least 4x faster", tookOn, tookOff)
	}
	t.Logf("16 MiB over %v: %v with recvbuf_auto, %v without", rtt, tookOn, tookOff)
}

// A reader slower than the path leaves its buffer as it is: what fills a
// buffer is not what grows it. Here the application reads 5,000 bytes
// every 10 ms (500 KB/s) where a 64 KiB window a round trip is 6.5 MB/s.
func TestRecvBufAutoLeavesASlowReaderAlone(t *testing.T) {
	srv := &recorder{onReadable: func(*Conn) {}}
	cfg := DefaultConfig()
	n := newTestNet(t, cfg, cfg)
	n.delay = 5 * time.Millisecond
	if _, err := n.a.Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cli := &recorder{toSend: make([]byte, 4<<20)}
	if _, err := n.b.Dial(tupleAB(80), cli, n.now); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second, func() bool { return srv.established == 1 })
	read := 0
	for range 500 {
		n.run(10*time.Millisecond, nil)
		n.a.SetNow(n.now)
		read += srv.conns[0].Read(srv.scratch[:5000])
	}
	if read < 400*5000 {
		t.Fatalf("the reader took %d bytes in 5 s", read)
	}
	if got := srv.conns[0].Info().RcvSpace; got != cfg.RecvSpace {
		t.Fatalf("a reader of 500 KB/s grew its buffer to %d", got)
	}
}

// SO_RCVBUF and SO_SNDBUF fix a socket's buffers: autosizing leaves them.
func TestBufAutoOffWhenTheSocketSetsItsBuffers(t *testing.T) {
	cfg := DefaultConfig()
	srv := &recorder{}
	opts := &SockOptions{RecvSpace: 100000, SendSpace: 50000}
	n := newTestNet(t, cfg, cfg)
	n.delay = 10 * time.Millisecond
	l, err := n.a.Listen(80, 0, srv)
	if err != nil {
		t.Fatal(err)
	}
	l.SetOptions(opts)
	data := make([]byte, 8<<20)
	cli := &recorder{}
	cc, err := n.b.DialWith(tupleAB(80), cli, opts, n.now)
	if err != nil {
		t.Fatal(err)
	}
	n.run(time.Second, func() bool { return srv.established == 1 })
	cli.toSend = data
	cli.pushSend(cc)
	n.run(time.Minute, func() bool { return srv.data.Len() == len(data) })
	if srv.data.Len() != len(data) {
		t.Fatalf("%d of %d bytes", srv.data.Len(), len(data))
	}
	if got := srv.conns[0].Info().RcvSpace; got != 100000 {
		t.Errorf("SO_RCVBUF 100000: the buffer became %d", got)
	}
	if got := cc.Info().SndSpace; got != 50000 {
		t.Errorf("SO_SNDBUF 50000: the buffer became %d", got)
	}
	// The scale offered covers the buffer set, not recvbuf_max.
	if got := srv.conns[0].rcvScale; got != 1 {
		t.Errorf("window scale %d for a 100000-byte buffer, want 1", got)
	}
}

// A writer that keeps its send buffer full grows it past two congestion
// windows, up to sendbuf_max; one that writes a little at a time does not.
func TestSendBufAutoGrowsForAWriterThatFillsIt(t *testing.T) {
	cfg := DefaultConfig()
	_, cc, _ := bulk(t, cfg, 20*time.Millisecond, 16<<20, &recorder{}, nil)
	if got := cc.Info().SndSpace; got != cfg.SendBufMax {
		t.Errorf("send buffer %d after 16 MiB, want sendbuf_max %d", got, cfg.SendBufMax)
	}
	if g := cc.shard.Stats()[StatSndBufAutoGrow]; g == 0 {
		t.Error("sndbuf_autogrow 0")
	}

	// A request-response connection: 100 bytes, then wait for the answer.
	n := newTestNet(t, cfg, cfg)
	n.delay = 10 * time.Millisecond
	srv := &recorder{}
	srv.onReadable = func(c *Conn) {
		k := c.Read(srv.scratch[:])
		srv.data.Write(srv.scratch[:k])
		c.Write(srv.scratch[:k])
	}
	if _, err := n.a.Listen(80, 0, srv); err != nil {
		t.Fatal(err)
	}
	cli := &recorder{}
	got := 0
	cli.onReadable = func(c *Conn) {
		got += c.Read(cli.scratch[:])
		if got%100 == 0 && got < 100*1000 {
			c.Write(make([]byte, 100))
		}
	}
	c, err := n.b.Dial(tupleAB(80), cli, n.now)
	if err != nil {
		t.Fatal(err)
	}
	n.run(time.Second, func() bool { return cli.established == 1 })
	c.Write(make([]byte, 100))
	n.run(time.Hour, func() bool { return got == 100*1000 })
	if got != 100*1000 {
		t.Fatalf("%d bytes echoed", got)
	}
	if s := c.Info().SndSpace; s != cfg.SendSpace {
		t.Errorf("a writer of 100 bytes at a time grew its send buffer to %d", s)
	}
}

// Growing a ring keeps every byte at its offset: the in-order bytes, the
// out-of-order data past them, across the old ring's wrap.
func TestByteRingGrowKeepsItsBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		var pool chunkPool
		var r byteRing
		size := 1024 * (1 + rng.IntN(40))
		r.init(&pool, size)
		// Move head around the ring first.
		for range rng.IntN(5) {
			k := rng.IntN(size)
			r.write(make([]byte, k))
			r.discard(k)
		}
		model := make([]byte, 0, 4*size)
		k := rng.IntN(size)
		for range k {
			model = append(model, byte(rng.Uint32()))
		}
		r.write(model)
		// Out-of-order bytes beyond the in-order ones.
		ooo := []byte(nil)
		gap := 0
		if k < size-10 {
			gap = rng.IntN(size - k - 5)
			ooo = make([]byte, rng.IntN(size-k-gap))
			for i := range ooo {
				ooo[i] = byte(rng.Uint32())
			}
			r.copyIn(k+gap, ooo)
		}
		newSize := size * (2 + rng.IntN(4))
		r.grow(newSize)
		if r.cap() != newSize || r.n != k {
			t.Fatalf("trial %d: cap %d n %d, want %d %d", trial, r.cap(), r.n, newSize, k)
		}
		got := make([]byte, k)
		r.copyOut(0, got)
		if !bytes.Equal(got, model) {
			t.Fatalf("trial %d: in-order bytes changed by the grow", trial)
		}
		if len(ooo) > 0 {
			got = make([]byte, len(ooo))
			r.copyOut(k+gap, got)
			if !bytes.Equal(got, ooo) {
				t.Fatalf("trial %d: out-of-order bytes changed by the grow", trial)
			}
		}
		// The grown ring takes its new room and gives every chunk back.
		more := make([]byte, newSize-k)
		for i := range more {
			more[i] = byte(i)
		}
		if w := r.write(more); w != len(more) {
			t.Fatalf("trial %d: wrote %d of %d after the grow", trial, w, len(more))
		}
		all := make([]byte, newSize)
		r.copyOut(0, all)
		if !bytes.Equal(all[:k], model) || !bytes.Equal(all[k:], more) {
			t.Fatalf("trial %d: bytes after the grow differ", trial)
		}
		r.discard(newSize)
		if pool.inUse != 0 || r.slots != nil {
			t.Fatalf("trial %d: %d chunks still in use", trial, pool.inUse)
		}
	}
}
