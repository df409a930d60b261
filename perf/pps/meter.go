package pps

import (
	"sync/atomic"
	"time"

	"github.com/pollstack/pollstack/rings"
)

// Sample is one report of a running loop: counts over the last interval and
// since the start. PPS and BitsPerSec are rates over Interval; bits count
// Ethernet frame bytes without FCS, preamble or gap.
type Sample struct {
	At       time.Time     // when the sample was taken
	Elapsed  time.Duration // since the loop started
	Interval time.Duration // covered by Packets and Bytes

	Packets, Bytes           uint64 // in this interval
	TotalPackets, TotalBytes uint64 // since the start

	PPS, BitsPerSec float64
	Final           bool // the last sample, taken as the loop ends
}

// Result is what a loop did over its whole run.
type Result struct {
	Packets, Bytes  uint64
	Duration        time.Duration
	PPS, BitsPerSec float64
	// Refused counts frames the link did not accept on a Transmit call
	// (each retry counts again); Idle counts Receive calls that found nothing.
	Refused, Idle uint64
	// NoFrame counts loop turns on which the pool had no free frame.
	NoFrame uint64
	Link    rings.LinkStats // the link's counters at the end
}

// Live publishes a loop's running totals to other goroutines: the loop
// stores them once per turn that moved packets, any goroutine loads them.
type Live struct {
	_       [64]byte
	packets atomic.Uint64
	bytes   atomic.Uint64
	_       [64]byte
}

// Load returns the totals published so far.
func (l *Live) Load() (packets, bytes uint64) {
	// Bytes first: the loop stores packets after bytes, so a reader never sees
	// more packets than bytes account for.
	bytes = l.bytes.Load()
	packets = l.packets.Load()
	return packets, bytes
}

func (l *Live) store(packets, bytes uint64) {
	if l == nil {
		return
	}
	l.bytes.Store(bytes)
	l.packets.Store(packets)
}

// sampler turns running totals into Samples once per interval.
type sampler struct {
	start, last      time.Time
	next             time.Time
	interval         time.Duration
	lastPkts, lastBy uint64
	fn               func(Sample)
}

func newSampler(start time.Time, interval time.Duration, fn func(Sample)) sampler {
	return sampler{start: start, last: start, next: start.Add(interval), interval: interval, fn: fn}
}

// due reports whether a sample is due at now.
func (s *sampler) due(now time.Time) bool { return !now.Before(s.next) }

// emit reports the totals at now.
func (s *sampler) emit(now time.Time, packets, bytes uint64, final bool) {
	iv := now.Sub(s.last)
	smp := Sample{
		At: now, Elapsed: now.Sub(s.start), Interval: iv,
		Packets: packets - s.lastPkts, Bytes: bytes - s.lastBy,
		TotalPackets: packets, TotalBytes: bytes, Final: final,
	}
	if iv > 0 {
		smp.PPS = float64(smp.Packets) / iv.Seconds()
		smp.BitsPerSec = float64(smp.Bytes) * 8 / iv.Seconds()
	}
	s.last, s.lastPkts, s.lastBy = now, packets, bytes
	for !s.next.After(now) {
		s.next = s.next.Add(s.interval)
	}
	if s.fn != nil {
		s.fn(smp)
	}
}

func result(start, end time.Time, packets, bytes uint64) Result {
	r := Result{Packets: packets, Bytes: bytes, Duration: end.Sub(start)}
	if r.Duration > 0 {
		r.PPS = float64(packets) / r.Duration.Seconds()
		r.BitsPerSec = float64(bytes) * 8 / r.Duration.Seconds()
	}
	return r
}
