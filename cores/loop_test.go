package cores

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// countingWorker records how the loop drives it.
type countingWorker struct {
	work   atomic.Int64 // frames to report on the next polls
	polls  atomic.Int64
	timers atomic.Int64
	waits  atomic.Int64
}

func (w *countingWorker) Poll(now mono.Time) int {
	w.polls.Add(1)
	if w.work.Load() > 0 {
		w.work.Add(-1)
		return 1
	}
	return 0
}
func (w *countingWorker) Timers(now mono.Time) { w.timers.Add(1) }
func (w *countingWorker) Wait(d time.Duration) { w.waits.Add(1); time.Sleep(d) }

func TestLoopRunsPollTimersAndMailboxInOrder(t *testing.T) {
	w := &countingWorker{}
	l := NewLoop(0, false, w, IdlePolicy{SleepAfter: 1})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	var got []int
	for i := 0; i < 100; i++ {
		if err := l.Post(func(mono.Time) { got = append(got, i) }); err != nil {
			t.Fatal(err)
		}
	}
	var last mono.Time
	if err := l.Call(func(now mono.Time) { last = now }); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("mailbox calls ran out of order: %v", got)
	}
	if last <= 0 || w.polls.Load() == 0 || w.timers.Load() == 0 {
		t.Fatalf("now=%d polls=%d timers=%d", last, w.polls.Load(), w.timers.Load())
	}
}

func TestIdlePolicySleepsOnlyAfterEmptyTurns(t *testing.T) {
	w := &countingWorker{}
	w.work.Store(1 << 40) // never idle
	l := NewLoop(0, false, w, IdlePolicy{SleepAfter: 3, SleepFor: time.Microsecond})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	for w.polls.Load() < 1000 {
		time.Sleep(time.Millisecond)
	}
	if n := w.waits.Load(); n != 0 {
		t.Fatalf("slept %d times while busy", n)
	}
	w.work.Store(0)
	for w.waits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	if p, s := w.polls.Load(), w.waits.Load(); s > p/3+1 {
		t.Fatalf("%d sleeps in %d polls with SleepAfter 3", s, p)
	}
}

func TestBusyPollNeverSleeps(t *testing.T) {
	w := &countingWorker{}
	l := NewLoop(0, false, w, IdlePolicy{})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	for w.polls.Load() < 10000 {
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	if n := w.waits.Load(); n != 0 {
		t.Fatalf("busy-poll loop slept %d times", n)
	}
}

func TestCallsOnAStoppedLoopFailInsteadOfHanging(t *testing.T) {
	l := NewLoop(0, false, &countingWorker{}, IdlePolicy{SleepAfter: 1})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	if err := l.Post(func(mono.Time) {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Post after Stop: %v", err)
	}
	if err := l.Call(func(mono.Time) {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Call after Stop: %v", err)
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

// Goroutines calling into a loop while it stops either run or get ErrStopped.
func TestConcurrentCallsDuringStop(t *testing.T) {
	l := NewLoop(0, false, &countingWorker{}, IdlePolicy{SleepAfter: 1})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ran, stopped, full atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				switch err := l.Call(func(mono.Time) { ran.Add(1) }); {
				case err == nil:
				case errors.Is(err, ErrStopped):
					stopped.Add(1)
				case errors.Is(err, ErrMailboxFull):
					full.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	l.Stop()
	wg.Wait()
	if ran.Load()+stopped.Load()+full.Load() != 1600 {
		t.Fatalf("ran %d + stopped %d + full %d != 1600", ran.Load(), stopped.Load(), full.Load())
	}
}

func TestPinToAMissingCPUFails(t *testing.T) {
	l := NewLoop(100000, true, &countingWorker{}, IdlePolicy{})
	if err := l.Start(); err == nil {
		l.Stop()
		t.Fatal("pinned to CPU 100000")
	}
	<-l.Done()
}

func TestParseList(t *testing.T) {
	online := []int{0, 1, 2, 3}
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"0", []int{0}, ""},
		{"0,1", []int{0, 1}, ""},
		{"1-3", []int{1, 2, 3}, ""},
		{" 0 , 2-3 ", []int{0, 2, 3}, ""},
		{"", nil, "empty"},
		{"4", nil, "CPU 4 is not present"},
		{"0,0", nil, "twice"},
		{"3-1", nil, "not a range"},
		{"x", nil, "not a CPU number"},
		{"-1", nil, "not a CPU number"},
	} {
		got, err := parseList(tc.in, online)
		if tc.wantErr != "" {
			if err == nil || !contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// wakeWorker sleeps in Wait until it is woken: an hour otherwise.
type wakeWorker struct {
	countingWorker
	wake chan struct{}
}

func (w *wakeWorker) Wait(d time.Duration) {
	w.waits.Add(1)
	select {
	case <-w.wake:
	case <-time.After(d):
	}
}

func (w *wakeWorker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// A call posted to a sleeping loop wakes it: it runs long before the
// loop's sleep would have ended.
func TestPostWakesASleepingLoop(t *testing.T) {
	w := &wakeWorker{wake: make(chan struct{}, 1)}
	l := NewLoop(0, false, w, IdlePolicy{SleepAfter: 1, SleepFor: time.Hour})
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		l.stop.Store(true)
		w.Wake()
		<-l.Done()
	}()
	for i := 0; i < 100; i++ {
		for w.waits.Load() <= int64(i) {
			time.Sleep(100 * time.Microsecond) // until the loop sleeps again
		}
		done := make(chan struct{})
		go func() {
			l.Call(func(mono.Time) {})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("call %d still waiting for a loop asleep for an hour", i)
		}
	}
}

// MonotonicBase plus Now follows the system's monotonic clock: two
// readings a little apart agree. A reading comes out low by however long
// the goroutine waited between its two clock reads, so each side takes the
// highest of a few.
func TestMonotonicBaseIsStable(t *testing.T) {
	best := func() time.Duration {
		m := MonotonicBase()
		for i := 0; i < 8; i++ {
			m = max(m, MonotonicBase())
		}
		return m
	}
	a := best()
	time.Sleep(2 * time.Millisecond)
	b := best()
	if d := b - a; d < -10*time.Millisecond || d > 10*time.Millisecond {
		t.Fatalf("MonotonicBase moved by %v between two readings", d)
	}
}

// handoffWorker hands each frame of work to a goroutine, as a core hands
// a request to the handler that waits for it.
type handoffWorker struct {
	wakeWorker
	ready chan struct{}
}

func (w *handoffWorker) Poll(now mono.Time) int {
	if w.countingWorker.Poll(now) == 0 {
		return 0
	}
	w.ready <- struct{}{} // the handler waits for it: a hand-off that readies it
	return 1
}

// An unpinned loop lets the goroutines its turn woke run before it
// sleeps, so that what they hand back (a kick) finds it awake and costs
// no wake-up. With one P the order is the scheduler's, not chance's.
// (Without the yield the goroutine finds it asleep every time.)
func TestUnpinnedLoopYieldsBeforeItSleeps(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	w := &handoffWorker{wakeWorker: wakeWorker{wake: make(chan struct{}, 1)}, ready: make(chan struct{}, 1)}
	l := NewLoop(0, false, w, IdlePolicy{SleepAfter: 1, SleepFor: time.Hour})
	ran := make(chan bool)
	go func() {
		for range w.ready {
			ran <- l.sleeping.Load()
		}
	}()
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		l.Stop()
		close(w.ready)
	}()
	asleep := 0
	for range 100 {
		w.work.Store(1)
		l.Wake()
		if <-ran {
			asleep++
		}
	}
	// One schedule in 61 the runtime takes its global queue first (for
	// fairness), and the loop runs before the goroutine it woke.
	if asleep > 10 {
		t.Fatalf("the woken goroutine found the loop asleep %d times of 100", asleep)
	}
}

// ringWorker gets work through a hand-off ring whose producer publishes a
// record, then wakes the loop, in the worst order: between the loop's
// last empty Poll and its announcement of the sleep, so that Wake finds
// the loop not yet sleeping and does nothing.
type ringWorker struct {
	wakeWorker
	r        *Handoff
	l        *Loop
	produce  atomic.Bool // the next empty Poll publishes a record first
	consumed atomic.Int64
}

func (w *ringWorker) Poll(now mono.Time) int {
	n := 0
	for b := w.r.Peek(); b != nil; b = w.r.Peek() {
		w.r.Release()
		n++
	}
	w.r.Done()
	w.consumed.Add(int64(n))
	if n == 0 && w.produce.CompareAndSwap(true, false) {
		// The producer's side, as another core runs it: publish, then
		// wake the owner, which is not asleep yet.
		if b := w.r.Reserve(8); b != nil {
			w.r.Commit()
			w.r.Publish()
		}
		w.l.Wake()
	}
	return n
}

func (w *ringWorker) Pending() bool { return w.r.Waiting() }

// A record handed off just before the owner announced its sleep, with the
// producer's Wake coming too early to wake it, is taken at once: the loop
// looks at the worker's hand-off rings after the announcement (Pender),
// not an hour later.
func TestHandoffJustBeforeTheSleepIsNotLeftForItsEnd(t *testing.T) {
	r, err := NewHandoff(MinHandoffBytes)
	if err != nil {
		t.Fatal(err)
	}
	w := &ringWorker{wakeWorker: wakeWorker{wake: make(chan struct{}, 1)}, r: r}
	l := NewLoop(0, false, w, IdlePolicy{SleepAfter: 1, SleepFor: time.Hour})
	w.l = l
	w.produce.Store(true)
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		l.stop.Store(true)
		w.Wake()
		<-l.Done()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for w.consumed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the record handed off before the sleep is still waiting 10 s later (the sleep is an hour)")
		}
		time.Sleep(time.Millisecond)
	}
}
