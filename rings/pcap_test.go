package rings

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// sendFrames transmits frames whose bytes spell their name from l.
func sendFrames(t *testing.T, l Link, names ...string) {
	t.Helper()
	var ds []Desc
	for _, n := range names {
		addr, ok := l.Pool().Get()
		if !ok {
			t.Fatal("pool empty")
		}
		b := l.Pool().Frame(addr)
		copy(b, n)
		ds = append(ds, Desc{Addr: addr, Len: uint32(len(n))})
	}
	if got := l.Transmit(ds); got != len(ds) {
		t.Fatalf("transmitted %d of %d", got, len(ds))
	}
}

func recvAll(l Link) int {
	ds := make([]Desc, 64)
	n := l.Receive(ds)
	for _, d := range ds[:n] {
		l.Pool().Put(d.Addr)
	}
	return n
}

type pcapFrame struct {
	data   string
	length int
	ts     time.Time
}

func readPcap(t *testing.T, r io.Reader, snapLen int) []pcapFrame {
	t.Helper()
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	if pr.LinkType() != layers.LinkTypeEthernet || pr.Snaplen() != uint32(snapLen) {
		t.Fatalf("link type %v, snap length %d", pr.LinkType(), pr.Snaplen())
	}
	var out []pcapFrame
	for {
		data, ci, err := pr.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcapFrame{string(data), ci.Length, ci.Timestamp})
	}
}

// Every frame sent and received through the wrapped end is in the
// capture, in order, with its length and the clock's timestamp; frames
// longer than the snap length are cut.
func TestPcapCapturesBothDirections(t *testing.T) {
	a, b, err := NewMemPair(MemConfig{Frames: 256, WireSlots: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var buf lockedBuffer
	clock := time.Unix(1700000000, 123456000)
	pw, err := NewPcapWriter(&buf, PcapConfig{SnapLen: 100, Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	pa := pw.Wrap(a)
	var want []string
	for i := 0; i < 20; i++ {
		out := fmt.Sprintf("a->b frame %02d padding to sixty bytes.......................", i)
		back := fmt.Sprintf("b->a frame %02d padding to sixty bytes.......................", i)
		sendFrames(t, pa, out)
		if recvAll(b) != 1 {
			t.Fatal("b got nothing")
		}
		sendFrames(t, b, back)
		if recvAll(pa) != 1 {
			t.Fatal("a got nothing")
		}
		want = append(want, out, back)
	}
	// The writer goroutine drains while the link runs, not only at Close.
	for i := 0; pw.Written() < uint64(len(want)); i++ {
		if i == 10000 {
			t.Fatalf("the writer wrote %d of %d frames in 10 s", pw.Written(), len(want))
		}
		time.Sleep(time.Millisecond)
	}
	long := string(bytes.Repeat([]byte("L"), 300))
	sendFrames(t, pa, long)
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, &buf.b, 100)
	if len(got) != len(want)+1 {
		t.Fatalf("%d frames in the capture, want %d", len(got), len(want)+1)
	}
	for i, w := range want {
		if got[i].data != w || got[i].length != len(w) || !got[i].ts.Equal(clock) {
			t.Fatalf("frame %d: %q (%d bytes, %v), want %q", i, got[i].data, got[i].length, got[i].ts, w)
		}
	}
	if l := got[len(want)]; l.data != long[:100] || l.length != 300 {
		t.Fatalf("long frame: %d bytes kept of %d", len(l.data), l.length)
	}
	if pw.Dropped() != 0 || pw.Written() != uint64(len(got)) {
		t.Fatalf("dropped %d, written %d", pw.Dropped(), pw.Written())
	}
}

// A full capture ring never holds the link up: frames go out and are
// counted as left out of the capture.
func TestPcapDropsWhenFull(t *testing.T) {
	a, b, err := NewMemPair(MemConfig{Frames: 256, WireSlots: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var buf bytes.Buffer
	pw, err := newPcapWriter(&buf, PcapConfig{Slots: 4}) // no writer goroutine: nothing drains
	if err != nil {
		t.Fatal(err)
	}
	pa := pw.Wrap(a)
	sendFrames(t, pa, "f0..............", "f1..............", "f2..............")
	sendFrames(t, pa, "f3..............", "f4..............", "f5..............")
	if n := recvAll(b); n != 6 {
		t.Fatalf("b received %d of 6", n)
	}
	if pa.Dropped() != 2 || pw.Dropped() != 2 {
		t.Fatalf("dropped %d, want 2", pa.Dropped())
	}
	pw.drain()
	sendFrames(t, pa, "f6..............")
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, &buf, DefaultPcapSnapLen)
	var names []string
	for _, f := range got {
		names = append(names, f.data[:2])
	}
	if fmt.Sprint(names) != "[f0 f1 f2 f3 f6]" {
		t.Fatalf("captured %v", names)
	}
}

func TestPcapRejects(t *testing.T) {
	for _, c := range []PcapConfig{{Slots: 3}, {SnapLen: 10}, {SnapLen: 70000}} {
		if _, err := NewPcapWriter(io.Discard, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// Capturing costs the link's owner no allocation.
func TestPcapAllocatesNothing(t *testing.T) {
	a, b, err := NewMemPair(MemConfig{Frames: 256, WireSlots: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pw, err := NewPcapWriter(io.Discard, PcapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	pa := pw.Wrap(a)
	ds := make([]Desc, 64)
	if n := testing.AllocsPerRun(100, func() {
		addr, _ := pa.Pool().Get()
		ds[0] = Desc{Addr: addr, Len: 60}
		pa.Transmit(ds[:1])
		k := b.Receive(ds)
		for _, d := range ds[:k] {
			b.Pool().Put(d.Addr)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

// lockedBuffer is a bytes.Buffer the writer goroutine may fill while the
// test reads Written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
