package tcp

import (
	"testing"

	"github.com/pollstack/pollstack/mono"
)

// A pool's free slot tables, range sets, transmit maps and loss-recovery
// blocks go to the garbage collector as its chunks do: what stayed unused
// through a whole trim interval is dropped, down to freeFloor of each; what
// connections took meanwhile stays.
func TestPoolTrimsStorageNoConnectionTook(t *testing.T) {
	var p chunkPool
	for range 200 {
		p.putTable(make([]*chunk, 17))
		p.putRanges(new(rangeSet))
		p.putSegs(make([]txSeg, minTxSegs))
	}
	for range 200 {
		p.putRack(&rackBlock{})
	}
	sizes := func() [4]int {
		return [4]int{len(p.tables[17].items), len(p.rangeSets.items), len(p.segRings[minTxSegs].items), len(p.racks.items)}
	}
	if s := sizes(); s != [4]int{200, 200, 200, 200} {
		t.Fatalf("free lists %v after 200 given back", s)
	}
	now := mono.Time(1e9)
	p.trim(now)                        // starts the trimming
	p.trim(now.Add(chunkTrimInterval)) // the lists' first interval starts
	took := make([][]*chunk, 0, 150)
	for range 150 {
		took = append(took, p.getTable(17))
	}
	for _, tb := range took {
		p.putTable(tb)
	}
	p.trim(now.Add(2 * chunkTrimInterval))
	// 150 tables were in use during the interval: only the 50 never taken
	// go. Nothing else was taken: down to the floor.
	if s := sizes(); s != [4]int{150, freeFloor, freeFloor, freeFloor} {
		t.Fatalf("after an interval with 150 tables taken: free lists %v, want [150 %d %d %d]", s, freeFloor, freeFloor, freeFloor)
	}
	p.trim(now.Add(3 * chunkTrimInterval))
	if s := sizes(); s != [4]int{freeFloor, freeFloor, freeFloor, freeFloor} {
		t.Fatalf("after an idle interval: free lists %v, want %d of each", s, freeFloor)
	}
}
