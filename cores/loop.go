package cores

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/mono"
)

// Worker is the work of one core. The Loop calls it from its own locked
// thread only.
type Worker interface {
	// Poll receives one batch, processes it to completion, transmits what it
	// produced, and returns how many frames it received.
	Poll(now mono.Time) int
	// Timers runs what is due at now.
	Timers(now mono.Time)
	// Wait sleeps until frames may be ready or timeout passes.
	Wait(timeout time.Duration)
}

// IdlePolicy says what a loop does when it finds no work.
type IdlePolicy struct {
	// SleepAfter is the number of consecutive empty turns after which the
	// loop sleeps in Worker.Wait; 0 busy-polls forever (the default).
	SleepAfter int
	// SleepFor bounds one sleep, so timers and the mailbox still run;
	// DefaultSleepFor when zero.
	SleepFor time.Duration
}

// DefaultSleepFor is the longest sleep of an idle loop.
const DefaultSleepFor = time.Millisecond

// MailboxSize is the number of calls a core's mailbox holds.
const MailboxSize = 1024

// maxCallsPerTurn bounds the mailbox calls run between two batches.
const maxCallsPerTurn = 64

// ErrStopped is returned for calls posted to a loop that has stopped.
var ErrStopped = errors.New("cores: loop stopped")

// ErrMailboxFull is returned when a core's mailbox has no room.
var ErrMailboxFull = errors.New("cores: mailbox full")

var epoch = time.Now()

// Now returns the instant on the engine's monotonic clock that loops hand
// their workers: the time since the process started using the package.
func Now() mono.Time { return mono.Time(time.Since(epoch)) }

// Loop is one core's run-to-completion loop.
type Loop struct {
	cpu    int
	pin    bool
	nice   int // the pinned thread's nice value; 0 leaves it
	rtprio int // the pinned thread's SCHED_FIFO priority; 0 leaves its class
	worker Worker
	idle   IdlePolicy
	mail   chan func(now mono.Time)
	stop   atomic.Bool
	// sleeping is set while the loop sleeps in Worker.Wait, so that Post
	// and Wake cut the sleep short (when the worker is a Waker).
	sleeping atomic.Bool
	done     chan struct{}
	start    sync.Once
	err      error
	tid      atomic.Int64 // the pinned thread's id, once it runs; 0 before
}

// NewLoop returns a loop that will run w pinned to cpu (pin false: not pinned,
// for tests and the embedded demo on machines where pinning is not wanted).
func NewLoop(cpu int, pin bool, w Worker, idle IdlePolicy) *Loop {
	if idle.SleepFor <= 0 {
		idle.SleepFor = DefaultSleepFor
	}
	return &Loop{cpu: cpu, pin: pin, worker: w, idle: idle,
		mail: make(chan func(now mono.Time), MailboxSize), done: make(chan struct{})}
}

// SetNice gives the loop's thread the nice value n (-20..19; lower runs
// first) once it is pinned; 0, the default, leaves the thread's. Call it
// before Start; an unpinned loop ignores it. A pinned loop competes for its
// CPU with every other thread the kernel puts there: at the same nice
// value it gets an equal share, so ten busy processes on its CPU leave it
// a tenth, and while it waits its rx ring fills and the kernel drops what
// arrives. A lower nice value weighs more: at -20 a thread counts as about
// 87 threads at 0, which gives it nearly all of its CPU against a few busy
// processes, but only a twelfth against a thousand (SetRTPriority then).
func (l *Loop) SetNice(n int) { l.nice = n }

// ThreadID returns the id of a pinned loop's thread once Start returned;
// 0 for a loop that is not pinned.
func (l *Loop) ThreadID() int { return int(l.tid.Load()) }

// SetRTPriority puts the loop's thread in the real-time class SCHED_FIFO
// at priority prio (1..99) once it is pinned; 0, the default, leaves it in
// the normal class. Call it before Start; an unpinned loop ignores it. The
// thread then runs before every normal thread on its CPU however many
// there are, as the kernel's own receive path (softirq) does, and leaves
// the CPU only when it sleeps (IdlePolicy) or the kernel's real-time
// throttle stops it. A loop that never sleeps keeps its CPU from every
// normal thread but for that throttle's share (5% by default).
func (l *Loop) SetRTPriority(prio int) { l.rtprio = prio }

// Pinned reports whether the loop is pinned to its CPU.
func (l *Loop) Pinned() bool { return l.pin }

// CPU returns the CPU the loop runs on.
func (l *Loop) CPU() int { return l.cpu }

// Start runs the loop on a new goroutine and returns once it is pinned, or
// the pinning error.
func (l *Loop) Start() error {
	started := make(chan error, 1)
	l.start.Do(func() { go l.run(started) })
	return <-started
}

// Stop asks the loop to finish its turn and waits until it has.
func (l *Loop) Stop() {
	l.stop.Store(true)
	l.Wake() // a sleeping loop looks at the flag now, not when the sleep ends
	<-l.done
}

// Done is closed when the loop has stopped.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Post queues fn to run on the loop's core between batches, without waiting.
func (l *Loop) Post(fn func(now mono.Time)) error {
	if l.stop.Load() {
		return ErrStopped
	}
	select {
	case l.mail <- fn:
		l.Wake()
		return nil
	default:
		return ErrMailboxFull
	}
}

// TurnEnder is implemented by workers that have work to finish at the end
// of every loop turn, after the mailbox's calls and before a sleep.
type TurnEnder interface {
	EndTurn()
}

// Pender is implemented by workers that get work other than through their
// link or the mailbox, from producers that wake them with Loop.Wake (a
// hand-off ring). Pending, called on the loop after it announced a sleep,
// reports whether such work is there: a producer that published it before
// it could see the announcement did not wake the loop.
type Pender interface {
	Pending() bool
}

// Waker is implemented by workers whose Wait another goroutine can cut
// short.
type Waker interface {
	Wake()
}

// Wake makes a sleeping loop look for work at once: for work that arrives
// other than through its link or mailbox (a hand-off ring). It costs one
// atomic load when the loop is not sleeping.
func (l *Loop) Wake() {
	if l.sleeping.Load() {
		if w, ok := l.worker.(Waker); ok {
			w.Wake()
		}
	}
}

// Call runs fn on the loop's core and waits for it to finish.
func (l *Loop) Call(fn func(now mono.Time)) error {
	ran := make(chan struct{})
	if err := l.Post(func(now mono.Time) { fn(now); close(ran) }); err != nil {
		return err
	}
	select {
	case <-ran:
		return nil
	case <-l.done:
		select {
		case <-ran:
			return nil
		default:
			return ErrStopped
		}
	}
}

func (l *Loop) run(started chan<- error) {
	defer close(l.done)
	if l.pin {
		// The thread is not unlocked: its affinity is changed, so Go must
		// discard it when the goroutine ends. An unpinned loop (the
		// in-memory link, tests) stays an ordinary goroutine: waking a
		// goroutine locked to a thread costs a thread switch each time.
		runtime.LockOSThread()
		l.tid.Store(int64(ThreadID()))
		err := Pin(l.cpu)
		if err == nil && l.nice != 0 {
			err = SetNice(l.nice)
		}
		if err == nil && l.rtprio != 0 {
			err = SetRTPriority(l.rtprio)
		}
		if err != nil {
			l.err = err
			l.stop.Store(true)
			started <- err
			return
		}
	}
	started <- nil
	ender, _ := l.worker.(TurnEnder)
	pender, _ := l.worker.(Pender)
	empty := 0
	// An unpinned loop yields its P once before it sleeps, after a turn
	// that did work: the goroutines that work woke (handlers whose data
	// came) run first, and what they hand the loop back finds it awake,
	// so their kicks cost no eventfd write and the loop no trip through
	// the poller. The runtime puts a yielding goroutine on its global
	// queue, which it looks at before the poller once the P's own queue
	// is empty: every woken goroutine runs before the loop's next turn.
	yielded := true
	for !l.stop.Load() {
		now := Now()
		n := l.worker.Poll(now)
		l.worker.Timers(now)
		calls := l.drain(now)
		if ender != nil {
			ender.EndTurn()
		}
		if n > 0 || calls > 0 {
			empty = 0
			yielded = false
			continue
		}
		empty++
		if l.idle.SleepAfter > 0 && empty >= l.idle.SleepAfter {
			if !l.pin && !yielded {
				yielded = true
				runtime.Gosched()
				continue
			}
			// Announce the sleep, then look at the mailbox and the
			// worker's other sources again: a Post, or a hand-off and its
			// Wake, either lands before this look or sees sleeping and
			// wakes us.
			l.sleeping.Store(true)
			if len(l.mail) == 0 && !l.stop.Load() && (pender == nil || !pender.Pending()) {
				l.worker.Wait(l.idle.SleepFor)
			}
			l.sleeping.Store(false)
		}
	}
	// Run what was posted before the stop.
	l.drain(Now())
	if ender != nil {
		ender.EndTurn()
	}
}

func (l *Loop) drain(now mono.Time) int {
	for i := 0; i < maxCallsPerTurn; i++ {
		select {
		case fn := <-l.mail:
			fn(now)
		default:
			return i
		}
	}
	return maxCallsPerTurn
}
